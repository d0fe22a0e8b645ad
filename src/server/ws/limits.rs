//! What one client may hold open over WebSockets: operations per socket
//! ([`OperationIds`]) and sockets per viewer or per client address
//! ([`SocketCounts`]).
//!
//! Both are counts behind a `std::sync::Mutex`, locked only to look up,
//! insert or remove (never across an `.await`), and released by guards that
//! give the place back when dropped, whichever way the operation or the
//! socket ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The ids of one socket's operations in progress, at most `max` of them.
#[derive(Clone)]
pub(super) struct OperationIds {
    ids: Arc<Mutex<Ids>>,
    max: usize,
}

#[derive(Default)]
struct Ids {
    /// Each active id with the generation of the ticket that holds it.
    active: HashMap<String, u64>,
    next_generation: u64,
}

/// Why a `subscribe` was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// An operation with this id is still in progress (close 4409).
    Duplicate,
    /// The socket already has `max` operations in progress.
    Full,
}

impl OperationIds {
    pub(super) fn new(max: usize) -> Self {
        OperationIds {
            ids: Arc::default(),
            max,
        }
    }

    /// The most operations in progress at once.
    pub(super) fn max(&self) -> usize {
        self.max
    }

    /// Admits a `subscribe` with `id`. The ticket travels with the operation
    /// and frees the id when the operation ends (dropped by async-graphql on
    /// completion, on the client's `complete`, or with the socket).
    pub(super) fn admit(&self, id: &str) -> Result<OperationTicket, Refused> {
        let mut ids = lock(&self.ids);
        if ids.active.contains_key(id) {
            return Err(Refused::Duplicate);
        }
        if ids.active.len() >= self.max {
            return Err(Refused::Full);
        }
        ids.next_generation += 1;
        let generation = ids.next_generation;
        ids.active.insert(id.to_string(), generation);
        Ok(OperationTicket {
            ids: self.ids.clone(),
            id: id.to_string(),
            generation,
        })
    }

    /// The client sent `complete` for `id`: the id is free at once, even
    /// before async-graphql has read the message and dropped the operation
    /// (its ticket then finds a newer generation, or none, and leaves it).
    pub(super) fn complete(&self, id: &str) {
        lock(&self.ids).active.remove(id);
    }
}

/// Holds one operation id; frees it when dropped, unless it was freed and
/// taken again meanwhile.
pub(super) struct OperationTicket {
    ids: Arc<Mutex<Ids>>,
    id: String,
    generation: u64,
}

impl Drop for OperationTicket {
    fn drop(&mut self) {
        let mut ids = lock(&self.ids);
        if ids.active.get(&self.id) == Some(&self.generation) {
            ids.active.remove(&self.id);
        }
    }
}

/// The number of open sockets per viewer (owner key), across the process.
#[derive(Default)]
pub(crate) struct SocketCounts {
    open: Mutex<HashMap<String, usize>>,
}

impl SocketCounts {
    /// A place for one more socket of `owner`, or `None` when it has `max`.
    pub(super) fn claim(self: &Arc<Self>, owner: String, max: usize) -> Option<SocketPlace> {
        let mut open = lock(&self.open);
        let count = open.entry(owner.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(SocketPlace {
            sockets: self.clone(),
            owner,
        })
    }
}

/// One socket's place among its viewer's; given back when dropped.
pub(super) struct SocketPlace {
    sockets: Arc<SocketCounts>,
    owner: String,
}

impl Drop for SocketPlace {
    fn drop(&mut self) {
        let mut open = lock(&self.sockets.open);
        if let Some(count) = open.get_mut(&self.owner) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.owner);
            }
        }
    }
}

/// Every critical section leaves the map consistent, so a poisoned lock is
/// still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_in_progress_is_a_duplicate_and_free_again_once_its_ticket_drops() {
        let ids = OperationIds::new(10);
        let ticket = ids.admit("1").unwrap();
        assert_eq!(ids.admit("1").err(), Some(Refused::Duplicate));
        drop(ticket);
        assert!(ids.admit("1").is_ok());
    }

    #[test]
    fn at_most_max_operations_and_a_complete_frees_a_place_at_once() {
        let ids = OperationIds::new(2);
        let _a = ids.admit("a").unwrap();
        let b = ids.admit("b").unwrap();
        assert_eq!(ids.admit("c").err(), Some(Refused::Full));
        ids.complete("b");
        let b_again = ids.admit("b").unwrap();
        // The old operation ends after the id was taken again: it stays taken.
        drop(b);
        assert_eq!(ids.admit("b").err(), Some(Refused::Duplicate));
        drop(b_again);
        assert!(ids.admit("b").is_ok());
    }

    #[test]
    fn a_viewer_has_at_most_max_sockets_and_gets_them_back() {
        let sockets = Arc::new(SocketCounts::default());
        let ann = || "customer:ann".to_string();
        let first = sockets.claim(ann(), 2).unwrap();
        let second = sockets.claim(ann(), 2).unwrap();
        assert!(sockets.claim(ann(), 2).is_none());
        assert!(sockets.claim("customer:bob".to_string(), 2).is_some());
        drop(first);
        assert!(sockets.claim(ann(), 2).is_some());
        drop(second);
    }
}
