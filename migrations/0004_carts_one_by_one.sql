-- Each cart is its own row, so a change rewrites only the cart it changes
-- and one owner's many carts are never one big row that every write locks
-- and rewrites. What the rules need of an owner's other carts is in the
-- columns beside `data` (version, last change, bytes as stored, whether it
-- holds anything); `cart_owners` holds the owner's retired version, and its
-- row is the lock every write of the owner's carts takes first.
--
-- The sets stored before (one row per owner) are kept as `cart_sets` until
-- cartql splits them at start (the byte count is the domain's, computed in
-- Rust) and drops the table.
ALTER TABLE carts RENAME TO cart_sets;
ALTER INDEX carts_pkey RENAME TO cart_sets_pkey;

CREATE TABLE cart_owners (
    owner           text COLLATE "C" PRIMARY KEY,
    retired_version bigint NOT NULL CHECK (retired_version >= 0)
);

CREATE TABLE carts (
    owner      text COLLATE "C" NOT NULL,
    name       text COLLATE "C" NOT NULL,
    version    bigint NOT NULL CHECK (version >= 0),
    updated_at timestamptz NOT NULL,
    bytes      bigint NOT NULL CHECK (bytes >= 0),
    blank      boolean NOT NULL,
    data       jsonb NOT NULL,
    PRIMARY KEY (owner, name)
);
-- The sweep finds expired carts without reading every row.
CREATE INDEX carts_updated_at ON carts (updated_at);
