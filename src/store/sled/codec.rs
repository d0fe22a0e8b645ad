//! Versioned value encoding: one format byte, then the value.
//!
//! - 1: JSON (written until this release; still read).
//! - 2: MessagePack with field names (`rmp_serde::to_vec_named`), written
//!   today. Every cart read decodes the owner's carts and each line's
//!   variant, and every write encodes them again: with JSON that was about a
//!   seventh of a cart read's instructions (callgrind,
//!   `scripts/instructions`). MessagePack keeps field names, so the same
//!   serde attributes hold (fields left out when empty, defaults for fields
//!   an older release did not write), and `cartql export` still gives JSON.
//!
//! Old values are not rewritten: each is read in its own format and written
//! in the new one the next time it changes. Decoding checks everything:
//! values are parsed into validated domain types, so a damaged or
//! hand-edited file gives a clear error naming the key instead of a panic or
//! a wrong answer.

use crate::store::StoreError;
use serde::{Serialize, de::DeserializeOwned};

/// JSON.
pub const FORMAT_V1: u8 = 1;
/// MessagePack with field names: the format written today.
pub const FORMAT_V2: u8 = 2;

/// Encodes a value for storage.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(128);
    bytes.push(FORMAT_V2);
    let mut serializer = rmp_serde::Serializer::new(&mut bytes).with_struct_map();
    // Serialising our own plain data types into memory cannot fail.
    value
        .serialize(&mut serializer)
        .expect("domain values serialise to MessagePack");
    bytes
}

/// Decodes a stored value, naming `key` in the error.
pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    match bytes.split_first() {
        Some((&FORMAT_V2, body)) => rmp_serde::from_slice(body).map_err(|e| corrupt(e.to_string())),
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
    fn values_written_as_json_by_earlier_releases_still_read() {
        let sku = Sku::parse("A-1").unwrap();
        assert_eq!(decode::<Sku>(b"k", b"\x01\"A-1\"").unwrap(), sku);
        let set = crate::domain::CartSet {
            retired_version: 4,
            ..Default::default()
        };
        let mut old = vec![FORMAT_V1];
        old.extend(serde_json::to_vec(&set).unwrap());
        assert_eq!(decode::<crate::domain::CartSet>(b"k", &old).unwrap(), set);
        let new = encode(&set);
        assert_eq!(new[0], FORMAT_V2);
        assert_eq!(decode::<crate::domain::CartSet>(b"k", &new).unwrap(), set);
    }

    #[test]
    fn damaged_values_are_errors_that_name_the_key() {
        let mut cut = encode(&Sku::parse("A-1").unwrap());
        cut.pop();
        for bad in [
            &b""[..],
            b"\x07{}",
            b"\x01not json",
            b"\x01\"bad sku!\"",
            b"\x02\xc1",
            b"\x02\xa8bad sku!",
            &cut,
        ] {
            let err = decode::<Sku>(b"products/X", bad).unwrap_err();
            assert!(err.to_string().contains("products/X"), "{err}");
        }
    }
}
