//! [`CatalogStore`] for PostgreSQL: one `variants` row per SKU, stock as a
//! column and everything else as JSONB; one `products` row per handle
//! (options and variant SKUs, JSONB); the currency in `meta`.

use super::commit;
use super::{PgStore, TxError, backend, from_json, retrying, to_json};
use crate::domain::catalog::Product;
use crate::domain::product::detached;
use crate::domain::{Handle, Sku, Variant};
use crate::store::catalog::{CatalogStore, ProductUpdate, ProductUpsert};
use crate::store::{StoreError, UpdateError};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;
use std::collections::HashMap;

/// The JSONB of a product: every field but the SKU (the key) and the stock
/// (a column).
pub(super) fn variant_data(product: &Variant) -> serde_json::Value {
    let mut data = to_json(product);
    if let Some(object) = data.as_object_mut() {
        object.remove("sku");
        object.remove("stock");
    }
    data
}

/// A product from a `variants` row (`sku, stock, data`).
pub(super) fn variant_from_row(row: &PgRow) -> Result<Variant, StoreError> {
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
    product: &Variant,
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
    async fn variant(&self, sku: &Sku) -> Result<Option<Variant>, StoreError> {
        let row = sqlx::query("SELECT sku, stock, data FROM variants WHERE sku = $1")
            .bind(sku.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(variant_from_row).transpose()
    }

    async fn variants_by_sku(&self, skus: &[Sku]) -> Result<HashMap<Sku, Variant>, StoreError> {
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

    async fn variants(
        &self,
        after: Option<&Sku>,
        limit: usize,
    ) -> Result<Vec<Variant>, StoreError> {
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

    async fn update_variant(
        &self,
        sku: &Sku,
        update: &mut ProductUpdate<'_>,
    ) -> Result<Variant, UpdateError> {
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

    async fn product(&self, handle: &Handle) -> Result<Option<Product>, StoreError> {
        let row: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT data FROM products WHERE handle = $1")
                .bind(handle.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(|value| from_json(format_args!("products/{handle}"), value))
            .transpose()
    }

    async fn products(
        &self,
        after: Option<&Handle>,
        limit: usize,
    ) -> Result<Vec<Product>, StoreError> {
        let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
            "SELECT handle, data FROM products
             WHERE $1::text IS NULL OR handle > $1 COLLATE \"C\"
             ORDER BY handle LIMIT $2",
        )
        .bind(after.map(Handle::as_str))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(handle, value)| from_json(format_args!("products/{handle}"), value))
            .collect()
    }

    async fn upsert_product(
        &self,
        handle: &Handle,
        skus: &[Sku],
        upsert: &ProductUpsert<'_>,
    ) -> Result<(Product, Vec<Variant>), UpdateError> {
        retrying(|| self.upsert_product_once(handle, skus, upsert)).await
    }

    async fn import_catalog(
        &self,
        records: &[Product],
        variants: &[Variant],
    ) -> Result<(), StoreError> {
        let mut tx = super::begin(&self.pool).await.map_err(backend)?;
        // One import at a time, and none while an upsert writes (see below).
        sqlx::query("LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let mut sorted: Vec<&Variant> = variants.iter().collect();
        sorted.sort_by(|a, b| a.sku.as_str().cmp(b.sku.as_str()));
        let keys: Vec<&str> = sorted.iter().map(|v| v.sku.as_str()).collect();
        let mut stored: HashMap<String, Variant> = HashMap::new();
        for record in records {
            let old: Option<serde_json::Value> =
                sqlx::query_scalar("SELECT data FROM products WHERE handle = $1")
                    .bind(record.handle.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
            let old: Option<Product> = old
                .map(|value| from_json(format_args!("products/{}", record.handle), value))
                .transpose()?;
            // Variants the stored product lists and the file does not are detached.
            if let Some(old) = old {
                for sku in old.variants.iter().filter(|s| !record.variants.contains(s)) {
                    let row = sqlx::query(
                        "SELECT sku, stock, data FROM variants WHERE sku = $1 FOR UPDATE",
                    )
                    .bind(sku.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(backend)?;
                    if let Some(row) = row {
                        let variant = variant_from_row(&row)?;
                        put_variant(&mut tx, &detached(&variant))
                            .await
                            .map_err(backend)?;
                    }
                }
            }
            sqlx::query(
                "INSERT INTO products (handle, data) VALUES ($1, $2)
                 ON CONFLICT (handle) DO UPDATE SET data = EXCLUDED.data",
            )
            .bind(record.handle.as_str())
            .bind(to_json(record))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        let rows = sqlx::query(
            "SELECT sku, stock, data FROM variants WHERE sku = ANY($1) ORDER BY sku FOR UPDATE",
        )
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        for row in &rows {
            let variant = variant_from_row(row)?;
            stored.insert(variant.sku.to_string(), variant);
        }
        for variant in sorted {
            if let Some(old) = stored.get(variant.sku.as_str())
                && old.handle.is_some()
                && old.handle != variant.handle
            {
                return Err(StoreError::Open(format!(
                    "{} is a variant of the product {} in the store; it cannot move to {}",
                    variant.sku,
                    old.handle.as_ref().map_or("", |h| h.as_str()),
                    variant.handle.as_ref().map_or("", |h| h.as_str()),
                )));
            }
            put_variant(&mut tx, variant).await.map_err(backend)?;
        }
        super::timed_commit(tx).await.map_err(backend)
    }

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
    /// One product write: the handle's advisory lock (two writers of one new
    /// handle would both see no row), the product row, then the variants of
    /// the input and of the stored product locked in SKU order (checkout's
    /// order, so the two cannot deadlock); the rule decides; everything it
    /// returns is written.
    async fn upsert_product_once(
        &self,
        handle: &Handle,
        skus: &[Sku],
        upsert: &ProductUpsert<'_>,
    ) -> Result<(Product, Vec<Variant>), TxError> {
        let mut tx = self.begin().await?;
        sqlx::query("LOCK TABLE products IN ROW EXCLUSIVE MODE")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))")
            .bind(format!("cartql product {handle}"))
            .execute(&mut *tx)
            .await?;
        let old: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT data FROM products WHERE handle = $1 FOR UPDATE")
                .bind(handle.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let existing: Option<Product> = old
            .map(|value| from_json(format_args!("products/{handle}"), value))
            .transpose()?;
        let mut keys: Vec<&str> = skus.iter().map(Sku::as_str).collect();
        if let Some(existing) = &existing {
            keys.extend(existing.variants.iter().map(Sku::as_str));
        }
        keys.sort_unstable();
        keys.dedup();
        let rows = sqlx::query(
            "SELECT sku, stock, data FROM variants WHERE sku = ANY($1) ORDER BY sku FOR UPDATE",
        )
        .bind(&keys)
        .fetch_all(&mut *tx)
        .await?;
        let mut stored = HashMap::with_capacity(rows.len());
        for row in &rows {
            let variant = variant_from_row(row)?;
            stored.insert(variant.sku.clone(), variant);
        }
        let (record, mut variants) =
            upsert(existing.as_ref(), &stored).map_err(TxError::Rejected)?;
        sqlx::query(
            "INSERT INTO products (handle, data) VALUES ($1, $2)
             ON CONFLICT (handle) DO UPDATE SET data = EXCLUDED.data",
        )
        .bind(handle.as_str())
        .bind(to_json(&record))
        .execute(&mut *tx)
        .await?;
        variants.sort_by(|a, b| a.sku.as_str().cmp(b.sku.as_str()));
        for variant in &variants {
            put_variant(&mut tx, variant).await?;
        }
        commit(tx).await?;
        Ok((record, variants))
    }

    async fn update_product_once(
        &self,
        sku: &Sku,
        update: &mut ProductUpdate<'_>,
    ) -> Result<Variant, TxError> {
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
        commit(tx).await?;
        Ok(product)
    }
}
