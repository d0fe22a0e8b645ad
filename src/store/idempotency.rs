//! Idempotency records in a database: one call shape for every idempotent
//! operation — **look up → replay or proceed → record**.
//!
//! 1. *Look up* ([`IdempotencyStore::recorded`]): before checking its input,
//!    an operation with a key asks whether the key has an outcome. The same
//!    request replays it; another request is refused
//!    (`IDEMPOTENCY_KEY_REUSED`). A retry is answered even if its input would
//!    no longer pass (a product went inactive since).
//! 2. *Proceed*: otherwise the operation checks its input and runs its write.
//! 3. *Record*: the write itself (`CartStore::update_cart_once`,
//!    `OrderStore::checkout`) looks the key up again, counts it against the
//!    owner's allowance and records the outcome in the same transaction, so
//!    two concurrent requests with one key make one change; a write that is
//!    refused records nothing (a failed checkout does not use its key).

use super::{StoreError, UpdateError};
use crate::domain::OwnerKey;
use crate::domain::idempotency::{Fingerprint, IdempotencyKey, Outcome};
use crate::domain::order::Order;
use async_trait::async_trait;

/// What an idempotent write did.
#[derive(Clone, Debug)]
pub enum Replayable<T> {
    /// It was applied now.
    Applied(T),
    /// The key had already been used by the same request: nothing changed;
    /// what that request made (or, for carts, the carts as they are now).
    Replayed(T),
}

impl<T> Replayable<T> {
    /// The value, however it came about.
    pub fn into_inner(self) -> T {
        match self {
            Replayable::Applied(value) | Replayable::Replayed(value) => value,
        }
    }
}

/// The look-up step.
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// What the first request with `key` produced, if `fingerprint` is that
    /// request; `IDEMPOTENCY_KEY_REUSED` (as `UpdateError::Rejected`) if it is
    /// another; `None` for a new key.
    async fn recorded(
        &self,
        owner: &OwnerKey,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Outcome>, UpdateError>;
}

/// The replay of a checkout (the key's record named order `id`, see
/// [`order_to_replay`](crate::domain::idempotency::order_to_replay)), from
/// the order as the store read it: a record naming an order that is not
/// stored is damage.
pub(crate) fn replayed_order(
    owner: &OwnerKey,
    key: &IdempotencyKey,
    id: &str,
    order: Option<Order>,
) -> Result<Replayable<Order>, StoreError> {
    order
        .map(Replayable::Replayed)
        .ok_or_else(|| StoreError::Corrupt {
            key: format!("idempotency/{owner}/{}", key.as_str()),
            reason: format!("records order {id}, which is missing"),
        })
}
