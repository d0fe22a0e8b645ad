//! Orders after checkout: the buyer's own, the shop's view of all of them,
//! and the shop's moves (paid, fulfilled, cancelled).
//!
//! Order ids are ULIDs: they read in any case and are stored in the
//! canonical (upper-case) spelling, so every id from a client is read as an
//! [`OrderId`] here; one that is not a ULID names no order.
//!
//! Each move is one store transaction: the rule
//! ([`move_order`](crate::domain::order::move_order)) decides from the order
//! as stored, so two admins cancelling at once restock once, and repeating a
//! move that was made is a no-op that returns the order.

use super::AppError;
use crate::auth::Viewer;
use crate::domain::names::OrderId;
use crate::domain::order::{Moved, Order, OrderFilter, OrderMove, move_order};
use crate::domain::{ErrorCode, OwnerKey, Rejection, UserError};
use crate::services::Services;
use crate::store::{Changes, UpdateError};

/// The canonical spelling of an order id ([`OrderId`]), or `None` when it
/// is not one (a cursor, say).
pub fn order_id(text: &str) -> Option<String> {
    OrderId::parse(text).map(OrderId::into_string)
}

/// The viewer's order `id`; `None` if the viewer has no order with this id.
pub async fn order(
    services: &Services,
    viewer: &Viewer,
    id: &str,
) -> Result<Option<Order>, AppError> {
    let Some(id) = OrderId::parse(id) else {
        return Ok(None);
    };
    Ok(services
        .store
        .order(&viewer.owner_key(), id.as_str())
        .await?)
}

/// Up to `limit` of the owner's orders, newest first, older than the order
/// `before` (a canonical id, see [`order_id`]).
pub async fn orders(
    services: &Services,
    owner: &OwnerKey,
    before: Option<&str>,
    limit: usize,
) -> Result<Vec<Order>, AppError> {
    Ok(services.store.orders(owner, before, limit).await?)
}

/// Wakes after each change to the owner's orders (placed or moved).
pub fn watch(services: &Services, owner: &OwnerKey) -> Changes {
    services.store.order_changes(owner)
}

/// Admin: every viewer's orders that match `filter`, newest first, older
/// than the order `before` (a canonical id).
pub async fn all_orders(
    services: &Services,
    filter: &OrderFilter,
    before: Option<&str>,
    limit: usize,
) -> Result<Vec<Order>, AppError> {
    Ok(services.store.all_orders(filter, before, limit).await?)
}

/// Admin: any viewer's order by id.
pub async fn any_order(services: &Services, id: &str) -> Result<Option<Order>, AppError> {
    let Some(id) = order_id(id) else {
        return Ok(None);
    };
    Ok(services
        .store
        .order_by_id(&id)
        .await?
        .map(|(_, order)| order))
}

/// What an admin move did: the order as it is now (`None`: no such order)
/// and, if the move was refused, why (then nothing changed).
#[derive(Debug)]
pub struct Outcome {
    /// The order now.
    pub order: Option<Order>,
    /// Why the move was refused.
    pub refused: Option<Rejection>,
}

/// Admin `admin`: moves order `id` by `action` (already checked: a refused
/// check is reported with the order as it is). `ORDER_NOT_FOUND` when there
/// is no such order.
pub async fn move_by_admin(
    services: &Services,
    admin: &Viewer,
    id: &str,
    action: Result<OrderMove, Rejection>,
) -> Result<Outcome, AppError> {
    let Some(id) = order_id(id) else {
        return Ok(not_found());
    };
    let action = match action {
        Ok(action) => action,
        Err(rejection) => return refused(services, &id, rejection).await,
    };
    let now = services.clock.now();
    let change = |order: &Order| move_order(order, &action, &admin.id, now);
    match services.store.move_order(&id, &change).await {
        Ok(None) => Ok(not_found()),
        Ok(Some((_, Moved::Changed(order, _)))) => Ok(Outcome {
            order: Some(*order),
            refused: None,
        }),
        Ok(Some((_, Moved::Already))) => Ok(Outcome {
            order: services.store.order_by_id(&id).await?.map(|(_, o)| o),
            refused: None,
        }),
        Err(UpdateError::Rejected(rejection)) => refused(services, &id, rejection).await,
        Err(UpdateError::Store(e)) => Err(e.into()),
    }
}

/// The order as it is, with why the move was refused.
async fn refused(services: &Services, id: &str, rejection: Rejection) -> Result<Outcome, AppError> {
    let order = services.store.order_by_id(id).await?;
    Ok(Outcome {
        order: order.map(|(_, o)| o),
        refused: Some(rejection),
    })
}

fn not_found() -> Outcome {
    Outcome {
        order: None,
        refused: Some(Rejection::one(UserError::new(
            ErrorCode::OrderNotFound,
            &["orderId"],
            "no order has this id",
        ))),
    }
}
