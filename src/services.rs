//! What resolvers need, in one place: the store, the shop's settings, token
//! keys and verification, password hashing, throttling, token lifetimes, the
//! clock and order ids. Built once by the server (or a test) and attached to
//! the schema; a resolver reads it once with [`Services::of`].

use crate::auth::password::Passwords;
use crate::auth::verifier::Verifier;
use crate::auth::write_rate::WriteLimiter;
use crate::auth::{TokenKeys, TokenLifetimes};
use crate::clock::Clock;
use crate::domain::ShopSettings;
use crate::store::Store;
use crate::store::throttle::Throttle;
use std::sync::{Arc, Mutex};

/// Everything a resolver may use. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Currency, cart limits and lifetimes.
    pub shop: ShopSettings,
    /// Token verification (signature, claims, revocation).
    pub verifier: Verifier,
    /// Password hashing.
    pub passwords: Passwords,
    /// Log-in and sign-up counters.
    pub throttle: Arc<dyn Throttle>,
    /// Write rates per viewer and per client address.
    pub write_limiter: Arc<WriteLimiter>,
    /// Lifetimes of the tokens the built-in issuer signs.
    pub lifetimes: TokenLifetimes,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Ids for new orders.
    pub order_ids: Arc<OrderIds>,
    /// How webhooks behave.
    pub webhooks: crate::domain::webhook::WebhookSettings,
    /// Backups while serving, when `--backup-dir` is set.
    pub backups: Option<Arc<crate::store::backup::Backups>>,
}

impl Services {
    /// The services attached to a schema request.
    pub fn of<'a>(ctx: &async_graphql::Context<'a>) -> &'a Services {
        ctx.data_unchecked::<Services>()
    }

    /// The built-in issuer's keys (to sign tokens).
    pub fn keys(&self) -> &TokenKeys {
        &self.verifier.authenticator.keys
    }
}

/// Order ids: ULIDs, monotonic within this process so "newest first" holds
/// even for orders placed in the same millisecond.
#[derive(Default)]
pub struct OrderIds(Mutex<ulid::Generator>);

impl OrderIds {
    /// The next id at `now`.
    pub fn next(&self, now: chrono::DateTime<chrono::Utc>) -> String {
        let mut generator = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let time = std::time::SystemTime::from(now);
        // Overflow needs 2^80 ids in one millisecond; fall back to a fresh one.
        generator
            .generate_from_datetime(time)
            .unwrap_or_else(|_| ulid::Ulid::from_datetime(time))
            .to_string()
    }
}
