//! What identity needs from a database: accounts, revocation records, and the
//! atomic guest → customer cart merge.
//!
//! A separate trait from [`Store`](super::Store) so identity storage can grow
//! without touching the cart and catalog storage, and a second backend can
//! implement the two independently.

use super::{OwnerKey, StoreError, UpdateError};
use crate::domain::account::{Account, Email};
use crate::domain::merge::MergeReport;
use crate::domain::{CartSet, Rejection};
use async_trait::async_trait;

/// A pure merge of a guest's carts (second) into a customer's (first). It may
/// run several times (the store retries on conflict), so no side effects.
pub type CartMerge<'a> =
    dyn Fn(&mut CartSet, &mut CartSet) -> Result<MergeReport, Rejection> + Send + Sync + 'a;

/// Identity records in the store.
#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// The account signing in with `email`, if any.
    async fn account(&self, email: &Email) -> Result<Option<Account>, StoreError>;

    /// Stores a new account. Returns `false` (and writes nothing) when its
    /// email already has an account.
    async fn create_account(&self, account: &Account) -> Result<bool, StoreError>;

    /// The owner's "valid after" time in seconds since the epoch: tokens
    /// issued (`iat`) before it are refused. `None` if never set.
    async fn valid_after(&self, owner: &OwnerKey) -> Result<Option<i64>, StoreError>;

    /// "Log out everywhere" at `now` (seconds): moves the owner's "valid
    /// after" time to [`next_valid_after`](crate::domain::account::next_valid_after)
    /// of what is stored, atomically; returns the time now stored. Durable
    /// before it returns, and it wakes the owner's live subscriptions.
    async fn log_out_everywhere(&self, owner: &OwnerKey, now: i64) -> Result<i64, StoreError>;

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
}
