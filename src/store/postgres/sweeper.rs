//! The PostgreSQL backend's part of the background sweep ([`Sweep`]):
//! expired carts, old idempotency records, revocation records and throttle
//! windows, as the policy ([`Due`]) says; the loop is
//! [`crate::store::sweeper`]'s.
//!
//! Every instance runs it. Work is taken in small batches with
//! `FOR UPDATE SKIP LOCKED`, each in its own transaction: two instances
//! sweeping at once take different rows, a row a request is writing is left
//! for the next sweep, and a row is re-read under its lock, so a second
//! sweeper finds nothing left to do (no double deletion, no double count).
//! The version floor is raised in the transaction that deletes an owner's
//! last row. Where a query filters by time it compares with the cutoff the
//! policy gives, as the policy does (`<`, or `<=` for carts).

use super::carts::{Read, delete_carts, lock_carts};
use super::commit;
use super::{PgStore, TxError, backend, retrying_store};
use crate::clock::Clock;
use crate::domain::OwnerKey;
use crate::domain::expiry::{Due, REVOCATIONS_KEPT};
use crate::store::notices::Touched;
use crate::store::sweeper::{self, Sweep};
use crate::store::{Retention, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// Rows one sweep transaction takes.
const BATCH: i64 = 256;

impl PgStore {
    /// Starts sweeping by `retention` in the background, until `close`.
    pub fn start_sweeping(self: &Arc<Self>, retention: Retention, clock: Arc<dyn Clock>) {
        let task = sweeper::start(Arc::downgrade(self), retention, clock);
        self.track(task);
    }

    /// One sweep at `now`.
    pub async fn sweep_once(&self, now: DateTime<Utc>, retention: &Retention) {
        sweeper::sweep_once(self, &retention.due_at(now)).await;
    }
}

#[async_trait]
impl Sweep for PgStore {
    /// Drops expired carts and deletes the rows of owners left without
    /// carts (raising the version floor). Returns the number of carts
    /// dropped.
    async fn sweep_carts(&self, due: &Due) -> Result<usize, StoreError> {
        let mut after = String::new();
        let mut swept = 0;
        loop {
            let (dropped, last) = retrying_store(|| self.sweep_cart_batch(due, &after)).await?;
            swept += dropped;
            match last {
                Some(last) => after = last,
                None => return Ok(swept),
            }
        }
    }

    /// Deletes the idempotency records due, with their counts.
    async fn sweep_idempotency(&self, due: &Due) -> Result<usize, StoreError> {
        let cutoff = due.idempotency_cutoff();
        let mut swept = 0;
        loop {
            let deleted = retrying_store(|| async {
                let mut tx = self.begin().await?;
                let mut owners: Vec<String> = sqlx::query_scalar(
                    "DELETE FROM idempotency WHERE (owner, key) IN (
                         SELECT owner, key FROM idempotency WHERE created_at < $1
                         LIMIT $2 FOR UPDATE SKIP LOCKED)
                     RETURNING owner",
                )
                .bind(cutoff)
                .bind(BATCH)
                .fetch_all(&mut *tx)
                .await?;
                let deleted = owners.len();
                owners.sort();
                // Counts rows in owner order, as every transaction takes them.
                for chunk in owners.chunk_by(|a, b| a == b) {
                    sqlx::query(
                        "UPDATE idempotency_counts SET count = GREATEST(count - $2, 0) WHERE owner = $1",
                    )
                    .bind(&chunk[0])
                    .bind(chunk.len() as i64)
                    .execute(&mut *tx)
                    .await?;
                }
                owners.dedup();
                sqlx::query("DELETE FROM idempotency_counts WHERE owner = ANY($1) AND count = 0")
                    .bind(&owners)
                    .execute(&mut *tx)
                    .await?;
                commit(tx).await?;
                Ok::<_, TxError>(deleted)
            })
            .await?;
            swept += deleted;
            if deleted < BATCH as usize {
                return Ok(swept);
            }
        }
    }

    /// Deletes the "valid after" records due ([`Due::revocation`]: before
    /// the cutoff, in a namespace that is not kept).
    async fn sweep_revocations(&self, due: &Due) -> Result<usize, StoreError> {
        let kept: Vec<String> = REVOCATIONS_KEPT
            .iter()
            .map(|namespace| format!("{}%", OwnerKey::new(*namespace, "").as_str()))
            .collect();
        let deleted = sqlx::query(
            "DELETE FROM valid_after WHERE valid_after < $1 AND NOT (owner LIKE ANY($2))",
        )
        .bind(due.revocation_cutoff())
        .bind(&kept)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(deleted.rows_affected() as usize)
    }

    async fn sweep_throttle(&self, due: &Due) -> Result<usize, StoreError> {
        let deleted = sqlx::query("DELETE FROM throttle WHERE started_at < $1")
            .bind(due.throttle_cutoff())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(deleted.rows_affected() as usize)
    }
}

impl PgStore {
    /// One batch of owners (in key order after `after`) with a cart
    /// changed by [`Due::carts_changed_by`], or with no carts at all; each
    /// owner's row is locked and skipped if a request holds it.
    async fn sweep_cart_batch(
        &self,
        due: &Due,
        after: &str,
    ) -> Result<(usize, Option<String>), TxError> {
        let mut tx = self.begin().await?;
        let owners: Vec<String> = sqlx::query_scalar(
            "SELECT o.owner FROM cart_owners o
             WHERE o.owner > $1
               AND (EXISTS (SELECT 1 FROM carts c WHERE c.owner = o.owner AND c.updated_at <= $2)
                    OR NOT EXISTS (SELECT 1 FROM carts c WHERE c.owner = o.owner))
             ORDER BY o.owner LIMIT $3
             FOR UPDATE SKIP LOCKED",
        )
        .bind(after)
        .bind(due.carts_changed_by())
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let last = owners.last().cloned();
        let mut swept = 0;
        let mut touched = Touched::default();
        for key in owners {
            let Some(owner) = OwnerKey::parse(&key) else {
                tracing::warn!(%key, "a cart owner row under a key that names no owner; left alone");
                continue;
            };
            // Locked above (this transaction holds the row): read under it.
            let locked = lock_carts(&mut tx, &owner, Read::None).await?;
            let mut index = locked.index.clone();
            let Some(swept_carts) = due.sweep_carts(&owner, &mut index) else {
                continue;
            };
            let dropped = swept_carts.dropped;
            delete_carts(&mut tx, &owner, dropped.iter()).await?;
            if swept_carts.forget_owner {
                // An owner left without carts loses its row; the floor
                // keeps its versions retired.
                raise_version_floor(&mut tx, index.retired_version).await?;
                sqlx::query("DELETE FROM cart_owners WHERE owner = $1")
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query("UPDATE cart_owners SET retired_version = $2 WHERE owner = $1")
                    .bind(&key)
                    .bind(i64::try_from(index.retired_version).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await?;
            }
            if !dropped.is_empty() {
                touched = touched.and_carts_of(&owner);
                swept += dropped.len();
            }
        }
        self.announce(&mut tx, &touched).await?;
        commit(tx).await?;
        Ok((swept, last))
    }
}

/// Raises `meta.version_floor` to at least `version`.
async fn raise_version_floor(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    version: u64,
) -> Result<(), TxError> {
    let version = i64::try_from(version).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('version_floor', to_jsonb($1::bigint))
         ON CONFLICT (key) DO UPDATE
         SET value = to_jsonb(GREATEST((meta.value #>> '{}')::bigint, $1::bigint))",
    )
    .bind(version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
