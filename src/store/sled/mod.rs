//! The sled backend.
//!
//! Key layout (one sled tree per kind of record):
//!
//! | tree       | key                   | value (see [`codec`])               |
//! |------------|-----------------------|-------------------------------------|
//! | `products` | SKU                   | `Variant` (the tree keeps its old name) |
//! | `product_records` | handle         | `Product` (options, variant SKUs; old name too) |
//! | `cart_records` | owner key, 0, cart name | `Cart`: one cart              |
//! | `cart_index` | owner key (`kind:id`) | `CartIndex`: the owner's carts in brief (versions, bytes, which hold something) |
//! | `cart_due` | `g` or `c`, the hour (`u64` seconds, big-endian) its oldest cart changed, owner key | empty: the sweep's index (see [`due`]; rebuilt at open if missing) |
//! | `meta`     | `currency`            | the shop currency code (a string)   |
//! | `meta`     | `version_floor`       | versions an owner without an index starts above (`u64`) |
//! | `meta`     | `variants_adopted`, `order_owners_indexed`, `cart_due_indexed` | one-time upgrades done |
//! | `orders`   | owner key, 0, order id| `Order` (ids are ULIDs: time order) |
//! | `order_owners` | order id          | the owner key (admin look-ups; rebuilt at open if missing) |
//! | `idempotency` | owner key, 0, key  | `IdempotencyRecord` (a version or order id, not a cart) |
//! | `idempotency_counts` | owner key   | how many records the owner has (`u64`) |
//!
//! Owner keys never contain a 0 byte (subjects are printable), so `owner, 0`
//! is a prefix that belongs to one owner alone.
//!
//! Data directories from before carts were stored one by one have a `carts`
//! tree (owner key → all carts of the owner): at open each such record is
//! split into `cart_records` and `cart_index` (in batches, each one
//! transaction that also deletes what it split, so a crash halfway resumes),
//! and the emptied tree is dropped.
//!
//! Identity trees (`accounts`, `valid_after`) are described in [`identity`].
//!
//! Cart writes take the owner's turn ([`OwnerLocks`]) and then write in a
//! short transaction (see [`carts`]); other single-key writes are
//! compare-and-swap loops (see [`cas`]); a write whose bytes equal what is
//! stored is skipped. With [`Durability::Strict`] every acknowledged write
//! has been flushed by the [`GroupCommit`] task.

mod carts;
mod catalog;
mod checkouts;
pub mod codec;
mod due;
pub mod durability;
mod identity;
mod orders;
mod shop;
mod snapshot;
mod store_id;
mod sweeper;
mod tx;
mod versions;

use super::notices::Subscribers;
use super::owner_locks::OwnerLocks;
use super::{Store, StoreError, UpdateError};
use crate::domain::{CartIndex, CartSet, OwnerKey, Rejection};
use async_trait::async_trait;
use codec::{decode, encode};
pub use durability::Durability;
use durability::GroupCommit;
use serde::{Serialize, de::DeserializeOwned};
pub use snapshot::Frozen;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
pub use store_id::STORE_ID_FILE;

/// The `meta` key of the version floor.
const VERSION_FLOOR: &[u8] = b"version_floor";
/// Marks in `meta`: the one-time upgrades of older data directories are done.
const VARIANTS_ADOPTED: &[u8] = b"variants_adopted";
const ORDER_OWNERS_INDEXED: &[u8] = b"order_owners_indexed";
const CART_DUE_INDEXED: &[u8] = b"cart_due_indexed";
/// The `meta` key of the storage layout a data directory is in.
const LAYOUT: &[u8] = b"layout";
/// The storage layout this release writes: 1 is carts one by one beside
/// their owners' indexes, with shop records (pricing, webhooks); 2 adds the
/// sweep's index of owners by their oldest change (`cart_due`), which a
/// release that does not keep it would leave behind (and the sweep would
/// then miss carts). Directories with a lower mark or none are older
/// (upgraded at open); a higher one was written by a newer cartql, and is
/// refused rather than misread.
pub const LAYOUT_VERSION: u64 = 2;

