//! The GraphQL schema, kept apart from HTTP: [`engine::Engine`] runs it, and
//! can be executed in a unit test without axum.
//!
//! Resolvers are thin: they read the [`Viewer`](crate::auth::Viewer) the HTTP
//! layer attached to the request, parse the arguments, call one use case
//! ([`app`](crate::app)) and turn the outcome into a payload; none of them
//! reaches the store. One file per area:
//!
//! - [`catalog`]: products, the shop, admin catalog mutations.
//! - [`image`]: product and variant images, shown and given.
//! - [`cart`]: carts and the cart mutations; [`cart_view`] prices them for output.
//! - [`orders`]: checkout and orders.
//! - [`subscription`]: live cart updates.
//! - [`viewer`]: who am I.
//! - [`identity`]: guest sessions, sign-up, log-in, renewal, log-out everywhere.
//! - [`merge`]: moving a guest's carts into a customer's.
//! - [`ids`]: global ids (`gid://cartql/…`), read and written.
//! - [`node`]: the `Node` interface, `node` and `nodes`.
//! - [`pagination`]: cursor connections, one way.
//! - [`pricing`]: pricing settings and tax rates (admin), and what carts cost.
//! - [`discounts`]: discounts (admin); [`discount_view`] shows one.
//! - [`shipping`]: shipping rates (admin).
//! - [`webhooks`]: webhook endpoints and deliveries (admin); webhook payloads.
//! - [`types`]: money, user errors and other shared output types.
//! - [`inputs`]: input types several areas take, and the line check they share.
//! - [`error`]: top-level error codes.
//! - [`complexity`]: what list fields cost in a query's complexity.
//! - [`document`]: checks every document (nesting, expanded size) before it is parsed and run.
//! - [`engine`]: runs every request (ids, spans, document checks, error codes, metrics).
//! - [`observe`]: metrics of operations.
//! - [`measure`]: by how much a refused document is over the shape limits.
//! - [`variables`]: variable values checked against their declared types.
//! - [`schema`]: the roots the area files merge into, and the SDL.
//! - [`access`]: the request's viewer and the guards (a token, the admin role).

pub mod access;
pub mod admin_orders;
pub mod backups;
pub mod cart;
pub mod cart_cost;
pub mod cart_view;
pub mod catalog;
pub mod complexity;
pub mod discount_view;
pub mod discounts;
pub mod document;
pub mod engine;
pub mod error;
pub mod identity;
pub mod ids;
pub mod image;
pub mod inputs;
pub mod measure;
pub mod merge;
pub mod node;
pub mod observe;
pub mod orders;
pub mod pagination;
pub mod preview;
pub mod pricing;
pub mod schema;
pub mod shipping;
pub mod subscription;
pub mod types;
pub mod variables;
pub mod viewer;
pub mod webhooks;

pub use engine::QueryLimits;
pub use schema::{CartSchema, MutationRoot, QueryRoot, sdl};

#[cfg(test)]
mod tests;
