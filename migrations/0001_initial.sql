-- cartql's tables. Every key that is paged or compared uses COLLATE "C", so it
-- sorts by bytes exactly as sled's keys do. Domain values are JSONB of the
-- serde types the sled backend stores, so new domain fields need no migration.

-- The SKU catalog: one row per purchasable variant. Stock is a column (NULL:
-- not tracked) so checkout can decrement it with a conditional update and the
-- CHECK is the last line of defence against overselling; everything else
-- (title, price, active, ...) is in data.
CREATE TABLE variants (
    sku   text COLLATE "C" PRIMARY KEY,
    stock bigint NULL CHECK (stock >= 0),
    data  jsonb NOT NULL
);

-- All carts of one owner (a CartSet), one row per owner.
CREATE TABLE carts (
    owner text COLLATE "C" PRIMARY KEY,
    data  jsonb NOT NULL
);

CREATE TABLE orders (
    owner text COLLATE "C" NOT NULL,
    id    text COLLATE "C" NOT NULL,
    data  jsonb NOT NULL,
    PRIMARY KEY (owner, id)
);

-- One record per (owner, key): the unique constraint is what makes two
-- concurrent requests with one key make one change.
CREATE TABLE idempotency (
    owner      text COLLATE "C" NOT NULL,
    key        text COLLATE "C" NOT NULL,
    created_at timestamptz NOT NULL,
    record     jsonb NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE INDEX idempotency_created_at ON idempotency (created_at);

-- How many idempotency records each owner has (the per-viewer cap); its row
-- is also the per-owner lock every idempotent write takes first.
CREATE TABLE idempotency_counts (
    owner text COLLATE "C" PRIMARY KEY,
    count bigint NOT NULL CHECK (count >= 0)
);

CREATE TABLE accounts (
    email text COLLATE "C" PRIMARY KEY,
    data  jsonb NOT NULL
);

-- "Valid after" times (seconds since the epoch) of log-outs everywhere.
CREATE TABLE valid_after (
    owner       text COLLATE "C" PRIMARY KEY,
    valid_after bigint NOT NULL
);

-- Small settings: the shop currency, the version floor.
CREATE TABLE meta (
    key   text COLLATE "C" PRIMARY KEY,
    value jsonb NOT NULL
);
