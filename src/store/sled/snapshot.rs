//! `cartql export` / `cartql import` for sled, and backups while serving.
//!
//! An export is a consistent cut because it runs offline: the data
//! directory's lock lets only one process open it, so no server writes while
//! the trees are read. A backup while serving reads a copy of the trees made
//! while every write waited ([`SledStore::freeze`]). An import is one
//! transaction over every tree.

use super::SledStore;
use super::carts::Staged;
use super::codec::{decode, encode};
use super::tx::scoped;
use crate::domain::{Cart, CartIndex, CartSet, OwnerKey};
use crate::store::StoreError;
use crate::store::snapshot::Record;
use sled::IVec;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use sled::transaction::TransactionError;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

impl SledStore {
    /// Whether the store holds no data (the currency and ids aside).
    pub fn is_empty(&self) -> bool {
        [
            &self.products,
            &self.product_records,
            &self.carts,
            &self.cart_index,
            &self.orders,
            &self.accounts,
            &self.valid_after,
            &self.idempotency,
        ]
        .iter()
        .all(|tree| tree.is_empty())
    }

    /// Hands every record to `sink`, tree by tree, read as they are now
    /// (offline: no other process writes; see [`freeze`](Self::freeze) for
    /// a copy while serving).
    pub fn export_to(
        &self,
        sink: &mut dyn FnMut(Record) -> std::io::Result<()>,
    ) -> Result<(), String> {
        export_view(&View::Live(self), sink)
    }

    /// The tree called `name`.
    fn tree(&self, name: Tree) -> &sled::Tree {
        match name {
            Tree::Meta => &self.meta,
            Tree::Products => &self.products,
            Tree::ProductRecords => &self.product_records,
            Tree::CartIndex => &self.cart_index,
            Tree::Carts => &self.carts,
            Tree::Orders => &self.orders,
            Tree::Accounts => &self.accounts,
            Tree::ValidAfter => &self.valid_after,
            Tree::Idempotency => &self.idempotency,
        }
    }

