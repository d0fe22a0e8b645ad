//! The background sweep, once for every backend: what is due is the
//! domain's policy ([`Due`]), reading and deleting is the backend's
//! ([`Sweep`]), and this module runs one sweep ([`sweep_once`]) and the loop
//! that repeats it ([`start`]).
//!
//! The loop holds the store weakly: it ends when the store is dropped, or
//! when the backend aborts the task it was handed (`close`).

use super::{Retention, StoreError};
use crate::clock::Clock;
use crate::domain::expiry::Due;
use async_trait::async_trait;
use std::sync::{Arc, Weak};
use tokio::task::JoinHandle;

/// A backend's part of the sweep: read what may be due, delete what [`Due`]
/// says is, each part in small steps so requests are not held up. Each
/// returns how many records it deleted.
#[async_trait]
pub trait Sweep: Send + Sync + 'static {
    /// Deletes the expired carts and the indexes of owners left without
    /// carts (raising the version floor first); counts the carts.
    async fn sweep_carts(&self, due: &Due) -> Result<usize, StoreError>;

    /// Deletes the idempotency records due, giving their owners' allowance back.
    async fn sweep_idempotency(&self, due: &Due) -> Result<usize, StoreError>;

    /// Deletes the "valid after" records due.
    async fn sweep_revocations(&self, due: &Due) -> Result<usize, StoreError>;

    /// Deletes the throttle windows due, for a backend that stores them
    /// (others keep them in memory: nothing to do).
    async fn sweep_throttle(&self, _due: &Due) -> Result<usize, StoreError> {
        Ok(0)
    }
}

/// One sweep of everything `due` names; a part that fails is logged and
/// tried again by the next sweep.
pub async fn sweep_once<S: Sweep + ?Sized>(store: &S, due: &Due) {
    report("expired carts", store.sweep_carts(due).await);
    report("idempotency records", store.sweep_idempotency(due).await);
    report("revocation records", store.sweep_revocations(due).await);
    report("throttle windows", store.sweep_throttle(due).await);
}

/// Starts sweeping `store` every `retention.sweep_interval` (the first
/// sweep at once), at the time `clock` tells, while the store lives. The
/// backend keeps the handle and aborts it at `close`.
pub fn start<S: Sweep>(
    store: Weak<S>,
    retention: Retention,
    clock: Arc<dyn Clock>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(retention.sweep_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(store) = store.upgrade() else { return };
            sweep_once(store.as_ref(), &retention.due_at(clock.now())).await;
        }
    })
}

/// Logs one part of a sweep: how many records it deleted, or why it failed.
fn report(what: &str, result: Result<usize, StoreError>) {
    match result {
        Ok(0) => {}
        Ok(n) => tracing::info!(count = n, "swept {what}"),
        Err(e) => tracing::error!(error = %e, "sweeping {what} failed"),
    }
}