/// A store in one data directory. Cheap to share behind an `Arc`.
pub struct SledStore {
    db: sled::Db,
    pub(super) products: sled::Tree,
    pub(super) product_records: sled::Tree,
    /// One cart per key (`owner, 0, name`).
    pub(super) carts: sled::Tree,
    /// One [`CartIndex`] per owner.
    pub(super) cart_index: sled::Tree,
    /// The sweep's index: owners by kind and the hour of their oldest
    /// change (see [`due`]).
    pub(super) cart_due: sled::Tree,
    pub(super) meta: sled::Tree,
    /// `meta/version_floor`, cached: the highest version of any owner's
    /// carts the sweeper deleted with its index. An owner without an index
    /// starts above it, so a cart's versions never repeat for an owner,
    /// even after everything it had was swept. Only ever raised.
    version_floor: AtomicU64,
    /// One write at a time per owner (see [`carts`]).
    pub(super) owner_locks: OwnerLocks,
    pub(super) orders: sled::Tree,
    pub(super) order_owners: sled::Tree,
    pub(super) idempotency: sled::Tree,
    /// Idempotency records per owner (owner key → `u64`), for the per-viewer cap.
    pub(super) idempotency_counts: sled::Tree,
    pub(super) accounts: sled::Tree,
    pub(super) valid_after: sled::Tree,
    /// Makes writes durable: every write waits for it in strict mode; in
    /// relaxed mode it runs on its own every [`durability::RELAXED_FLUSH_EVERY`].
    commit: GroupCommit,
    durability: Durability,
    /// Versions handed out are leased (see [`versions`]).
    versions: versions::VersionLease,
    /// Live subscriptions to carts and to orders, told once a write is durable.
    pub(super) subscribers: Subscribers,
    /// The background sweep, while it runs.
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Every write holds this shared while it writes (after the owner's
    /// turn, never across another wait for it); a backup holds it alone
    /// while it copies the trees (see [`backup`]), so the copy is one
    /// instant: every write before it whole, none after.
    writes: Arc<tokio::sync::RwLock<()>>,
    /// The shop's pricing, read once per pricing write (see [`shop`]).
    pricing: crate::store::shop::PricingCache,
    /// Checkouts waiting for their batch (see [`checkouts`]).
    checkouts: checkouts::CheckoutQueue,
}

impl SledStore {
    /// Opens (or creates) the store in `dir`. Must run inside a tokio runtime
    /// when `durability` is strict (it starts the flusher task).
    pub fn open(dir: &Path, durability: Durability) -> Result<SledStore, StoreError> {
        SledStore::open_with_cache(dir, durability, DEFAULT_CACHE_BYTES)
    }

    /// [`SledStore::open`] with sled's cache bounded to `cache_bytes`
    /// (`--cache-mib`). sled's own default is 1 GiB, which let a store of a
    /// million carts hold 550 MiB while they were written.
    pub fn open_with_cache(
        dir: &Path,
        durability: Durability,
        cache_bytes: u64,
    ) -> Result<SledStore, StoreError> {
        let config = sled::Config::new()
            .path(dir.join("db"))
            .cache_capacity(cache_bytes)
            .flush_every_ms(Some(500));
        let db = open_when_free(&config).map_err(|e| open_error(dir, e))?;
        let products = db.open_tree("products")?;
        let product_records = db.open_tree("product_records")?;
        let carts = db.open_tree("cart_records")?;
        let cart_index = db.open_tree("cart_index")?;
        let cart_due = db.open_tree("cart_due")?;
        let meta = db.open_tree("meta")?;
        let orders = db.open_tree("orders")?;
        let order_owners = db.open_tree("order_owners")?;
        let idempotency = db.open_tree("idempotency")?;
        let idempotency_counts = db.open_tree("idempotency_counts")?;
        let accounts = db.open_tree("accounts")?;
        let valid_after = db.open_tree("valid_after")?;
        check_layout(dir, &meta)?;
        store_id::check(dir, &meta)?;
        index_order_owners(&meta, &orders, &order_owners)?;
        adopt_loose_variants(&meta, &products, &product_records)?;
        split_cart_sets(&db, &carts, &cart_index, &cart_due)?;
        index_cart_due(&meta, &cart_index, &cart_due)?;
        if Self::get::<u64>(&meta, LAYOUT)? != Some(LAYOUT_VERSION) {
            meta.insert(LAYOUT, encode(&LAYOUT_VERSION))?;
        }
        let version_floor = AtomicU64::new(Self::get(&meta, VERSION_FLOOR)?.unwrap_or(0));
        let (versions, was_clean) = versions::VersionLease::open(&meta)?;
        if was_clean {
            // The mark is gone for good before anything is served: a crash
            // from here on is not a clean stop.
            db.flush()?;
            durability::sync_at_open(dir).map_err(|e| {
                StoreError::Open(format!("cannot make the database durable (fsync): {e}"))
            })?;
        }
        let every = match durability {
            Durability::Strict => None,
            Durability::Relaxed => Some(durability::RELAXED_FLUSH_EVERY),
        };
        let commit = GroupCommit::start(db.clone(), dir, every)?;
        Ok(SledStore {
            db,
            products,
            product_records,
            carts,
            cart_index,
            cart_due,
            meta,
            version_floor,
            owner_locks: OwnerLocks::default(),
            orders,
            order_owners,
            idempotency,
            idempotency_counts,
            accounts,
            valid_after,
            commit,
            durability,
            versions,
            subscribers: Subscribers::default(),
            sweeper: Mutex::new(None),
            writes: Arc::default(),
            pricing: crate::store::shop::PricingCache::default(),
            checkouts: checkouts::CheckoutQueue::default(),
        })
    }

