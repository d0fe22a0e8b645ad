//! Idempotency records in PostgreSQL: the steps every idempotent write runs
//! inside its own transaction, and the [`IdempotencyStore`] look-up.
//!
//! The owner's `idempotency_counts` row is locked first ([`lock_owner`]): two
//! requests of one owner with one key queue there, and the second then finds
//! the first's record. The count is the per-owner cap; a refused or replayed
//! request rolls back, so it neither counts nor records.

use super::{PgStore, TxError, finish, from_json, to_json};
use crate::domain::OwnerKey;
use crate::domain::idempotency::{
    Fingerprint, IdempotencyKey, IdempotencyRecord, Outcome, recorded, too_many_keys,
};
use crate::store::UpdateError;
use crate::store::idempotency::IdempotencyStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Transaction};

/// Locks the owner's count row (creating it at 0) and returns its count.
pub(super) async fn lock_owner(
    tx: &mut Transaction<'_, Postgres>,
    owner: &OwnerKey,
) -> Result<i64, TxError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO idempotency_counts (owner, count) VALUES ($1, 0)
         ON CONFLICT (owner) DO UPDATE SET count = idempotency_counts.count
         RETURNING count",
    )
    .bind(owner.as_str())
    .fetch_one(&mut **tx)
    .await?)
}

/// The record of `key`, as stored (the decision is the domain's).
pub(super) async fn record_in(
    conn: &mut PgConnection,
    owner: &OwnerKey,
    key: &IdempotencyKey,
) -> Result<Option<IdempotencyRecord>, TxError> {
    let row: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT record FROM idempotency WHERE owner = $1 AND key = $2")
            .bind(owner.as_str())
            .bind(key.as_str())
            .fetch_optional(conn)
            .await?;
    let key = format!("idempotency/{owner}/{}", key.as_str());
    Ok(row.map(|value| from_json(key, value)).transpose()?)
}

/// Refuses a new key when the owner has `max` records (`count`, read by
/// [`lock_owner`] in this transaction).
pub(super) fn check_allowance(count: i64, max: usize) -> Result<(), TxError> {
    if count >= i64::try_from(max).unwrap_or(i64::MAX) {
        return Err(TxError::Rejected(too_many_keys(max)));
    }
    Ok(())
}

/// Records `outcome` for `key` and counts it. A record that appeared since
/// the look-up fails on the primary key, and the transaction is retried.
pub(super) async fn record_key(
    tx: &mut Transaction<'_, Postgres>,
    owner: &OwnerKey,
    key: &IdempotencyKey,
    fingerprint: &Fingerprint,
    now: DateTime<Utc>,
    outcome: Outcome,
) -> Result<(), TxError> {
    let record = IdempotencyRecord {
        fingerprint: fingerprint.clone(),
        created_at: now,
        outcome,
    };
    sqlx::query("INSERT INTO idempotency (owner, key, created_at, record) VALUES ($1, $2, $3, $4)")
        .bind(owner.as_str())
        .bind(key.as_str())
        .bind(now)
        .bind(to_json(&record))
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE idempotency_counts SET count = count + 1 WHERE owner = $1")
        .bind(owner.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait]
impl IdempotencyStore for PgStore {
    async fn recorded(
        &self,
        owner: &OwnerKey,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Outcome>, UpdateError> {
        let result = async {
            let mut conn = self.pool.acquire().await?;
            let record = record_in(&mut conn, owner, key).await?;
            let outcome = recorded(record.as_ref(), fingerprint).map_err(TxError::Rejected)?;
            Ok(outcome.cloned())
        }
        .await;
        finish(result)
    }
}
