//! The shop's records in the `meta` table, under `shop/<kind>/<key>`.

use super::{PgStore, backend};
use crate::store::StoreError;
use crate::store::shop::{ShopStore, meta_key};
use async_trait::async_trait;

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
