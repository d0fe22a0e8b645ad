//! The PostgreSQL backend's background sweep: expired carts, old
//! idempotency records, revocation records and throttle windows.
//!
//! Every instance runs it. Work is taken in small batches with
//! `FOR UPDATE SKIP LOCKED`, each in its own transaction: two instances
//! sweeping at once take different rows, a row a request is writing is left
//! for the next sweep, and a row is re-read under its lock, so a second
//! sweeper finds nothing left to do (no double deletion, no double count).
//! The version floor is raised in the transaction that deletes an owner's
//! last row.

use super::carts::{Read, delete_carts, lock_carts};
use super::{PgStore, TxError, backend, retrying_store};
use crate::clock::Clock;
use crate::domain::OwnerKey;
use crate::store::report_sweep;
use crate::store::{Retention, StoreError};
use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Weak};

/// Rows one sweep transaction takes.
const BATCH: i64 = 256;

impl PgStore {
    /// Starts sweeping by `retention` in the background, until `close`.
    pub fn start_sweeping(self: &Arc<Self>, retention: Retention, clock: Arc<dyn Clock>) {
        let task = tokio::spawn(sweep_forever(Arc::downgrade(self), retention, clock));
        self.track(task);
    }

    /// One sweep at `now`.
    pub async fn sweep_once(&self, now: DateTime<Utc>, retention: &Retention) {
        let lifetime = |owner: &OwnerKey| retention.cart_lifetime(owner);
        let carts = self.sweep_carts(now, &lifetime).await;
        report_sweep("expired carts", carts);
        let keys = self
            .sweep_idempotency(now - retention.idempotency_ttl)
            .await;
        report_sweep("idempotency records", keys);
        let revocations = self
            .sweep_revocations(now - retention.revocation_lifetime)
            .await;
        report_sweep("revocation records", revocations);
        // Throttle windows last at most a day (--login-failure-window).
        if let Err(e) = self.sweep_throttle(now - Duration::days(2)).await {
            tracing::error!(error = %e, "sweeping throttle windows failed");
        }
    }

    /// Drops expired carts and deletes the rows of owners left without
    /// carts (raising the version floor). Returns the number of carts
    /// dropped.
    pub async fn sweep_carts(
        &self,
        now: DateTime<Utc>,
        lifetime: &(dyn for<'k> Fn(&'k OwnerKey) -> Duration + Send + Sync),
    ) -> Result<usize, StoreError> {
        // A cart may be expired if it is older than the shortest lifetime;
        // each owner's own lifetime is applied under its lock.
        let shortest = ["guest:x", "customer:x", "external:x"]
            .into_iter()
            .filter_map(OwnerKey::parse)
            .map(|o| lifetime(&o))
            .min()
            .unwrap_or(Duration::zero());
        let mut after = String::new();
        let mut swept = 0;
        loop {
            let (dropped, last) = retrying_store("store.sweep_carts", || {
                self.sweep_cart_batch(now, now - shortest, lifetime, &after)
            })
            .await?;
            swept += dropped;
            match last {
                Some(last) => after = last,
                None => return Ok(swept),
            }
        }
    }

    /// One batch of owners (in key order after `after`) with a cart older
    /// than `cutoff`, or with no carts at all; each owner's row is locked
    /// and skipped if a request holds it.
    async fn sweep_cart_batch(
        &self,
        now: DateTime<Utc>,
        cutoff: DateTime<Utc>,
        lifetime: &(dyn for<'k> Fn(&'k OwnerKey) -> Duration + Send + Sync),
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
        .bind(cutoff)
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let last = owners.last().cloned();
        let mut swept = 0;
        for key in owners {
            let Some(owner) = OwnerKey::parse(&key) else {
                tracing::warn!(%key, "a cart owner row under a key that names no owner; left alone");
                continue;
            };
            // Locked above (this transaction holds the row): read under it.
            let locked = lock_carts(&mut tx, &owner, Read::None).await?;
            let mut index = locked.index.clone();
            let dropped = index.drop_expired(now, lifetime(&owner));
            delete_carts(&mut tx, &owner, dropped.iter()).await?;
            if index.carts.is_empty() {
                // An owner left without carts loses its row; the floor
                // keeps its versions retired.
                raise_version_floor(&mut tx, index.retired_version).await?;
                sqlx::query("DELETE FROM cart_owners WHERE owner = $1")
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
            } else if !dropped.is_empty() {
                sqlx::query("UPDATE cart_owners SET retired_version = $2 WHERE owner = $1")
                    .bind(&key)
                    .bind(i64::try_from(index.retired_version).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await?;
            }
            if !dropped.is_empty() {
                self.notify(&mut tx, &owner).await?;
                swept += dropped.len();
            }
        }
        tx.commit().await?;
        Ok((swept, last))
    }

    /// Deletes idempotency records created before `cutoff`, with their counts.
    pub async fn sweep_idempotency(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut swept = 0;
        loop {
            let deleted = retrying_store("store.sweep_idempotency", || async {
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
                tx.commit().await?;
                Ok::<_, TxError>(deleted)
            })
            .await?;
            swept += deleted;
            if deleted < BATCH as usize {
                return Ok(swept);
            }
        }
    }

    /// Deletes "valid after" records older than `cutoff`, except the
    /// external issuer's (see the sled sweeper).
    pub async fn sweep_revocations(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        let deleted = sqlx::query(
            "DELETE FROM valid_after WHERE valid_after < $1 AND owner NOT LIKE 'external:%'",
        )
        .bind(cutoff.timestamp())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(deleted.rows_affected() as usize)
    }

    async fn sweep_throttle(&self, cutoff: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM throttle WHERE started_at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
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

/// Sweeps every `sweep_interval` while the store lives.
async fn sweep_forever(store: Weak<PgStore>, retention: Retention, clock: Arc<dyn Clock>) {
    let mut ticks = tokio::time::interval(retention.sweep_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(store) = store.upgrade() else { return };
        store.sweep_once(clock.now(), &retention).await;
    }
}
