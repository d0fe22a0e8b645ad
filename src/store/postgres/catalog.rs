//! [`CatalogStore`] for PostgreSQL: one `variants` row per SKU, stock as a
//! column and everything else as JSONB; the currency in `meta`.

use super::{PgStore, TxError, backend, from_json, to_json};
use crate::domain::{Product, Sku};
use crate::store::catalog::{CatalogStore, ProductUpdate};
use crate::store::{StoreError, UpdateError};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use std::collections::HashMap;

/// The JSONB of a product: every field but the SKU (the key) and the stock
/// (a column).
pub(super) fn variant_data(product: &Product) -> serde_json::Value {
    let mut data = to_json(product);
    if let Some(object) = data.as_object_mut() {
        object.remove("sku");
        object.remove("stock");
    }
    data
}

/// A product from a `variants` row (`sku, stock, data`).
pub(super) fn variant_from_row(row: &PgRow) -> Result<Product, StoreError> {
    let sku: String = row.try_get("sku").map_err(backend)?;
    let stock: Option<i64> = row.try_get("stock").map_err(backend)?;
    let mut data: serde_json::Value = row.try_get("data").map_err(backend)?;
    if let Some(object) = data.as_object_mut() {
        object.insert("sku".into(), sku.clone().into());
        object.insert("stock".into(), stock.into());
    }
    from_json(format_args!("variants/{sku}"), data)
}

/// Writes a product (insert or replace).
pub(super) async fn put_variant(
    conn: &mut sqlx::PgConnection,
    product: &Product,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO variants (sku, stock, data) VALUES ($1, $2, $3)
         ON CONFLICT (sku) DO UPDATE SET stock = EXCLUDED.stock, data = EXCLUDED.data",
    )
    .bind(product.sku.as_str())
    .bind(product.stock)
    .bind(variant_data(product))
    .execute(conn)
    .await?;
    Ok(())
}

#[async_trait]
impl CatalogStore for PgStore {
    #[tracing::instrument(name = "store.product", level = "info", skip_all, err, fields(sku = %sku))]
    async fn product(&self, sku: &Sku) -> Result<Option<Product>, StoreError> {
        let row = sqlx::query("SELECT sku, stock, data FROM variants WHERE sku = $1")
            .bind(sku.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(variant_from_row).transpose()
    }

    #[tracing::instrument(name = "store.products_by_sku", level = "info", skip_all, err, fields(count = skus.len()))]
    async fn products_by_sku(&self, skus: &[Sku]) -> Result<HashMap<Sku, Product>, StoreError> {
        let keys: Vec<&str> = skus.iter().map(Sku::as_str).collect();
        let rows = sqlx::query("SELECT sku, stock, data FROM variants WHERE sku = ANY($1)")
            .bind(&keys)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| variant_from_row(row).map(|p| (p.sku.clone(), p)))
            .collect()
    }

    #[tracing::instrument(name = "store.products", level = "info", skip_all, err)]
    async fn products(
        &self,
        after: Option<&Sku>,
        limit: usize,
    ) -> Result<Vec<Product>, StoreError> {
        let rows = sqlx::query(
            "SELECT sku, stock, data FROM variants
             WHERE $1::text IS NULL OR sku > $1 COLLATE \"C\"
             ORDER BY sku LIMIT $2",
        )
        .bind(after.map(Sku::as_str))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(variant_from_row).collect()
    }

    async fn catalog_is_empty(&self) -> Result<bool, StoreError> {
        let any: Option<i32> = sqlx::query_scalar("SELECT 1 FROM variants LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(any.is_none())
    }

    #[tracing::instrument(name = "store.update_product", level = "info", skip_all, fields(sku = %sku))]
    async fn update_product(
        &self,
        sku: &Sku,
        update: &mut ProductUpdate<'_>,
    ) -> Result<Product, UpdateError> {
        // Not `retrying`: the closure is FnMut, borrowed by each attempt in turn.
        let mut tries = 0;
        loop {
            tries += 1;
            match self.update_product_once(sku, update).await {
                Err(TxError::Retry(reason)) if tries < super::MAX_ATTEMPTS => {
                    super::pause(tries, &reason).await;
                }
                result => return super::finish(result),
            }
        }
    }

    #[tracing::instrument(name = "store.import_products", level = "info", skip_all, err, fields(count = products.len()))]
    async fn import_products(&self, products: &[Product]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let mut sorted: Vec<&Product> = products.iter().collect();
        sorted.sort_by(|a, b| a.sku.as_str().cmp(b.sku.as_str()));
        for product in sorted {
            put_variant(&mut tx, product).await.map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    #[tracing::instrument(name = "store.pin_currency", level = "info", skip_all, err)]
    async fn pin_currency(&self, code: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('currency', $1) ON CONFLICT (key) DO NOTHING",
        )
        .bind(serde_json::Value::from(code))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        let stored: serde_json::Value =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'currency'")
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
        match stored.as_str() {
            Some(stored) if stored == code => Ok(()),
            stored => {
                let stored = stored.unwrap_or("?");
                Err(StoreError::Open(format!(
                    "the database holds prices in {stored}; start with --currency {stored} or use another database"
                )))
            }
        }
    }
}

impl PgStore {
    async fn update_product_once(
        &self,
        sku: &Sku,
        update: &mut ProductUpdate<'_>,
    ) -> Result<Product, TxError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT sku, stock, data FROM variants WHERE sku = $1 FOR UPDATE")
            .bind(sku.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let current = row.as_ref().map(variant_from_row).transpose()?;
        let product = update(current.clone()).map_err(TxError::Rejected)?;
        if current.as_ref() != Some(&product) {
            // A new SKU racing another insert fails on the key and is retried.
            if current.is_none() {
                sqlx::query("INSERT INTO variants (sku, stock, data) VALUES ($1, $2, $3)")
                    .bind(product.sku.as_str())
                    .bind(product.stock)
                    .bind(variant_data(&product))
                    .execute(&mut *tx)
                    .await?;
            } else {
                put_variant(&mut tx, &product).await?;
            }
        }
        tx.commit().await?;
        Ok(product)
    }
}
