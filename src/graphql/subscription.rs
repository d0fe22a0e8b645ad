//! `cartUpdated`: live cart sync over graphql-transport-ws; `orderUpdated`:
//! an order's status as the shop moves it.
//!
//! The subscription first sends the cart as it is, then the cart after every
//! change to it (any mutation, checkout, merge, expiry, sweep), each with its
//! `version`, so a client can tell when it missed one. It ends with an
//! `UNAUTHENTICATED` error when the connection's token expires or
//! `logOutEverywhere` revokes it (which wakes the subscription at once).
//!
//! It sleeps until the store reports a change to the viewer's own carts
//! ([`carts::watch`]): other viewers' writes never wake it. Each wake is logged at `trace` level (target
//! `cartql::graphql::subscription`), which is how the tests count them.

use super::access::require_viewer;
use super::cart_view::CartView;
use super::error::{ApiError, ApiResult};
use super::orders::{OrderView, view as orders_view};
use crate::app::{Changes, carts, orders};
use crate::auth::verifier::VerifyError;
use crate::clock::until;
use crate::domain::CartName;
use crate::domain::order::Order;
use crate::services::Services;
use async_graphql::{Context, ID, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;
use std::collections::HashMap;

/// Orders an `orderUpdated` without `id` watches: the newest.
const WATCHED_ORDERS: usize = 20;

/// Subscription fields.
#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// The viewer's cart `cart`, now and after every change.
    async fn cart_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = "default")] cart: String,
    ) -> Result<impl Stream<Item = ApiResult<CartView>> + use<>, async_graphql::Error> {
        let viewer = require_viewer(ctx)?.clone();
        let name = CartName::parse(&cart).map_err(ApiError::BadUserInput)?;
        let services = Services::of(ctx).clone();
        let owner = viewer.owner_key();
        let mut changes = carts::watch(&services, &owner);
        let lifetime = services.shop.cart_lifetime(viewer.kind);
        Ok(async_stream::stream! {
            // What was last pushed: a change bumps the version, expiry blanks the cart.
            let mut sent: Option<(u64, bool)> = None;
            loop {
                let (cart, known) = match carts::current(&services, &viewer, &name).await {
                    Ok(carts::Current::Cart(cart, known)) => (*cart, known),
                    Ok(carts::Current::Revoked) => {
                        yield Err(ApiError::TokenRevoked);
                        break;
                    }
                    Err(e) => {
                        yield Err(ApiError::from(e));
                        break;
                    }
                };
                let now = services.clock.now();
                let seen = (cart.version, cart.is_blank());
                let expires = (!cart.is_blank()).then(|| cart.expires_at(lifetime));
                // An expired cart was pushed empty; the sweeper deleting it later
                // (which reads as version 0) is no news to the client.
                let swept = matches!(&sent, Some((v, blank)) if *blank && cart.is_blank() && cart.version < *v);
                if sent.as_ref() != Some(&seen) && !swept {
                    sent = Some(seen);
                    yield carts::price_seen(&services, cart, known)
                        .await
                        .map(|shown| CartView::new(&services, &viewer, shown))
                        .map_err(ApiError::from);
                }
                match next_trigger(&mut changes, now, viewer.valid_until(), expires).await {
                    Trigger::Changed => {
                        tracing::trace!(owner = owner.as_str(), cart = %name, "cart subscription woken by a change");
                    }
                    Trigger::Expired => {}
                    Trigger::TokenExpired => {
                        yield Err(ApiError::TokenExpired);
                        break;
                    }
                    Trigger::Closed => break,
                }
            }
        })
    }

    /// The viewer's order `id` now and after every change of its status
    /// (paid, fulfilled, cancelled); without `id`, each of the viewer's 20
    /// newest orders when it is placed or changes. Only order changes wake it
    /// (never cart writes). Only the viewer's own orders: another
    /// viewer's id reads as no order (`BAD_USER_INPUT`).
    async fn order_updated(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
    ) -> Result<impl Stream<Item = ApiResult<OrderView>> + use<>, async_graphql::Error> {
        let viewer = require_viewer(ctx)?.clone();
        let services = Services::of(ctx).clone();
        let owner = viewer.owner_key();
        let no_such_order = || ApiError::BadUserInput("no such order".into());
        let id = match id {
            None => None,
            Some(id) => match orders::order(&services, &viewer, super::ids::order_ref(&id))
                .await
                .map_err(ApiError::from)?
            {
                Some(order) => Some(order.id),
                None => return Err(no_such_order().into()),
            },
        };
        let mut changes = orders::watch(&services, &owner);
        // How many events each order had when last looked at. Watching all,
        // what is there when the subscription starts is the baseline (read
        // here, as the subscribe message is handled, after listening began).
        let mut seen: HashMap<String, usize> = HashMap::new();
        if id.is_none() {
            let newest = orders::orders(&services, &owner, None, WATCHED_ORDERS)
                .await
                .map_err(ApiError::from)?;
            seen.extend(newest.iter().map(|o| (o.id.clone(), o.history().len())));
        }
        Ok(async_stream::stream! {
            let mut first = true;
            loop {
                if let Err(error) = still_valid(&services, &viewer).await {
                    yield Err(error);
                    break;
                }
                let found = match &id {
                    Some(id) => orders::order(&services, &viewer, id).await.map(|o| o.into_iter().collect()),
                    None => orders::orders(&services, &owner, None, WATCHED_ORDERS).await,
                };
                let found: Vec<Order> = match found {
                    Ok(orders) => orders,
                    Err(e) => {
                        yield Err(ApiError::from(e));
                        break;
                    }
                };
                for order in found.into_iter().rev() {
                    let events = order.history().len();
                    let before = seen.insert(order.id.clone(), events);
                    // The watched order is sent as it is at first; after
                    // that, an order is sent when its history grows (and,
                    // watching all, when a new one is placed).
                    let push = match before {
                        None => !first || id.is_some(),
                        Some(n) => n != events,
                    };
                    if push {
                        yield Ok(orders_view(&services, order));
                    }
                }
                first = false;
                match next_trigger(&mut changes, services.clock.now(), viewer.valid_until(), None).await {
                    Trigger::Changed => {
                        tracing::trace!(owner = owner.as_str(), "order subscription woken by a change");
                    }
                    Trigger::Expired => {}
                    Trigger::TokenExpired => {
                        yield Err(ApiError::TokenExpired);
                        break;
                    }
                    Trigger::Closed => break,
                }
            }
        })
    }
}

