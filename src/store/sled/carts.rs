//! [`CartStore`] for sled: each cart under `owner, 0, name` in `carts`, the
//! owner's [`CartIndex`] under the owner key in `cart_index`.
//!
//! A write takes the owner's turn ([`OwnerLocks`](crate::store::owner_locks)),
//! reads the index and the one cart with plain reads, lets the rule decide,
//! and writes the cart, the index and the carts it drops with plain writes
//! in an order a crash can only cut short harmlessly
//! ([`SledStore::commit_one`]); an idempotent write (with its record and
//! count) and a merge (two owners) are short transactions that only write.
//! No other write of the owner can come in between: every one holds the
//! owner's turn. So a change rewrites only the cart it changes, and the
//! decoding and encoding run outside sled's process-wide transaction lock.

use super::SledStore;
use super::codec::{decode, encode};
use super::due::{self, DueMove, Slot};
use super::tx::{TxResult, count_new_key, finish, record, scoped};
use crate::domain::idempotency::{KeyUse, Outcome, cart_to_replay};
use crate::domain::merge::MergeReport;
use crate::domain::{Cart, CartIndex, CartName, CartSet, CartWrite, OwnerKey};
use crate::store::carts::{CartMerge, CartStore, CartUpdate, IdleMark, touched_by_merge};
use crate::store::idempotency::Replayable;
use crate::store::notices::Touched;
use crate::store::{Changes, StoreError, UpdateError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::TransactionalTree;

/// What one cart write changes, staged for a transaction.
pub(super) struct Staged {
    owner: OwnerKey,
    index: Option<CartIndex>,
    /// How the owner's key in the sweep's index moves ([`due`]).
    due: DueMove,
    puts: Vec<(Vec<u8>, Vec<u8>)>,
    deletes: Vec<Vec<u8>>,
}

impl Staged {
    /// A write of `owner`'s carts: `write` and the index as `apply` left it;
    /// `was` is the sweep's slot of the index as read (`None`: none stored).
    pub(super) fn write(
        owner: &OwnerKey,
        was: Option<Slot>,
        index: &CartIndex,
        write: &CartWrite,
    ) -> Staged {
        Staged {
            owner: owner.clone(),
            index: Some(index.clone()),
            due: DueMove {
                from: was,
                to: Some(due::slot_of(index)),
            },
            puts: vec![(cart_key(owner, &write.cart.name), encode(&write.cart))],
            deletes: write.dropped.iter().map(|n| cart_key(owner, n)).collect(),
        }
    }

    /// Every cart of `set` replaces what `old` had (carts `set` no longer
    /// has are deleted), with the set's index (kept when the set is empty:
    /// it holds the retired version until the sweeper raises the floor).
    /// `stored`: whether `old` was read from an index (its key moves) or
    /// stands for nothing stored (an import, an upgrade: no key yet).
    pub(super) fn set(owner: &OwnerKey, old: &CartSet, set: &CartSet, stored: bool) -> Staged {
        let puts = set
            .carts
            .values()
            .filter(|cart| old.carts.get(&cart.name) != Some(*cart))
            .map(|cart| (cart_key(owner, &cart.name), encode(cart)))
            .collect();
        let deletes = old
            .carts
            .keys()
            .filter(|name| !set.carts.contains_key(*name))
            .map(|name| cart_key(owner, name))
            .collect();
        let index = set.index();
        Staged {
            owner: owner.clone(),
            due: DueMove::between(stored.then(|| old.index()).as_ref(), Some(&index)),
            index: Some(index),
            puts,
            deletes,
        }
    }

    /// Applies the write inside a transaction over `carts`, `cart_index`
    /// and `cart_due`.
    pub(super) fn apply(
        &self,
        carts: &TransactionalTree,
        index: &TransactionalTree,
        due: &TransactionalTree,
    ) -> TxResult<()> {
        if let Some(key) = self.due.added(&self.owner) {
            due.insert(key, &[][..])?;
        }
        if let Some(key) = self.due.removed(&self.owner) {
            due.remove(key)?;
        }
        for key in &self.deletes {
            carts.remove(key.as_slice())?;
        }
        for (key, bytes) in &self.puts {
            carts.insert(key.as_slice(), bytes.as_slice())?;
        }
        let owner = self.owner.as_str().as_bytes();
        match &self.index {
            Some(value) => index.insert(owner, encode(value))?,
            None => index.remove(owner)?,
        };
        Ok(())
    }
}

/// The key of one cart: `owner, 0, name`.
pub(super) fn cart_key(owner: &OwnerKey, name: &CartName) -> Vec<u8> {
    scoped(owner, name.as_str())
}

impl SledStore {
    /// The owner's index as stored, or a fresh one above the version floor.
    pub(super) fn index_of(&self, owner: &OwnerKey) -> Result<CartIndex, StoreError> {
        Ok(self
            .index_as_stored(owner)?
            .unwrap_or_else(|| self.fresh_index()))
    }

    /// The owner's index as stored, if it has one.
    pub(super) fn index_as_stored(
        &self,
        owner: &OwnerKey,
    ) -> Result<Option<CartIndex>, StoreError> {
        Self::get(&self.cart_index, owner.as_str().as_bytes())
    }

    /// One cart as stored.
    pub(super) fn stored_cart(
        &self,
        owner: &OwnerKey,
        name: &CartName,
    ) -> Result<Option<Cart>, StoreError> {
        Self::get(&self.carts, &cart_key(owner, name))
    }

    /// All carts of an owner, with its retired version.
    pub(super) fn stored_set(&self, owner: &OwnerKey) -> Result<CartSet, StoreError> {
        let Some(index) = Self::get::<CartIndex>(&self.cart_index, owner.as_str().as_bytes())?
        else {
            return Ok(CartSet {
                retired_version: self.fresh_index().retired_version,
                ..CartSet::default()
            });
        };
        let mut set = CartSet {
            retired_version: index.retired_version,
            ..CartSet::default()
        };
        for entry in self.carts.scan_prefix(scoped(owner, "")) {
            let (key, bytes) = entry?;
            let cart: Cart = decode(&key, &bytes)?;
            set.carts.insert(cart.name.clone(), cart);
        }
        Ok(set)
    }

    /// Runs `update` on the owner's index and cart, and leases the version
    /// it makes; the caller holds the owner's turn. `None` when nothing
    /// changes.
    async fn decide(
        &self,
        owner: &OwnerKey,
        name: &CartName,
        update: &CartUpdate<'_>,
    ) -> Result<(Option<Cart>, Option<Staged>), UpdateError> {
        let stored_index = self.index_as_stored(owner)?;
        let was = stored_index.as_ref().map(due::slot_of);
        let mut index = stored_index.unwrap_or_else(|| self.fresh_index());
        self.versions_from(&mut index);
        let stored = self.stored_cart(owner, name)?;
        match update(&mut index, stored.as_ref()).map_err(UpdateError::Rejected)? {
            Some(write) => {
                self.lease_versions(write.cart.version).await?;
                let staged = Staged::write(owner, was, &index, &write);
                Ok((Some(write.cart), Some(staged)))
            }
            None => Ok((stored, None)),
        }
    }

    /// Writes one owner's staged change without a transaction, in an order
    /// that a crash can only cut short harmlessly (sled recovers a prefix of
    /// its writes): first the carts it drops, then the index, then the
    /// cart. Cut after the drops, the index still lists carts that are gone
    /// (an emptied or expired one: it counts for nothing, and the next write
    /// or sweep drops it); cut after the index, the index is ahead of the
    /// cart (the next write starts from the cart as stored, whose version
    /// nobody saw past). A cart record is never left without its entry, so
    /// none escapes the budgets or the sweep. The caller holds the owner's
    /// turn, so no other write of the owner comes in between; and sled's
    /// transactions take a process-wide lock that every other read and
    /// write then waits for, which halved the add rate.
    pub(super) fn commit_one(&self, staged: &Staged) -> Result<(), StoreError> {
        // The sweep's key first, its old one last: cut anywhere, the owner
        // still has a key (perhaps one more, which the sweep deletes).
        if let Some(key) = staged.due.added(&staged.owner) {
            self.cart_due.insert(key, &[][..])?;
        }
        for key in &staged.deletes {
            self.carts.remove(key.as_slice())?;
        }
        let owner = staged.owner.as_str().as_bytes();
        match &staged.index {
            Some(index) => self.cart_index.insert(owner, encode(index))?,
            None => self.cart_index.remove(owner)?,
        };
        for (key, bytes) in &staged.puts {
            self.carts.insert(key.as_slice(), bytes.as_slice())?;
        }
        if let Some(key) = staged.due.removed(&staged.owner) {
            self.cart_due.remove(key)?;
        }
        Ok(())
    }

    /// Writes staged changes of several owners in one transaction (a merge).
    pub(super) fn commit(&self, staged: &[&Staged]) -> Result<(), UpdateError> {
        let trees = (&self.carts, &self.cart_index, &self.cart_due);
        let result = trees.transaction(|(carts, index, due)| {
            for write in staged {
                write.apply(carts, index, due)?;
            }
            Ok(())
        });
        finish(result)
    }
}

#[async_trait]
impl CartStore for SledStore {
    async fn cart(&self, owner: &OwnerKey, name: &CartName) -> Result<Option<Cart>, StoreError> {
        self.stored_cart(owner, name)
    }

    async fn cart_set(&self, owner: &OwnerKey) -> Result<CartSet, StoreError> {
        self.stored_set(owner)
    }

    /// Reads every owner's index (one small record each, as the sweep
    /// does), keeps the `limit` first marks in range, then reads those carts.
    async fn idle_carts(
        &self,
        after: &IdleMark,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(IdleMark, OwnerKey, Cart)>, StoreError> {
        let mut first = std::collections::BinaryHeap::<IdleMark>::new();
        for (seen, entry) in self.cart_index.iter().enumerate() {
            if seen % 256 == 255 {
                tokio::task::yield_now().await;
            }
            let (key, bytes) = entry?;
            let Some(owner) = std::str::from_utf8(&key).ok().and_then(OwnerKey::parse) else {
                continue;
            };
            let index: CartIndex = match decode(&key, &bytes) {
                Ok(index) => index,
                Err(e) => {
                    tracing::warn!(error = %e, "an unreadable cart index is left out of the abandoned-cart walk");
                    continue;
                }
            };
            for (name, entry) in &index.carts {
                if entry.blank || entry.updated_at > until {
                    continue;
                }
                let mark = IdleMark {
                    updated_at: entry.updated_at,
                    owner: owner.as_str().to_string(),
                    name: name.as_str().to_string(),
                };
                if &mark <= after {
                    continue;
                }
                if first.len() < limit {
                    first.push(mark);
                } else if first.peek().is_some_and(|last| &mark < last) {
                    first.pop();
                    first.push(mark);
                }
            }
        }
        let mut idle = Vec::with_capacity(first.len());
        for mark in first.into_sorted_vec() {
            let (Some(owner), Ok(name)) =
                (OwnerKey::parse(&mark.owner), CartName::parse(&mark.name))
            else {
                continue;
            };
            // Read again: it may have changed since its index was read (then
            // it is found again once idle), or not read (left out). The mark
            // is the index's, so the walk goes past it either way.
            match self.stored_cart(&owner, &name) {
                Ok(Some(cart)) if !cart.is_blank() && cart.updated_at <= until => {
                    idle.push((mark, owner, cart))
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "an unreadable cart is left out of the abandoned-cart walk");
                }
            }
        }
        Ok(idle)
    }

    async fn update_cart(
        &self,
        owner: &OwnerKey,
        name: &CartName,
        update: &CartUpdate<'_>,
    ) -> Result<Option<Cart>, UpdateError> {
        let turn = self.owner_locks.lock(owner).await;
        let (cart, staged) = self.decide(owner, name, update).await?;
        let Some(staged) = staged else {
            return Ok(cart);
        };
        let _writing = self.writing().await;
        self.commit_one(&staged)?;
        drop(turn);
        self.durable().await?;
        self.subscribers.committed(&Touched::carts_of(owner));
        Ok(cart)
    }

    async fn update_cart_once(
        &self,
        owner: &OwnerKey,
        key: &KeyUse<'_>,
        name: &CartName,
        update: &CartUpdate<'_>,
    ) -> Result<Replayable<Option<Cart>>, UpdateError> {
        let turn = self.owner_locks.lock(owner).await;
        // With the owner's turn no other write can record this key
        // meanwhile, so a plain look-up is the answer.
        let stored = self.record_of(owner, key.key)?;
        if cart_to_replay(stored.as_ref(), key.fingerprint)
            .map_err(UpdateError::Rejected)?
            .is_some()
        {
            return Ok(Replayable::Replayed(self.stored_cart(owner, name)?));
        }
        let (cart, staged) = self.decide(owner, name, update).await?;
        let owner_key = owner.as_str().as_bytes();
        let idem_key = scoped(owner, key.key.as_str());
        let outcome = Outcome::CartVersion {
            name: name.clone(),
            version: cart.as_ref().map_or(0, |c| c.version),
        };
        let trees = (
            &self.carts,
            &self.cart_index,
            &self.cart_due,
            &self.idempotency,
            &self.idempotency_counts,
        );
        let _writing = self.writing().await;
        let result = trees.transaction(|(carts, index, due, idempotency, counts)| {
            // Counted inside: the sweeper gives counts back meanwhile.
            count_new_key(counts, owner_key, key.max_per_owner)?;
            if let Some(staged) = &staged {
                staged.apply(carts, index, due)?;
            }
            idempotency.insert(
                idem_key.as_slice(),
                record(key.fingerprint, key.now, outcome.clone()),
            )?;
            Ok(())
        });
        finish(result)?;
        drop(turn);
        self.durable().await?;
        if staged.is_some() {
            self.subscribers.committed(&Touched::carts_of(owner));
        }
        Ok(Replayable::Applied(cart))
    }

    async fn merge_carts(
        &self,
        guest: &OwnerKey,
        customer: &OwnerKey,
        merge: &CartMerge<'_>,
    ) -> Result<(MergeReport, CartSet), UpdateError> {
        let turns = self.owner_locks.lock_both(guest, customer).await;
        let guest_old = self.stored_set(guest)?;
        let customer_old = self.stored_set(customer)?;
        let (mut guest_set, mut customer_set) = (guest_old.clone(), customer_old.clone());
        for set in [&mut guest_set, &mut customer_set] {
            set.retired_version = set.retired_version.max(self.versions.floor);
        }
        let report = merge(&mut customer_set, &mut guest_set).map_err(UpdateError::Rejected)?;
        let highest = [&guest_set, &customer_set]
            .iter()
            .map(|set| set.index().highest_version())
            .max()
            .unwrap_or(0);
        self.lease_versions(highest).await?;
        let mut staged = Vec::new();
        for (owner, old, set) in [
            (guest, &guest_old, &guest_set),
            (customer, &customer_old, &customer_set),
        ] {
            if old != set {
                staged.push(Staged::set(owner, old, set, true));
            }
        }
        if staged.is_empty() {
            return Ok((report, customer_set));
        }
        let _writing = self.writing().await;
        self.commit(&staged.iter().collect::<Vec<_>>())?;
        drop(turns);
        self.durable().await?;
        self.subscribers
            .committed(&touched_by_merge(guest, customer));
        Ok((report, customer_set))
    }

    fn cart_changes(&self, owner: &OwnerKey) -> Changes {
        self.subscribers.watch_carts(owner)
    }
}
