//! [`CartStore`] for PostgreSQL: one `carts` row per owner holding its
//! `CartSet`, locked (`FOR UPDATE`) for every read-modify-write; a merge
//! locks both owners' rows in key order. Each write that changes a set
//! sends its owner's notice in the same transaction.

use super::idempotency::{check_allowance, lock_owner, record_key, recorded_in};
use super::{PgStore, TxError, backend, from_json, retrying, to_json};
use crate::domain::idempotency::{KeyUse, Outcome, key_reused};
use crate::domain::merge::MergeReport;
use crate::domain::{CartName, CartSet, OwnerKey};
use crate::store::carts::{CartMerge, CartSetUpdate, CartStore};
use crate::store::idempotency::Replayable;
use crate::store::{CartChanges, StoreError, UpdateError};
use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

/// One owner's set as locked in a transaction.
pub(super) struct LockedSet {
    /// The set (a fresh one, above the version floor, when no row exists).
    pub set: CartSet,
    /// The stored set, if a row exists.
    pub stored: Option<CartSet>,
}

impl LockedSet {
    /// Whether `self.set` differs from what is stored.
    pub fn changed(&self, fresh: &CartSet) -> bool {
        match &self.stored {
            Some(stored) => *stored != self.set,
            None => self.set != *fresh,
        }
    }
}

/// The highest version of any swept cart set (see the module docs of [`super`]).
pub(super) async fn version_floor(tx: &mut Transaction<'_, Postgres>) -> Result<u64, TxError> {
    let value: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'version_floor'")
            .fetch_optional(&mut **tx)
            .await?;
    Ok(value.and_then(|v| v.as_u64()).unwrap_or(0))
}

/// An empty set whose versions start above the floor.
pub(super) async fn fresh_set(tx: &mut Transaction<'_, Postgres>) -> Result<CartSet, TxError> {
    Ok(CartSet {
        retired_version: version_floor(tx).await?,
        ..CartSet::default()
    })
}

