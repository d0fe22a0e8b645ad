//! [`CartStore`] for PostgreSQL: one `carts` row per cart, with the
//! columns a rule needs of an owner's other carts beside its JSONB, and one
//! `cart_owners` row per owner (its retired version) that every write of
//! the owner's carts locks first (`FOR UPDATE`). A merge locks both owners'
//! rows in key order. Each write that changes a cart sends its owner's
//! notice in the same transaction.
//!
//! Before a write takes a pooled connection it takes the owner's turn in
//! this instance ([`OwnerLocks`](crate::store::owner_locks)) and a write
//! permit ([`PgStore::write_permit`]): one owner's concurrent writes queue
//! without holding connections, and reads always find one free.

use super::commit;
use super::idempotency::{check_allowance, lock_owner, record_in, record_key};
use super::{PgStore, TxError, backend, from_json, retrying, to_json};
use crate::domain::cart::CartEntry;
use crate::domain::idempotency::{KeyUse, Outcome, cart_to_replay};
use crate::domain::merge::MergeReport;
use crate::domain::{Cart, CartIndex, CartName, CartSet, CartWrite, OwnerKey};
use crate::store::carts::{CartMerge, CartStore, CartUpdate, IdleMark, touched_by_merge};
use crate::store::idempotency::Replayable;
use crate::store::notices::Touched;
use crate::store::{Changes, StoreError, UpdateError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Transaction};

/// One owner's carts as locked in a transaction: the index, and the data of
/// the carts that were asked for.
pub(super) struct Locked {
    /// The index as stored (a fresh one above the version floor for an
    /// owner without a row).
    pub index: CartIndex,
    /// The retired version as stored (`None`: no `cart_owners` row yet).
    stored_retired: Option<u64>,
    /// The carts read whole, by name.
    pub carts: Vec<Cart>,
}

impl Locked {
    /// The cart `name`, if it was read and is stored.
    pub fn cart(&self, name: &CartName) -> Option<&Cart> {
        self.carts.iter().find(|c| &c.name == name)
    }

    /// All carts read, as a set (the lock must have read them all).
    pub fn set(&self) -> CartSet {
        CartSet {
            carts: self
                .carts
                .iter()
                .map(|c| (c.name.clone(), c.clone()))
                .collect(),
            retired_version: self.index.retired_version,
        }
    }
}

/// Which carts' data a lock reads.
pub(super) enum Read<'a> {
    /// Only the index.
    None,
    /// The one cart.
    One(&'a CartName),
    /// Every cart.
    All,
}

/// The highest version of any swept owner's carts (see the module docs of [`super`]).
pub(super) async fn version_floor(conn: &mut PgConnection) -> Result<u64, TxError> {
    let value: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'version_floor'")
            .fetch_optional(conn)
            .await?;
    Ok(value.and_then(|v| v.as_u64()).unwrap_or(0))
}

type CartRow = (
    String,
    i64,
    DateTime<Utc>,
    i64,
    bool,
    Option<serde_json::Value>,
);

