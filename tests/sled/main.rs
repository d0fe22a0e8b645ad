//! Black-box tests of what only sled has: the data directory (its lock, its
//! files and their modes, a database that vanished from it), import-catalog
//! writing into it, and how much a small change writes to disk.
//!
//! Always on sled, whatever `CARTQL_TEST_BACKEND` says; `scripts/test` runs
//! them in its sled pass.

// Shared with other test targets; each uses part of them.
#[allow(dead_code)]
#[path = "../common/commands.rs"]
mod commands;
#[allow(dead_code)]
#[path = "../common/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../common/shop.rs"]
mod shop;
#[path = "../common/shop_batches.rs"]
mod shop_batches;

/// Every server of these tests runs on sled.
const BACKEND: helpers::Backend = helpers::Backend::Sled;

mod budgets;
mod deploy;
mod lifecycle;
