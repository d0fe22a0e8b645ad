-- Products by handle (the storefront model): options and the SKUs of their
-- variants, as JSONB of the domain's ProductRecord. Variants stay in
-- `variants` (the purchasable unit checkout locks).
CREATE TABLE products (
    handle text COLLATE "C" PRIMARY KEY,
    data   jsonb NOT NULL
);

-- Admin look-ups and listings by order id alone (ids are ULIDs: time order).
CREATE INDEX orders_id ON orders (id COLLATE "C");
