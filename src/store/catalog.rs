//! What the catalog needs from a database: products by SKU, in SKU order.

use super::{StoreError, UpdateError};
use crate::domain::{Product, Rejection, Sku};
use async_trait::async_trait;
use std::collections::HashMap;

/// A closure that computes the next product from the current one. It may run
/// several times (the store retries on conflict), so no side effects.
pub type ProductUpdate<'a> = dyn FnMut(Option<Product>) -> Result<Product, Rejection> + Send + 'a;

/// Products, and the shop's currency.
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// One product by SKU.
    async fn product(&self, sku: &Sku) -> Result<Option<Product>, StoreError>;
    /// Several products by SKU; missing ones are absent from the map.
    async fn products_by_sku(&self, skus: &[Sku]) -> Result<HashMap<Sku, Product>, StoreError>;
    /// Up to `limit` products in SKU order (byte order), starting after `after`.
    async fn products(&self, after: Option<&Sku>, limit: usize)
    -> Result<Vec<Product>, StoreError>;
    /// Whether the catalog has no products.
    async fn catalog_is_empty(&self) -> Result<bool, StoreError>;
    /// Atomically replaces the product `sku` with what `update` makes of it.
    async fn update_product(
        &self,
        sku: &Sku,
        update: &mut ProductUpdate<'_>,
    ) -> Result<Product, UpdateError>;
    /// Writes many products at once, all or none (catalog import).
    async fn import_products(&self, products: &[Product]) -> Result<(), StoreError>;
    /// Records the shop currency on first use and refuses a different one
    /// later: stored prices are minor units and mean nothing in another currency.
    async fn pin_currency(&self, code: &str) -> Result<(), StoreError>;
}
