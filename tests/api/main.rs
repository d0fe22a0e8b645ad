//! Black-box tests: each starts the real `cartql` binary on port 0 with a
//! temporary data directory and talks HTTP to it.

mod addresses;
mod auth;
mod budgets;
mod cart;
mod catalog;
mod checkout;
mod connections;
mod export;
mod helpers;
mod hostile;
mod http;
mod identity;
mod lifecycle;
mod limits;
mod metrics;
mod net;
mod order_life;
mod pg_store;
mod several;
mod storefront;
mod subscriptions;
mod ws_answers;