    /// The shared hold every write takes on the trees while it writes.
    pub(super) async fn writing(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.writes.read().await
    }

    /// [`writing`](Self::writing), held by a value that may move to another
    /// task (a checkout's batch job).
    pub(super) async fn writing_owned(&self) -> tokio::sync::OwnedRwLockReadGuard<()> {
        self.writes.clone().read_owned().await
    }

    /// Waits until earlier writes are on disk (strict durability) or returns at once.
    pub(super) async fn durable(&self) -> Result<(), StoreError> {
        match self.durability {
            Durability::Strict => self.commit.wait().await,
            Durability::Relaxed => Ok(()),
        }
    }

    /// Waits until earlier writes are on disk, in either mode.
    pub(super) async fn sync_now(&self) -> Result<(), StoreError> {
        self.commit.wait().await
    }

    /// Where an owner's next versions start: its index, raised above the
    /// lease found at start after a stop that was not clean.
    pub(super) fn versions_from(&self, index: &mut CartIndex) {
        index.retired_version = index.retired_version.max(self.versions.floor);
    }

    /// Leases versions up to `version` before a write makes them visible
    /// (see [`versions`]).
    pub(super) async fn lease_versions(&self, version: u64) -> Result<(), StoreError> {
        self.versions
            .cover(version, &self.meta, async || self.sync_now().await)
            .await
    }

    /// The index of an owner with none stored: versions start above the floor.
    pub(super) fn fresh_index(&self) -> CartIndex {
        CartIndex::fresh(self.version_floor.load(Ordering::SeqCst))
    }

    /// Raises the version floor to at least `version` (in `meta`, then the
    /// cache). Called before an owner's index is deleted: sled writes in
    /// order, so the deletion is never on disk without the floor.
    pub(super) fn raise_version_floor(&self, version: u64) -> Result<(), StoreError> {
        if version <= self.version_floor.load(Ordering::SeqCst) {
            return Ok(());
        }
        let written = self.meta.fetch_and_update(VERSION_FLOOR, |old| {
            let stored: u64 = old
                .and_then(|bytes| decode(VERSION_FLOOR, bytes).ok())
                .unwrap_or(0);
            Some(encode(&stored.max(version)))
        })?;
        let stored: u64 = written
            .map(|bytes| decode(VERSION_FLOOR, &bytes))
            .transpose()?
            .unwrap_or(0);
        self.version_floor
            .fetch_max(stored.max(version), Ordering::SeqCst);
        Ok(())
    }

    /// Writes raw bytes as a product (tests of what damaged data does).
    #[cfg(test)]
    pub(crate) fn put_raw_product(&self, sku: &str, bytes: &[u8]) {
        self.products.insert(sku, bytes).unwrap();
    }

