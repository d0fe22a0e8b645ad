//! The shop's records in the `meta` table, under `shop/<kind>/<key>`.

use super::{PgStore, backend, commit, retrying_store};
use crate::domain::pricing::ShopPricing;
use crate::store::StoreError;
use crate::store::shop::{
    PRICING_KINDS, RecordChange, ShopStore, ShopWrite, meta_key, prefix_end, pricing_from,
};
use async_trait::async_trait;

/// The shop's pricing in one query, on `conn` (a checkout's transaction
/// reads it there).
pub(super) async fn read_pricing(conn: &mut sqlx::PgConnection) -> Result<ShopPricing, StoreError> {
    // Key ranges (the key is COLLATE "C": byte order), so the primary key
    // finds them however many other records `meta` holds.
    let starts: Vec<String> = PRICING_KINDS.iter().map(|k| meta_key(k, "")).collect();
    let ends: Vec<String> = starts.iter().map(|p| prefix_end(p)).collect();
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT m.key, m.value FROM unnest($1::text[], $2::text[]) AS r(lo, hi)
         JOIN meta m ON m.key >= r.lo AND m.key < r.hi",
    )
    .bind(&starts)
    .bind(&ends)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    pricing_from(rows)
}

/// Tells every instance (this one's listener too) at the commit of the
/// transaction `conn` is in that the shop's pricing changed.
pub(super) async fn notify_pricing(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(super::CHANNEL)
        .bind(super::PRICING_NOTICE)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a write of `kind` changes the shop's pricing.
fn prices(kind: &str) -> bool {
    PRICING_KINDS.contains(&kind)
}

#[async_trait]
impl ShopStore for PgStore {
    async fn shop_record_keys(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        let prefix = meta_key(kind, "");
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT key FROM meta WHERE key >= $1 AND key < $2 ORDER BY key")
                .bind(&prefix)
                .bind(prefix_end(&prefix))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(keys
            .into_iter()
            .filter_map(|key| key.strip_prefix(&prefix).map(str::to_string))
            .collect())
    }

    async fn shop_records_after(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let prefix = meta_key(kind, "");
        // A key range rather than LIKE (keys may hold `_` or `%`) or
        // starts_with (which no index serves).
        let (sql, start) = match after {
            Some(after) => (
                "SELECT key, value FROM meta WHERE key > $1 AND key < $2 ORDER BY key LIMIT $3",
                meta_key(kind, after),
            ),
            None => (
                "SELECT key, value FROM meta WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
                prefix.clone(),
            ),
        };
        let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(sql)
            .bind(&start)
            .bind(prefix_end(&prefix))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, value)| key.strip_prefix(&prefix).map(|k| (k.to_string(), value)))
            .collect())
    }

    async fn count_shop_records(&self, kind: &str) -> Result<u64, StoreError> {
        let prefix = meta_key(kind, "");
        let count: i64 =
            sqlx::query_scalar("SELECT count(*) FROM meta WHERE key >= $1 AND key < $2")
                .bind(&prefix)
                .bind(prefix_end(&prefix))
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn shop_pricing(&self) -> Result<ShopPricing, StoreError> {
        // Kept only while the listener hears other instances' changes; its
        // return makes every instance read again (notices may be lost).
        let listening = self.is_listening();
        let at = match self.pricing.current() {
            Ok(pricing) if listening => return Ok(pricing),
            Ok(_) => None,
            Err(at) => Some(at),
        };
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        let pricing = read_pricing(&mut conn).await?;
        if let (Some(at), true) = (at, listening) {
            self.pricing.keep(at, &pricing);
        }
        Ok(pricing)
    }

    async fn shop_records_at(
        &self,
        kind: &str,
        keys: &[String],
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let prefix = meta_key(kind, "");
        let wanted: Vec<String> = keys.iter().map(|key| meta_key(kind, key)).collect();
        let rows: Vec<(String, serde_json::Value)> =
            sqlx::query_as("SELECT key, value FROM meta WHERE key = ANY($1)")
                .bind(&wanted)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, value)| key.strip_prefix(&prefix).map(|k| (k.to_string(), value)))
            .collect())
    }

    async fn put_shop_record(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let put = sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(meta_key(kind, key))
        .bind(value);
        if !prices(kind) {
            put.execute(&self.pool).await.map_err(backend)?;
            return Ok(());
        }
        let mut tx = super::begin(&self.pool).await.map_err(backend)?;
        put.execute(&mut *tx).await.map_err(backend)?;
        notify_pricing(&mut tx).await.map_err(backend)?;
        super::timed_commit(tx).await.map_err(backend)?;
        self.pricing.changed();
        Ok(())
    }

    async fn delete_shop_record(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        let delete = sqlx::query("DELETE FROM meta WHERE key = $1").bind(meta_key(kind, key));
        if !prices(kind) {
            let done = delete.execute(&self.pool).await.map_err(backend)?;
            return Ok(done.rows_affected() > 0);
        }
        let mut tx = super::begin(&self.pool).await.map_err(backend)?;
        let done = delete.execute(&mut *tx).await.map_err(backend)?;
        notify_pricing(&mut tx).await.map_err(backend)?;
        super::timed_commit(tx).await.map_err(backend)?;
        self.pricing.changed();
        Ok(done.rows_affected() > 0)
    }

    async fn write_shop_records(&self, writes: &[ShopWrite]) -> Result<bool, StoreError> {
        ShopWrite::each_key_once(writes)?;
        // One statement of arrays for each sort of write, in one
        // transaction (plus the pricing notice): the takes first
        // (their rows locked, so a second instance taking the same ones
        // waits, then finds them gone and writes nothing), then the puts.
        let mut taken = std::collections::BTreeSet::new();
        let mut deleted = std::collections::BTreeSet::new();
        let mut puts = std::collections::BTreeMap::new();
        let mut fresh = std::collections::BTreeMap::new();
        for write in writes {
            match write {
                ShopWrite::Take { .. } => {
                    taken.insert(write.meta_key());
                }
                ShopWrite::Delete { .. } => {
                    deleted.insert(write.meta_key());
                }
                ShopWrite::Put { value, .. } => {
                    puts.insert(write.meta_key(), value.clone());
                }
                ShopWrite::PutIfAbsent { value, .. } => {
                    fresh
                        .entry(write.meta_key())
                        .or_insert_with(|| value.clone());
                }
            }
        }
        let taken: Vec<String> = taken.into_iter().collect();
        let deleted: Vec<String> = deleted.into_iter().collect();
        let (put_keys, put_values): (Vec<String>, Vec<serde_json::Value>) =
            puts.into_iter().unzip();
        let (fresh_keys, fresh_values): (Vec<String>, Vec<serde_json::Value>) =
            fresh.into_iter().unzip();
        let pricing = writes.iter().any(|write| prices(write.kind()));
        let written = retrying_store(|| async {
            let mut tx = super::begin(&self.pool).await?;
            if !taken.is_empty() {
                let gone = sqlx::query("DELETE FROM meta WHERE key = ANY($1)")
                    .bind(&taken)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if gone != taken.len() as u64 {
                    return Ok(false);
                }
            }
            if !deleted.is_empty() {
                sqlx::query("DELETE FROM meta WHERE key = ANY($1)")
                    .bind(&deleted)
                    .execute(&mut *tx)
                    .await?;
            }
            if !put_keys.is_empty() {
                sqlx::query(
                    "INSERT INTO meta (key, value) SELECT * FROM unnest($1::text[], $2::jsonb[])
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                )
                .bind(&put_keys)
                .bind(&put_values)
                .execute(&mut *tx)
                .await?;
            }
            if !fresh_keys.is_empty() {
                sqlx::query(
                    "INSERT INTO meta (key, value) SELECT * FROM unnest($1::text[], $2::jsonb[])
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(&fresh_keys)
                .bind(&fresh_values)
                .execute(&mut *tx)
                .await?;
            }
            if pricing {
                notify_pricing(&mut tx).await?;
            }
            commit(tx).await?;
            Ok(true)
        })
        .await?;
        if written && pricing {
            self.pricing.changed();
        }
        Ok(written)
    }

    async fn update_shop_record(
        &self,
        kind: &str,
        key: &str,
        next: &RecordChange<'_>,
    ) -> Result<(Option<serde_json::Value>, bool), StoreError> {
        let key = meta_key(kind, key);
        loop {
            let mut tx = super::begin(&self.pool).await.map_err(backend)?;
            let current: Option<(serde_json::Value,)> =
                sqlx::query_as("SELECT value FROM meta WHERE key = $1 FOR UPDATE")
                    .bind(&key)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
            let current = current.map(|(value,)| value);
            let value = next(current.as_ref());
            if value == current {
                return Ok((value, false));
            }
            let written = match (&current, &value) {
                (_, None) => sqlx::query("DELETE FROM meta WHERE key = $1")
                    .bind(&key)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected(),
                (Some(_), Some(value)) => sqlx::query("UPDATE meta SET value = $2 WHERE key = $1")
                    .bind(&key)
                    .bind(value)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected(),
                // Absent rows cannot be locked: a concurrent insert makes
                // this one write nothing, and `next` runs again on theirs.
                (None, Some(value)) => sqlx::query(
                    "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                )
                .bind(&key)
                .bind(value)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected(),
            };
            if written == 1 {
                if prices(kind) {
                    notify_pricing(&mut tx).await.map_err(backend)?;
                }
                super::timed_commit(tx).await.map_err(backend)?;
                if prices(kind) {
                    self.pricing.changed();
                }
                return Ok((value, true));
            }
        }
    }
}
