//! What checkout needs from a database: orders, idempotency records, the
//! checkout transaction itself, and sweeping what has expired.

use super::{OwnerKey, StoreError, UpdateError};
use crate::domain::idempotency::{Fingerprint, IdempotencyKey, KeyUse, Outcome};
use crate::domain::order::Order;
use crate::domain::{CartLine, CartName, CartSet, Limits, Rejection};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

/// A checkout to run as one transaction.
#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    /// Whose.
    pub owner: OwnerKey,
    /// The idempotency key, scoped to `owner`.
    pub key: IdempotencyKey,
    /// What "the same request" means for `key`.
    pub fingerprint: Fingerprint,
    /// The most idempotency records the owner may have (a new key beyond
    /// them is refused with `THROTTLED`).
    pub max_keys_per_owner: usize,
    /// The id the order gets if one is placed.
    pub order_id: String,
    /// The time of the request.
    pub now: DateTime<Utc>,
    /// What to buy.
    pub source: CheckoutSource,
}

/// What a checkout buys.
#[derive(Clone, Debug)]
pub enum CheckoutSource {
    /// The owner's stored cart, which is cleared by the checkout.
    Cart {
        /// Which cart.
        name: CartName,
        /// Refuse unless the cart is at this version.
        expected_version: Option<u64>,
        /// How long the owner's carts live (an expired cart is empty).
        lifetime: Duration,
        /// Cart limits (for the clearing write).
        limits: Limits,
    },
    /// Lines a client kept itself (`checkoutLines`).
    Lines(Vec<CartLine>),
}

/// What a checkout did.
#[derive(Clone, Debug)]
pub enum CheckoutOutcome {
    /// A new order was placed.
    Placed(Order),
    /// The key was used before with the same request: the order placed then.
    Replayed(Order),
}

/// What an idempotent cart update did.
#[derive(Clone, Debug)]
pub enum CartOnceOutcome {
    /// The change was applied now; the owner's carts as written.
    Applied(CartSet),
    /// The key was used before with the same request: nothing was changed;
    /// the owner's carts as they are now.
    Replayed(CartSet),
}

/// A change to a viewer's carts that may run several times (inside a transaction).
pub type CartSetTxUpdate<'a> = dyn Fn(&mut CartSet) -> Result<(), Rejection> + Send + Sync + 'a;

/// Orders, idempotency and expiry.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Runs a checkout atomically: idempotency check, stock check and
    /// decrement, the order, the record of the key and (for a cart) clearing
    /// it, all or nothing.
    async fn checkout(&self, request: &CheckoutRequest) -> Result<CheckoutOutcome, UpdateError>;

    /// Applies `update` to the owner's carts and records the version of the
    /// cart `name` it made under the key, unless the key was used before:
    /// then changes nothing and returns the carts as they are. Refuses a new
    /// key (`THROTTLED`) when the owner has `max_per_owner` records already.
    async fn update_cart_set_once(
        &self,
        owner: &OwnerKey,
        key: &KeyUse<'_>,
        name: &CartName,
        update: &CartSetTxUpdate<'_>,
    ) -> Result<CartOnceOutcome, UpdateError>;

    /// What the first request with `key` produced, if `fingerprint` is that
    /// request; `IDEMPOTENCY_KEY_REUSED` if it is another; `None` for a new key.
    /// Lets a retry be answered even when its input would no longer pass checks.
    async fn recorded(
        &self,
        owner: &OwnerKey,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Outcome>, UpdateError>;

    /// One of the owner's orders, or `None` (also for another owner's order id).
    async fn order(&self, owner: &OwnerKey, id: &str) -> Result<Option<Order>, StoreError>;

    /// Up to `limit` of the owner's orders, newest first, older than `before`.
    async fn orders(
        &self,
        owner: &OwnerKey,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError>;

    /// Deletes carts that expired before `now` (lifetime per owner) and
    /// returns how many.
    async fn sweep_carts(
        &self,
        now: DateTime<Utc>,
        lifetime: &(dyn for<'k> Fn(&'k OwnerKey) -> Duration + Send + Sync),
    ) -> Result<usize, StoreError>;

    /// Deletes idempotency records created before `cutoff` (and takes them off
    /// their owners' counts); returns how many.
    async fn sweep_idempotency(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError>;
}
