//! [`CatalogStore`] for sled: products keyed by SKU (byte order is SKU
//! order), the currency in `meta`.

use super::codec::encode;
use super::{SledStore, logged};
use super::{cas, decode};
use crate::domain::{Product, Sku};
use crate::store::catalog::{CatalogStore, ProductUpdate};
use crate::store::{StoreError, UpdateError};
use async_trait::async_trait;
use std::collections::HashMap;
use std::ops::Bound;

#[async_trait]
impl CatalogStore for SledStore {
    #[tracing::instrument(name = "store.product", level = "info", skip_all, err, fields(sku = %sku))]
    async fn product(&self, sku: &Sku) -> Result<Option<Product>, StoreError> {
        Self::get(&self.products, sku.as_str().as_bytes())
    }

    #[tracing::instrument(name = "store.products_by_sku", level = "info", skip_all, err, fields(count = skus.len()))]
    async fn products_by_sku(&self, skus: &[Sku]) -> Result<HashMap<Sku, Product>, StoreError> {
        let mut found = HashMap::with_capacity(skus.len());
        for sku in skus {
            if let Some(product) = Self::get::<Product>(&self.products, sku.as_str().as_bytes())? {
                found.insert(sku.clone(), product);
            }
        }
        Ok(found)
    }

    #[tracing::instrument(name = "store.products", level = "info", skip_all, err)]
    async fn products(
        &self,
        after: Option<&Sku>,
        limit: usize,
    ) -> Result<Vec<Product>, StoreError> {
        let start = match after {
            Some(sku) => Bound::Excluded(sku.as_str().as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        self.products
            .range::<Vec<u8>, _>((start, Bound::Unbounded))
            .take(limit)
            .map(|entry| {
                let (key, bytes) = entry?;
                decode(&key, &bytes)
            })
            .collect()
    }

    async fn catalog_is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.products.is_empty())
    }

    #[tracing::instrument(name = "store.update_product", level = "info", skip_all, fields(sku = %sku))]
    async fn update_product(
        &self,
        sku: &Sku,
        update: &mut ProductUpdate<'_>,
    ) -> Result<Product, UpdateError> {
        logged(
            async move {
                let (product, written) = cas(&self.products, sku.as_str().as_bytes(), update)?;
                if written {
                    self.durable().await?;
                }
                Ok(product)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "store.import_products", level = "info", skip_all, err, fields(count = products.len()))]
    async fn import_products(&self, products: &[Product]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for product in products {
            batch.insert(product.sku.as_str().as_bytes(), encode(product));
        }
        self.products.apply_batch(batch)?;
        self.durable().await
    }

    #[tracing::instrument(name = "store.pin_currency", level = "info", skip_all, err)]
    async fn pin_currency(&self, code: &str) -> Result<(), StoreError> {
        let key = b"currency";
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
