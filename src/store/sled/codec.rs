//! Versioned value encoding: one format byte, then JSON.
//!
//! The byte lets a later release change the layout and still read old values;
//! JSON keeps the database inspectable. Decoding checks everything: values are
//! parsed into validated domain types, so a damaged or hand-edited file gives
//! a clear error naming the key instead of a panic or a wrong answer.

use crate::store::StoreError;
use serde::{Serialize, de::DeserializeOwned};

/// The format byte written today.
pub const FORMAT_V1: u8 = 1;

/// Encodes a value for storage.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = vec![FORMAT_V1];
    // Serialising our own plain data types cannot fail.
    serde_json::to_writer(&mut bytes, value).expect("domain values serialise to JSON");
    bytes
}

/// Decodes a stored value, naming `key` in the error.
pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    match bytes.split_first() {
        Some((&FORMAT_V1, body)) => {
            serde_json::from_slice(body).map_err(|e| corrupt(e.to_string()))
        }
        Some((other, _)) => Err(corrupt(format!("unknown format version {other}"))),
        None => Err(corrupt("empty value".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Sku;

    #[test]
    fn values_round_trip() {
        let sku = Sku::parse("A-1").unwrap();
        assert_eq!(decode::<Sku>(b"k", &encode(&sku)).unwrap(), sku);
    }

    #[test]
    fn damaged_values_are_errors_that_name_the_key() {
        for bad in [&b""[..], b"\x07{}", b"\x01not json", b"\x01\"bad sku!\""] {
            let err = decode::<Sku>(b"products/X", bad).unwrap_err();
            assert!(err.to_string().contains("products/X"), "{err}");
        }
    }
}
