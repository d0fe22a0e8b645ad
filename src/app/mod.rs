//! Use cases: one function per operation, between the schema and the stores.
//!
//! A use case takes the [`Services`](crate::services::Services), who is
//! asking ([`Caller`]) and input the schema has only parsed, and returns what
//! happened: the state to show and, when the operation was refused, why. A
//! refusal is an outcome (it becomes `userErrors`), not an error; an
//! [`AppError`] is a failure of the server (it becomes `INTERNAL`). A use
//! case owns the steps around its store call: the write rate, throttles, the
//! catalog read its checks and its answer share, and idempotent replays, so
//! each rule is written once, for both backends and every entry point.
//!
//! - [`backups`]: backups while serving, on demand and on a schedule.
//! - [`carts`]: reading carts, and every cart mutation; the guest merge.
//! - [`catalog`]: browsing the catalog (who sees what), admin product changes.
//! - [`checkout`]: checkout of a stored cart or of lines a client kept.
//! - [`discounts`]: the shop's discounts (admin).
//! - [`identity`]: guest sessions, sign-up, log-in, renewal, log-out.
//! - [`orders`]: the buyer's orders, the shop's view and its moves.
//! - [`pricing`]: pricing settings and tax rates; what a cart costs.
//! - [`shipping`]: the shop's shipping rates (admin).
//! - [`webhooks`]: the admin's webhook endpoints and deliveries; the relay
//!   that sends the outbox.

pub mod backups;
pub mod carts;
pub mod catalog;
pub mod checkout;
pub mod discounts;
pub mod identity;
pub mod orders;
pub mod pricing;
pub mod shipping;
pub mod webhooks;

use crate::auth::{ClientAddress, Viewer};
use crate::domain::Rejection;
use crate::domain::idempotency::{Fingerprint, IdempotencyKey};
use crate::services::Services;
use crate::store::StoreError;

/// Wakes a live query after each change it watches ([`carts::watch`],
/// [`orders::watch`]).
pub use crate::store::Changes;

/// Who asks: the viewer the token speaks for, and the client address the
/// request came from (none in-process).
#[derive(Clone, Copy, Debug)]
pub struct Caller<'a> {
    /// The viewer.
    pub viewer: &'a Viewer,
    /// The client address, for per-address limits.
    pub client: Option<&'a ClientAddress>,
}

/// An idempotency key with the request it was sent with.
#[derive(Clone, Debug)]
pub struct Once {
    /// The key, checked.
    pub key: IdempotencyKey,
    /// What "the same request" means for it.
    pub fingerprint: Fingerprint,
}

/// A failure of the server, not of the request (which is a [`Rejection`]).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store failed (the cause is the source).
    #[error("the store failed")]
    Store(#[from] StoreError),
    /// Stored data broke an invariant.
    #[error("{0}")]
    Broken(String),
    /// Password hashing failed (not a full queue: that is a refusal).
    #[error(transparent)]
    Password(#[from] crate::auth::password::PasswordError),
    /// A token could not be signed.
    #[error("signing a token failed")]
    Sign(#[source] crate::auth::TokenError),
    /// A token's revocation record could not be read.
    #[error("the revocation record could not be read")]
    RevocationUnavailable(#[source] StoreError),
}

impl Caller<'_> {
    /// Takes one write from the viewer's write rate and its client
    /// address's (`--viewer-write-rate`, `--client-write-rate`); a refusal is
    /// `THROTTLED` saying how long to wait. Every cart mutation, checkout
    /// and merge asks first, before it reads anything.
    pub fn take_write(&self, services: &Services) -> Result<(), Rejection> {
        let client = self.client.map(ClientAddress::throttle_key);
        let owner = self.viewer.owner_key();
        services
            .write_limiter
            .take(owner.as_str(), client.as_deref(), services.clock.now())
            .map_err(|wait| {
                let why = "too many changes in a short time";
                Rejection::one(crate::domain::rate::throttled(why, wait))
            })
    }
}

#[cfg(test)]
mod admin_tests;
#[cfg(test)]
mod tests;
