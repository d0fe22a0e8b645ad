//! Idempotency keys: the same key with the same request returns the first
//! result and changes nothing; the same key with another request is refused.

use super::cart::Cart;
use super::error::{ErrorCode, Rejection, UserError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A client-chosen key: 1–255 printable ASCII characters (a UUID is typical).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 255;

    /// Parses a key; the error is a user error on `field`.
    pub fn parse(text: &str, field: &str) -> Result<IdempotencyKey, UserError> {
        let printable = text.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if text.is_empty() || text.len() > Self::MAX_LEN || !printable {
            return Err(UserError::new(
                ErrorCode::InvalidIdempotencyKey,
                &[field],
                format!(
                    "an idempotency key has 1 to {} printable ASCII characters without spaces",
                    Self::MAX_LEN
                ),
            ));
        }
        Ok(IdempotencyKey(text.to_string()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A digest of an operation and its input, to tell "the same request" from another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Digests `operation` and its input, serialised canonically (field order is fixed by the type).
    pub fn of(operation: &str, input: &impl Serialize) -> Fingerprint {
        let mut hasher = Sha256::new();
        hasher.update(operation.as_bytes());
        hasher.update([0]);
        // Our own plain input types always serialise.
        hasher.update(serde_json::to_vec(input).expect("inputs serialise to JSON"));
        Fingerprint(hex::encode(hasher.finalize()))
    }
}

/// What the first request with a key produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A checkout placed this order.
    Order(String),
    /// A cart mutation left the cart like this.
    Cart(Cart),
}

/// A stored idempotency record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The request that used the key first.
    pub fingerprint: Fingerprint,
    /// When; records are swept some time after.
    pub created_at: DateTime<Utc>,
    /// What it produced.
    pub outcome: Outcome,
}

impl IdempotencyRecord {
    /// The recorded outcome if `fingerprint` is the same request, else `IDEMPOTENCY_KEY_REUSED`.
    pub fn replay(&self, fingerprint: &Fingerprint) -> Result<&Outcome, Rejection> {
        if &self.fingerprint == fingerprint {
            Ok(&self.outcome)
        } else {
            Err(key_reused())
        }
    }
}

/// `IDEMPOTENCY_KEY_REUSED`: the key belongs to another request. (The
/// fingerprint names the operation, so a record of another operation's
/// outcome is refused by [`IdempotencyRecord::replay`] already; callers that
/// still find a mismatched outcome refuse it the same way.)
pub fn key_reused() -> Rejection {
    Rejection::one(UserError::new(
        ErrorCode::IdempotencyKeyReused,
        &["idempotencyKey"],
        "this idempotency key was used for a different request; use a new key for a new request",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_and_bounded() {
        assert!(IdempotencyKey::parse("3f2c9a10-1b2c-4d5e-8f90-a1b2c3d4e5f6", "k").is_ok());
        for bad in ["", "has space", "tab\t", "ünï", &"k".repeat(256)] {
            assert_eq!(
                IdempotencyKey::parse(bad, "k").unwrap_err().code,
                ErrorCode::InvalidIdempotencyKey,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_same_request_replays_and_another_is_refused() {
        let first = Fingerprint::of("checkout", &("default", None::<u64>));
        let record = IdempotencyRecord {
            fingerprint: first.clone(),
            created_at: Utc::now(),
            outcome: Outcome::Order("o1".into()),
        };
        assert_eq!(record.replay(&first), Ok(&Outcome::Order("o1".into())));
        let other = Fingerprint::of("checkout", &("wishlist", None::<u64>));
        let errors = record.replay(&other).unwrap_err().into_user_errors();
        assert_eq!(errors[0].code, ErrorCode::IdempotencyKeyReused);
        assert_ne!(Fingerprint::of("a", &1), Fingerprint::of("b", &1));
    }
}
