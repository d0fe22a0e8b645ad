//! The shop's side of orders (admin only): `adminOrders`, `adminOrder`, and
//! the moves `markOrderPaid`, `markOrderFulfilled`, `cancelOrder`.
//!
//! The moves and their rules are [`app::orders`](crate::app::orders); here
//! they are parsed and shown.

use super::access::require_admin;
use super::error::ApiResult;
use super::orders::{OrderStatusView, OrderView, admin_view};
use super::pagination::PageRequest;
use super::types::{UserErrorView, user_errors};
use crate::app::orders;
use crate::domain::Rejection;
use crate::domain::account::Email;
use crate::domain::order::{OrderFilter, OrderMove, OrderStatus};
use crate::services::Services;
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// Admin order queries.
#[derive(Default)]
pub struct AdminOrderQuery;

#[Object]
impl AdminOrderQuery {
    /// Admin only: every viewer's orders, newest first, optionally only in
    /// one status, placed in a time range, or with one buyer e-mail
    /// (`first` at most 100; the cursor is an order id).
    #[graphql(
        complexity = "super::complexity::list(super::complexity::page(first), child_complexity)"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn admin_orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        status: Option<OrderStatusView>,
        placed_after: Option<DateTime<Utc>>,
        placed_before: Option<DateTime<Utc>>,
        email: Option<String>,
    ) -> ApiResult<Connection<String, OrderView>> {
        require_admin(ctx)?;
        let services = Services::of(ctx);
        let page = PageRequest::parse(first, after, super::ids::order_cursor)?;
        let email = match email {
            None => None,
            Some(text) => match Email::parse(&text) {
                Ok(email) => Some(email),
                // No order has a malformed e-mail.
                Err(_) => {
                    let none: Vec<crate::domain::order::Order> = Vec::new();
                    return Ok(page.connection(none, |o| (o.id.clone(), admin_view(services, o))));
                }
            },
        };
        let filter = OrderFilter {
            status: status.map(OrderStatus::from),
            placed_after,
            placed_before,
            email,
        };
        let found =
            orders::all_orders(services, &filter, page.after.as_deref(), page.fetch()).await?;
        Ok(page.connection(found, |o| (o.id.clone(), admin_view(services, o))))
    }

    /// Admin only: any viewer's order by id, or `null`.
    async fn admin_order(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<OrderView>> {
        require_admin(ctx)?;
        let services = Services::of(ctx);
        let found = orders::any_order(services, super::ids::order_ref(&id)).await?;
        Ok(found.map(|order| admin_view(services, order)))
    }
}

/// Records that an order was paid.
#[derive(InputObject)]
pub struct MarkOrderPaidInput {
    /// The order.
    pub order_id: ID,
    /// The payment provider's reference (e.g. a payment intent id).
    pub payment_reference: Option<String>,
}

/// Records that an order was sent.
#[derive(InputObject)]
pub struct MarkOrderFulfilledInput {
    /// The order.
    pub order_id: ID,
    /// The carrier's tracking number.
    pub tracking_number: Option<String>,
    /// Where the buyer can follow the shipment (`https://…`).
    pub tracking_url: Option<String>,
}

/// Calls an order off.
#[derive(InputObject)]
pub struct CancelOrderInput {
    /// The order.
    pub order_id: ID,
    /// Why, for the order's history.
    pub reason: Option<String>,
    /// Whether to return its units to tracked stock (in the same transaction).
    #[graphql(default = true)]
    pub restock: bool,
}

/// An order after an admin move.
#[derive(SimpleObject)]
pub struct OrderPayload {
    /// The order as it is now (also when the move was refused); `null` if there is no such order.
    pub order: Option<OrderView>,
    /// Why the move was refused (`INVALID_ORDER_TRANSITION`, `ORDER_NOT_FOUND`, …).
    pub user_errors: Vec<UserErrorView>,
}

/// Admin order mutations.
#[derive(Default)]
pub struct AdminOrderMutation;

#[Object]
impl AdminOrderMutation {
    /// Admin only: PLACED → PAID. Repeating it on a paid order returns the order unchanged.
    async fn mark_order_paid(
        &self,
        ctx: &Context<'_>,
        input: MarkOrderPaidInput,
    ) -> ApiResult<OrderPayload> {
        let action = OrderMove::mark_paid(input.payment_reference.as_deref());
        run(ctx, &input.order_id, action).await
    }

    /// Admin only: PAID → FULFILLED, with tracking. Repeating it returns the order unchanged.
    async fn mark_order_fulfilled(
        &self,
        ctx: &Context<'_>,
        input: MarkOrderFulfilledInput,
    ) -> ApiResult<OrderPayload> {
        let action = OrderMove::mark_fulfilled(
            input.tracking_number.as_deref(),
            input.tracking_url.as_deref(),
        );
        run(ctx, &input.order_id, action).await
    }

    /// Admin only: PLACED or PAID → CANCELLED; with `restock` (the default)
    /// the units go back to tracked stock in the same transaction, once.
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        input: CancelOrderInput,
    ) -> ApiResult<OrderPayload> {
        let action = OrderMove::cancel(input.reason.as_deref(), input.restock);
        run(ctx, &input.order_id, action).await
    }
}

/// Runs one move: admin check, then [`orders::move_by_admin`].
async fn run(
    ctx: &Context<'_>,
    order_id: &ID,
    action: Result<OrderMove, Rejection>,
) -> ApiResult<OrderPayload> {
    let admin = require_admin(ctx)?;
    let services = Services::of(ctx);
    let order_id = super::ids::order_ref(order_id);
    let outcome = orders::move_by_admin(services, admin, order_id, action).await?;
    Ok(OrderPayload {
        order: outcome.order.map(|o| admin_view(services, o)),
        user_errors: user_errors(
            outcome
                .refused
                .map(Rejection::into_user_errors)
                .unwrap_or_default(),
        ),
    })
}