    /// A copy of every tree an export reads, made while every write waits
    /// (writes in progress finish first), so it is one instant of the
    /// store: every write acknowledged before it whole, none after it, none
    /// in part. Reads go on meanwhile; writes wait for the copy only (it
    /// holds the values sled already has in memory, not copies of them).
    pub async fn freeze(self: &std::sync::Arc<Self>) -> Result<Frozen, String> {
        let asked = std::time::Instant::now();
        let all = self.writes.clone().write_owned().await;
        let waited = asked.elapsed();
        let store = self.clone();
        let copied = tokio::task::spawn_blocking(move || {
            let mut trees = Vec::with_capacity(Tree::ALL.len());
            for name in Tree::ALL {
                let entries = store
                    .tree(name)
                    .iter()
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("copying the {name:?} tree: {e}"))?;
                trees.push(entries);
            }
            drop(all);
            Ok::<_, String>(Frozen { trees })
        })
        .await
        .map_err(|e| format!("copying the trees: {e}"))??;
        tracing::info!(
            records = copied.len(),
            waited_ms = waited.as_millis() as u64,
            writes_held_ms = (asked.elapsed() - waited).as_millis() as u64,
            "copied the trees for a backup"
        );
        Ok(copied)
    }

    /// Hands every record of a [`freeze`](Self::freeze) copy to `sink`.
    pub fn export_frozen(
        frozen: &Frozen,
        sink: &mut dyn FnMut(Record) -> std::io::Result<()>,
    ) -> Result<(), String> {
        export_view(&View::Frozen(frozen), sink)
    }

    /// Writes `records` into this empty store in one transaction, counting
    /// idempotency records per owner; refuses a store that holds data.
    pub async fn import(&self, records: &[Record]) -> Result<(), String> {
        if !self.is_empty() {
            return Err("the store is not empty; import only into a new one".into());
        }
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        let mut floor = 0;
        for record in records {
            match record {
                Record::Idempotency { owner, .. } => *counts.entry(owner).or_default() += 1,
                Record::VersionFloor { version } => floor = *version,
                _ => {}
            }
        }
        let mut sets = Vec::new();
        for record in records {
            if let Record::Carts { owner, carts } = record {
                let owner = crate::domain::OwnerKey::parse(owner)
                    .ok_or_else(|| format!("'{owner}' is not an owner key"))?;
                sets.push(Staged::set(&owner, &CartSet::default(), carts, false));
            }
        }
        let trees = (
            &self.products,
            &self.carts,
            &self.cart_index,
            &self.cart_due,
            &self.meta,
            &self.orders,
            &self.idempotency,
            &self.idempotency_counts,
            &self.accounts,
            &self.valid_after,
            &self.product_records,
            &self.order_owners,
        );
        let result = trees.transaction(
            |(
                products,
                carts,
                cart_index,
                cart_due,
                meta,
                orders,
                idempotency,
                idempotency_counts,
                accounts,
                valid_after,
                product_records,
                order_owners,
            )| {
                for record in records {
                    match record {
                        Record::Currency { code } => {
                            meta.insert(&b"currency"[..], encode(code))?;
                        }
                        Record::VersionFloor { version } => {
                            meta.insert(super::VERSION_FLOOR, encode(version))?;
                        }
                        Record::Variant { product } => {
                            products.insert(product.sku.as_str().as_bytes(), encode(product))?;
                        }
                        // Written from `sets` below.
                        Record::Carts { .. } => {}
                        Record::Product { record } => {
                            product_records
                                .insert(record.handle.as_str().as_bytes(), encode(record))?;
                        }
                        Record::Order { owner, order } => {
                            orders.insert(scoped_raw(owner, &order.id), encode(order))?;
                            order_owners.insert(order.id.as_bytes(), owner.as_bytes())?;
                        }
                        Record::Account { account } => {
                            accounts.insert(account.email.as_str().as_bytes(), encode(account))?;
                        }
                        Record::ValidAfter {
                            owner,
                            valid_after: at,
                        } => {
                            valid_after.insert(owner.as_bytes(), encode(at))?;
                        }
                        Record::Idempotency { owner, key, record } => {
                            idempotency.insert(scoped_raw(owner, key), encode(record))?;
                        }
                        Record::Shop { kind, key, data } => {
                            let at = crate::store::shop::meta_key(kind, key);
                            meta.insert(at.as_bytes(), encode(data))?;
                        }
                    }
                }
                for staged in &sets {
                    staged
                        .apply(carts, cart_index, cart_due)
                        .map_err(|_| ConflictableTransactionError::Abort(()))?;
                }
                for (owner, count) in &counts {
                    idempotency_counts.insert(owner.as_bytes(), encode(count))?;
                }
                Ok(())
            },
        );
        result.map_err(|e: TransactionError<()>| format!("sled: {e:?}"))?;
        for kind in crate::store::shop::PRICING_KINDS {
            self.pricing_written(kind);
        }
        self.version_floor.fetch_max(floor, Ordering::SeqCst);
        self.durable().await.map_err(|e| e.to_string())?;
        self.db.flush_async().await.map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// `owner, 0, suffix` from text (see [`scoped`]).
fn scoped_raw(owner: &str, suffix: &str) -> Vec<u8> {
    match crate::domain::OwnerKey::parse(owner) {
        Some(owner) => scoped(&owner, suffix),
        None => [owner.as_bytes(), &[0], suffix.as_bytes()].concat(),
    }
}

/// The owner and the rest of an `owner, 0, rest` key.
fn split_scoped(key: &[u8]) -> (String, String) {
    let mut parts = key.splitn(2, |b| *b == 0);
    let owner = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default();
    (
        String::from_utf8_lossy(owner).into_owned(),
        String::from_utf8_lossy(rest).into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::attributes::Attribute;
    use crate::domain::{CartChange, CartName, Limits, NewLine, OwnerKey, Sku};
    use crate::store::CartStore;
    use crate::store::sled::Durability;

    /// Bytes the files under `dir` take.
    fn size(dir: &std::path::Path) -> u64 {
        let mut total = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            total += if meta.is_dir() {
                size(&entry.path())
            } else {
                meta.len()
            };
        }
        total
    }

    async fn rewrite(store: &SledStore, owner: &OwnerKey, cart: &str, salt: usize) {
        let name = CartName::parse(cart).unwrap();
        let lines = (0..20)
            .map(|i| NewLine {
                sku: Sku::parse("A").unwrap(),
                quantity: 1,
                attributes: vec![Attribute {
                    key: "text".into(),
                    value: format!("{}{}", i + salt, "é".repeat(120)),
                }],
                unit_price: None,
            })
            .collect();
        let change = CartChange::Replace(lines);
        let now = chrono::Utc::now();
        store
            .update_cart(owner, &name, &|index, stored| {
                let life = chrono::Duration::days(30);
                index.apply(stored, &name, &change, None, &Limits::DEFAULT, now, life)
            })
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_export_imported_into_a_new_directory_gives_back_what_churn_left_behind() {
        let (churned, fresh) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = SledStore::open(churned.path(), Durability::Relaxed).unwrap();
        let owner = OwnerKey::parse("guest:churn").unwrap();
        for salt in 0..600 {
            rewrite(&store, &owner, &format!("c{}", salt % 3), salt).await;
        }
        store.db.flush_async().await.unwrap();
        let mut records = Vec::new();
        store
            .export_to(&mut |record| {
                records.push(record);
                Ok(())
            })
            .unwrap();
        let copy = SledStore::open(fresh.path(), Durability::Relaxed).unwrap();
        copy.import(&records).await.unwrap();
        assert_eq!(
            copy.cart_set(&owner).await.unwrap(),
            store.cart_set(&owner).await.unwrap()
        );
        let (before, after) = (size(churned.path()), size(fresh.path()));
        assert!(
            after * 4 < before,
            "a fresh directory of the same data takes {after} bytes, the churned one {before}"
        );
    }
}

/// The trees an export reads.
#[derive(Clone, Copy, Debug)]
enum Tree {
    Meta,
    Products,
    ProductRecords,
    CartIndex,
    Carts,
    Orders,
    Accounts,
    ValidAfter,
    Idempotency,
}

impl Tree {
    const ALL: [Tree; 9] = [
        Tree::Meta,
        Tree::Products,
        Tree::ProductRecords,
        Tree::CartIndex,
        Tree::Carts,
        Tree::Orders,
        Tree::Accounts,
        Tree::ValidAfter,
        Tree::Idempotency,
    ];
}

/// Every tree an export reads, copied at one instant ([`SledStore::freeze`]),
/// each in key order.
pub struct Frozen {
    trees: Vec<Vec<(IVec, IVec)>>,
}

impl Frozen {
    fn tree(&self, name: Tree) -> &[(IVec, IVec)] {
        &self.trees[name as usize]
    }

    /// How many records the copy holds, in all trees.
    pub fn len(&self) -> usize {
        self.trees.iter().map(Vec::len).sum()
    }

    /// Whether the copy holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What an export reads: the trees as they are, or a frozen copy.
enum View<'a> {
    Live(&'a SledStore),
    Frozen(&'a Frozen),
}

type Entries<'a> = Box<dyn Iterator<Item = Result<(IVec, IVec), StoreError>> + 'a>;

impl View<'_> {
    fn iter(&self, name: Tree) -> Entries<'_> {
        match self {
            View::Live(store) => Box::new(store.tree(name).iter().map(|e| e.map_err(Into::into))),
            View::Frozen(frozen) => Box::new(frozen.tree(name).iter().cloned().map(Ok)),
        }
    }

    fn scan_prefix(&self, name: Tree, prefix: &[u8]) -> Entries<'_> {
        match self {
            View::Live(store) => Box::new(
                store
                    .tree(name)
                    .scan_prefix(prefix)
                    .map(|e| e.map_err(Into::into)),
            ),
            View::Frozen(frozen) => {
                let entries = frozen.tree(name);
                let from = entries.partition_point(|(key, _)| key.as_ref() < prefix);
                let prefix = prefix.to_vec();
                Box::new(
                    entries[from..]
                        .iter()
                        .take_while(move |(key, _)| key.starts_with(&prefix))
                        .cloned()
                        .map(Ok),
                )
            }
        }
    }

    fn get<T: serde::de::DeserializeOwned>(
        &self,
        name: Tree,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self {
            View::Live(store) => SledStore::get(store.tree(name), key),
            View::Frozen(frozen) => {
                let entries = frozen.tree(name);
                match entries.binary_search_by(|(k, _)| k.as_ref().cmp(key)) {
                    Ok(at) => decode(key, &entries[at].1).map(Some),
                    Err(_) => Ok(None),
                }
            }
        }
    }

    /// An owner's carts with its retired version (its index must exist).
    fn cart_set(&self, owner: &OwnerKey) -> Result<CartSet, StoreError> {
        let index: Option<CartIndex> = self.get(Tree::CartIndex, owner.as_str().as_bytes())?;
        let mut set = CartSet {
            retired_version: index.map_or(0, |i| i.retired_version),
            ..CartSet::default()
        };
        for entry in self.scan_prefix(Tree::Carts, &scoped(owner, "")) {
            let (key, bytes) = entry?;
            let cart: Cart = decode(&key, &bytes)?;
            set.carts.insert(cart.name.clone(), cart);
        }
        Ok(set)
    }
}

/// Hands every record `view` holds to `sink`, tree by tree.
fn export_view(
    view: &View<'_>,
    sink: &mut dyn FnMut(Record) -> std::io::Result<()>,
) -> Result<(), String> {
    let fail = |e: StoreError| e.to_string();
    let write = |e: std::io::Error| format!("writing the export: {e}");
    if let Some(code) = view.get::<String>(Tree::Meta, b"currency").map_err(fail)? {
        sink(Record::Currency { code }).map_err(write)?;
    }
    for entry in view.scan_prefix(Tree::Meta, crate::store::shop::PREFIX.as_bytes()) {
        let (key, bytes) = entry.map_err(fail)?;
        let data = decode(&key, &bytes).map_err(fail)?;
        let text = String::from_utf8_lossy(&key).into_owned();
        let (kind, key) = crate::store::shop::split_meta_key(&text)
            .ok_or_else(|| format!("'{text}' is not a shop record key"))?;
        sink(Record::Shop {
            kind: kind.to_string(),
            key: key.to_string(),
            data,
        })
        .map_err(write)?;
    }
    let version = view
        .get::<u64>(Tree::Meta, super::VERSION_FLOOR)
        .map_err(fail)?;
    sink(Record::VersionFloor {
        version: version.unwrap_or(0),
    })
    .map_err(write)?;
    for entry in view.iter(Tree::Products) {
        let (key, bytes) = entry.map_err(fail)?;
        let product = decode(&key, &bytes).map_err(fail)?;
        sink(Record::Variant { product }).map_err(write)?;
    }
    for entry in view.iter(Tree::ProductRecords) {
        let (key, bytes) = entry.map_err(fail)?;
        let record = decode(&key, &bytes).map_err(fail)?;
        sink(Record::Product { record }).map_err(write)?;
    }
    for entry in view.iter(Tree::CartIndex) {
        let (key, _) = entry.map_err(fail)?;
        let text = String::from_utf8_lossy(&key).into_owned();
        let owner = OwnerKey::parse(&text)
            .ok_or_else(|| format!("the cart index under '{text}' names no owner"))?;
        let carts = view.cart_set(&owner).map_err(fail)?;
        sink(Record::Carts { owner: text, carts }).map_err(write)?;
    }
    for entry in view.iter(Tree::Orders) {
        let (key, bytes) = entry.map_err(fail)?;
        let order = decode(&key, &bytes).map_err(fail)?;
        let (owner, _) = split_scoped(&key);
        sink(Record::Order { owner, order }).map_err(write)?;
    }
    for entry in view.iter(Tree::Accounts) {
        let (key, bytes) = entry.map_err(fail)?;
        let account = decode(&key, &bytes).map_err(fail)?;
        sink(Record::Account { account }).map_err(write)?;
    }
    for entry in view.iter(Tree::ValidAfter) {
        let (key, bytes) = entry.map_err(fail)?;
        let valid_after = decode(&key, &bytes).map_err(fail)?;
        let owner = String::from_utf8_lossy(&key).into_owned();
        sink(Record::ValidAfter { owner, valid_after }).map_err(write)?;
    }
    for entry in view.iter(Tree::Idempotency) {
        let (key, bytes) = entry.map_err(fail)?;
        let record = decode(&key, &bytes).map_err(fail)?;
        let (owner, key) = split_scoped(&key);
        sink(Record::Idempotency { owner, key, record }).map_err(write)?;
    }
    Ok(())
}
