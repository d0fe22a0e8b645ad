//! One queue per owner in this process: a write of an owner's carts waits
//! here, holding nothing else, until the owner's previous write is done.
//!
//! - **sled** (one process per data directory) relies on it for atomicity:
//!   a write reads the owner's index and cart with plain reads, decides,
//!   and writes them in a short transaction, and no other write of that
//!   owner can come in between, because every one of them (cart writes,
//!   checkouts, merges, sweeps) holds the owner's lock meanwhile. The
//!   deciding (decoding, the rule, encoding) runs outside sled's
//!   process-wide transaction lock.
//! - **PostgreSQL** locks rows for correctness across instances; here the
//!   queue keeps one owner's writes from each holding a pooled connection
//!   while they wait on that owner's row lock: one guest sending sixteen
//!   writes at once holds one connection, not sixteen.
//!
//! Owners with no write in flight have no entry: the map holds only owners
//! being written, so it is bounded by the requests in flight. Locks are
//! taken in owner-key order when a write needs two owners (a merge), so two
//! writes never wait on each other.

use crate::domain::OwnerKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

/// The per-owner queues.
#[derive(Default)]
pub struct OwnerLocks {
    queues: Queues,
}

/// Each owner's queue, shared with the guards (which outlive no store, but
/// may be handed to another task: a sled checkout's batch).
type Queues = Arc<Mutex<HashMap<OwnerKey, Arc<tokio::sync::Mutex<()>>>>>;

/// The right to write one owner's carts, until dropped.
pub struct OwnerGuard {
    queues: Queues,
    owner: OwnerKey,
    guard: Option<OwnedMutexGuard<()>>,
}

impl OwnerLocks {
    /// Waits for `owner`'s turn.
    pub async fn lock(&self, owner: &OwnerKey) -> OwnerGuard {
        let queue = self
            .map()
            .entry(owner.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone();
        OwnerGuard {
            queues: self.queues.clone(),
            owner: owner.clone(),
            guard: Some(queue.lock_owned().await),
        }
    }

    /// Waits for the turns of two owners, taken in key order (one lock when
    /// they are the same owner).
    pub async fn lock_both(&self, a: &OwnerKey, b: &OwnerKey) -> (OwnerGuard, Option<OwnerGuard>) {
        if a == b {
            return (self.lock(a).await, None);
        }
        let (first, second) = if a.as_str() < b.as_str() {
            (a, b)
        } else {
            (b, a)
        };
        let first = self.lock(first).await;
        let second = self.lock(second).await;
        (first, Some(second))
    }

    /// Owners with a write in flight or waiting (tests).
    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Whether no owner is being written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The map is consistent after every critical section, so a panic
    /// elsewhere leaves it usable.
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<OwnerKey, Arc<tokio::sync::Mutex<()>>>> {
        lock_map(&self.queues)
    }
}

/// The map, usable after a panic elsewhere.
fn lock_map(
    queues: &Queues,
) -> std::sync::MutexGuard<'_, HashMap<OwnerKey, Arc<tokio::sync::Mutex<()>>>> {
    queues.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for OwnerGuard {
    fn drop(&mut self) {
        // Let the next writer in first, then forget the queue if no one
        // else holds it: clones are made under the map's lock, so a count
        // of one (the map's own) means no one is waiting.
        drop(self.guard.take());
        let mut map = lock_map(&self.queues);
        if map
            .get(&self.owner)
            .is_some_and(|queue| Arc::strong_count(queue) == 1)
        {
            map.remove(&self.owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn owner(text: &str) -> OwnerKey {
        OwnerKey::parse(text).unwrap()
    }

    #[tokio::test]
    async fn one_owner_s_writes_run_one_at_a_time_and_leave_no_entry() {
        let locks = Arc::new(OwnerLocks::default());
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (locks, inside, most) = (locks.clone(), inside.clone(), most.clone());
                tokio::spawn(async move {
                    let _turn = locks.lock(&owner("guest:ann")).await;
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);
        assert!(locks.is_empty(), "no entry is kept for an idle owner");
    }

    #[tokio::test]
    async fn different_owners_do_not_wait_for_each_other() {
        let locks = OwnerLocks::default();
        let _ann = locks.lock(&owner("guest:ann")).await;
        let bob = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            locks.lock(&owner("guest:bob")),
        )
        .await;
        assert!(bob.is_ok());
        assert_eq!(locks.len(), 2);
    }

    #[tokio::test]
    async fn two_owners_are_locked_in_key_order_so_crossed_merges_finish() {
        let locks = Arc::new(OwnerLocks::default());
        let (a, b) = (owner("guest:a"), owner("customer:b"));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (locks, a, b) = (locks.clone(), a.clone(), b.clone());
                tokio::spawn(async move {
                    let _both = if i % 2 == 0 {
                        locks.lock_both(&a, &b).await
                    } else {
                        locks.lock_both(&b, &a).await
                    };
                    tokio::task::yield_now().await;
                })
            })
            .collect();
        for task in tasks {
            tokio::time::timeout(std::time::Duration::from_secs(5), task)
                .await
                .expect("no deadlock")
                .unwrap();
        }
        let (_same, none) = locks.lock_both(&a, &a).await;
        assert!(none.is_none());
    }
}
