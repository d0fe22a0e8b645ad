//! The sled backend's part of the background sweep ([`Sweep`]): reads what
//! may be due and deletes what the policy ([`Due`]) says is; the loop is
//! [`crate::store::sweeper`]'s.
//!
//! Each deletion is its own small write (one owner's expired carts with its
//! index in the owner's turn, or an idempotency record with its owner's
//! count), so requests are never blocked behind a sweep. Before the index of
//! an owner left without carts is deleted the version floor is raised, so
//! versions never go backwards.

use super::SledStore;
use super::carts::cart_key;
use super::codec::{decode, encode};
use super::due::{self, DueMove};
use super::tx::{finish, tx_get};
use crate::clock::Clock;
use crate::domain::expiry::Due;
use crate::domain::idempotency::IdempotencyRecord;
use crate::domain::{OwnerKey, ViewerKind};
use crate::store::notices::Touched;
use crate::store::sweeper::{self, Sweep};
use crate::store::{Retention, StoreError, UpdateError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sled::Transactional;
use std::sync::Arc;

impl SledStore {
    /// Starts sweeping by `retention` in the background, until
    /// [`close`](crate::store::Store::close) or the store is dropped.
    pub fn start_sweeping(self: &Arc<Self>, retention: Retention, clock: Arc<dyn Clock>) {
        let task = sweeper::start(Arc::downgrade(self), retention, clock);
        if let Some(old) = self
            .sweeper
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task)
        {
            old.abort();
        }
    }

    /// Stops the background sweep (shutdown).
    pub(super) fn stop_sweeping(&self) {
        if let Some(task) = self
            .sweeper
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }

    /// Owners the sweep's index ([`due`]) lacks: their carts would never be
    /// swept. (Extra keys are not listed: the sweep deletes them.)
    pub fn sweep_index_problems(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        for key in due::expected_keys(&self.cart_index) {
            let key = key?;
            if !self.cart_due.contains_key(&key)?
                && let Some((_, owner)) = due::parse(&key)
            {
                problems.push(format!(
                    "the sweep's index lacks {owner}, whose carts would never expire: export the store and import it into a fresh data directory",
                    owner = owner.as_str()
                ));
            }
        }
        Ok(problems)
    }

    /// One sweep at `now`.
    pub async fn sweep_once(&self, now: DateTime<Utc>, retention: &Retention) {
        sweeper::sweep_once(self, &retention.due_at(now)).await;
    }
}

#[async_trait]
impl Sweep for SledStore {
    /// Deletes the "valid after" records due: every token they refuse has
    /// expired since.
    async fn sweep_revocations(&self, due: &Due) -> Result<usize, StoreError> {
        let mut swept = 0;
        for (seen, entry) in self.valid_after.iter().enumerate() {
            yield_sometimes(seen).await;
            let (key, bytes) = entry?;
            let Some(owner) = std::str::from_utf8(&key).ok().and_then(OwnerKey::parse) else {
                continue;
            };
            let valid_after: i64 = decode(&key, &bytes)?;
            let _writing = self.writing().await;
            if due.revocation(&owner, valid_after)
                && self
                    .valid_after
                    .compare_and_swap(&key, Some(bytes), None::<Vec<u8>>)?
                    .is_ok()
            {
                swept += 1;
            }
        }
        if swept > 0 {
            self.durable().await?;
        }
        Ok(swept)
    }