/// Reads and locks `owner`'s row.
pub(super) async fn lock_set(
    tx: &mut Transaction<'_, Postgres>,
    owner: &OwnerKey,
) -> Result<LockedSet, TxError> {
    let row: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT data FROM carts WHERE owner = $1 FOR UPDATE")
            .bind(owner.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    let stored: Option<CartSet> = row
        .map(|value| from_json(format_args!("carts/{owner}"), value))
        .transpose()?;
    let set = match &stored {
        Some(set) => set.clone(),
        None => fresh_set(tx).await?,
    };
    Ok(LockedSet { set, stored })
}

/// Writes a locked set back. An owner without a row gets one by `INSERT`: a
/// concurrent first write for the same owner fails on the key and retries.
pub(super) async fn write_set(
    tx: &mut Transaction<'_, Postgres>,
    owner: &OwnerKey,
    locked: &LockedSet,
) -> Result<(), TxError> {
    let query = if locked.stored.is_some() {
        "UPDATE carts SET data = $2 WHERE owner = $1"
    } else {
        "INSERT INTO carts (owner, data) VALUES ($1, $2)"
    };
    sqlx::query(query)
        .bind(owner.as_str())
        .bind(to_json(&locked.set))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait]
impl CartStore for PgStore {
    #[tracing::instrument(name = "store.cart_set", target = "store.cart_set", level = "debug", skip_all, err, fields(owner = %owner))]
    async fn cart_set(&self, owner: &OwnerKey) -> Result<CartSet, StoreError> {
        let row: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT data FROM carts WHERE owner = $1")
                .bind(owner.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(|value| from_json(format_args!("carts/{owner}"), value))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    #[tracing::instrument(name = "store.update_cart_set", target = "store.update_cart_set", level = "debug", skip_all, fields(owner = %owner))]
    async fn update_cart_set(
        &self,
        owner: &OwnerKey,
        update: &CartSetUpdate<'_>,
    ) -> Result<CartSet, UpdateError> {
        let (set, written) = retrying("store.update_cart_set", || async {
            let mut tx = self.begin().await?;
            let mut locked = lock_set(&mut tx, owner).await?;
            update(&mut locked.set).map_err(TxError::Rejected)?;
            // As in sled: written unless it equals what is stored.
            let written = locked.stored.as_ref() != Some(&locked.set);
            if written {
                write_set(&mut tx, owner, &locked).await?;
                self.notify(&mut tx, owner).await?;
            }
            tx.commit().await?;
            Ok((locked.set, written))
        })
        .await?;
        if written {
            self.cart_changed(owner);
        }
        Ok(set)
    }

    #[tracing::instrument(name = "store.update_cart_set_once", target = "store.update_cart_set_once", level = "debug", skip_all, fields(owner = %owner))]
    async fn update_cart_set_once(
        &self,
        owner: &OwnerKey,
        key: &KeyUse<'_>,
        name: &CartName,
        update: &CartSetUpdate<'_>,
    ) -> Result<Replayable<CartSet>, UpdateError> {
        let outcome = retrying("store.update_cart_set_once", || async {
            let mut tx = self.begin().await?;
            let count = lock_owner(&mut tx, owner).await?;
            if let Some(outcome) = recorded_in(&mut tx, owner, key.key, key.fingerprint).await? {
                if outcome.cart_version().is_none() {
                    return Err(TxError::Rejected(key_reused()));
                }
                let now = lock_set(&mut tx, owner).await?;
                return Ok(Replayable::Replayed(now.stored.unwrap_or_default()));
            }
            check_allowance(count, key.max_per_owner)?;
            let mut locked = lock_set(&mut tx, owner).await?;
            update(&mut locked.set).map_err(TxError::Rejected)?;
            let version = locked.set.carts.get(name).map_or(0, |cart| cart.version);
            write_set(&mut tx, owner, &locked).await?;
            let outcome = Outcome::CartVersion {
                name: name.clone(),
                version,
            };
            record_key(&mut tx, owner, key.key, key.fingerprint, key.now, outcome).await?;
            self.notify(&mut tx, owner).await?;
            tx.commit().await?;
            Ok(Replayable::Applied(locked.set))
        })
        .await?;
        if matches!(outcome, Replayable::Applied(_)) {
            self.cart_changed(owner);
        }
        Ok(outcome)
    }

    #[tracing::instrument(name = "store.merge_carts", target = "store.merge_carts", level = "debug", skip_all, fields(guest = %guest, customer = %customer))]
    async fn merge_carts(
        &self,
        guest: &OwnerKey,
        customer: &OwnerKey,
        merge: &CartMerge<'_>,
    ) -> Result<(MergeReport, CartSet), UpdateError> {
        let (report, set, written) = retrying("store.merge_carts", || async {
            let mut tx = self.begin().await?;
            // Both rows, locked in key order so two merges never deadlock.
            let (mut guest_set, mut customer_set) = if guest.as_str() <= customer.as_str() {
                let g = lock_set(&mut tx, guest).await?;
                (g, lock_set(&mut tx, customer).await?)
            } else {
                let c = lock_set(&mut tx, customer).await?;
                (lock_set(&mut tx, guest).await?, c)
            };
            let fresh = fresh_set(&mut tx).await?;
            let report =
                merge(&mut customer_set.set, &mut guest_set.set).map_err(TxError::Rejected)?;
            let mut written = false;
            for (owner, locked) in [(guest, &guest_set), (customer, &customer_set)] {
                if locked.changed(&fresh) {
                    write_set(&mut tx, owner, locked).await?;
                    self.notify(&mut tx, owner).await?;
                    written = true;
                }
            }
            tx.commit().await?;
            Ok((report, customer_set.set, written))
        })
        .await?;
        if written {
            self.cart_changed(guest);
            self.cart_changed(customer);
        }
        Ok((report, set))
    }

    fn cart_changes(&self, owner: &OwnerKey) -> CartChanges {
        self.watch(owner)
    }
}
