//! Change notices per owner: who is told when a viewer's carts change.
//!
//! A subscription watches one owner's carts. Waking every subscription on
//! every change (one global channel) let one viewer with thousands of
//! subscriptions make everyone else's writes expensive, so each owner that
//! someone is watching has its own [`watch`] channel, created by the first
//! [`Notices::subscribe`] and removed when its last [`Changes`] is
//! dropped. A change to an owner nobody watches costs one map look-up.
//!
//! The channel holds a counter, not the change: notices coalesce, and a woken
//! subscription re-reads the carts (their `version` tells the client what it
//! missed). The map's lock is held only to look up, insert or remove an entry,
//! never across an `.await`.
//!
//! A store keeps two registries, carts and orders apart, as [`Subscribers`],
//! and tells them one rule for every write: once the write is committed
//! (durable), wake whoever watches what it [`Touched`].

use crate::domain::OwnerKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use tokio::sync::watch;

type Channels = Mutex<HashMap<OwnerKey, watch::Sender<u64>>>;

/// The registry of watched owners. Owned by a store, which calls
/// [`changed`](Self::changed) once a write to an owner's carts is durable.
#[derive(Default)]
pub struct Notices {
    channels: Arc<Channels>,
}

impl Notices {
    /// Starts watching `owner`: [`Changes::changed`] resolves after the
    /// next [`changed`](Self::changed) call for this owner.
    pub fn subscribe(&self, owner: &OwnerKey) -> Changes {
        let mut channels = lock(&self.channels);
        let receiver = match channels.get(owner) {
            Some(sender) => sender.subscribe(),
            None => {
                let (sender, receiver) = watch::channel(0);
                channels.insert(owner.clone(), sender);
                receiver
            }
        };
        Changes {
            receiver,
            owner: owner.clone(),
            channels: Arc::downgrade(&self.channels),
        }
    }

    /// Wakes the subscriptions watching `owner`, if any; whether there were.
    pub fn changed(&self, owner: &OwnerKey) -> bool {
        match lock(&self.channels).get(owner) {
            Some(sender) => {
                sender.send_modify(|count| *count = count.wrapping_add(1));
                true
            }
            None => false,
        }
    }

    /// Wakes every subscription (a backend that may have missed changes,
    /// e.g. while its listener reconnected, makes them all re-read).
    pub fn changed_all(&self) {
        for sender in lock(&self.channels).values() {
            sender.send_modify(|count| *count = count.wrapping_add(1));
        }
    }

    /// Whether someone watches `owner`.
    pub fn is_watched(&self, owner: &OwnerKey) -> bool {
        lock(&self.channels).contains_key(owner)
    }

    /// How many owners are being watched.
    pub fn watched_owners(&self) -> usize {
        lock(&self.channels).len()
    }
}

/// Whose carts and whose orders a write changed: whom to tell once it is
/// committed. Each owner is named once per kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    carts: Vec<OwnerKey>,
    orders: Vec<OwnerKey>,
}

impl Touched {
    /// `owner`'s carts.
    pub fn carts_of(owner: &OwnerKey) -> Touched {
        Touched::default().and_carts_of(owner)
    }

    /// Whom a log-out everywhere wakes: every live subscription of
    /// `owner`, cart and order ones alike, so each re-checks its token at
    /// once and ends (instead of idling until its next change).
    pub fn logged_out(owner: &OwnerKey) -> Touched {
        Touched::carts_of(owner).and_orders_of(owner)
    }

    /// `owner`'s orders.
    pub fn orders_of(owner: &OwnerKey) -> Touched {
        Touched::default().and_orders_of(owner)
    }

    /// These, and `owner`'s carts.
    pub fn and_carts_of(mut self, owner: &OwnerKey) -> Touched {
        if !self.carts.contains(owner) {
            self.carts.push(owner.clone());
        }
        self
    }

    /// These, and `owner`'s orders.
    pub fn and_orders_of(mut self, owner: &OwnerKey) -> Touched {
        if !self.orders.contains(owner) {
            self.orders.push(owner.clone());
        }
        self
    }

    /// The owners whose carts changed.
    pub fn carts(&self) -> &[OwnerKey] {
        &self.carts
    }

    /// The owners whose orders changed.
    pub fn orders(&self) -> &[OwnerKey] {
        &self.orders
    }

    /// Whether nothing changed (nobody to tell).
    pub fn is_empty(&self) -> bool {
        self.carts.is_empty() && self.orders.is_empty()
    }
}

/// A store's subscriptions: to carts and to orders, apart, so a cart write
/// never wakes an order subscription.
#[derive(Default)]
pub struct Subscribers {
    carts: Notices,
    orders: Notices,
}

impl Subscribers {
    /// Starts watching `owner`'s carts.
    pub fn watch_carts(&self, owner: &OwnerKey) -> Changes {
        self.carts.subscribe(owner)
    }

    /// Starts watching `owner`'s orders.
    pub fn watch_orders(&self, owner: &OwnerKey) -> Changes {
        self.orders.subscribe(owner)
    }

    /// Wakes the subscriptions watching what `touched` names. Called once
    /// the write is committed (durable), never before: a woken subscription
    /// re-reads, and must find the change.
    pub fn committed(&self, touched: &Touched) {
        for owner in &touched.carts {
            self.carts.changed(owner);
        }
        for owner in &touched.orders {
            self.orders.changed(owner);
        }
    }

