//! What the catalog needs from a database: variants by SKU (in SKU order),
//! products by handle (in handle order), and writing a product with its
//! variants atomically.

use super::{StoreError, UpdateError};
use crate::domain::catalog::Product;
use crate::domain::{Handle, Rejection, Sku, Variant};
use async_trait::async_trait;
use std::collections::HashMap;

/// A closure that computes the next product from the current one. It may run
/// several times (the store retries on conflict), so no side effects.
pub type ProductUpdate<'a> = dyn FnMut(Option<Variant>) -> Result<Variant, Rejection> + Send + 'a;

/// Decides a product write from what is stored: the product (if any) and
/// the variants of the SKUs asked for plus the stored product's. Returns the
/// product and the variants to write. May run several times.
pub type ProductUpsert<'a> = dyn Fn(Option<&Product>, &HashMap<Sku, Variant>) -> Result<(Product, Vec<Variant>), Rejection>
    + Send
    + Sync
    + 'a;

/// Products, and the shop's currency.
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// One product by SKU.
    async fn variant(&self, sku: &Sku) -> Result<Option<Variant>, StoreError>;
    /// Several products by SKU; missing ones are absent from the map.
    async fn variants_by_sku(&self, skus: &[Sku]) -> Result<HashMap<Sku, Variant>, StoreError>;
    /// Up to `limit` products in SKU order (byte order), starting after `after`.
    async fn variants(&self, after: Option<&Sku>, limit: usize)
    -> Result<Vec<Variant>, StoreError>;
    /// Whether the catalog has no products.
    async fn catalog_is_empty(&self) -> Result<bool, StoreError>;
    /// Atomically replaces the product `sku` with what `update` makes of it.
    async fn update_variant(
        &self,
        sku: &Sku,
        update: &mut ProductUpdate<'_>,
    ) -> Result<Variant, UpdateError>;
    /// Writes many products at once, all or none (catalog import).
    async fn product(&self, handle: &Handle) -> Result<Option<Product>, StoreError>;
    async fn products(
        &self,
        after: Option<&Handle>,
        limit: usize,
    ) -> Result<Vec<Product>, StoreError>;
    /// Writes the product `handle` and its variants in one transaction, as
    /// `upsert` decides from what is stored (the variants of `skus` and of
    /// the stored product are read for it).
    async fn upsert_product(
        &self,
        handle: &Handle,
        skus: &[Sku],
        upsert: &ProductUpsert<'_>,
    ) -> Result<(Product, Vec<Variant>), UpdateError>;
    /// Loads products and variants into the store (catalog files, the demo).
    async fn import_catalog(
        &self,
        records: &[Product],
        variants: &[Variant],
    ) -> Result<(), StoreError>;
    /// Records the shop currency on first use and refuses a different one
    /// later: stored prices are minor units and mean nothing in another currency.
    async fn pin_currency(&self, code: &str) -> Result<(), StoreError>;
}
