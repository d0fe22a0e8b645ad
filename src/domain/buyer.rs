//! Who buys: e-mail, phone, country and shipping address, each checked.

use super::account::Email;
use super::error::{ErrorCode, UserError};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::LazyLock;

/// The longest address field, in UTF-8 bytes (200 characters of Latin
/// script, about 130 of Cyrillic, 100 of CJK).
pub const MAX_ADDRESS_FIELD_BYTES: usize = 400;

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountryCode(String);

impl CountryCode {
    /// Checks a code (case does not matter: `de` is `DE`).
    pub fn parse(text: &str) -> Result<CountryCode, String> {
        static CODES: LazyLock<HashSet<&'static str>> =
            LazyLock::new(|| iso_country::data::all().iter().map(|c| c.alpha2).collect());
        let code = text.trim().to_ascii_uppercase();
        if CODES.contains(code.as_str()) {
            Ok(CountryCode(code))
        } else {
            Err(format!(
                "'{}' is not an ISO 3166-1 alpha-2 country code",
                short(text)
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CountryCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        CountryCode::parse(&value)
    }
}

impl From<CountryCode> for String {
    fn from(value: CountryCode) -> Self {
        value.0
    }
}

/// A phone number in E.164 form: `+`, then 8 to 15 digits, the first not 0.
/// Spaces, dots, dashes and brackets are allowed in input and dropped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Checks and normalises a number.
    pub fn parse(text: &str) -> Result<Phone, String> {
        let compact: String = text
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+').unwrap_or("");
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Phone(compact))
        } else {
            Err("a phone number is in E.164 form: + then 8 to 15 digits, e.g. +4930123456".into())
        }
    }

    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Phone::parse(&value)
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

/// A shipping address. Every field is optional text but the country, which
/// is a code when given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// The recipient.
    pub name: Option<String>,
    /// Their company.
    pub company: Option<String>,
    /// Street and number.
    pub address1: Option<String>,
    /// More of it.
    pub address2: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State, province or region.
    pub province: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country.
    pub country_code: Option<CountryCode>,
    /// Phone at the address.
    pub phone: Option<Phone>,
}

/// Who buys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyerIdentity {
    /// Where the receipt goes.
    pub email: Option<Email>,
    /// A phone number.
    pub phone: Option<Phone>,
    /// The buyer's country.
    pub country_code: Option<CountryCode>,
    /// Where the order goes.
    pub shipping_address: Option<Address>,
}

impl BuyerIdentity {
    /// Whether nothing is known about the buyer.
    pub fn is_empty(&self) -> bool {
        self == &BuyerIdentity::default()
    }
}

/// Buyer identity as a client sends it: text, unchecked.
/// (Serialised only to fingerprint an idempotent request.)
#[derive(Clone, Debug, Default, Serialize)]
pub struct BuyerIdentityInput {
    /// E-mail.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Country code.
    pub country_code: Option<String>,
    /// Shipping address.
    pub shipping_address: Option<AddressInput>,
}

/// An address as a client sends it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AddressInput {
    /// The recipient.
    pub name: Option<String>,
    /// Their company.
    pub company: Option<String>,
    /// Street and number.
    pub address1: Option<String>,
    /// More of it.
    pub address2: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State, province or region.
    pub province: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country code.
    pub country_code: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

