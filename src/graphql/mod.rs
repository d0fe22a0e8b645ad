//! The GraphQL schema, kept apart from HTTP: [`engine::Engine`] runs it, and
//! can be executed in a unit test without axum.
//!
//! Resolvers are thin: they read the [`Viewer`](crate::auth::Viewer) the HTTP
//! layer attached to the request, call a domain rule and the store, and turn
//! the outcome into a payload. One file per area:
//!
//! - [`catalog`]: products, the shop, admin catalog mutations.
//! - [`cart`]: carts and the cart mutations; [`cart_view`] prices them for output.
//! - [`orders`]: checkout and orders.
//! - [`subscription`]: live cart updates.
//! - [`viewer`]: who am I.
//! - [`identity`]: guest sessions, sign-up, log-in, renewal, log-out everywhere.
//! - [`merge`]: moving a guest's carts into a customer's.
//! - [`pagination`]: cursor connections, one way.
//! - [`types`]: money, user errors and other shared output types.
//! - [`inputs`]: input types several areas take, and the line check they share.
//! - [`error`]: top-level error codes.
//! - [`complexity`]: what list fields cost in a query's complexity.
//! - [`document`]: checks every document (nesting, expanded size) before it is parsed and run.
//! - [`engine`]: runs every request (ids, spans, document checks, error codes, metrics).
//! - [`observe`]: metrics of operations.
//! - [`variables`]: variable values checked against their declared types.

pub mod admin_orders;
pub mod cart;
pub mod cart_view;
pub mod catalog;
pub mod complexity;
pub mod document;
pub mod engine;
pub mod error;
pub mod identity;
pub mod inputs;
pub mod merge;
pub mod observe;
pub mod orders;
pub mod pagination;
pub mod subscription;
pub mod types;
pub mod variables;
pub mod viewer;

use crate::auth::Viewer;
use crate::services::Services;
use async_graphql::{Context, MergedObject, Schema};
use error::{ApiError, ApiResult};

/// The schema type.
pub type CartSchema = Schema<QueryRoot, MutationRoot, subscription::SubscriptionRoot>;

/// Every query field, merged from the area files.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    catalog::CatalogQuery,
    cart::CartQuery,
    orders::OrderQuery,
    admin_orders::AdminOrderQuery,
    viewer::ViewerQuery,
);

/// Every mutation field, merged from the area files.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    catalog::CatalogMutation,
    cart::CartMutation,
    orders::OrderMutation,
    admin_orders::AdminOrderMutation,
    identity::IdentityMutation,
    merge::MergeMutation,
);

/// Limits on the shape of a query.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    /// Maximum selection depth.
    pub max_depth: usize,
    /// Maximum complexity (roughly, fields resolved).
    pub max_complexity: usize,
    /// Limits checked on the document before it is parsed and validated.
    pub document: document::DocumentLimits,
}

/// The SDL clients and `schema.graphql` rely on.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        subscription::SubscriptionRoot,
    )
    .finish()
    .sdl()
}

/// The request's viewer, if it has a token.
pub(crate) fn viewer<'a>(ctx: &Context<'a>) -> Option<&'a Viewer> {
    ctx.data_opt::<Viewer>()
}

/// The request's viewer, or `UNAUTHENTICATED`. HTTP requests are verified as
/// they arrive; a WebSocket's token is verified once and may expire while the
/// connection lives, hence the second check.
pub(crate) fn require_viewer<'a>(ctx: &Context<'a>) -> ApiResult<&'a Viewer> {
    match viewer(ctx) {
        None => Err(ApiError::Unauthenticated),
        Some(v) if v.expires_at <= Services::of(ctx).clock.now() => Err(ApiError::TokenExpired),
        Some(v) => Ok(v),
    }
}

/// The request's viewer if it holds the `admin` role; `FORBIDDEN` otherwise.
pub(crate) fn require_admin<'a>(ctx: &Context<'a>) -> ApiResult<&'a Viewer> {
    let viewer = require_viewer(ctx)?;
    if viewer.is_admin() {
        Ok(viewer)
    } else {
        Err(ApiError::Forbidden("admin"))
    }
}

#[cfg(test)]
mod tests;
