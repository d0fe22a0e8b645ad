//! The shop's side of orders (admin only): `adminOrders`, `adminOrder`, and
//! the moves `markOrderPaid`, `markOrderFulfilled`, `cancelOrder`.
//!
//! Each move is one store transaction (see
//! [`OrderStore::move_order`](crate::store::OrderStore::move_order)): the
//! rule ([`move_order`]) decides from the order as stored, so two admins
//! cancelling at once restock once, and repeating a move that was made is a
//! no-op that returns the order.

use super::error::ApiResult;
use super::orders::{OrderStatusView, OrderView, admin_view};
use super::pagination::PageRequest;
use super::require_admin;
use super::types::{UserErrorView, user_errors};
use crate::domain::account::Email;
use crate::domain::order::{OrderFilter, OrderMove, OrderStatus, Tracking, move_order};
use crate::domain::{ErrorCode, Rejection, UserError as DomainError};
use crate::services::Services;
use crate::store::UpdateError;
use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// The longest payment reference, tracking number or cancel reason, in
/// UTF-8 bytes (500 characters of any script).
const MAX_TEXT_BYTES: usize = 2000;
/// The longest tracking URL, in bytes.
const MAX_URL_BYTES: usize = 2000;

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
        let page = PageRequest::parse(first, after, |cursor| {
            ulid::Ulid::from_string(cursor)
                .ok()
                .map(|id| id.to_string())
        })?;
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
        let orders = services
            .store
            .all_orders(&filter, page.after.as_deref(), page.fetch())
            .await?;
        Ok(page.connection(orders, |o| (o.id.clone(), admin_view(services, o))))
    }

    /// Admin only: any viewer's order by id, or `null`.
    async fn admin_order(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<OrderView>> {
        require_admin(ctx)?;
        let services = Services::of(ctx);
        let Ok(id) = ulid::Ulid::from_string(&id) else {
            return Ok(None);
        };
        let found = services.store.order_by_id(&id.to_string()).await?;
        Ok(found.map(|(_, order)| admin_view(services, order)))
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
        let reference = checked_text(
            input.payment_reference.as_deref(),
            "paymentReference",
            MAX_TEXT_BYTES,
        );
        let action = reference.map(|payment_reference| OrderMove::MarkPaid { payment_reference });
        run(ctx, &input.order_id, action).await
    }

    /// Admin only: PAID → FULFILLED, with tracking. Repeating it returns the order unchanged.
    async fn mark_order_fulfilled(
        &self,
        ctx: &Context<'_>,
        input: MarkOrderFulfilledInput,
    ) -> ApiResult<OrderPayload> {
        let number = checked_text(
            input.tracking_number.as_deref(),
            "trackingNumber",
            MAX_TEXT_BYTES,
        );
        let url = checked_text(input.tracking_url.as_deref(), "trackingUrl", MAX_URL_BYTES)
            .and_then(|url| match url {
                Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                    Err(invalid(
                        "trackingUrl",
                        "a tracking URL starts with https:// or http://",
                    ))
                }
                other => Ok(other),
            });
        let action = match (number, url) {
            (Ok(number), Ok(url)) => Ok(OrderMove::MarkFulfilled {
                tracking: Tracking { number, url },
            }),
            (Err(a), Err(b)) => Err(Rejection::Invalid(
                a.into_user_errors()
                    .into_iter()
                    .chain(b.into_user_errors())
                    .collect(),
            )),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
        run(ctx, &input.order_id, action).await
    }

    /// Admin only: PLACED or PAID → CANCELLED; with `restock` (the default)
    /// the units go back to tracked stock in the same transaction, once.
    async fn cancel_order(
        &self,
        ctx: &Context<'_>,
        input: CancelOrderInput,
    ) -> ApiResult<OrderPayload> {
        let reason = checked_text(input.reason.as_deref(), "reason", MAX_TEXT_BYTES);
        let action = reason.map(|reason| OrderMove::Cancel {
            reason,
            restock: input.restock,
        });
        run(ctx, &input.order_id, action).await
    }
}

/// Runs one move: admin check, input check, one store transaction.
async fn run(
    ctx: &Context<'_>,
    order_id: &ID,
    action: Result<OrderMove, Rejection>,
) -> ApiResult<OrderPayload> {
    let admin = require_admin(ctx)?;
    let services = Services::of(ctx);
    let Ok(id) = ulid::Ulid::from_string(order_id) else {
        return Ok(not_found());
    };
    let id = id.to_string();
    let action = match action {
        Ok(action) => action,
        Err(rejection) => return refused(services, &id, rejection).await,
    };
    let now = services.clock.now();
    let change = |order: &crate::domain::order::Order| move_order(order, &action, &admin.id, now);
    match services.store.move_order(&id, &change).await {
        Ok(None) => Ok(not_found()),
        Ok(Some(_)) => {
            let order = services.store.order_by_id(&id).await?;
            Ok(OrderPayload {
                order: order.map(|(_, o)| admin_view(services, o)),
                user_errors: Vec::new(),
            })
        }
        Err(UpdateError::Rejected(rejection)) => refused(services, &id, rejection).await,
        Err(UpdateError::Store(e)) => Err(e.into()),
    }
}

/// The order as it is, with why the move was refused.
async fn refused(services: &Services, id: &str, rejection: Rejection) -> ApiResult<OrderPayload> {
    let order = services.store.order_by_id(id).await?;
    Ok(OrderPayload {
        order: order.map(|(_, o)| admin_view(services, o)),
        user_errors: user_errors(rejection.into_user_errors()),
    })
}

fn not_found() -> OrderPayload {
    OrderPayload {
        order: None,
        user_errors: user_errors(vec![DomainError::new(
            ErrorCode::OrderNotFound,
            &["orderId"],
            "no order has this id",
        )]),
    }
}

fn invalid(field: &str, message: &str) -> Rejection {
    Rejection::one(DomainError::new(
        ErrorCode::InvalidOrderInput,
        &[field],
        message,
    ))
}

/// Trims optional text and checks its length and characters; blank is none.
fn checked_text(text: Option<&str>, field: &str, max: usize) -> Result<Option<String>, Rejection> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.len() > max || text.chars().any(char::is_control) {
        return Err(invalid(
            field,
            &format!("at most {max} bytes (UTF-8), no control characters"),
        ));
    }
    Ok(Some(text.to_string()))
}
