//! The background sweeper: deletes expired carts and idempotency records.

use crate::auth;
use crate::graphql::ShopSettings;
use crate::store::{OrderStore, OwnerKey};
use std::sync::Arc;

/// Deletes expired carts and idempotency records in the background. Each
/// deletion is its own small compare-and-swap, so requests are never blocked
/// behind a sweep.
pub(super) struct Sweeper {
    pub(super) orders: Arc<dyn OrderStore>,
    /// Cart lifetimes, by kind of owner.
    pub(super) shop: ShopSettings,
    pub(super) idempotency_ttl: chrono::Duration,
    pub(super) interval: std::time::Duration,
}

impl Sweeper {
    pub(super) async fn run(self) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.sweep_once().await;
        }
    }

    async fn sweep_once(&self) {
        let now = chrono::Utc::now();
        let lifetime = |owner: &OwnerKey| self.shop.cart_lifetime(auth::owner_kind(owner));
        match self.orders.sweep_carts(now, &lifetime).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(carts = n, "swept expired carts"),
            Err(e) => tracing::error!(error = %e, "sweeping carts failed"),
        }
        match self
            .orders
            .sweep_idempotency(now - self.idempotency_ttl)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "swept idempotency records"),
            Err(e) => tracing::error!(error = %e, "sweeping idempotency records failed"),
        }
    }
}
