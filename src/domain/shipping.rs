//! What a variant tells shipping and tax: its weight, whether it is shipped
//! at all, and its tax class. Pricing (issue "What the buyer pays") reads
//! them; they are stored in the variant's record, so a cart read or a
//! checkout reads one record per SKU as before.

use super::error::{ErrorCode, UserError};
use super::names::is_lowercase_name;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The heaviest variant, in grams (a tonne): weights add up over a cart's
/// lines in u64 without any chance of overflow.
pub const MAX_WEIGHT_GRAMS: u32 = 1_000_000;

/// A tax class (`standard`, `reduced`, `books`): 1–32 characters of
/// lowercase letters, digits, `-` and `_`, starting with a letter or digit.
/// Tax rates are set per class and country.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TaxClass(String);

impl TaxClass {
    /// The longest class name.
    pub const MAX_LEN: usize = 32;
    /// The rule, as told to clients.
    pub const RULE: &'static str = "a tax class has 1 to 32 characters: lowercase letters, digits, '-' and '_', starting with a letter or digit";

    /// Parses a class name.
    pub fn parse(text: &str) -> Result<TaxClass, String> {
        if !is_lowercase_name(text, Self::MAX_LEN) {
            return Err(Self::RULE.to_string());
        }
        Ok(TaxClass(text.to_string()))
    }

    /// `standard`, every variant's class unless given another.
    pub fn standard() -> TaxClass {
        TaxClass("standard".into())
    }

    /// Whether this is `standard`.
    pub fn is_standard(&self) -> bool {
        self.0 == "standard"
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TaxClass {
    fn default() -> Self {
        TaxClass::standard()
    }
}

impl TryFrom<String> for TaxClass {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TaxClass::parse(&value)
    }
}

impl From<TaxClass> for String {
    fn from(value: TaxClass) -> Self {
        value.0
    }
}

impl fmt::Display for TaxClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A variant's shipping and tax facts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipping {
    /// Weight of one unit, in grams (0: not given).
    pub weight_grams: u32,
    /// Whether it is shipped (false for a gift card or a download).
    pub requires_shipping: bool,
    /// Which tax rates apply.
    pub tax_class: TaxClass,
}

impl Shipping {
    /// Whether these are the defaults (then a record leaves them out).
    pub fn is_default(&self) -> bool {
        self == &Shipping::default()
    }
}

impl Default for Shipping {
    fn default() -> Self {
        Shipping {
            weight_grams: 0,
            requires_shipping: true,
            tax_class: TaxClass::standard(),
        }
    }
}

/// The shipping facts an admin sends; each `None` keeps what the variant
/// has (the default for a new one), so a client that predates them cannot
/// wipe them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShippingInput {
    /// Weight of one unit in grams, 0 to [`MAX_WEIGHT_GRAMS`].
    pub weight_grams: Option<i64>,
    /// Whether it is shipped.
    pub requires_shipping: Option<bool>,
    /// Its tax class.
    pub tax_class: Option<String>,
}

impl ShippingInput {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self == &ShippingInput::default()
    }

    /// The facts after this input, over `current` (the default for a new
    /// variant); each bad field is a user error under `at`.
    pub fn apply(&self, current: &Shipping, at: &[&str]) -> Result<Shipping, Vec<UserError>> {
        let mut errors = Vec::new();
        let field = |name: &str| {
            let mut path = at.to_vec();
            path.push(name);
            path.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        };
        let mut error = |name: &str, message: String| {
            let path = field(name);
            let refs: Vec<&str> = path.iter().map(String::as_str).collect();
            errors.push(UserError::new(ErrorCode::InvalidProduct, &refs, message));
        };
        let weight_grams = match self.weight_grams {
            None => current.weight_grams,
            Some(grams) => match u32::try_from(grams) {
                Ok(grams) if grams <= MAX_WEIGHT_GRAMS => grams,
                _ => {
                    error(
                        "weightGrams",
                        format!("a weight is 0 to {MAX_WEIGHT_GRAMS} grams"),
                    );
                    0
                }
            },
        };
        let tax_class = match &self.tax_class {
            None => current.tax_class.clone(),
            Some(text) => TaxClass::parse(text.trim()).unwrap_or_else(|why| {
                error("taxClass", why);
                TaxClass::standard()
            }),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Shipping {
            weight_grams,
            requires_shipping: self.requires_shipping.unwrap_or(current.requires_shipping),
            tax_class,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_classes_follow_the_naming_rule() {
        for good in ["standard", "reduced", "books-2", "zero_rated", "9"] {
            assert_eq!(TaxClass::parse(good).unwrap().as_str(), good);
        }
        for bad in [
            "",
            "Standard",
            "-x",
            "_x",
            "a b",
            "é",
            &"x".repeat(33),
            "x\u{0}",
        ] {
            assert!(TaxClass::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TaxClass::default().is_standard());
    }

    #[test]
    fn fields_left_out_keep_what_the_variant_has() {
        let current = Shipping {
            weight_grams: 250,
            requires_shipping: false,
            tax_class: TaxClass::parse("books").unwrap(),
        };
        assert_eq!(
            ShippingInput::default().apply(&current, &[]).unwrap(),
            current
        );
        let changed = ShippingInput {
            weight_grams: Some(0),
            requires_shipping: Some(true),
            tax_class: Some(" reduced ".into()),
        }
        .apply(&current, &[])
        .unwrap();
        assert_eq!(
            changed,
            Shipping {
                weight_grams: 0,
                requires_shipping: true,
                tax_class: TaxClass::parse("reduced").unwrap(),
            }
        );
    }

    #[test]
    fn bad_fields_are_named() {
        let bad = ShippingInput {
            weight_grams: Some(i64::from(MAX_WEIGHT_GRAMS) + 1),
            requires_shipping: None,
            tax_class: Some("Reduced Rate".into()),
        };
        let errors = bad
            .apply(&Shipping::default(), &["variants", "2"])
            .unwrap_err();
        let fields: Vec<String> = errors.iter().map(|e| e.field.join(".")).collect();
        assert_eq!(fields, ["variants.2.weightGrams", "variants.2.taxClass"]);
        assert!(errors.iter().all(|e| e.code == ErrorCode::InvalidProduct));
        for grams in [-1, i64::MIN, i64::MAX] {
            let input = ShippingInput {
                weight_grams: Some(grams),
                ..ShippingInput::default()
            };
            assert!(input.apply(&Shipping::default(), &[]).is_err(), "{grams}");
        }
    }
}
