//! What checkout and orders need from a database: the checkout transaction
//! and reading an owner's orders.

use super::idempotency::Replayable;
use super::{StoreError, UpdateError};
use crate::domain::idempotency::{Fingerprint, IdempotencyKey};
use crate::domain::order::Order;
use crate::domain::{CartLine, CartName, Limits, OwnerKey};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

/// A checkout to run as one transaction.
#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    /// The buyer.
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

/// Orders.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Runs a checkout atomically: the idempotency look-up, the stock check
    /// and decrement, the order, the record of the key and (for a cart)
    /// clearing it, all or nothing. A replay returns the order placed first.
    async fn checkout(&self, request: &CheckoutRequest) -> Result<Replayable<Order>, UpdateError>;

    /// One of the owner's orders, or `None` (also for another owner's order id).
    async fn order(&self, owner: &OwnerKey, id: &str) -> Result<Option<Order>, StoreError>;

    /// Up to `limit` of the owner's orders, newest first, older than `before`
    /// (order ids are ULIDs in their canonical spelling and sort by time).
    async fn orders(
        &self,
        owner: &OwnerKey,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError>;
}
