//! What carts need from a database: all of one owner's carts read and
//! written as one value, atomically; idempotent writes; the guest → customer
//! merge; and notices of changes for live subscriptions.

use super::{CartChanges, UpdateError};
use super::{StoreError, idempotency::Replayable};
use crate::domain::idempotency::KeyUse;
use crate::domain::merge::MergeReport;
use crate::domain::{CartName, CartSet, OwnerKey, Rejection};
use async_trait::async_trait;

/// A change to one owner's carts. It may run several times (the store
/// retries on conflict), so no side effects.
pub type CartSetUpdate<'a> = dyn Fn(&mut CartSet) -> Result<(), Rejection> + Send + Sync + 'a;

/// A pure merge of a guest's carts (second) into a customer's (first). It may
/// run several times, so no side effects.
pub type CartMerge<'a> =
    dyn Fn(&mut CartSet, &mut CartSet) -> Result<MergeReport, Rejection> + Send + Sync + 'a;

/// Owners' carts.
///
/// A backend keeps versions from ever going backwards for an owner: a set
/// that is created (no record under the owner, e.g. after its expired carts
/// were swept) starts above every version it has deleted.
#[async_trait]
pub trait CartStore: Send + Sync + 'static {
    /// All carts of one owner (empty if none are stored).
    async fn cart_set(&self, owner: &OwnerKey) -> Result<CartSet, StoreError>;

    /// Atomically changes one owner's carts; returns the set as written.
    /// Acknowledged once durable; subscriptions are told afterwards.
    async fn update_cart_set(
        &self,
        owner: &OwnerKey,
        update: &CartSetUpdate<'_>,
    ) -> Result<CartSet, UpdateError>;

    /// [`update_cart_set`](Self::update_cart_set) at most once per key: in
    /// the same transaction the key is looked up (a recorded outcome for the
    /// same request replays: nothing is written and the carts are returned
    /// as they are now; for another request, `IDEMPOTENCY_KEY_REUSED`),
    /// counted against the owner's allowance, and recorded with the version
    /// of the cart `name` the update made.
    async fn update_cart_set_once(
        &self,
        owner: &OwnerKey,
        key: &KeyUse<'_>,
        name: &CartName,
        update: &CartSetUpdate<'_>,
    ) -> Result<Replayable<CartSet>, UpdateError>;

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

    /// Notices of changes to `owner`'s carts (any write, a merge, a sweep, a
    /// log-out everywhere), sent once the change is durable.
    fn cart_changes(&self, owner: &OwnerKey) -> CartChanges;
}
