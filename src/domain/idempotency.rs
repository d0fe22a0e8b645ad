//! Idempotency keys: the same key with the same request returns the first
//! result and changes nothing; the same key with another request is refused.

use super::cart::Cart;
use super::error::{ErrorCode, Rejection, UserError};
use super::names::CartName;
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

/// What the first request with a key produced. Small on purpose: a record
/// lives a day and guests are free, so it holds an order id or a cart
/// version, never a copy of the cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A checkout placed this order.
    Order(String),
    /// A cart mutation made this version of the cart `name`.
    CartVersion {
        /// Which cart.
        name: CartName,
        /// The version the mutation made.
        version: u64,
    },
    /// Records written by cartql before the version-only form held the
    /// whole cart; they are still read (as their name and version).
    Cart(Box<Cart>),
}

impl Outcome {
    /// The order a checkout placed, if this is one.
    pub fn order_id(&self) -> Option<&str> {
        match self {
            Outcome::Order(id) => Some(id),
            Outcome::CartVersion { .. } | Outcome::Cart(_) => None,
        }
    }

    /// The cart and version a cart mutation made, if this is one.
    pub fn cart_version(&self) -> Option<(&CartName, u64)> {
        match self {
            Outcome::CartVersion { name, version } => Some((name, *version)),
            Outcome::Cart(cart) => Some((&cart.name, cart.version)),
            Outcome::Order(_) => None,
        }
    }
}

/// One use of an idempotency key: which key, for what request, when, and how
/// many keys its owner may have recorded at once.
#[derive(Clone, Copy, Debug)]
pub struct KeyUse<'a> {
    /// The key, scoped to its owner.
    pub key: &'a IdempotencyKey,
    /// What "the same request" means for it.
    pub fingerprint: &'a Fingerprint,
    /// The time of the request (recorded; records are swept after the TTL).
    pub now: DateTime<Utc>,
    /// The most records one owner may have (`--max-idempotency-keys-per-viewer`).
    pub max_per_owner: usize,
}

/// `THROTTLED` on `idempotencyKey`: the owner has recorded as many keys as it
/// may within the records' lifetime.
pub fn too_many_keys(max: usize) -> Rejection {
    Rejection::one(UserError::new(
        ErrorCode::Throttled,
        &["idempotencyKey"],
        format!(
            "this viewer has used {max} idempotency keys within the time they are remembered; retry later or without a new key"
        ),
    ))
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

/// The look-up step of every idempotent write, decided from its key's
/// record as the store read it: `None` for a new key (check, write, record);
/// the first request's outcome when `fingerprint` is that request;
/// `IDEMPOTENCY_KEY_REUSED` for another request.
pub fn recorded<'a>(
    record: Option<&'a IdempotencyRecord>,
    fingerprint: &Fingerprint,
) -> Result<Option<&'a Outcome>, Rejection> {
    record.map(|record| record.replay(fingerprint)).transpose()
}

/// What a checkout with a key replays: `None` for a new key; the id of the
/// order the same request placed; `IDEMPOTENCY_KEY_REUSED` for another
/// request, or for a key whose record is not an order's.
pub fn order_to_replay<'a>(
    record: Option<&'a IdempotencyRecord>,
    fingerprint: &Fingerprint,
) -> Result<Option<&'a str>, Rejection> {
    match recorded(record, fingerprint)? {
        None => Ok(None),
        Some(outcome) => outcome.order_id().map(Some).ok_or_else(key_reused),
    }
}

/// What a cart mutation with a key replays: `None` for a new key; the cart
/// and version the same request made (the store answers with the cart as
/// it is now); `IDEMPOTENCY_KEY_REUSED` for another request, or for a key
/// whose record is not a cart mutation's.
pub fn cart_to_replay<'a>(
    record: Option<&'a IdempotencyRecord>,
    fingerprint: &Fingerprint,
) -> Result<Option<(&'a CartName, u64)>, Rejection> {
    match recorded(record, fingerprint)? {
        None => Ok(None),
        Some(outcome) => outcome.cart_version().map(Some).ok_or_else(key_reused),
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

    fn record_of(operation: &str, outcome: Outcome) -> (IdempotencyRecord, Fingerprint) {
        let fingerprint = Fingerprint::of(operation, &("default", 1));
        let record = IdempotencyRecord {
            fingerprint: fingerprint.clone(),
            created_at: Utc::now(),
            outcome,
        };
        (record, fingerprint)
    }

    fn reused<T: std::fmt::Debug>(decided: Result<T, Rejection>) -> bool {
        let errors = decided.unwrap_err().into_user_errors();
        errors.len() == 1 && errors[0].code == ErrorCode::IdempotencyKeyReused
    }

    #[test]
    fn a_new_key_proceeds() {
        let fingerprint = Fingerprint::of("checkout", &1);
        assert_eq!(recorded(None, &fingerprint), Ok(None));
        assert_eq!(order_to_replay(None, &fingerprint), Ok(None));
        assert_eq!(cart_to_replay(None, &fingerprint), Ok(None));
    }

    #[test]
    fn a_checkout_replays_its_order_for_the_same_fingerprint_only() {
        let (record, same) = record_of("checkout", Outcome::Order("o1".into()));
        assert_eq!(order_to_replay(Some(&record), &same), Ok(Some("o1")));
        let other = Fingerprint::of("checkout", &("wishlist", 1));
        assert!(reused(order_to_replay(Some(&record), &other)));
        assert!(reused(recorded(Some(&record), &other)));
    }

    #[test]
    fn a_cart_mutation_replays_its_version_for_the_same_fingerprint_only() {
        let name = CartName::parse("default").unwrap();
        let outcome = Outcome::CartVersion {
            name: name.clone(),
            version: 3,
        };
        let (record, same) = record_of("addCartLines", outcome);
        assert_eq!(cart_to_replay(Some(&record), &same), Ok(Some((&name, 3))));
        let other = Fingerprint::of("addCartLines", &("default", 2));
        assert!(reused(cart_to_replay(Some(&record), &other)));
    }

    #[test]
    fn a_key_recorded_by_another_kind_of_operation_is_reused() {
        let (order, fingerprint) = record_of("x", Outcome::Order("o1".into()));
        assert!(reused(cart_to_replay(Some(&order), &fingerprint)));
        let name = CartName::parse("default").unwrap();
        let (cart, fingerprint) = record_of("x", Outcome::CartVersion { name, version: 1 });
        assert!(reused(order_to_replay(Some(&cart), &fingerprint)));
    }

    #[test]
    fn a_record_holds_a_version_not_the_cart_and_old_records_still_read() {
        let name = CartName::parse("default").unwrap();
        let record = IdempotencyRecord {
            fingerprint: Fingerprint::of("addCartLines", &("default", 1)),
            created_at: Utc::now(),
            outcome: Outcome::CartVersion {
                name: name.clone(),
                version: 41,
            },
        };
        let bytes = serde_json::to_vec(&record).unwrap();
        assert!(bytes.len() < 200, "{} bytes", bytes.len());
        assert_eq!(record.outcome.cart_version(), Some((&name, 41)));
        // The whole-cart form of earlier versions.
        let old = r#"{"Cart":{"name":"default","version":7,"lines":[{"sku":"A","quantity":2}],"created_at":"2026-11-01T00:00:00Z","updated_at":"2026-11-01T00:00:00Z"}}"#;
        let outcome: Outcome = serde_json::from_str(old).unwrap();
        assert_eq!(outcome.cart_version(), Some((&name, 7)));
    }
}
