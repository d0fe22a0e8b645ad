//! Black-box tests of what only PostgreSQL has: several instances on one
//! database behind nginx, the change listener, TLS, the store's sweeps and
//! upgrades, export and import through a database, one owner's writes
//! queueing without holding connections.
//!
//! Always on PostgreSQL, whatever `CARTQL_TEST_BACKEND` says: the server is
//! `CARTQL_TEST_DATABASE_URL`, else the one on 127.0.0.1:5432, and each test
//! gets fresh databases on it. Without a server these tests fail, they do not
//! pass unrun; `scripts/test` runs them in its PostgreSQL pass.

// Shared with other test targets; each uses part of them.
#[allow(dead_code)]
#[path = "../common/commands.rs"]
mod commands;
#[allow(dead_code)]
#[path = "../common/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../common/hook.rs"]
mod hook;
#[allow(dead_code)]
#[path = "../common/shop.rs"]
mod shop;
#[path = "../common/shop_batches.rs"]
mod shop_batches;
#[allow(dead_code)]
#[path = "../common/sockets.rs"]
mod sockets;

/// Every server of these tests runs on PostgreSQL.
const BACKEND: helpers::Backend = helpers::Backend::Postgres;

mod budgets;
mod discounts;
mod export;
mod faults;
mod pg_store;
mod several;
mod webhooks;
