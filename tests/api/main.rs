//! Black-box tests: each starts the real `cartql` binary on port 0 with a
//! temporary data directory and talks HTTP to it.
//!
//! They hold on either backend and run on both: on sled, and on PostgreSQL
//! with `CARTQL_TEST_BACKEND=postgres` (`scripts/test` does both). A test of
//! one backend only goes into `tests/sled` or `tests/postgres`, which always
//! run on theirs, not here behind an early `return`.

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
#[allow(dead_code)]
#[path = "../common/sockets.rs"]
mod sockets;

/// Sled, or PostgreSQL when `CARTQL_TEST_BACKEND=postgres`.
const BACKEND: helpers::Backend = helpers::Backend::FromEnvironment;

mod abandoned_carts;
mod addresses;
mod auth;
mod backups;
mod budgets;
mod cart;
mod catalog;
mod checkout;
mod connections;
mod discounts;
mod discounts_admin;
mod export;
mod hostile;
mod http;
mod identity;
mod ids;
mod images;
mod lifecycle;
mod limits;
mod metrics;
mod net;
mod order_life;
mod pricing;
mod storefront;
mod subscriptions;
mod verify;
mod webhooks;
mod ws_answers;
