//! Helpers for sled transactions: how a transaction gives up, typed reads,
//! and the idempotency steps every idempotent write runs inside its own
//! transaction.
//!
//! In sled 0.34.7 a transaction closure runs under a process-wide write lock
//! that every ordinary operation takes for reading, so it is serialised with
//! all other writes. Inside it only the transactional views may be used (an
//! ordinary `tree.get` there would deadlock), and it must have no side
//! effects, because sled may run it more than once.

use super::codec::{decode, encode};
use crate::domain::OwnerKey;
use crate::domain::Rejection;
use crate::domain::idempotency::{Fingerprint, IdempotencyRecord, Outcome, too_many_keys};
use crate::store::{StoreError, UpdateError};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

/// Why a transaction gave up.
pub(super) enum Abort {
    Rejected(Rejection),
    Store(StoreError),
}

pub(super) type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

pub(super) fn reject<T>(rejection: Rejection) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(Abort::Rejected(
        rejection,
    )))
}

pub(super) fn tx_get<T: DeserializeOwned>(
    tree: &TransactionalTree,
    key: &[u8],
) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(bytes) => decode(key, &bytes)
            .map(Some)
            .map_err(|e| ConflictableTransactionError::Abort(Abort::Store(e))),
        None => Ok(None),
    }
}

pub(super) fn finish<T>(result: Result<T, TransactionError<Abort>>) -> Result<T, UpdateError> {
    match result {
        Ok(value) => Ok(value),
        Err(TransactionError::Abort(Abort::Rejected(r))) => Err(UpdateError::Rejected(r)),
        Err(TransactionError::Abort(Abort::Store(e))) => Err(UpdateError::Store(e)),
        Err(TransactionError::Storage(e)) => Err(UpdateError::Store(e.into())),
    }
}

/// `owner, 0, suffix`: keys of records that belong to one owner.
pub(super) fn scoped(owner: &OwnerKey, suffix: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(owner.as_str().len() + 1 + suffix.len());
    key.extend_from_slice(owner.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(suffix.as_bytes());
    key
}

/// Counts one more idempotency record for the owner, or refuses when it has
/// `max` already. Inside the transaction that writes the record: a refused or
/// rejected request writes neither.
pub(super) fn count_new_key(
    counts: &TransactionalTree,
    owner_key: &[u8],
    max: usize,
) -> TxResult<()> {
    let count: u64 = tx_get(counts, owner_key)?.unwrap_or(0);
    if count >= max as u64 {
        return reject(too_many_keys(max));
    }
    counts.insert(owner_key, encode(&(count + 1)))?;
    Ok(())
}

pub(super) fn record(fingerprint: &Fingerprint, now: DateTime<Utc>, outcome: Outcome) -> Vec<u8> {
    encode(&IdempotencyRecord {
        fingerprint: fingerprint.clone(),
        created_at: now,
        outcome,
    })
}
