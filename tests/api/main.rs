//! Black-box tests: each starts the real `cartql` binary on port 0 with a
//! temporary data directory and talks HTTP to it.

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
#[allow(dead_code)]
#[path = "../common/sockets.rs"]
mod sockets;

/// Sled, or PostgreSQL when `CARTQL_TEST_BACKEND=postgres`.
const BACKEND: helpers::Backend = helpers::Backend::FromEnvironment;

mod addresses;
mod auth;
mod budgets;
mod cart;
mod catalog;
mod checkout;
mod connections;
mod export;
mod hostile;
mod http;
mod identity;
mod lifecycle;
mod limits;
mod metrics;
mod net;
mod order_life;
mod storefront;
mod subscriptions;
mod ws_answers;
