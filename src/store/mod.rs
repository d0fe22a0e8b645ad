//! Persistence, behind traits named by what they own, so that a second
//! backend can implement them without anything above noticing:
//!
//! - [`CatalogStore`] ([`catalog`]): products and the shop currency.
//! - [`CartStore`] ([`carts`]): owners' carts, each its own record beside a
//!   small index per owner — read, update, update once per idempotency key,
//!   merge a guest's into a customer's, change notices.
//! - [`OrderStore`] ([`orders`]): the checkout transaction, orders.
//! - [`IdentityStore`] ([`identity`]): accounts, revocation records.
//! - [`IdempotencyStore`] ([`idempotency`]): the look-up step of every
//!   idempotent operation, and the one call shape they share.
//!
//! [`Store`] is all of them plus what a running backend must answer
//! (readiness, a clean close). Each backend owns its errors, its durability
//! and its background work (sweeping expired carts and idempotency records,
//! flushing): none of that is visible here. Every write is an atomic
//! read-modify-write; the closures callers pass may run several times, so
//! they must not have side effects.
//!
//! - [`traced`]: every call a named step (`store.checkout`): its `debug`
//!   span and the step in its failure, written once for both backends.
//! - [`sled`]: the embedded backend (one process, one data directory).
//! - [`postgres`]: several instances on one PostgreSQL database.
//! - [`backend`]: which of the two a configuration selects, opened.
//! - [`snapshot`]: the whole store as JSON lines (`cartql export`/`import`).
//! - [`backup`]: that, written by the running server (`createBackup`,
//!   `--backup-every`), one instant of the store, crash-safe and pruned.
//! - [`notices`]: per-owner change notices that wake cart subscriptions.
//! - [`data_dir`]: the data directory, private to its user.
//! - [`files`]: files cartql writes itself, crash-safe (temporary name, fsync, rename).
//! - [`owner_locks`]: one write at a time per owner in this process.
//! - [`sweeper`]: the background sweep's loop; each backend implements its
//!   reads and deletes ([`sweeper::Sweep`]), the policy is the domain's.

pub mod backend;
pub mod backup;
pub mod carts;
pub mod catalog;
pub mod data_dir;
mod error;
pub mod files;
pub mod idempotency;
pub mod identity;
pub mod notices;
pub mod orders;
pub mod owner_locks;
pub mod postgres;
pub mod shop;
pub mod sled;
pub mod snapshot;
pub mod sweeper;
pub mod throttle;
pub mod traced;
pub mod verify;

use crate::domain::expiry::{Due, Lifetimes};
use async_trait::async_trait;

pub use carts::CartStore;
pub use catalog::CatalogStore;
pub use error::{StoreError, UpdateError};
pub use idempotency::{IdempotencyStore, Replayable};
pub use identity::IdentityStore;
pub use notices::Changes;
pub use orders::OrderStore;
pub use shop::ShopStore;

/// Everything cartql keeps, in one backend.
#[async_trait]
pub trait Store:
    CatalogStore + CartStore + OrderStore + IdentityStore + IdempotencyStore + ShopStore
{
    /// Whether the database answers (readiness).
    async fn ready(&self) -> Result<(), StoreError>;

    /// Stops the backend's background work and makes every acknowledged write
    /// durable (shutdown).
    async fn close(&self) -> Result<(), StoreError>;

    /// One cart as stored ([`CartStore::cart`]) and the variants its lines
    /// name that the catalog holds: what a cart read needs. A backend that
    /// can reads both at once (PostgreSQL: one statement, not two round
    /// trips).
    async fn cart_and_variants(
        &self,
        owner: &crate::domain::OwnerKey,
        name: &crate::domain::CartName,
    ) -> Result<(Option<crate::domain::Cart>, CartVariants), StoreError> {
        let cart = self.cart(owner, name).await?;
        let skus: Vec<crate::domain::Sku> = cart
            .iter()
            .flat_map(|c| c.lines.iter().map(|l| l.sku.clone()))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let variants = if skus.is_empty() {
            CartVariants::new()
        } else {
            self.variants_by_sku(&skus).await?
        };
        Ok((cart, variants))
    }

    /// What a live subscription reads on each change: the owner's "valid
    /// after" record ([`IdentityStore::valid_after`], a log-out everywhere),
    /// then what [`Store::cart_and_variants`] reads. A backend that can
    /// reads them at once (PostgreSQL: one statement, one snapshot).
    async fn valid_after_cart_and_variants(
        &self,
        owner: &crate::domain::OwnerKey,
        name: &crate::domain::CartName,
    ) -> Result<(Option<i64>, Option<crate::domain::Cart>, CartVariants), StoreError> {
        let after = self.valid_after(owner).await?;
        let (cart, variants) = self.cart_and_variants(owner, name).await?;
        Ok((after, cart, variants))
    }
}

/// Variants by SKU, as [`CatalogStore::variants_by_sku`] answers.
pub type CartVariants = std::collections::HashMap<crate::domain::Sku, crate::domain::Variant>;

/// How long expired data is kept, for a backend's background sweep.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    /// A guest's untouched cart expires after this long.
    pub guest_cart_lifetime: chrono::Duration,
    /// A customer's untouched cart expires after this long.
    pub customer_cart_lifetime: chrono::Duration,
    /// Idempotency records are kept at least this long.
    pub idempotency_ttl: chrono::Duration,
    /// "Valid after" records of the built-in issuer's viewers are kept this
    /// long after their time: the longest a token may live, so every token
    /// they refuse has expired when they go.
    pub revocation_lifetime: chrono::Duration,
    /// How often the sweep runs.
    pub sweep_interval: std::time::Duration,
}

impl Retention {
    /// How long each kind of record is kept.
    pub fn lifetimes(&self) -> Lifetimes {
        Lifetimes {
            guest_cart: self.guest_cart_lifetime,
            customer_cart: self.customer_cart_lifetime,
            idempotency_record: self.idempotency_ttl,
            revocation: self.revocation_lifetime,
        }
    }

    /// What a sweep at `now` deletes (the policy is [`Due`]'s).
    pub fn due_at(&self, now: chrono::DateTime<chrono::Utc>) -> Due {
        Due::at(now, self.lifetimes())
    }
}
