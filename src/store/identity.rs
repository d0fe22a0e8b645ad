//! What identity needs from a database: accounts and revocation records.

use super::StoreError;
use crate::domain::OwnerKey;
use crate::domain::account::{Account, Email};
use async_trait::async_trait;

/// Accounts and each owner's "valid after" time.
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
}
