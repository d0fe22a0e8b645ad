//! [`CatalogStore`] for sled: variants keyed by SKU in `products` (byte
//! order is SKU order), products keyed by handle in `product_records`, the
//! currency in `meta`.

use super::SledStore;
use super::codec::encode;
use super::tx::{Abort, finish, reject, tx_get};
use super::{cas, decode};
use crate::domain::catalog::Product;
use crate::domain::product::detached;
use crate::domain::{Handle, Sku, Variant};
use crate::store::catalog::{CatalogStore, ProductUpdate, ProductUpsert};
use crate::store::{StoreError, UpdateError};
use async_trait::async_trait;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionResult};
use std::collections::HashMap;
use std::ops::Bound;

#[async_trait]
impl CatalogStore for SledStore {
    async fn variant(&self, sku: &Sku) -> Result<Option<Variant>, StoreError> {
        Self::get(&self.products, sku.as_str().as_bytes())
    }

    async fn variants_by_sku(&self, skus: &[Sku]) -> Result<HashMap<Sku, Variant>, StoreError> {
        let mut found = HashMap::with_capacity(skus.len());
        for sku in skus {
            if let Some(product) = Self::get::<Variant>(&self.products, sku.as_str().as_bytes())? {
                found.insert(sku.clone(), product);
            }
        }
        Ok(found)
    }

    async fn variants(
        &self,
        after: Option<&Sku>,
        limit: usize,
    ) -> Result<Vec<Variant>, StoreError> {
        page(&self.products, after.map(Sku::as_str), limit)
    }

    async fn catalog_is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.products.is_empty())
    }

    async fn update_variant(
        &self,
        sku: &Sku,
        update: &mut ProductUpdate<'_>,
    ) -> Result<Variant, UpdateError> {
        let _writing = self.writing().await;
        let (product, written) = cas(&self.products, sku.as_str().as_bytes(), update)?;
        if written {
            self.durable().await?;
        }
        Ok(product)
    }

    async fn import_catalog(
        &self,
        records: &[Product],
        variants: &[Variant],
    ) -> Result<(), StoreError> {
        let trees = (&self.product_records, &self.products);
        let _writing = self.writing().await;
        let result: TransactionResult<(), Abort> = trees.transaction(|(records_tree, products)| {
            for record in records {
                let key = record.handle.as_str().as_bytes();
                // Variants the stored product lists and the file does not are detached.
                if let Some(old) = tx_get::<Product>(records_tree, key)? {
                    for sku in old.variants.iter().filter(|s| !record.variants.contains(s)) {
                        let sku_key = sku.as_str().as_bytes();
                        if let Some(variant) = tx_get::<Variant>(products, sku_key)? {
                            products.insert(sku_key, encode(&detached(&variant)))?;
                        }
                    }
                }
                records_tree.insert(key, encode(record))?;
            }
            for variant in variants {
                let key = variant.sku.as_str().as_bytes();
                if let Some(stored) = tx_get::<Variant>(products, key)?
                    && stored.handle.is_some()
                    && stored.handle != variant.handle
                {
                    return Err(ConflictableTransactionError::Abort(Abort::Store(
                        StoreError::Open(format!(
                            "{} is a variant of the product {} in the store; it cannot move to {}",
                            variant.sku,
                            stored.handle.as_ref().map_or("", |h| h.as_str()),
                            variant.handle.as_ref().map_or("", |h| h.as_str()),
                        )),
                    )));
                }
                products.insert(key, encode(variant))?;
            }
            Ok(())
        });
        finish(result).map_err(|e| match e {
            UpdateError::Store(e) => e,
            UpdateError::Rejected(_) => StoreError::Open("catalog import refused".into()),
        })?;
        self.durable().await
    }

    async fn product(&self, handle: &Handle) -> Result<Option<Product>, StoreError> {
        Self::get(&self.product_records, handle.as_str().as_bytes())
    }

    async fn products(
        &self,
        after: Option<&Handle>,
        limit: usize,
    ) -> Result<Vec<Product>, StoreError> {
        page(&self.product_records, after.map(Handle::as_str), limit)
    }

    async fn upsert_product(
        &self,
        handle: &Handle,
        skus: &[Sku],
        upsert: &ProductUpsert<'_>,
    ) -> Result<(Product, Vec<Variant>), UpdateError> {
        let key = handle.as_str().as_bytes();
        let trees = (&self.product_records, &self.products);
        let _writing = self.writing().await;
        let result = trees.transaction(|(records, products)| {
            let existing: Option<Product> = tx_get(records, key)?;
            let mut stored = HashMap::new();
            let listed = existing.iter().flat_map(|r| r.variants.iter());
            for sku in skus.iter().chain(listed) {
                if let Some(variant) = tx_get::<Variant>(products, sku.as_str().as_bytes())? {
                    stored.insert(sku.clone(), variant);
                }
            }
            let (record, variants) = match upsert(existing.as_ref(), &stored) {
                Ok(written) => written,
                Err(rejection) => return reject(rejection),
            };
            records.insert(key, encode(&record))?;
            for variant in &variants {
                products.insert(variant.sku.as_str().as_bytes(), encode(variant))?;
            }
            Ok((record, variants))
        });
        let written = finish(result)?;
        self.durable().await?;
        Ok(written)
    }

    async fn pin_currency(&self, code: &str) -> Result<(), StoreError> {
        let key = b"currency";
        let _writing = self.writing().await;
        match self
            .meta
            .compare_and_swap(key, None::<&[u8]>, Some(encode(&code)))?
        {
            Ok(()) => self.durable().await,
            Err(_) => {
                let stored: String = Self::get(&self.meta, key)?.unwrap_or_default();
                if stored == code {
                    Ok(())
                } else {
                    Err(StoreError::Open(format!(
                        "the data directory holds prices in {stored}; start with --currency {stored} or use another --data-dir"
                    )))
                }
            }
        }
    }
}

/// Up to `limit` values of `tree` in key order, after the key `after`.
fn page<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<T>, StoreError> {
    let start = match after {
        Some(key) => Bound::Excluded(key.as_bytes().to_vec()),
        None => Bound::Unbounded,
    };
    tree.range::<Vec<u8>, _>((start, Bound::Unbounded))
        .take(limit)
        .map(|entry| {
            let (key, bytes) = entry?;
            decode(&key, &bytes)
        })
        .collect()
}
