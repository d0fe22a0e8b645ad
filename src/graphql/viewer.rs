//! `viewer`: who the request's token speaks for.

use super::types::ViewerView;
use async_graphql::{Context, Object};

/// Identity queries.
#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The viewer behind the bearer token; `null` without a token.
    async fn viewer(&self, ctx: &Context<'_>) -> Option<ViewerView> {
        super::access::viewer(ctx).cloned().map(ViewerView)
    }
}
