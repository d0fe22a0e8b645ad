//! Attributes (key–value pairs a storefront attaches to a line or a cart:
//! an engraving, a gift message) and cart notes, with their limits. Lengths
//! are UTF-8 bytes, never characters: what is stored is what is counted.

use super::error::{ErrorCode, UserError};
use serde::{Deserialize, Serialize};

/// One attribute. Keys are unique within a set; order is kept as given.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Attribute {
    /// The attribute's name, e.g. `engraving`.
    pub key: String,
    /// Its value.
    pub value: String,
}

/// Limits on attributes and notes, configured at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttributeLimits {
    /// Attributes on one line, or on one cart.
    pub max_attributes: usize,
    /// UTF-8 bytes in a key.
    pub max_key_bytes: usize,
    /// UTF-8 bytes in a value.
    pub max_value_bytes: usize,
    /// UTF-8 bytes in a cart note.
    pub max_note_bytes: usize,
}

impl Default for AttributeLimits {
    fn default() -> Self {
        AttributeLimits {
            max_attributes: 10,
            max_key_bytes: 64,
            max_value_bytes: 256,
            max_note_bytes: 1000,
        }
    }
}

/// Checks attributes from input at `field` (e.g. `["lines", "0", "attributes"]`):
/// 0 to `max_attributes`, keys 1 to `max_key_bytes` UTF-8 bytes and unique,
/// values up to `max_value_bytes`, no control characters. Keys and values are
/// trimmed. All problems are reported.
pub fn check_attributes(
    input: &[(String, String)],
    field: &[&str],
    limits: &AttributeLimits,
) -> Result<Vec<Attribute>, Vec<UserError>> {
    let mut errors = Vec::new();
    let at = |index: usize, name: &str, message: String| {
        let index = index.to_string();
        let mut path: Vec<&str> = field.to_vec();
        path.extend([index.as_str(), name]);
        UserError::new(ErrorCode::InvalidAttribute, &path, message)
    };
    if input.len() > limits.max_attributes {
        errors.push(UserError::new(
            ErrorCode::InvalidAttribute,
            field,
            format!(
                "at most {} attributes, got {}",
                limits.max_attributes,
                input.len()
            ),
        ));
        return Err(errors);
    }
    let mut attributes: Vec<Attribute> = Vec::with_capacity(input.len());
    for (index, (key, value)) in input.iter().enumerate() {
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || key.len() > limits.max_key_bytes {
            errors.push(at(
                index,
                "key",
                format!(
                    "a key has 1 to {} bytes (UTF-8); this one has {}",
                    limits.max_key_bytes,
                    key.len()
                ),
            ));
        } else if value.len() > limits.max_value_bytes {
            errors.push(at(
                index,
                "value",
                format!(
                    "a value has at most {} bytes (UTF-8); this one has {}",
                    limits.max_value_bytes,
                    value.len()
                ),
            ));
        } else if key
            .chars()
            .chain(value.chars())
            .any(|c| c.is_control() || is_bidi_or_invisible(c))
        {
            errors.push(at(
                index,
                "value",
                "attributes may not contain control, bidirectional-override or zero-width characters".into(),
            ));
        } else if attributes.iter().any(|a| a.key == key) {
            errors.push(at(
                index,
                "key",
                format!("the key '{key}' appears more than once"),
            ));
        } else {
            attributes.push(Attribute {
                key: key.to_string(),
                value: value.to_string(),
            });
        }
    }
    if errors.is_empty() {
        Ok(attributes)
    } else {
        Err(errors)
    }
}

/// Checks a cart note: up to `max_note_bytes` UTF-8 bytes, trimmed; an
/// empty note is none.
pub fn check_note(note: &str, limits: &AttributeLimits) -> Result<Option<String>, UserError> {
    let note = note.trim();
    if note.len() > limits.max_note_bytes {
        return Err(UserError::new(
            ErrorCode::InvalidAttribute,
            &["note"],
            format!(
                "a note has at most {} bytes (UTF-8); this one has {}",
                limits.max_note_bytes,
                note.len()
            ),
        ));
    }
    if note
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(UserError::new(
            ErrorCode::InvalidAttribute,
            &["note"],
            "a note may not contain control characters other than line breaks and tabs",
        ));
    }
    Ok((!note.is_empty()).then(|| note.to_string()))
}

/// Bidirectional overrides and isolates (which can make text read other than
/// it is stored, "Trojan source"), zero-width spaces and byte-order marks:
/// refused in attributes, which shop staff read in admin tools.
pub fn is_bidi_or_invisible(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}' | '\u{FEFF}')
}

/// Whether two attribute sets are the same set (order does not matter).
pub fn same_attributes(a: &[Attribute], b: &[Attribute]) -> bool {
    let mut a: Vec<&Attribute> = a.iter().collect();
    let mut b: Vec<&Attribute> = b.iter().collect();
    a.sort();
    b.sort();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn attributes_are_trimmed_unique_and_bounded() {
        let limits = AttributeLimits::default();
        let ok =
            check_attributes(&input(&[(" engraving ", " A ")]), &["attributes"], &limits).unwrap();
        assert_eq!(
            ok,
            [Attribute {
                key: "engraving".into(),
                value: "A".into()
            }]
        );
        let long = "x".repeat(300);
        let bad = input(&[
            ("", "v"),
            ("k", &long),
            ("dup", "1"),
            ("dup", "2"),
            ("c", "\u{7}"),
        ]);
        let errors = check_attributes(&bad, &["lines", "0", "attributes"], &limits).unwrap_err();
        let fields: Vec<String> = errors.iter().map(|e| e.field.join(".")).collect();
        assert_eq!(
            fields,
            [
                "lines.0.attributes.0.key",
                "lines.0.attributes.1.value",
                "lines.0.attributes.3.key",
                "lines.0.attributes.4.value"
            ]
        );
        let wide = input(&[("k", &"é".repeat(129))]);
        let errors = check_attributes(&wide, &["attributes"], &limits).unwrap_err();
        assert!(errors[0].message.contains("258"), "{}", errors[0].message);
        let many: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert_eq!(
            check_attributes(&many, &["attributes"], &limits)
                .unwrap_err()
                .len(),
            1
        );
    }

    #[test]
    fn a_note_is_trimmed_and_bounded_and_an_empty_one_is_none() {
        let limits = AttributeLimits::default();
        assert_eq!(
            check_note("  hi\nthere ", &limits).unwrap(),
            Some("hi\nthere".into())
        );
        assert_eq!(check_note("   ", &limits).unwrap(), None);
        assert!(check_note(&"x".repeat(1001), &limits).is_err());
        // 250 four-byte characters are 1000 bytes: at the limit; one more is over.
        assert!(check_note(&"𝄞".repeat(250), &limits).is_ok());
        assert!(check_note(&"𝄞".repeat(251), &limits).is_err());
        assert!(check_note("bell\u{7}", &limits).is_err());
    }

    #[test]
    fn attribute_sets_compare_without_order() {
        let a = |k: &str| Attribute {
            key: k.into(),
            value: "v".into(),
        };
        assert!(same_attributes(&[a("x"), a("y")], &[a("y"), a("x")]));
        assert!(!same_attributes(&[a("x")], &[a("x"), a("y")]));
    }
}
