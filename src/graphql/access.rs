//! Who may call what: the request's viewer, and the guards resolvers call
//! first.

use super::error::{ApiError, ApiResult};
use crate::auth::Viewer;
use crate::services::Services;
use async_graphql::Context;

/// The request's viewer, if it has a token.
pub fn viewer<'a>(ctx: &Context<'a>) -> Option<&'a Viewer> {
    ctx.data_opt::<Viewer>()
}

/// The request's viewer, or `UNAUTHENTICATED`. HTTP requests are verified as
/// they arrive; a WebSocket's token is verified once and may expire while the
/// connection lives, hence the second check.
pub fn require_viewer<'a>(ctx: &Context<'a>) -> ApiResult<&'a Viewer> {
    match viewer(ctx) {
        None => Err(ApiError::Unauthenticated),
        Some(v) if v.is_expired(Services::of(ctx).clock.now()) => Err(ApiError::TokenExpired),
        Some(v) => Ok(v),
    }
}

/// The request's viewer if it holds the `admin` role; `FORBIDDEN` otherwise.
pub fn require_admin<'a>(ctx: &Context<'a>) -> ApiResult<&'a Viewer> {
    let viewer = require_viewer(ctx)?;
    if viewer.is_admin() {
        Ok(viewer)
    } else {
        Err(ApiError::Forbidden("admin"))
    }
}