impl BuyerIdentityInput {
    /// Checks every field; the errors name them under `buyerIdentity`.
    pub fn check(&self) -> Result<BuyerIdentity, Vec<UserError>> {
        let mut errors = Vec::new();
        let mut field = |name: &[&str], code: ErrorCode, why: String| {
            let mut path = vec!["buyerIdentity"];
            path.extend_from_slice(name);
            errors.push(UserError::new(code, &path, why));
        };
        let email = present(&self.email).and_then(|text| {
            Email::parse(text)
                .map_err(|why| field(&["email"], ErrorCode::InvalidEmail, why))
                .ok()
        });
        let phone = present(&self.phone).and_then(|text| {
            Phone::parse(text)
                .map_err(|why| field(&["phone"], ErrorCode::InvalidPhone, why))
                .ok()
        });
        let country_code = present(&self.country_code).and_then(|text| {
            CountryCode::parse(text)
                .map_err(|why| field(&["countryCode"], ErrorCode::InvalidCountryCode, why))
                .ok()
        });
        let shipping_address = self.shipping_address.as_ref().map(|a| {
            let mut text = |name: &str, value: &Option<String>| {
                let value = present(value)?;
                if value.len() > MAX_ADDRESS_FIELD_BYTES || value.chars().any(char::is_control) {
                    field(
                        &["shippingAddress", name],
                        ErrorCode::InvalidAddress,
                        format!(
                            "at most {MAX_ADDRESS_FIELD_BYTES} bytes (UTF-8), no control characters"
                        ),
                    );
                    return None;
                }
                Some(value.to_string())
            };
            let mut address = Address {
                name: text("name", &a.name),
                company: text("company", &a.company),
                address1: text("address1", &a.address1),
                address2: text("address2", &a.address2),
                city: text("city", &a.city),
                province: text("province", &a.province),
                postal_code: text("postalCode", &a.postal_code),
                country_code: None,
                phone: None,
            };
            address.country_code = present(&a.country_code).and_then(|text| {
                CountryCode::parse(text)
                    .map_err(|why| {
                        field(
                            &["shippingAddress", "countryCode"],
                            ErrorCode::InvalidCountryCode,
                            why,
                        )
                    })
                    .ok()
            });
            address.phone = present(&a.phone).and_then(|text| {
                Phone::parse(text)
                    .map_err(|why| {
                        field(&["shippingAddress", "phone"], ErrorCode::InvalidPhone, why)
                    })
                    .ok()
            });
            address
        });
        // An address with nothing in it is no address.
        let shipping_address = shipping_address.filter(|a| a != &Address::default());
        if errors.is_empty() {
            Ok(BuyerIdentity {
                email,
                phone,
                country_code,
                shipping_address,
            })
        } else {
            Err(errors)
        }
    }
}

/// A field with something in it (blank counts as absent).
fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn short(text: &str) -> String {
    text.chars().take(20).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_iso_codes_in_any_case() {
        assert_eq!(CountryCode::parse("de").unwrap().as_str(), "DE");
        for bad in ["", "XX", "DEU", "Germany"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_are_e164_with_separators_dropped() {
        assert_eq!(
            Phone::parse("+49 (30) 123-456").unwrap().as_str(),
            "+4930123456"
        );
        for bad in [
            "030123456",
            "+0123456789",
            "+123",
            "+1234567890123456",
            "+49 30 abc",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_bad_field_is_named_and_blanks_are_absent() {
        let input = BuyerIdentityInput {
            email: Some("not mail".into()),
            phone: Some("12".into()),
            country_code: Some("  ".into()),
            shipping_address: Some(AddressInput {
                // 134 characters, but 402 bytes: over the 400-byte limit.
                city: Some("€".repeat(134)),
                country_code: Some("ZZ".into()),
                ..AddressInput::default()
            }),
        };
        let errors = input.check().unwrap_err();
        let fields: Vec<String> = errors.iter().map(|e| e.field.join(".")).collect();
        assert_eq!(
            fields,
            [
                "buyerIdentity.email",
                "buyerIdentity.phone",
                "buyerIdentity.shippingAddress.city",
                "buyerIdentity.shippingAddress.countryCode"
            ]
        );
        let ok = BuyerIdentityInput {
            email: Some(" Ann@Example.com ".into()),
            country_code: Some("fr".into()),
            ..BuyerIdentityInput::default()
        }
        .check()
        .unwrap();
        assert_eq!(ok.email.unwrap().as_str(), "ann@example.com");
        assert_eq!(ok.country_code.unwrap().as_str(), "FR");
        assert_eq!(ok.phone, None);
    }
}
