//! The shop's records in the `meta` tree, under `shop/<kind>/<key>`.

use super::SledStore;
use super::codec::{decode, encode};
use crate::domain::pricing::ShopPricing;
use crate::store::StoreError;
use crate::store::shop::{
    PRICING_KINDS, RecordChange, ShopStore, ShopWrite, meta_key, prefix_end, pricing_from,
};
use async_trait::async_trait;

impl SledStore {
    /// The shop's pricing: the copy read since the last pricing write, or
    /// read now (and kept).
    pub(super) fn cached_pricing(&self) -> Result<ShopPricing, StoreError> {
        let at = match self.pricing.current() {
            Ok(pricing) => return Ok(pricing),
            Err(at) => at,
        };
        let pricing = self.read_pricing()?;
        self.pricing.keep(at, &pricing);
        Ok(pricing)
    }

    /// Forgets the cached pricing (an import wrote records under it).
    pub(super) fn pricing_written(&self, kind: &str) {
        self.pricing.written(kind);
    }

    /// The shop's pricing, read from `meta` (outside any transaction:
    /// sled's cannot scan).
    pub(super) fn read_pricing(&self) -> Result<ShopPricing, StoreError> {
        let mut records = Vec::new();
        for kind in PRICING_KINDS {
            for entry in self.meta.scan_prefix(meta_key(kind, "").as_bytes()) {
                let (key, bytes) = entry?;
                let value: serde_json::Value = decode(&key, &bytes)?;
                records.push((String::from_utf8_lossy(&key).into_owned(), value));
            }
        }
        pricing_from(records)
    }
}

#[async_trait]
impl ShopStore for SledStore {
    async fn shop_record_keys(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        let prefix = meta_key(kind, "");
        let mut keys = Vec::new();
        for key in self.meta.scan_prefix(prefix.as_bytes()).keys() {
            keys.push(String::from_utf8_lossy(&key?[prefix.len()..]).into_owned());
        }
        Ok(keys)
    }

    async fn shop_records_after(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        use std::ops::Bound;
        let prefix = meta_key(kind, "");
        let start = match after {
            Some(after) => Bound::Excluded(meta_key(kind, after).into_bytes()),
            None => Bound::Included(prefix.clone().into_bytes()),
        };
        let end = Bound::Excluded(prefix_end(&prefix).into_bytes());
        let mut records = Vec::new();
        for entry in self.meta.range::<Vec<u8>, _>((start, end)).take(limit) {
            let (key, bytes) = entry?;
            let value = decode(&key, &bytes)?;
            let key = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
            records.push((key, value));
        }
        Ok(records)
    }

    async fn count_shop_records(&self, kind: &str) -> Result<u64, StoreError> {
        let prefix = meta_key(kind, "");
        let mut count = 0;
        for key in self.meta.scan_prefix(prefix.as_bytes()).keys() {
            key?;
            count += 1;
        }
        Ok(count)
    }

    async fn shop_pricing(&self) -> Result<ShopPricing, StoreError> {
        self.cached_pricing()
    }

    async fn shop_records_at(
        &self,
        kind: &str,
        keys: &[String],
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let mut records = Vec::with_capacity(keys.len());
        for key in keys {
            let meta = meta_key(kind, key);
            if let Some(bytes) = self.meta.get(meta.as_bytes())? {
                records.push((key.clone(), decode(meta.as_bytes(), &bytes)?));
            }
        }
        Ok(records)
    }

    async fn put_shop_record(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let _writing = self.writing().await;
        self.meta
            .insert(meta_key(kind, key).as_bytes(), encode(value))?;
        self.pricing.written(kind);
        self.durable().await
    }

    async fn delete_shop_record(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        let _writing = self.writing().await;
        let removed = self.meta.remove(meta_key(kind, key).as_bytes())?.is_some();
        self.pricing.written(kind);
        self.durable().await?;
        Ok(removed)
    }

    async fn write_shop_records(&self, writes: &[ShopWrite]) -> Result<bool, StoreError> {
        ShopWrite::each_key_once(writes)?;
        use sled::transaction::ConflictableTransactionError::Abort;
        let encoded: Vec<(Vec<u8>, Option<Vec<u8>>)> = writes
            .iter()
            .map(|write| {
                let value = match write {
                    ShopWrite::Put { value, .. } | ShopWrite::PutIfAbsent { value, .. } => {
                        Some(encode(value))
                    }
                    ShopWrite::Take { .. } | ShopWrite::Delete { .. } => None,
                };
                (write.meta_key().into_bytes(), value)
            })
            .collect();
        let _writing = self.writing().await;
        // One tree, one transaction: atomic, and each `Take` sees whether
        // its record is still there (the relay's claim on an event).
        let written = self.meta.transaction(|meta| {
            for (write, (key, value)) in writes.iter().zip(&encoded) {
                match (write, value) {
                    (ShopWrite::Take { .. }, _) => {
                        if meta.remove(key.as_slice())?.is_none() {
                            return Err(Abort(()));
                        }
                    }
                    (ShopWrite::PutIfAbsent { .. }, Some(value)) => {
                        if meta.get(key.as_slice())?.is_none() {
                            meta.insert(key.as_slice(), value.as_slice())?;
                        }
                    }
                    (_, Some(value)) => {
                        meta.insert(key.as_slice(), value.as_slice())?;
                    }
                    (_, None) => {
                        meta.remove(key.as_slice())?;
                    }
                }
            }
            Ok(())
        });
        match written {
            Ok(()) => {}
            Err(sled::transaction::TransactionError::Abort(())) => return Ok(false),
            Err(sled::transaction::TransactionError::Storage(e)) => return Err(e.into()),
        }
        for write in writes {
            self.pricing.written(write.kind());
        }
        self.durable().await?;
        Ok(true)
    }

    async fn update_shop_record(
        &self,
        kind: &str,
        key: &str,
        next: &RecordChange<'_>,
    ) -> Result<(Option<serde_json::Value>, bool), StoreError> {
        let key = meta_key(kind, key);
        loop {
            let old = self.meta.get(key.as_bytes())?;
            let current: Option<serde_json::Value> = old
                .as_ref()
                .map(|bytes| decode(key.as_bytes(), bytes))
                .transpose()?;
            let value = next(current.as_ref());
            if value == current {
                return Ok((value, false));
            }
            let bytes = value.as_ref().map(encode);
            let _writing = self.writing().await;
            if self
                .meta
                .compare_and_swap(key.as_bytes(), old, bytes)?
                .is_ok()
            {
                self.pricing.written(kind);
                self.durable().await?;
                return Ok((value, true));
            }
        }
    }
}
