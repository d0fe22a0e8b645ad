//! Cart versions that are never handed out twice, even across a power cut.
//!
//! A write is visible as soon as sled holds it: a reader may see its
//! version before it is durable, and in relaxed mode the writer is answered
//! with it then too. After a crash the carts come back as the last durable
//! write left them, so a cart may come back at version 5 after a client saw
//! 7, and its next change would be 6 again, with other contents: an old
//! `expectedVersion` could match a cart it never saw.
//!
//! So versions are leased. `meta/version_lease` is a number every version
//! handed out so far is at most, written and made durable (flushed and
//! fsynced) *before* a write that would go past it; it grows in steps of
//! [`LEASE_STEP`], so that costs one fsync in a million versions. A start
//! after a stop that was not clean makes every cart's next version start
//! above the lease ([`VersionLease::floor`]): whatever a crash took back,
//! no version it took back can come again. A clean close marks
//! `meta/closed_cleanly` after its last flush; a start that finds the mark
//! knows nothing was lost, removes it (durably, before it serves) and lets
//! versions go on from where they are.

use super::SledStore;
use super::codec::encode;
use crate::domain::cart::MAX_VERSION;
use crate::store::StoreError;
use std::sync::atomic::{AtomicU64, Ordering};

/// The `meta` key of the lease.
const LEASE_KEY: &[u8] = b"version_lease";
/// The `meta` key a clean close writes.
const CLEAN_KEY: &[u8] = b"closed_cleanly";
/// How far a lease reaches past the version that made it grow.
pub const LEASE_STEP: u64 = 1 << 20;

/// The lease, and where this start's versions begin.
pub(super) struct VersionLease {
    /// Every version handed out is at most this, and it is durable.
    granted: AtomicU64,
    /// Every version handed out since this start is above it: the lease
    /// found at start when the last stop was not clean, else 0.
    pub floor: u64,
    /// One extension at a time.
    extending: tokio::sync::Mutex<()>,
}

impl VersionLease {
    /// Reads the lease and whether the last stop was clean; a clean mark is
    /// removed (the caller makes that durable before serving). Returns the
    /// lease and whether a mark was removed.
    pub(super) fn open(meta: &sled::Tree) -> Result<(VersionLease, bool), StoreError> {
        let granted: u64 = SledStore::get(meta, LEASE_KEY)?.unwrap_or(0);
        let clean = meta.remove(CLEAN_KEY)?.is_some();
        let floor = if clean { 0 } else { granted };
        if floor > 0 {
            tracing::warn!(
                floor,
                "the last stop was not clean: every cart's next version starts above {floor}, so no version a crash may have taken back is handed out again"
            );
        }
        let lease = VersionLease {
            granted: AtomicU64::new(granted),
            floor,
            extending: tokio::sync::Mutex::new(()),
        };
        Ok((lease, clean))
    }

    /// Makes sure versions up to `version` are leased before a write that
    /// may make them visible: extends the lease, durably, when they are not.
    pub(super) async fn cover<F>(
        &self,
        version: u64,
        meta: &sled::Tree,
        durable: F,
    ) -> Result<(), StoreError>
    where
        F: AsyncFnOnce() -> Result<(), StoreError>,
    {
        if version <= self.granted.load(Ordering::SeqCst) {
            return Ok(());
        }
        let _one = self.extending.lock().await;
        let granted = self.granted.load(Ordering::SeqCst);
        if version <= granted {
            return Ok(());
        }
        let next = version
            .max(granted)
            .saturating_add(LEASE_STEP)
            .min(MAX_VERSION);
        meta.insert(LEASE_KEY, encode(&next))?;
        durable().await?;
        self.granted.store(next, Ordering::SeqCst);
        Ok(())
    }

    /// Marks a clean close, after the last write is durable (the caller
    /// flushes and syncs after it).
    pub(super) fn mark_clean(meta: &sled::Tree) -> Result<(), StoreError> {
        meta.insert(CLEAN_KEY, &[1u8][..])?;
        Ok(())
    }
}