/// Whether the connection's token still holds (`logOutEverywhere` ends a
/// subscription at its next wake).
async fn still_valid(services: &Services, viewer: &crate::auth::Viewer) -> Result<(), ApiError> {
    match services.verifier.check_not_revoked(viewer).await {
        Ok(()) => Ok(()),
        Err(VerifyError::Invalid(_)) => Err(ApiError::TokenRevoked),
        Err(VerifyError::Unavailable(e)) => {
            Err(crate::app::AppError::RevocationUnavailable(e).into())
        }
    }
}

/// Why the subscription wakes up.
enum Trigger {
    /// The owner's carts changed (once or more since the last look).
    Changed,
    /// The cart expired.
    Expired,
    /// The connection's token ran out.
    TokenExpired,
    /// The store stopped (shutdown).
    Closed,
}

/// Waits for a change to the owner's carts, the cart's expiry or the token's.
async fn next_trigger(
    changes: &mut Changes,
    now: DateTime<Utc>,
    token_expires: DateTime<Utc>,
    cart_expires: Option<DateTime<Utc>>,
) -> Trigger {
    // A second after the token's last valid instant: a WebSocket closes
    // with 4403 at that instant, its operations with it (so a graphql-ws
    // client subscribes again after reconnecting); this ends the stream
    // wherever no socket does.
    let token_expiry =
        tokio::time::sleep(until(now, token_expires) + std::time::Duration::from_secs(1));
    let cart_expiry =
        tokio::time::sleep(cart_expires.map_or_else(Default::default, |at| until(now, at)));
    tokio::select! {
        changed = changes.changed() => match changed {
            Ok(()) => Trigger::Changed,
            Err(_) => Trigger::Closed,
        },
        _ = token_expiry => Trigger::TokenExpired,
        _ = cart_expiry, if cart_expires.is_some() => Trigger::Expired,
    }
}
