//! The shop's records in the `meta` table, under `shop/<kind>/<key>`.

use super::{PgStore, backend};
use crate::domain::pricing::ShopPricing;
use crate::store::StoreError;
use crate::store::shop::{PRICING_KINDS, ShopStore, meta_key, pricing_from};
use async_trait::async_trait;

/// The shop's pricing in one query, on `conn` (a checkout's transaction
/// reads it there).
pub(super) async fn read_pricing(conn: &mut sqlx::PgConnection) -> Result<ShopPricing, StoreError> {
    let prefixes: Vec<String> = PRICING_KINDS.iter().map(|k| meta_key(k, "")).collect();
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT key, value FROM meta
         WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS p WHERE starts_with(key, p))",
    )
    .bind(&prefixes)
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    pricing_from(rows)
}

#[async_trait]
impl ShopStore for PgStore {
    async fn shop_records(
        &self,
        kind: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let prefix = meta_key(kind, "");
        // starts_with rather than LIKE: keys may hold `_` or `%`.
        let rows: Vec<(String, serde_json::Value)> =
            sqlx::query_as("SELECT key, value FROM meta WHERE starts_with(key, $1) ORDER BY key")
                .bind(&prefix)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(rows
            .into_iter()
            .filter_map(|(key, value)| key.strip_prefix(&prefix).map(|k| (k.to_string(), value)))
            .collect())
    }

    async fn shop_pricing(&self) -> Result<ShopPricing, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        read_pricing(&mut conn).await
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
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(meta_key(kind, key))
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn delete_shop_record(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM meta WHERE key = $1")
            .bind(meta_key(kind, key))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }
}
