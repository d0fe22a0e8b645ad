//! [`IdentityStore`] for PostgreSQL: `accounts` (unique by normalised email)
//! and `valid_after` (moved forward atomically by one upsert). A log-out
//! everywhere is committed before it returns, so the very next request to
//! any instance reads it (tokens are checked against the database each time).

use super::commit;
use super::{PgStore, backend, from_json, retrying_store, to_json};
use crate::domain::OwnerKey;
use crate::domain::account::{Account, Email, next_valid_after};
use crate::store::StoreError;
use crate::store::identity::IdentityStore;
use crate::store::notices::Touched;
use async_trait::async_trait;

#[async_trait]
impl IdentityStore for PgStore {
    async fn account(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        let row: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT data FROM accounts WHERE email = $1")
                .bind(email.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(|value| from_json(format_args!("accounts/{}", email.as_str()), value))
            .transpose()
    }

    async fn create_account(&self, account: &Account) -> Result<bool, StoreError> {
        let created = sqlx::query(
            "INSERT INTO accounts (email, data) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING",
        )
        .bind(account.email.as_str())
        .bind(to_json(account))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(created.rows_affected() == 1)
    }

    async fn valid_after(&self, owner: &OwnerKey) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT valid_after FROM valid_after WHERE owner = $1")
            .bind(owner.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn log_out_everywhere(&self, owner: &OwnerKey, now: i64) -> Result<i64, StoreError> {
        // A renewal takes its time, then reads this record, and is refused
        // unless its token is newer than what it read. Its new token must
        // not survive a log-out that commits after that read: so what is
        // written must exceed every second up to the commit. A commit takes
        // milliseconds here (in sled, microseconds), so the second is taken
        // again after it, and should it have moved on, the record is moved
        // past it too (next_valid_after once more).
        let mut second = now.max(chrono::Utc::now().timestamp());
        loop {
            let next = self.write_valid_after(owner, second).await?;
            let after = chrono::Utc::now().timestamp();
            if after <= second {
                return Ok(next);
            }
            second = after;
        }
    }
}

impl PgStore {
    /// Writes what [`next_valid_after`] says over the stored time, read
    /// locked. A row is made first if there is none (holding `now`, which
    /// the rule treats as "none"; no reader sees it before the update
    /// commits with it), so two first log-outs at once serialise on it too.
    async fn write_valid_after(&self, owner: &OwnerKey, now: i64) -> Result<i64, StoreError> {
        retrying_store(|| async {
            let mut tx = self.begin().await?;
            sqlx::query(
                "INSERT INTO valid_after (owner, valid_after) VALUES ($1, $2)
                 ON CONFLICT (owner) DO NOTHING",
            )
            .bind(owner.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let stored: i64 = sqlx::query_scalar(
                "SELECT valid_after FROM valid_after WHERE owner = $1 FOR UPDATE",
            )
            .bind(owner.as_str())
            .fetch_one(&mut *tx)
            .await?;
            let next = next_valid_after(Some(stored), now);
            sqlx::query("UPDATE valid_after SET valid_after = $2 WHERE owner = $1")
                .bind(owner.as_str())
                .bind(next)
                .execute(&mut *tx)
                .await?;
            // Wakes the owner's live subscriptions everywhere, so they re-check their token.
            self.announce(&mut tx, &Touched::logged_out(owner)).await?;
            commit(tx).await?;
            Ok(next)
        })
        .await
    }
}
