//! The shop's records in the `meta` tree, under `shop/<kind>/<key>`.

use super::SledStore;
use super::codec::{decode, encode};
use crate::store::StoreError;
use crate::store::shop::{ShopStore, meta_key};
use async_trait::async_trait;

#[async_trait]
impl ShopStore for SledStore {
    async fn shop_records(
        &self,
        kind: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let prefix = meta_key(kind, "");
        let mut records = Vec::new();
        for entry in self.meta.scan_prefix(prefix.as_bytes()) {
            let (key, bytes) = entry?;
            let value = decode(&key, &bytes)?;
            let key = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            records.push((key, value));
        }
        Ok(records)
    }

    async fn put_shop_record(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.meta
            .insert(meta_key(kind, key).as_bytes(), encode(value))?;
        self.durable().await
    }

    async fn delete_shop_record(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        let removed = self.meta.remove(meta_key(kind, key).as_bytes())?.is_some();
        self.durable().await?;
        Ok(removed)
    }
}
