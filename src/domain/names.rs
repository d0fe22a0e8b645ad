//! Validated names: SKUs, cart names, titles and order ids. Each can only
//! hold valid values, so code that has one never checks it again (parse,
//! don't validate).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest title of a product or a variant, in UTF-8 bytes.
pub const MAX_TITLE_BYTES: usize = 800;

/// A product's or a variant's title: trimmed, 1 to [`MAX_TITLE_BYTES`]
/// bytes (UTF-8), no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    /// Parses a title, saying what is wrong with a bad one.
    pub fn parse(text: &str) -> Result<Title, String> {
        let trimmed = text.trim();
        if trimmed.is_empty()
            || trimmed.len() > MAX_TITLE_BYTES
            || trimmed.chars().any(char::is_control)
        {
            return Err(format!(
                "a title has 1 to {MAX_TITLE_BYTES} bytes (UTF-8), no control characters"
            ));
        }
        Ok(Title(trimmed.to_string()))
    }

    /// The title as text.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// An order's id: a ULID, in its canonical (upper-case) spelling, which is
/// how orders are stored and sorted ("01h…" would sort after "01H…").
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderId(String);

impl OrderId {
    /// An id as a client sends it, in any case; `None` when it is not a
    /// ULID (then it names no order). A ULID's first character is at most
    /// `7` (128 bits); the decoder would wrap a larger one onto another id.
    pub fn parse(text: &str) -> Option<OrderId> {
        if !matches!(text.as_bytes().first(), Some(b'0'..=b'7')) {
            return None;
        }
        ulid::Ulid::from_string(text)
            .ok()
            .map(|id| OrderId(id.to_string()))
    }

    /// The canonical spelling.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The canonical spelling, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A stock-keeping unit: 1–64 characters of `A–Z a–z 0–9 . _ -`, case-sensitive.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl Sku {
    /// The longest SKU accepted.
    pub const MAX_LEN: usize = 64;

    /// Parses a SKU, saying what is wrong with a bad one.
    pub fn parse(text: &str) -> Result<Sku, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(format!("a SKU has 1 to {} characters", Self::MAX_LEN));
        }
        if !text.chars().all(allowed) {
            return Err("a SKU may hold only letters, digits, '.', '_' and '-'".into());
        }
        Ok(Sku(text.to_string()))
    }

    /// The SKU as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Sku {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Sku::parse(&value)
    }
}

impl From<Sku> for String {
    fn from(value: Sku) -> Self {
        value.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A product's handle, its key in URLs: 1–64 characters of lowercase
/// letters, digits and `-`, starting with a letter or digit (`black-tee`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Handle(String);

impl Handle {
    /// The longest handle accepted.
    pub const MAX_LEN: usize = 64;

    /// Parses a handle, saying what is wrong with a bad one.
    pub fn parse(text: &str) -> Result<Handle, String> {
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(format!("a handle has 1 to {} characters", Self::MAX_LEN));
        }
        if !text.chars().all(allowed) || text.starts_with('-') {
            return Err(
                "a handle holds lowercase letters, digits and '-', and starts with a letter or digit"
                    .into(),
            );
        }
        Ok(Handle(text.to_string()))
    }

    /// A handle made from a SKU (lowercase, other characters as `-`), for
    /// SKUs stored before products had handles.
    pub fn from_sku(sku: &Sku) -> Handle {
        let text: String = sku
            .as_str()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let text = text.trim_start_matches('-');
        Handle(if text.is_empty() {
            "product".into()
        } else {
            text.to_string()
        })
    }

    /// The handle as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Handle {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Handle::parse(&value)
    }
}

impl From<Handle> for String {
    fn from(value: Handle) -> Self {
        value.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of one of a viewer's carts: 1–32 characters of lowercase
/// letters, digits, `-` and `_`, starting with a letter or digit
/// (`default`, `wishlist`, `saved-for-later`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CartName(String);

impl CartName {
    /// The longest cart name accepted.
    pub const MAX_LEN: usize = 32;
    /// The rule, as told to clients.
    pub const RULE: &'static str = "a cart name has 1 to 32 characters: lowercase letters, digits, '-' and '_', starting with a letter or digit";

    /// Parses a cart name.
    pub fn parse(text: &str) -> Result<CartName, String> {
        if !is_lowercase_name(text, Self::MAX_LEN) {
            return Err(format!(
                "'{}' is not a valid cart name: {}",
                truncate(text),
                Self::RULE
            ));
        }
        Ok(CartName(text.to_string()))
    }

    /// The default cart's name.
    pub fn default_cart() -> CartName {
        CartName("default".into())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Shortens hostile input before it is echoed back in a message.
/// Whether `text` is a lowercase name of at most `max` characters: ASCII
/// lowercase letters, digits, `-` and `_`, starting with a letter or digit
/// (cart names, tax classes).
pub(crate) fn is_lowercase_name(text: &str, max: usize) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    let starts_well = text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    text.len() <= max && starts_well && text.chars().all(allowed)
}

fn truncate(text: &str) -> String {
    let mut short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

impl TryFrom<String> for CartName {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        CartName::parse(&value)
    }
}

impl From<CartName> for String {
    fn from(value: CartName) -> Self {
        value.0
    }
}

impl fmt::Display for CartName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded_in_bytes_not_characters() {
        assert_eq!(Title::parse("  Mug  ").unwrap().into_string(), "Mug");
        // 200 four-byte characters are 800 bytes: the most a title holds.
        assert!(Title::parse(&"😀".repeat(200)).is_ok());
        for bad in ["", "   ", "a\u{7}b", "tab\there", &"😀".repeat(201)] {
            let why = Title::parse(bad).unwrap_err();
            assert!(why.contains("800 bytes"), "{bad:?}: {why}");
        }
    }

    #[test]
    fn order_ids_read_in_any_case_and_are_kept_canonical() {
        let id = ulid::Ulid::new().to_string();
        let lower = OrderId::parse(&id.to_lowercase()).unwrap();
        assert_eq!(lower.as_str(), id);
        assert_eq!(OrderId::parse(&id), Some(lower));
        for bad in ["", "not-an-id", "01H", &"Z".repeat(26), &format!("{id}0")] {
            assert_eq!(OrderId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn skus_accept_the_documented_alphabet() {
        for good in ["TSHIRT-M", "a", "sku_1.2", &"X".repeat(64)] {
            assert!(Sku::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "has space",
            "ünïcode",
            "semi;colon",
            &"X".repeat(65),
            "a/b",
        ] {
            assert!(Sku::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cart_names_are_lowercase_slugs() {
        for good in [
            "default",
            "wishlist",
            "saved-for-later",
            "2nd_cart",
            &"a".repeat(32),
        ] {
            assert!(CartName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Wishlist",
            "-lead",
            "_lead",
            "with space",
            "x".repeat(33).as_str(),
            "naïve",
        ] {
            assert!(CartName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stored_names_are_validated_when_decoded() {
        assert!(serde_json::from_str::<CartName>("\"Bad Name\"").is_err());
        assert!(serde_json::from_str::<Sku>("\"\"").is_err());
        assert_eq!(
            serde_json::from_str::<Sku>("\"A-1\"").unwrap().as_str(),
            "A-1"
        );
    }

    #[test]
    fn long_hostile_names_are_truncated_in_messages() {
        let err = CartName::parse(&"Z".repeat(10_000)).unwrap_err();
        assert!(err.len() < 300, "{}", err.len());
    }
}