    /// Reads and decodes one value.
    pub(super) fn get<T: DeserializeOwned>(
        tree: &sled::Tree,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        tree.get(key)?.map(|bytes| decode(key, &bytes)).transpose()
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::caused("sled", e)
    }
}

/// sled's cache when no size is given: `--cache-mib`'s default. 16 MiB:
/// on a million carts sled's page cleaning fills the cache within minutes
/// of start with no request (idle: 217 MiB resident with 64, 155 with 16),
/// and reads of 4,096 or 65,536 of them ran as fast with 16 as with 64
/// (BENCHMARKS.md, issue 24's fifth round).
pub const DEFAULT_CACHE_BYTES: u64 = 16 << 20;

/// Gives every variant stored before products had handles a product of its
/// own (handle from the SKU, no options), so the catalog reads as products.
/// Refuses a data directory a newer cartql wrote (its layout mark is
/// higher than [`LAYOUT_VERSION`]), before anything in it is changed.
fn check_layout(dir: &Path, meta: &sled::Tree) -> Result<(), StoreError> {
    match SledStore::get::<u64>(meta, LAYOUT)? {
        Some(layout) if layout > LAYOUT_VERSION => Err(StoreError::Open(format!(
            "the data directory {} was written by a newer cartql (storage layout {layout}; this one reads up to {LAYOUT_VERSION}): run that version or newer, or import a backup into a fresh directory",
            dir.display()
        ))),
        _ => Ok(()),
    }
}

/// Runs once per data directory (a mark in `meta` says it is done), each
/// adoption one transaction, so a crash halfway resumes without doubles;
/// after it, a variant without a handle is one its product stopped listing.
fn adopt_loose_variants(
    meta: &sled::Tree,
    products: &sled::Tree,
    records: &sled::Tree,
) -> Result<(), StoreError> {
    use sled::Transactional;
    if meta.contains_key(VARIANTS_ADOPTED)? {
        return Ok(());
    }
    for entry in products.iter() {
        let (key, bytes) = entry?;
        let variant: crate::domain::Variant = decode(&key, &bytes)?;
        if variant.handle.is_some() {
            continue;
        }
        let base = crate::domain::Handle::from_sku(&variant.sku);
        let mut handle = base.clone();
        let mut n = 2;
        while records.contains_key(handle.as_str().as_bytes())? {
            let text = format!("{}-{n}", &base.as_str()[..base.as_str().len().min(58)]);
            handle = crate::domain::Handle::parse(&text).map_err(StoreError::Open)?;
            n += 1;
        }
        let record = crate::domain::catalog::Product {
            handle: handle.clone(),
            title: variant.title.clone(),
            description: String::new(),
            options: Vec::new(),
            variants: vec![variant.sku.clone()],
            active: true,
            images: Vec::new(),
        };
        let adopted = crate::domain::Variant {
            product_title: Some(variant.title.clone()),
            handle: Some(handle.clone()),
            ..variant
        };
        let result: sled::transaction::TransactionResult<(), ()> =
            (records, products).transaction(|(records, products)| {
                records.insert(handle.as_str().as_bytes(), encode(&record))?;
                products.insert(&key, encode(&adopted))?;
                Ok(())
            });
        result.map_err(|e| StoreError::Open(format!("adopting {}: {e:?}", key.escape_ascii())))?;
    }
    meta.insert(VARIANTS_ADOPTED, &[1u8][..])?;
    Ok(())
}

/// Fills `order_owners` from `orders` once per data directory (written
/// before the index existed); re-run until its mark in `meta` is written, so
/// a crash halfway is finished at the next start.
fn index_order_owners(
    meta: &sled::Tree,
    orders: &sled::Tree,
    owners: &sled::Tree,
) -> Result<(), StoreError> {
    if meta.contains_key(ORDER_OWNERS_INDEXED)? {
        return Ok(());
    }
    for entry in orders.iter() {
        let (key, _) = entry?;
        if let Some(split) = key.iter().position(|b| *b == 0) {
            owners.insert(&key[split + 1..], &key[..split])?;
        }
    }
    meta.insert(ORDER_OWNERS_INDEXED, &[1u8][..])?;
    Ok(())
}

/// Gives every owner's cart index its key in the sweep's index ([`due`]),
/// once, for data directories written before it was kept. Idempotent: a
/// crash halfway writes the same keys again at the next open. (A million
/// owners took 7.4–7.9 s on a 2-core machine, once.)
fn index_cart_due(
    meta: &sled::Tree,
    cart_index: &sled::Tree,
    cart_due: &sled::Tree,
) -> Result<(), StoreError> {
    if meta.contains_key(CART_DUE_INDEXED)? {
        return Ok(());
    }
    for key in due::expected_keys(cart_index) {
        cart_due.insert(key?, &[][..])?;
    }
    // The layout before the mark (sled keeps a prefix of its writes): a
    // mark without the layout would let an older release write carts
    // without keys, and this one not build them again.
    meta.insert(LAYOUT, encode(&LAYOUT_VERSION))?;
    meta.insert(CART_DUE_INDEXED, &[1u8][..])?;
    Ok(())
}

/// Owners whose carts one upgrade transaction splits.
const SPLIT_BATCH: usize = 256;

/// Splits the `carts` tree of older data directories (owner key → all its
/// carts) into one record per cart and an index per owner, in batches, each
/// one transaction that also deletes the records it split; then drops the
/// emptied tree. A crash halfway leaves whole owners in one layout or the
/// other, and the next open goes on.
fn split_cart_sets(
    db: &sled::Db,
    carts: &sled::Tree,
    index: &sled::Tree,
    due: &sled::Tree,
) -> Result<(), StoreError> {
    use sled::Transactional;
    const OLD: &[u8] = b"carts";
    if !db.tree_names().iter().any(|name| name == OLD) {
        return Ok(());
    }
    let old = db.open_tree(OLD)?;
    let mut split = 0usize;
    loop {
        let mut batch = Vec::with_capacity(SPLIT_BATCH);
        for entry in old.iter().take(SPLIT_BATCH) {
            let (key, bytes) = entry?;
            let owner = std::str::from_utf8(&key).ok().and_then(OwnerKey::parse);
            let Some(owner) = owner else {
                return Err(StoreError::Open(format!(
                    "upgrading carts: the record under '{}' names no owner; export what you can with an older cartql",
                    key.escape_ascii()
                )));
            };
            let set: CartSet = decode(&key, &bytes)?;
            batch.push((
                key,
                carts::Staged::set(&owner, &CartSet::default(), &set, false),
            ));
        }
        if batch.is_empty() {
            break;
        }
        let result = (carts, index, due, &old).transaction(|(carts, index, due, old)| {
            for (key, staged) in &batch {
                staged.apply(carts, index, due)?;
                old.remove(key)?;
            }
            Ok(())
        });
        tx::finish(result).map_err(|e| StoreError::Open(format!("upgrading carts: {e:?}")))?;
        split += batch.len();
    }
    db.flush()?;
    db.drop_tree(OLD)?;
    if split > 0 {
        tracing::info!(
            owners = split,
            "stored each cart on its own (upgraded the data directory)"
        );
    }
    Ok(())
}

/// Opens the database, waiting up to [`LOCK_WAIT`] for its lock. sled's own
/// threads let go of a database a moment after its last handle is dropped,
/// so an open right after a close in the same process (a restart, a test)
/// could find it still locked; another process holding it is refused after
/// the wait.
fn open_when_free(config: &sled::Config) -> sled::Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        match config.open() {
            Err(e) if is_locked(&e) && started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

/// How long an open waits for the database's lock.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

fn is_locked(e: &sled::Error) -> bool {
    e.to_string().contains("could not acquire lock")
}

fn open_error(dir: &Path, e: sled::Error) -> StoreError {
    let text = e.to_string();
    if is_locked(&e) {
        StoreError::Open(format!(
            "data directory {} is in use by another cartql process",
            dir.display()
        ))
    } else {
        StoreError::Open(format!(
            "cannot open the database in {}: {text}",
            dir.display()
        ))
    }
}

/// Atomically replaces the value at `key` with `next(current)`, retrying
/// when another writer got there first. Returns the new value and whether
/// anything was written.
fn cas<T, F>(tree: &sled::Tree, key: &[u8], mut next: F) -> Result<(T, bool), UpdateError>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<T>) -> Result<T, Rejection>,
{
    loop {
        let old = tree.get(key).map_err(StoreError::from)?;
        let current = old.as_ref().map(|bytes| decode(key, bytes)).transpose()?;
        let value = next(current).map_err(UpdateError::Rejected)?;
        let bytes = encode(&value);
        if old.as_deref() == Some(&bytes[..]) {
            return Ok((value, false));
        }
        match tree
            .compare_and_swap(key, old, Some(bytes))
            .map_err(StoreError::from)?
        {
            Ok(()) => return Ok((value, true)),
            Err(_) => continue,
        }
    }
}

#[async_trait]
impl Store for SledStore {
    async fn ready(&self) -> Result<(), StoreError> {
        self.products.first()?;
        Ok(())
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.stop_sweeping();
        self.sync_now().await?;
        versions::VersionLease::mark_clean(&self.meta)?;
        self.sync_now().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Money, Sku, Variant};
    use crate::store::{CartStore, CatalogStore};