    /// Wakes every subscription (see [`Notices::changed_all`]).
    pub fn changed_all(&self) {
        self.carts.changed_all();
        self.orders.changed_all();
    }

    /// Whether someone watches `owner`'s carts or orders.
    pub fn is_watched(&self, owner: &OwnerKey) -> bool {
        self.carts.is_watched(owner) || self.orders.is_watched(owner)
    }

    /// How many (owner, kind) pairs are being watched.
    pub fn watched(&self) -> usize {
        self.carts.watched_owners() + self.orders.watched_owners()
    }
}

/// One subscription's view of one owner's changes. Not `Clone`: each
/// subscription asks the registry for its own, so dropping the last one
/// removes the owner's entry.
pub struct Changes {
    receiver: watch::Receiver<u64>,
    owner: OwnerKey,
    channels: Weak<Channels>,
}

impl Changes {
    /// Waits for the next change to the owner's carts (several changes since
    /// the last call count as one). `Err` when the store has gone away.
    pub async fn changed(&mut self) -> Result<(), StoreClosed> {
        self.receiver.changed().await.map_err(|_| StoreClosed)
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        let Some(channels) = self.channels.upgrade() else {
            return;
        };
        let mut channels = lock(&channels);
        // Receivers are only made under this lock, so the count cannot grow
        // meanwhile; 1 is this one, dropped right after.
        if channels
            .get(&self.owner)
            .is_some_and(|sender| sender.receiver_count() <= 1)
        {
            channels.remove(&self.owner);
        }
    }
}

/// The store that sent the notices was dropped (shutdown).
#[derive(Debug, PartialEq, Eq)]
pub struct StoreClosed;

/// The map is left consistent by every critical section (no panics inside),
/// so a poisoned lock is still usable.
fn lock(channels: &Channels) -> MutexGuard<'_, HashMap<OwnerKey, watch::Sender<u64>>> {
    channels.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn owner(name: &str) -> OwnerKey {
        OwnerKey::new(crate::domain::Namespace::Customer, name)
    }

    #[test]
    fn a_change_wakes_only_that_owners_subscriptions() {
        let notices = Notices::default();
        let mut ann = notices.subscribe(&owner("ann"));
        let mut bob = notices.subscribe(&owner("bob"));
        notices.changed(&owner("ann"));
        assert_eq!(ann.changed().now_or_never(), Some(Ok(())));
        assert_eq!(bob.changed().now_or_never(), None);
        assert_eq!(ann.changed().now_or_never(), None, "one change, one wake");
    }

    #[test]
    fn changes_coalesce_until_the_subscription_looks() {
        let notices = Notices::default();
        let mut ann = notices.subscribe(&owner("ann"));
        notices.changed(&owner("ann"));
        notices.changed(&owner("ann"));
        assert_eq!(ann.changed().now_or_never(), Some(Ok(())));
        assert_eq!(ann.changed().now_or_never(), None);
    }

    #[test]
    fn an_owner_is_forgotten_when_its_last_subscription_ends() {
        let notices = Notices::default();
        let first = notices.subscribe(&owner("ann"));
        let second = notices.subscribe(&owner("ann"));
        assert_eq!(notices.watched_owners(), 1);
        drop(first);
        assert_eq!(notices.watched_owners(), 1);
        drop(second);
        assert_eq!(notices.watched_owners(), 0);
        notices.changed(&owner("ann")); // nobody watching: nothing to do
        let mut again = notices.subscribe(&owner("ann"));
        assert_eq!(again.changed().now_or_never(), None);
    }

    #[test]
    fn a_commit_wakes_the_carts_and_orders_it_touched_and_no_others() {
        let subscribers = Subscribers::default();
        let mut ann_carts = subscribers.watch_carts(&owner("ann"));
        let mut ann_orders = subscribers.watch_orders(&owner("ann"));
        let mut bob_carts = subscribers.watch_carts(&owner("bob"));
        subscribers.committed(&Touched::orders_of(&owner("ann")));
        assert_eq!(ann_orders.changed().now_or_never(), Some(Ok(())));
        assert_eq!(
            ann_carts.changed().now_or_never(),
            None,
            "an order is not a cart"
        );
        let both = Touched::carts_of(&owner("ann")).and_carts_of(&owner("bob"));
        subscribers.committed(&both);
        assert_eq!(ann_carts.changed().now_or_never(), Some(Ok(())));
        assert_eq!(bob_carts.changed().now_or_never(), Some(Ok(())));
        assert_eq!(ann_orders.changed().now_or_never(), None);
        assert!(subscribers.is_watched(&owner("bob")));
        assert_eq!(subscribers.watched(), 3);
    }

    #[test]
    fn touched_names_each_owner_once_per_kind() {
        let touched = Touched::carts_of(&owner("ann"))
            .and_carts_of(&owner("ann"))
            .and_orders_of(&owner("ann"));
        assert_eq!(touched.carts(), [owner("ann")]);
        assert_eq!(touched.orders(), [owner("ann")]);
        assert!(!touched.is_empty());
        assert!(Touched::default().is_empty());
    }

    #[test]
    fn subscriptions_end_when_the_store_goes_away() {
        let notices = Notices::default();
        let mut ann = notices.subscribe(&owner("ann"));
        drop(notices);
        assert_eq!(ann.changed().now_or_never(), Some(Err(StoreClosed)));
    }
}
