//! Persistence: the only code that knows sled.
//!
//! The rest of the crate talks to [`Store`], a small trait, so a second backend
//! (a shared database for several instances) can be added without touching
//! resolvers or domain rules. Every write is an atomic read-modify-write: the
//! caller passes a closure that turns the current value into the next one, and
//! the store retries it until it wins a compare-and-swap. The closure may run
//! several times, so it must not have side effects.
//!
//! - [`sled_store`]: the sled backend and its key layout.
//! - [`codec`]: versioned value encoding.
//! - [`data_dir`]: the data directory, private to its user.
//! - [`durability`]: group commit, so a write is acknowledged only once on disk.
//! - [`orders`]: the [`OrderStore`] trait: checkout, orders, idempotency, sweeping
//!   ([`sled_orders`] implements it).
//! - [`identity`]: [`IdentityStore`], accounts, token revocation and the cart merge;
//!   [`sled_identity`] implements it for [`SledStore`].
//! - [`notices`]: per-owner change notices that wake cart subscriptions.

pub mod codec;
pub mod data_dir;
pub mod durability;
pub mod identity;
pub mod notices;
pub mod orders;
mod sled_identity;
pub mod sled_orders;
pub mod sled_store;

use crate::domain::{CartSet, Product, Rejection, Sku};
use async_trait::async_trait;
use std::collections::HashMap;

pub use durability::Durability;
pub use identity::IdentityStore;
pub use notices::CartChanges;
pub use orders::OrderStore;
pub use sled_store::SledStore;

/// Who owns a set of carts: derived from the verified token, never from input.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnerKey(String);

impl OwnerKey {
    /// Wraps an owner key built by the auth layer (`kind:subject`).
    pub fn new(key: String) -> Self {
        OwnerKey(key)
    }

    /// The key's bytes in the store.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A failure of the storage itself. Clients see `INTERNAL`; the detail is logged.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled returned an error (I/O, corruption it detected).
    #[error("database error: {0}")]
    Db(#[from] sled::Error),
    /// A stored value could not be decoded.
    #[error("stored value under {key} is unreadable: {reason}")]
    Corrupt {
        /// Which key.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The write happened but flushing it to disk failed, so it may be lost.
    #[error("flushing to disk failed: {0}")]
    Flush(String),
    /// The data directory could not be opened.
    #[error("{0}")]
    Open(String),
}

/// Why an update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The domain refused the change; nothing was written.
    #[error("change refused")]
    Rejected(Rejection),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A closure that computes the next product from the current one.
pub type ProductUpdate<'a> = dyn FnMut(Option<Product>) -> Result<Product, Rejection> + Send + 'a;
/// A closure that changes a viewer's carts in place.
pub type CartSetUpdate<'a> = dyn FnMut(&mut CartSet) -> Result<(), Rejection> + Send + 'a;

/// What cartql needs from a database.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// One product by SKU.
    async fn product(&self, sku: &Sku) -> Result<Option<Product>, StoreError>;
    /// Several products by SKU; missing ones are absent from the map.
    async fn products_by_sku(&self, skus: &[Sku]) -> Result<HashMap<Sku, Product>, StoreError>;
    /// Up to `limit` products in SKU order, starting after `after`.
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
    /// All carts of one owner (empty if none are stored).
    async fn cart_set(&self, owner: &OwnerKey) -> Result<CartSet, StoreError>;
    /// Atomically changes one owner's carts; returns the set as written.
    async fn update_cart_set(
        &self,
        owner: &OwnerKey,
        update: &mut CartSetUpdate<'_>,
    ) -> Result<CartSet, UpdateError>;
    /// Notices of changes to `owner`'s carts (any write, checkout, merge, sweep,
    /// `logOutEverywhere`), each sent after the change is durable; changes to
    /// other owners do not wake it. Used by subscriptions.
    fn cart_changes(&self, owner: &OwnerKey) -> CartChanges;
    /// Records the shop currency on first use and refuses a different one
    /// later: stored prices are minor units and mean nothing in another currency.
    async fn pin_currency(&self, code: &str) -> Result<(), StoreError>;
    /// Flushes everything to disk (used at shutdown).
    async fn flush(&self) -> Result<(), StoreError>;
}