    fn product(sku: &str) -> Variant {
        Variant::new(
            Sku::parse(sku).unwrap(),
            sku.into(),
            Money::from_minor(100),
            Some(1),
            true,
        )
    }

    #[tokio::test]
    async fn the_pricing_read_is_kept_until_a_pricing_record_is_written() {
        use crate::store::ShopStore;
        use crate::store::shop::{SETTINGS, SETTINGS_KEY, WEBHOOK_ENDPOINTS};
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Durability::Strict).unwrap();
        let gross = async || {
            store
                .shop_pricing()
                .await
                .unwrap()
                .settings
                .prices_include_tax
        };
        assert!(!gross().await);
        let mut settings = store.shop_pricing().await.unwrap().settings;
        settings.prices_include_tax = true;
        let value = serde_json::to_value(settings).unwrap();
        store
            .put_shop_record(SETTINGS, SETTINGS_KEY, &value)
            .await
            .unwrap();
        assert!(gross().await);
        // A write that bypassed the store (as nothing does) is not seen: the
        // copy is kept while no pricing record is written through it.
        settings.prices_include_tax = false;
        let raw = crate::store::shop::meta_key(SETTINGS, SETTINGS_KEY);
        store
            .meta
            .insert(
                raw.as_bytes(),
                codec::encode(&serde_json::to_value(settings).unwrap()),
            )
            .unwrap();
        assert!(gross().await);
        // Other kinds leave it alone; a pricing update or delete refreshes it.
        let endpoint = serde_json::json!({});
        store
            .put_shop_record(WEBHOOK_ENDPOINTS, "x", &endpoint)
            .await
            .unwrap();
        assert!(gross().await);
        store
            .delete_shop_record(SETTINGS, SETTINGS_KEY)
            .await
            .unwrap();
        assert!(!gross().await);
    }

