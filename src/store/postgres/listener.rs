//! Change notices between instances: one `LISTEN` connection per instance.
//!
//! A write sends `pg_notify('cartql_changes', tag)` in its transaction; the
//! tag is a keyed hash of the owner ([`PgStore::tag`]). This task receives
//! every notice and wakes the subscriptions of the owner whose tag it is,
//! looked up in `tags`, which [`PgStore::watch`] fills as subscriptions
//! start; entries of owners nobody watches any more are dropped.
//!
//! **A lost connection must not lose changes.** While the listener is down,
//! `/readyz` answers 503. It reconnects with a growing pause; once it is
//! listening again it wakes *every* live subscription, so each re-reads its
//! cart and catches up with whatever changed meanwhile. This instance's own
//! writes are heard the same way (a notice is the only wake), so they too
//! reach its subscriptions late by the outage, never not at all.
//!
//! The shop's pricing records travel the same way: a change sends
//! [`PRICING_NOTICE`](super::PRICING_NOTICE) in its transaction, and every
//! instance forgets the pricing it read; while the listener is down the
//! pricing is read on every request, and it is read again once it is back.

use super::{PgStore, lock};
use crate::domain::OwnerKey;
use crate::store::Changes;
use crate::store::notices::Touched;
use sqlx::postgres::{PgListener, PgPoolOptions};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The `application_name` of the listening connection (to find it in
/// `pg_stat_activity`).
pub const LISTENER_APPLICATION_NAME: &str = "cartql-listener";

impl PgStore {
    /// A subscription to `owner`'s changes, from this instance or any other.
    pub(super) fn watch(&self, owner: &OwnerKey) -> Changes {
        let changes = self.subscribers.watch_carts(owner);
        self.remember_tag(owner);
        changes
    }

    /// A subscription to `owner`'s order changes, from any instance.
    pub(super) fn watch_orders(&self, owner: &OwnerKey) -> Changes {
        let changes = self.subscribers.watch_orders(owner);
        self.remember_tag(owner);
        changes
    }

    fn remember_tag(&self, owner: &OwnerKey) {
        let mut tags = lock(&self.tags);
        let live = self.subscribers.watched();
        if tags.len() > 1024 && tags.len() > 2 * live {
            tags.retain(|_, owner| self.subscribers.is_watched(owner));
        }
        tags.insert(self.tag(owner), owner.clone());
    }

    /// Starts the listener task; returns once it listens (or failed to,
    /// then it keeps trying in the background and readiness says so).
    pub async fn start_listening(self: &Arc<Self>) {
        let first = connect(&self.options).await;
        let ok = first.is_ok();
        if let Err(e) = &first {
            tracing::error!(error = %e, "the change listener cannot connect; retrying");
        }
        self.listening.store(ok, Ordering::SeqCst);
        let task = tokio::spawn(listen_forever(Arc::downgrade(self), first.ok()));
        self.track(task);
    }

    /// Wakes the subscriptions a notice names (see [`PgStore::announce`]),
    /// or forgets the pricing read when another instance changed it.
    fn deliver(&self, payload: &str) {
        if payload == super::PRICING_NOTICE {
            self.pricing.changed();
            return;
        }
        let (orders, tag) = match payload.strip_prefix(super::ORDER_PREFIX) {
            Some(tag) => (true, tag),
            None => (false, payload),
        };
        let owner = lock(&self.tags).get(tag).cloned();
        if let Some(owner) = owner {
            self.subscribers.committed(&match orders {
                true => Touched::orders_of(&owner),
                false => Touched::carts_of(&owner),
            });
            if !self.subscribers.is_watched(&owner) {
                lock(&self.tags).remove(tag);
            }
        }
    }
}

async fn connect(options: &sqlx::postgres::PgConnectOptions) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(options.clone().application_name(LISTENER_APPLICATION_NAME));
    let mut listener = PgListener::connect_with(&pool).await?;
    // Reconnecting is ours to do (below), so a lost connection is noticed.
    listener.ignore_pool_close_event(true);
    listener.eager_reconnect(false);
    listener.listen(super::CHANNEL).await?;
    Ok(listener)
}

async fn listen_forever(store: Weak<PgStore>, mut listener: Option<PgListener>) {
    let mut failures: u32 = 0;
    loop {
        let Some(active) = listener.as_mut() else {
            tokio::time::sleep(Duration::from_millis(100 << failures.min(5))).await;
            let Some(store) = store.upgrade() else { return };
            match connect(&store.options).await {
                Ok(new) => {
                    listener = Some(new);
                    failures = 0;
                    store.listening.store(true, Ordering::SeqCst);
                    tracing::info!("the change listener is back; live subscriptions re-read");
                    store.subscribers.changed_all();
                    // Notices sent while it was away are lost: read again.
                    store.pricing.changed();
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, "the change listener cannot reconnect");
                }
            }
            continue;
        };
        // try_recv: `Ok(None)` when the connection was lost.
        let received = active.try_recv().await;
        let Some(store) = store.upgrade() else { return };
        match received {
            Ok(Some(notification)) => store.deliver(notification.payload()),
            Ok(None) | Err(_) => {
                if let Err(e) = &received {
                    tracing::warn!(error = %e, "the change listener failed");
                } else {
                    tracing::warn!("the change listener lost its connection");
                }
                store.listening.store(false, Ordering::SeqCst);
                listener = None;
            }
        }
    }
}