/// Locks `owner`'s `cart_owners` row, then reads its index (and the carts
/// `read` asks for). Two statements: at READ COMMITTED a statement sees what
/// was committed when it began, so the carts are read by a statement that
/// begins once the lock is held — one that joined them to the locked row
/// would see them as they were before the previous holder committed.
pub(super) async fn lock_carts(
    tx: &mut Transaction<'_, Postgres>,
    owner: &OwnerKey,
    read: Read<'_>,
) -> Result<Locked, TxError> {
    let (one, all) = match read {
        Read::None => (None, false),
        Read::One(name) => (Some(name.as_str()), false),
        Read::All => (None, true),
    };
    let retired: Option<i64> =
        sqlx::query_scalar("SELECT retired_version FROM cart_owners WHERE owner = $1 FOR UPDATE")
            .bind(owner.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    let Some(retired) = retired else {
        // No row: the owner has nothing stored. A concurrent first write
        // inserts the row too, and one of the two fails on its key and is
        // retried.
        return Ok(Locked {
            index: CartIndex::fresh(version_floor(tx).await?),
            stored_retired: None,
            carts: Vec::new(),
        });
    };
    let retired = stored_u64(owner, "retired_version", Some(retired))?;
    let rows: Vec<CartRow> = sqlx::query_as(
        "SELECT name, version, updated_at, bytes, blank, CASE WHEN $3 OR name = $2 THEN data END
         FROM carts WHERE owner = $1",
    )
    .bind(owner.as_str())
    .bind(one)
    .bind(all)
    .fetch_all(&mut **tx)
    .await?;
    let mut locked = Locked {
        index: CartIndex::fresh(retired),
        stored_retired: Some(retired),
        carts: Vec::new(),
    };
    for (name, version, updated_at, bytes, blank, data) in rows {
        let key = format!("carts/{owner}/{name}");
        let name = CartName::parse(&name).map_err(|reason| corrupt(&key, reason))?;
        let entry = CartEntry {
            version: stored_u64(owner, "version", Some(version))?,
            updated_at,
            bytes: stored_u64(owner, "bytes", Some(bytes))?,
            blank,
        };
        if let Some(value) = data {
            locked.carts.push(from_json(&key, value)?);
        }
        locked.index.carts.insert(name, entry);
    }
    Ok(locked)
}

fn stored_u64(owner: &OwnerKey, column: &str, value: Option<i64>) -> Result<u64, TxError> {
    value
        .and_then(|v| u64::try_from(v).ok())
        .ok_or_else(|| corrupt(&format!("carts/{owner}"), format!("{column} {value:?}")))
}

fn corrupt(key: &str, reason: String) -> TxError {
    TxError::Store(StoreError::Corrupt {
        key: key.to_string(),
        reason,
    })
}

/// Writes what `write` changes of a locked owner, with `index` as `apply`
/// left it (the caller announces the change).
pub(super) async fn write_carts(
    tx: &mut Transaction<'_, Postgres>,
    owner: &OwnerKey,
    locked: &Locked,
    index: &CartIndex,
    write: &CartWrite,
) -> Result<(), TxError> {
    put_owner(tx, owner, locked.stored_retired, index.retired_version).await?;
    put_cart(tx, owner, &write.cart).await?;
    delete_carts(tx, owner, write.dropped.iter()).await?;
    Ok(())
}

/// Deletes these carts of `owner` (none: no statement).
pub(super) async fn delete_carts(
    tx: &mut Transaction<'_, Postgres>,
    owner: &OwnerKey,
    names: impl Iterator<Item = &CartName>,
) -> Result<(), TxError> {
    let names: Vec<&str> = names.map(CartName::as_str).collect();
    if !names.is_empty() {
        sqlx::query("DELETE FROM carts WHERE owner = $1 AND name = ANY($2)")
            .bind(owner.as_str())
            .bind(&names)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Writes one cart row.
pub(super) async fn put_cart(
    tx: &mut Transaction<'_, Postgres>,
    owner: &OwnerKey,
    cart: &Cart,
) -> Result<(), TxError> {
    let entry = CartEntry::of(cart);
    sqlx::query(
        "INSERT INTO carts (owner, name, version, updated_at, bytes, blank, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (owner, name) DO UPDATE SET version = $3, updated_at = $4, bytes = $5,
             blank = $6, data = $7",
    )
    .bind(owner.as_str())
    .bind(cart.name.as_str())
    .bind(as_i64(entry.version))
    .bind(entry.updated_at)
    .bind(as_i64(entry.bytes))
    .bind(entry.blank)
    .bind(to_json(cart))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Writes the owner's row when it is new or its retired version moved. A
/// first write for an owner inserts it: a concurrent first write fails on
/// the key and is retried (then it finds the row and locks it).
pub(super) async fn put_owner(
    tx: &mut Transaction<'_, Postgres>,
    owner: &OwnerKey,
    stored: Option<u64>,
    retired: u64,
) -> Result<(), TxError> {
    let query = match stored {
        Some(old) if old == retired => return Ok(()),
        Some(_) => "UPDATE cart_owners SET retired_version = $2 WHERE owner = $1",
        None => "INSERT INTO cart_owners (owner, retired_version) VALUES ($1, $2)",
    };
    sqlx::query(query)
        .bind(owner.as_str())
        .bind(as_i64(retired))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A stored number as a column (versions stay below 2^53, bytes far below).
fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Writes `set` over what `locked` read (every cart): changed carts are
/// written, carts no longer in the set deleted, the owner's row kept.
/// Whether anything was written (the caller announces the change).
pub(super) async fn write_set(
    tx: &mut Transaction<'_, Postgres>,
    owner: &OwnerKey,
    locked: &Locked,
    set: &CartSet,
) -> Result<bool, TxError> {
    let old = locked.set();
    if old == *set {
        return Ok(false);
    }
    for cart in set.carts.values() {
        if old.carts.get(&cart.name) != Some(cart) {
            put_cart(tx, owner, cart).await?;
        }
    }
    let gone = old
        .carts
        .keys()
        .filter(|name| !set.carts.contains_key(*name));
    delete_carts(tx, owner, gone).await?;
    put_owner(tx, owner, locked.stored_retired, set.retired_version).await?;
    Ok(true)
}

impl PgStore {
    /// One attempt at a cart write: lock, decide, write.
    async fn update_cart_attempt(
        &self,
        owner: &OwnerKey,
        name: &CartName,
        update: &CartUpdate<'_>,
        key: Option<&KeyUse<'_>>,
    ) -> Result<Replayable<Option<Cart>>, TxError> {
        let mut tx = self.begin().await?;
        if let Some(key) = key {
            let count = lock_owner(&mut tx, owner).await?;
            let record = record_in(&mut tx, owner, key.key).await?;
            if cart_to_replay(record.as_ref(), key.fingerprint)
                .map_err(TxError::Rejected)?
                .is_some()
            {
                let now = lock_carts(&mut tx, owner, Read::One(name)).await?;
                return Ok(Replayable::Replayed(now.cart(name).cloned()));
            }
            check_allowance(count, key.max_per_owner)?;
        }
        let locked = lock_carts(&mut tx, owner, Read::One(name)).await?;
        let mut index = locked.index.clone();
        let stored = locked.cart(name);
        let write = update(&mut index, stored).map_err(TxError::Rejected)?;
        let mut touched = Touched::default();
        if let Some(write) = &write {
            write_carts(&mut tx, owner, &locked, &index, write).await?;
            touched = Touched::carts_of(owner);
        }
        let cart = match write {
            Some(write) => Some(write.cart),
            None => stored.cloned(),
        };
        if let Some(key) = key {
            let outcome = Outcome::CartVersion {
                name: name.clone(),
                version: cart.as_ref().map_or(0, |c| c.version),
            };
            record_key(&mut tx, owner, key.key, key.fingerprint, key.now, outcome).await?;
        } else if touched.is_empty() {
            return Ok(Replayable::Applied(cart));
        }
        self.announce(&mut tx, &touched).await?;
        commit(tx).await?;
        Ok(Replayable::Applied(cart))
    }
}

/// The variants that the lines of the cart `c` name, as one JSON array
/// (each with its SKU and stock put back in); NULL without lines. A macro,
/// so that the statements using it are constants.
macro_rules! variants_of_c {
    () => {
        "(SELECT jsonb_agg(v.data || jsonb_build_object('sku', v.sku, 'stock', v.stock))
            FROM variants v
           WHERE v.sku IN (SELECT (line->>'sku') COLLATE \"C\"
                             FROM jsonb_array_elements(c.data->'lines') AS line))"
    };
}

impl PgStore {
    /// [`Store::cart_and_variants`](crate::store::Store::cart_and_variants)
    /// in one statement: the cart's row, and the variants its lines name
    /// as one JSON array (each with its SKU and stock put back in).
    pub(super) async fn read_cart_and_variants(
        &self,
        owner: &OwnerKey,
        name: &CartName,
    ) -> Result<(Option<Cart>, crate::store::CartVariants), StoreError> {
        let row: Option<(serde_json::Value, StoredVariants)> = sqlx::query_as(concat!(
            "SELECT c.data, ",
            variants_of_c!(),
            " FROM carts c WHERE c.owner = $1 AND c.name = $2"
        ))
        .bind(owner.as_str())
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        let (cart, variants) = row.unzip();
        decode_cart_and_variants(owner, name, cart, variants.flatten())
    }

    /// [`Store::valid_after_cart_and_variants`](crate::store::Store::valid_after_cart_and_variants)
    /// in one statement (one snapshot): the owner's "valid after" record
    /// beside what [`Self::read_cart_and_variants`] reads, on one row
    /// whether or not the cart is stored.
    pub(super) async fn read_valid_after_cart_and_variants(
        &self,
        owner: &OwnerKey,
        name: &CartName,
    ) -> Result<(Option<i64>, Option<Cart>, crate::store::CartVariants), StoreError> {
        let (after, cart, variants): (Option<i64>, Option<serde_json::Value>, StoredVariants) =
            sqlx::query_as(concat!(
                "SELECT (SELECT valid_after FROM valid_after WHERE owner = $1), c.data, ",
                variants_of_c!(),
                " FROM (SELECT 1) AS one LEFT JOIN carts c ON c.owner = $1 AND c.name = $2"
            ))
            .bind(owner.as_str())
            .bind(name.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        let (cart, variants) = decode_cart_and_variants(owner, name, cart, variants)?;
        Ok((after, cart, variants))
    }
}

/// [`variants_of_c`] as read.
type StoredVariants = Option<sqlx::types::Json<Vec<serde_json::Value>>>;

/// A cart row and its variants as read, decoded.
fn decode_cart_and_variants(
    owner: &OwnerKey,
    name: &CartName,
    cart: Option<serde_json::Value>,
    variants: StoredVariants,
) -> Result<(Option<Cart>, crate::store::CartVariants), StoreError> {
    let Some(cart) = cart else {
        return Ok((None, crate::store::CartVariants::new()));
    };
    let cart: Cart = from_json(format_args!("carts/{owner}/{name}"), cart)?;
    let variants = variants
        .map(|json| json.0)
        .unwrap_or_default()
        .into_iter()
        .map(|variant| {
            let sku = variant["sku"].as_str().unwrap_or_default().to_string();
            let variant: crate::domain::Variant =
                from_json(format_args!("variants/{sku}"), variant)?;
            Ok((variant.sku.clone(), variant))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok((Some(cart), variants))
}

#[async_trait]
impl CartStore for PgStore {
    async fn cart(&self, owner: &OwnerKey, name: &CartName) -> Result<Option<Cart>, StoreError> {
        let row: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT data FROM carts WHERE owner = $1 AND name = $2")
                .bind(owner.as_str())
                .bind(name.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(|value| from_json(format_args!("carts/{owner}/{name}"), value))
            .transpose()
    }

    /// One range read of the `carts_updated_at` index.
    async fn idle_carts(
        &self,
        after: &IdleMark,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(IdleMark, OwnerKey, Cart)>, StoreError> {
        let rows: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
            "SELECT owner, name, data FROM carts
              WHERE NOT blank AND updated_at <= $4
                AND (updated_at, owner, name) > ($1, $2, $3)
              ORDER BY updated_at, owner, name
              LIMIT $5",
        )
        .bind(after.updated_at)
        .bind(&after.owner)
        .bind(&after.name)
        .bind(until)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        let mut idle = Vec::with_capacity(rows.len());
        for (owner, name, data) in rows {
            let Some(key) = OwnerKey::parse(&owner) else {
                tracing::warn!(owner = %owner, "a cart under an owner key that names no owner; left alone");
                continue;
            };
            let cart: Cart = match from_json(format_args!("carts/{owner}/{name}"), data) {
                Ok(cart) => cart,
                Err(e) => {
                    tracing::warn!(error = %e, "an unreadable cart is left out of the abandoned-cart walk");
                    continue;
                }
            };
            idle.push((IdleMark::of(&key, &cart), key, cart));
        }
        Ok(idle)
    }

    async fn cart_set(&self, owner: &OwnerKey) -> Result<CartSet, StoreError> {
        let rows: Vec<(String, serde_json::Value)> =
            sqlx::query_as("SELECT name, data FROM carts WHERE owner = $1 ORDER BY name")
                .bind(owner.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        let mut set = CartSet::default();
        for (name, value) in rows {
            let cart: Cart = from_json(format_args!("carts/{owner}/{name}"), value)?;
            set.carts.insert(cart.name.clone(), cart);
        }
        Ok(set)
    }

    async fn update_cart(
        &self,
        owner: &OwnerKey,
        name: &CartName,
        update: &CartUpdate<'_>,
    ) -> Result<Option<Cart>, UpdateError> {
        let _turn = self.owner_locks.lock(owner).await;
        let _permit = self.write_permit().await?;
        Ok(
            retrying(|| self.update_cart_attempt(owner, name, update, None))
                .await?
                .into_inner(),
        )
    }

    async fn update_cart_once(
        &self,
        owner: &OwnerKey,
        key: &KeyUse<'_>,
        name: &CartName,
        update: &CartUpdate<'_>,
    ) -> Result<Replayable<Option<Cart>>, UpdateError> {
        let _turn = self.owner_locks.lock(owner).await;
        let _permit = self.write_permit().await?;
        retrying(|| self.update_cart_attempt(owner, name, update, Some(key))).await
    }

    async fn merge_carts(
        &self,
        guest: &OwnerKey,
        customer: &OwnerKey,
        merge: &CartMerge<'_>,
    ) -> Result<(MergeReport, CartSet), UpdateError> {
        let _turns = self.owner_locks.lock_both(guest, customer).await;
        let _permit = self.write_permit().await?;
        retrying(|| async {
            let mut tx = self.begin().await?;
            // Both owners' rows, locked in key order so two merges never deadlock.
            let (guest_locked, customer_locked) = if guest.as_str() <= customer.as_str() {
                let g = lock_carts(&mut tx, guest, Read::All).await?;
                (g, lock_carts(&mut tx, customer, Read::All).await?)
            } else {
                let c = lock_carts(&mut tx, customer, Read::All).await?;
                (lock_carts(&mut tx, guest, Read::All).await?, c)
            };
            let (mut guest_set, mut customer_set) = (guest_locked.set(), customer_locked.set());
            let report = merge(&mut customer_set, &mut guest_set).map_err(TxError::Rejected)?;
            let mut written = false;
            for (owner, locked, set) in [
                (guest, &guest_locked, &guest_set),
                (customer, &customer_locked, &customer_set),
            ] {
                written |= write_set(&mut tx, owner, locked, set).await?;
            }
            let touched = match written {
                true => touched_by_merge(guest, customer),
                false => Touched::default(),
            };
            self.announce(&mut tx, &touched).await?;
            commit(tx).await?;
            Ok((report, customer_set))
        })
        .await
    }

    fn cart_changes(&self, owner: &OwnerKey) -> Changes {
        self.watch(owner)
    }
}
