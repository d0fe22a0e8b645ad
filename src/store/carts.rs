//! What carts need from a database: each cart its own record, with one
//! small [`CartIndex`] per owner beside them; a write reads the index and
//! the one cart it changes and writes both atomically. Idempotent writes;
//! the guest → customer merge; notices of changes for live subscriptions.

use super::notices::Touched;
use super::{Changes, UpdateError};
use super::{StoreError, idempotency::Replayable};
use crate::domain::idempotency::KeyUse;
use crate::domain::merge::MergeReport;
pub use crate::domain::webhook::IdleMark;
use crate::domain::{Cart, CartIndex, CartName, CartSet, CartWrite, OwnerKey, Rejection};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// A change to one cart: given the owner's index and the cart as stored,
/// what to write (`None`: nothing changes). It updates the index it is
/// given, which is written with the cart. It may run several times (a
/// backend retries on conflict), so no side effects.
pub type CartUpdate<'a> = dyn Fn(&mut CartIndex, Option<&Cart>) -> Result<Option<CartWrite>, Rejection>
    + Send
    + Sync
    + 'a;

/// A pure merge of a guest's carts (second) into a customer's (first). It may
/// run several times, so no side effects.
pub type CartMerge<'a> =
    dyn Fn(&mut CartSet, &mut CartSet) -> Result<MergeReport, Rejection> + Send + Sync + 'a;

/// Whom a committed merge that wrote anything tells: both owners' cart
/// subscriptions (the guest's carts went, the customer's changed).
pub fn touched_by_merge(guest: &OwnerKey, customer: &OwnerKey) -> Touched {
    Touched::carts_of(guest).and_carts_of(customer)
}

/// Owners' carts.
///
/// Every write of an owner's carts is serialised with the owner's other
/// writes and is atomic over the cart, the index and the carts it drops. A
/// backend keeps versions from ever going backwards for an owner: an owner
/// with no index (e.g. after its expired carts were swept) starts above
/// every version the backend has deleted.
#[async_trait]
pub trait CartStore: Send + Sync + 'static {
    /// One cart as stored (`None` if nothing is stored under the name).
    async fn cart(&self, owner: &OwnerKey, name: &CartName) -> Result<Option<Cart>, StoreError>;

    /// All carts of one owner (empty if none are stored). Bounded by the
    /// owner's byte budget.
    async fn cart_set(&self, owner: &OwnerKey) -> Result<CartSet, StoreError>;

    /// Atomically changes the cart `name`; returns the cart as stored
    /// afterwards. Acknowledged once durable; subscriptions are told
    /// afterwards.
    async fn update_cart(
        &self,
        owner: &OwnerKey,
        name: &CartName,
        update: &CartUpdate<'_>,
    ) -> Result<Option<Cart>, UpdateError>;

    /// [`update_cart`](Self::update_cart) at most once per key: in the same
    /// transaction the key is looked up (a recorded outcome for the same
    /// request replays: nothing is written and the cart is returned as it is
    /// now; for another request, `IDEMPOTENCY_KEY_REUSED`), counted against
    /// the owner's allowance, and recorded with the version the update made.
    async fn update_cart_once(
        &self,
        owner: &OwnerKey,
        key: &KeyUse<'_>,
        name: &CartName,
        update: &CartUpdate<'_>,
    ) -> Result<Replayable<Option<Cart>>, UpdateError>;

    /// Reads both owners' carts, applies `merge` (customer first, guest
    /// second) and writes both in one transaction, acknowledged once durable.
    /// Returns the report and the customer's carts as written. When `merge`
    /// refuses, nothing is written.
    async fn merge_carts(
        &self,
        guest: &OwnerKey,
        customer: &OwnerKey,
        merge: &CartMerge<'_>,
    ) -> Result<(MergeReport, CartSet), UpdateError>;

    /// Stored carts that hold anything, after `after` (by last change,
    /// owner, name) and last changed at or before `until`, in that order, at
    /// most `limit`, each with the mark it was found by (the next walk goes
    /// on after the last): the carts that went idle since a walk's last
    /// step (abandoned-cart webhooks). A cart that does not read is left
    /// out with a warning, never stops the walk. PostgreSQL reads them by
    /// an index on the last change; sled reads the owners' small indexes.
    async fn idle_carts(
        &self,
        after: &IdleMark,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(IdleMark, OwnerKey, Cart)>, StoreError>;

    /// Notices of changes to `owner`'s carts (any write, a merge, a sweep, a
    /// log-out everywhere), sent once the change is durable.
    fn cart_changes(&self, owner: &OwnerKey) -> Changes;
}