    #[tokio::test]
    async fn products_page_in_sku_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Durability::Strict).unwrap();
        store
            .import_catalog(&[], &[product("C"), product("A"), product("B")])
            .await
            .unwrap();
        let first = store.variants(None, 2).await.unwrap();
        assert_eq!(
            first.iter().map(|p| p.sku.as_str()).collect::<Vec<_>>(),
            ["A", "B"]
        );
        let rest = store.variants(Some(&first[1].sku), 10).await.unwrap();
        assert_eq!(
            rest.iter().map(|p| p.sku.as_str()).collect::<Vec<_>>(),
            ["C"]
        );
    }

    #[tokio::test]
    async fn values_an_earlier_release_wrote_as_json_are_read_and_rewritten_in_the_new_format() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Durability::Strict).unwrap();
        let old = product("OLD");
        let mut json = vec![codec::FORMAT_V1];
        json.extend(serde_json::to_vec(&old).unwrap());
        store.put_raw_product("OLD", &json);
        let sku = Sku::parse("OLD").unwrap();
        assert_eq!(store.variant(&sku).await.unwrap(), Some(old.clone()));
        let found = store
            .variants_by_sku(std::slice::from_ref(&sku))
            .await
            .unwrap();
        assert_eq!(found.get(&sku), Some(&old));
        store
            .update_variant(&sku, &mut |p: Option<Variant>| {
                let mut p = p.expect("stored");
                p.title = "New title".into();
                Ok(p)
            })
            .await
            .unwrap();
        let stored = store.products.get("OLD").unwrap().unwrap();
        assert_eq!(stored[0], codec::FORMAT_V2, "rewritten in the new format");
        let read = store.variant(&sku).await.unwrap().unwrap();
        assert_eq!(read.title, "New title");
    }

    #[tokio::test]
    async fn a_damaged_value_on_disk_is_a_clear_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Durability::Strict).unwrap();
        store
            .products
            .insert("BROKEN", &b"\x01{\"sku\":"[..])
            .unwrap();
        let err = store
            .variant(&Sku::parse("BROKEN").unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        let err = store.variants(None, 10).await.unwrap_err();
        assert!(err.to_string().contains("BROKEN"), "{err}");
    }

    #[tokio::test]
    async fn variants_stored_before_products_had_handles_get_a_product_each_at_open() {
        let open = |dir: &Path| SledStore::open(dir, Durability::Relaxed);
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(dir.path()).unwrap();
            store
                .import_catalog(&[], &[product("MUG_1"), product("mug-1")])
                .await
                .unwrap();
            // As a data directory written before products had handles.
            store.meta.remove(VARIANTS_ADOPTED).unwrap();
            store.close().await.unwrap();
        }
        let store = open(dir.path()).unwrap();
        let records = store.products(None, 10).await.unwrap();
        let handles: Vec<&str> = records.iter().map(|r| r.handle.as_str()).collect();
        assert_eq!(handles, ["mug-1", "mug-1-2"]);
        let variant = store
            .variant(&Sku::parse("MUG_1").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(variant.handle.as_ref().map(|h| h.as_str()), Some("mug-1"));
        assert_eq!(variant.product_title.as_deref(), Some("MUG_1"));
        store.close().await.unwrap();
    }

    #[tokio::test]
    async fn carts_stored_as_one_record_per_owner_are_split_once_at_open() {
        use crate::domain::{Cart, CartName};
        let dir = tempfile::tempdir().unwrap();
        let now = chrono::Utc::now();
        let cart = |name: &str, version: u64| Cart {
            version,
            note: Some(format!("note of {name}")),
            ..Cart::empty(CartName::parse(name).unwrap(), now)
        };
        let set = CartSet {
            carts: [cart("default", 7), cart("wishlist", 3)]
                .into_iter()
                .map(|c| (c.name.clone(), c))
                .collect(),
            retired_version: 5,
        };
        {
            // As an older cartql left it: a `carts` tree, one value per owner.
            let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
            let old = store.db.open_tree("carts").unwrap();
            old.insert("guest:ann", encode(&set)).unwrap();
            old.insert("customer:bob", encode(&CartSet::default()))
                .unwrap();
            store.close().await.unwrap();
        }
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        let ann = OwnerKey::parse("guest:ann").unwrap();
        assert_eq!(store.cart_set(&ann).await.unwrap(), set);
        let wishlist = CartName::parse("wishlist").unwrap();
        assert_eq!(
            store.cart(&ann, &wishlist).await.unwrap(),
            Some(cart("wishlist", 3))
        );
        assert_eq!(store.index_of(&ann).unwrap(), set.index());
        assert!(
            !store.db.tree_names().iter().any(|n| n == b"carts"),
            "the old tree is gone"
        );
        // Versions go on from where they were.
        assert_eq!(add_one(&store, &ann, now).await, 8);
        store.close().await.unwrap();
        drop(store);
        let again = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        assert_eq!(again.cart_set(&ann).await.unwrap().carts.len(), 2);
    }

    #[tokio::test]
    async fn a_second_open_of_the_same_directory_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let _first = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        let err = SledStore::open(dir.path(), Durability::Relaxed)
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("in use by another cartql process"),
            "{err}"
        );
    }

    async fn add_one(
        store: &SledStore,
        owner: &OwnerKey,
        now: chrono::DateTime<chrono::Utc>,
    ) -> u64 {
        use crate::domain::{CartChange, CartName, Limits, NewLine};
        let limits = Limits {
            max_lines_per_cart: 10,
            max_quantity_per_line: 99,
            max_carts_per_viewer: 5,
            ..Limits::DEFAULT
        };
        let change = CartChange::Add(vec![NewLine {
            sku: Sku::parse("A").unwrap(),
            quantity: 1,
            attributes: Vec::new(),
            unit_price: None,
        }]);
        let name = CartName::default_cart();
        let cart = store
            .update_cart(owner, &name, &|index, stored| {
                index.apply(
                    stored,
                    &name,
                    &change,
                    None,
                    &limits,
                    now,
                    chrono::Duration::hours(1),
                )
            })
            .await
            .unwrap();
        cart.expect("written").version
    }

    #[tokio::test]
    async fn after_a_stop_that_was_not_clean_versions_start_above_every_one_handed_out() {
        let dir = tempfile::tempdir().unwrap();
        let ann = OwnerKey::parse("guest:ann").unwrap();
        let now = chrono::Utc::now();
        let before = {
            let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
            for _ in 0..3 {
                add_one(&store, &ann, now).await;
            }
            add_one(&store, &ann, now).await
            // Dropped without close: a crash, as far as the store can tell.
        };
        assert_eq!(before, 4);
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        let after = add_one(&store, &ann, now).await;
        assert!(
            after > versions::LEASE_STEP,
            "{after}: above the lease, not 5, which a crash may have handed out already"
        );
        // A clean close loses nothing: versions go on one by one.
        store.close().await.unwrap();
        drop(store);
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        assert_eq!(add_one(&store, &ann, now).await, after + 1);
        assert_eq!(
            add_one(&store, &OwnerKey::parse("guest:bob").unwrap(), now).await,
            1
        );
    }

    #[tokio::test]
    async fn a_swept_cart_set_raises_the_floor_new_carts_start_above_even_after_a_restart() {
        use crate::domain::expiry::{Due, Lifetimes};
        use crate::store::sweeper::Sweep;
        let dir = tempfile::tempdir().unwrap();
        let (ann, bob) = (
            OwnerKey::parse("guest:ann").unwrap(),
            OwnerKey::parse("guest:bob").unwrap(),
        );
        let now = chrono::Utc::now();
        {
            let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
            for expected in 1..=3 {
                assert_eq!(add_one(&store, &ann, now).await, expected);
            }
            let later = now + chrono::Duration::days(1);
            let swept = store
                .sweep_carts(&Due::at(
                    later,
                    Lifetimes::uniform(chrono::Duration::hours(1)),
                ))
                .await
                .unwrap();
            assert_eq!(swept, 1);
            assert!(store.carts.is_empty(), "the cart is deleted");
            assert!(store.cart_index.is_empty(), "and the index with it");
            store.close().await.unwrap();
        }
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        assert_eq!(add_one(&store, &ann, now).await, 4);
        assert_eq!(add_one(&store, &bob, now).await, 4);
    }

    /// The sweep's index holds exactly one key per owner index, in the
    /// slot of its oldest cart, and nothing else.
    fn assert_due_index_matches(store: &SledStore) {
        let mut expected = std::collections::BTreeSet::new();
        for entry in store.cart_index.iter() {
            let (key, bytes) = entry.unwrap();
            let owner = OwnerKey::parse(std::str::from_utf8(&key).unwrap()).unwrap();
            let index: CartIndex = decode(&key, &bytes).unwrap();
            expected.insert(due::key(&owner, due::slot_of(&index)));
        }
        let held: std::collections::BTreeSet<Vec<u8>> = store
            .cart_due
            .iter()
            .map(|entry| entry.unwrap().0.to_vec())
            .collect();
        assert_eq!(held, expected);
    }

    fn sweep_at(later: chrono::DateTime<chrono::Utc>) -> crate::domain::expiry::Due {
        use crate::domain::expiry::{Due, Lifetimes};
        Due::at(later, Lifetimes::uniform(chrono::Duration::hours(1)))
    }

    #[tokio::test]
    async fn the_sweep_index_follows_every_cart_write_merge_and_sweep() {
        use crate::store::sweeper::Sweep;
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        let (ann, bob, cat) = (
            OwnerKey::parse("guest:ann").unwrap(),
            OwnerKey::parse("guest:bob").unwrap(),
            OwnerKey::parse("customer:cat").unwrap(),
        );
        let start = chrono::Utc::now() - chrono::Duration::days(3);
        add_one(&store, &ann, start).await;
        add_one(&store, &bob, start).await;
        assert_due_index_matches(&store);
        // A change in a later hour moves the key; one in the same hour does not.
        add_one(&store, &ann, start + chrono::Duration::hours(2)).await;
        add_one(&store, &ann, start + chrono::Duration::hours(2)).await;
        assert_due_index_matches(&store);
        assert_eq!(store.cart_due.len(), 2);
        // A merge empties the guest's index (kept, due at once) and fills the customer's.
        store
            .merge_carts(&bob, &cat, &|customer, guest| {
                std::mem::swap(customer, guest);
                Ok(crate::domain::merge::MergeReport::default())
            })
            .await
            .unwrap();
        assert_due_index_matches(&store);
        // At 2:30 the sweep forgets bob (no cart left) and drops cat's cart
        // (bob's, changed at the start); ann's changed at 2:00 and stays.
        let swept = store
            .sweep_carts(&sweep_at(start + chrono::Duration::minutes(150)))
            .await
            .unwrap();
        assert_eq!(swept, 1);
        assert_due_index_matches(&store);
        assert!(store.index_as_stored(&bob).unwrap().is_none());
        assert!(store.index_as_stored(&cat).unwrap().is_none());
        assert!(store.index_as_stored(&ann).unwrap().is_some());
        assert_eq!(store.cart_due.len(), 1);
    }

    #[tokio::test]
    async fn the_sweep_reads_owners_by_its_index_rebuilt_at_open_for_an_older_directory() {
        use crate::store::sweeper::Sweep;
        let dir = tempfile::tempdir().unwrap();
        let (ann, bob) = (
            OwnerKey::parse("guest:ann").unwrap(),
            OwnerKey::parse("guest:bob").unwrap(),
        );
        let start = chrono::Utc::now() - chrono::Duration::days(3);
        let later = sweep_at(start + chrono::Duration::days(1));
        {
            let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
            add_one(&store, &ann, start).await;
            add_one(&store, &bob, start).await;
            // As a release before the index would have left bob: no key.
            let bob_key = due::key(&bob, due::slot_of(&store.index_of(&bob).unwrap()));
            store.cart_due.remove(bob_key).unwrap();
            assert_eq!(store.sweep_carts(&later).await.unwrap(), 1, "ann's alone");
            assert!(store.index_as_stored(&bob).unwrap().is_some(), "not read");
            // The directory as that release left it.
            store.meta.remove(CART_DUE_INDEXED).unwrap();
            store.meta.insert(LAYOUT, encode(&1u64)).unwrap();
            store.close().await.unwrap();
        }
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        assert_eq!(
            SledStore::get::<u64>(&store.meta, LAYOUT).unwrap(),
            Some(LAYOUT_VERSION)
        );
        assert_due_index_matches(&store);
        assert_eq!(
            store.sweep_carts(&later).await.unwrap(),
            1,
            "bob's, found now"
        );
        assert!(store.cart_index.is_empty() && store.cart_due.is_empty());
    }

    #[tokio::test]
    async fn keys_a_crash_left_behind_are_tidied_by_the_sweep_and_the_owner_keeps_its_own() {
        use crate::store::sweeper::Sweep;
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        let (ann, gone) = (
            OwnerKey::parse("guest:ann").unwrap(),
            OwnerKey::parse("guest:gone").unwrap(),
        );
        let now = chrono::Utc::now();
        add_one(&store, &ann, now).await;
        // Cut between a write's two keys: ann has an old one too; and an
        // owner whose index went before its key did.
        store
            .cart_due
            .insert(due::key(&ann, 3_600), &[][..])
            .unwrap();
        store.cart_due.insert(due::key(&gone, 0), &[][..]).unwrap();
        // And a key no release writes.
        store.cart_due.insert(&b"g\x00"[..], &[][..]).unwrap();
        assert_eq!(store.sweep_carts(&sweep_at(now)).await.unwrap(), 0);
        store.cart_due.remove(&b"g\x00"[..]).unwrap();
        assert_due_index_matches(&store);
        assert!(
            store.index_as_stored(&ann).unwrap().is_some(),
            "ann's cart is not due"
        );
    }
}