    /// Drops expired carts, reading only the owners the sweep's index
    /// ([`due`]) says may have one (their oldest cart changed before the
    /// kind's lifetime ago), and deletes indexes left without carts,
    /// raising the version floor first. Each owner is swept in its turn and
    /// one short transaction, so a write of the owner waits for at most one
    /// owner's sweep. Returns the number of carts dropped.
    async fn sweep_carts(&self, due: &Due) -> Result<usize, StoreError> {
        let mut swept = 0;
        let mut touched = Touched::default();
        let mut seen = 0;
        for kind in [ViewerKind::Guest, ViewerKind::Customer] {
            for entry in self.cart_due.range(due::may_be_due(due, kind)) {
                yield_sometimes(seen).await;
                seen += 1;
                let (key, _) = entry?;
                let Some((slot, owner)) = due::parse(&key) else {
                    tracing::warn!(key = %key.escape_ascii(), "a key in the sweep's index that names no owner; left alone");
                    continue;
                };
                // A plain read first: most owners read are not due yet.
                if let Ok(Some(index)) = self.index_as_stored(&owner)
                    && due::slot_of(&index) == slot
                    && !due.owner_due(&owner, &index)
                {
                    continue;
                }
                let turn = self.owner_locks.lock(&owner).await;
                // After the owner's turn, as every write takes them.
                let _writing = self.writing().await;
                // Read again in the owner's turn: a write may have come first.
                let mut index = match self.index_as_stored(&owner) {
                    Ok(Some(index)) => index,
                    Ok(None) => {
                        // Left by a crash after the index went: no owner to sweep.
                        self.cart_due.remove(&key)?;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(owner = owner.as_str(), error = %e, "an unreadable cart index is left out of the sweep");
                        continue;
                    }
                };
                if due::slot_of(&index) != slot {
                    // Left by a crash between a write's two keys: the owner's
                    // key is the other one (written again, in case), this one goes.
                    self.cart_due
                        .insert(due::key(&owner, due::slot_of(&index)), &[][..])?;
                    self.cart_due.remove(&key)?;
                    continue;
                }
                let Some(swept_carts) = due.sweep_carts(&owner, &mut index) else {
                    continue;
                };
                let dropped = swept_carts.dropped;
                let keep = !swept_carts.forget_owner;
                if !keep {
                    // An owner left without carts (all expired, or all merged
                    // into a customer's) loses its index; the floor keeps its
                    // versions retired. sled writes in order, so the floor is
                    // never lost while the deletion is kept.
                    self.raise_version_floor(index.retired_version)?;
                }
                let moved = DueMove {
                    from: Some(slot),
                    to: keep.then(|| due::slot_of(&index)),
                };
                let trees = (&self.carts, &self.cart_index, &self.cart_due);
                let result = trees.transaction(|(carts, indexes, dues)| {
                    for name in &dropped {
                        carts.remove(cart_key(&owner, name))?;
                    }
                    let owner_key = owner.as_str().as_bytes();
                    match keep {
                        true => indexes.insert(owner_key, encode(&index))?,
                        false => indexes.remove(owner_key)?,
                    };
                    if let Some(key) = moved.added(&owner) {
                        dues.insert(key, &[][..])?;
                    }
                    if let Some(key) = moved.removed(&owner) {
                        dues.remove(key)?;
                    }
                    Ok(())
                });
                finish::<()>(result).map_err(|e| match e {
                    UpdateError::Store(e) => e,
                    UpdateError::Rejected(r) => {
                        StoreError::backend(format!("unexpected refusal: {r:?}"))
                    }
                })?;
                drop(turn);
                swept += dropped.len();
                if !dropped.is_empty() {
                    touched = touched.and_carts_of(&owner);
                }
            }
        }
        if swept > 0 {
            self.durable().await?;
        }
        self.subscribers.committed(&touched);
        Ok(swept)
    }

    async fn sweep_idempotency(&self, due: &Due) -> Result<usize, StoreError> {
        let mut swept = 0;
        for (seen, entry) in self.idempotency.iter().enumerate() {
            yield_sometimes(seen).await;
            let (key, bytes) = entry?;
            let record: IdempotencyRecord = decode(&key, &bytes)?;
            if !due.idempotency_record(record.created_at) {
                continue;
            }
            // The owner is the part of the key before its 0 byte.
            let owner = key.split(|b| *b == 0).next().unwrap_or_default();
            let trees = (&self.idempotency, &self.idempotency_counts);
            let _writing = self.writing().await;
            let deleted = trees.transaction(|(idempotency, counts)| {
                if idempotency.get(&key)?.as_deref() != Some(&bytes[..]) {
                    return Ok(false);
                }
                idempotency.remove(&key)?;
                let count: u64 = tx_get(counts, owner)?.unwrap_or(0);
                match count.saturating_sub(1) {
                    0 => counts.remove(owner)?,
                    left => counts.insert(owner, encode(&left))?,
                };
                Ok(true)
            });
            match finish(deleted) {
                Ok(true) => swept += 1,
                // Changed meanwhile (or, impossibly, refused): left for the next sweep.
                Ok(false) | Err(UpdateError::Rejected(_)) => {}
                Err(UpdateError::Store(e)) => return Err(e),
            }
        }
        if swept > 0 {
            self.durable().await?;
        }
        Ok(swept)
    }
}

/// Lets other tasks run during a long sweep.
async fn yield_sometimes(seen: usize) {
    if seen % 256 == 255 {
        tokio::task::yield_now().await;
    }
}
