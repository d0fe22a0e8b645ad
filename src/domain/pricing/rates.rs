//! Tax rates as an admin sets them (`upsertTaxRate`): per country, an
//! optional province, and a tax class; and the [`TaxTable`] a buyer's
//! address picks from them.

use super::input::{ClassRate, TaxTable};
use super::percent::Percent;
use crate::domain::buyer::CountryCode;
use crate::domain::error::{ErrorCode, UserError};
use crate::domain::names::Title;
use crate::domain::shipping::TaxClass;
use serde::{Deserialize, Serialize};

/// The most tax rates a shop may have (every country × a few classes).
pub const MAX_TAX_RATES: usize = 2000;

/// The longest province name, in UTF-8 bytes.
pub const MAX_PROVINCE_BYTES: usize = 64;

/// A tax rate: what a class of goods pays in a country, or in one of its
/// provinces (a province's rate replaces the country's for that class).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxRate {
    /// The country.
    pub country_code: CountryCode,
    /// A province or state (`NY`, `Bavaria`), or `None` for the whole country.
    pub province: Option<String>,
    /// The class it applies to.
    pub tax_class: TaxClass,
    /// The rate.
    pub rate: Percent,
    /// The tax line's title (`VAT`, `NY State Tax`).
    pub title: String,
}

/// A tax rate as an admin sends it.
#[derive(Clone, Debug, Default)]
pub struct TaxRateInput {
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
    /// A province, or none (blank is none).
    pub province: Option<String>,
    /// The class; `standard` when not given.
    pub tax_class: Option<String>,
    /// The rate, a decimal percentage (`19`, `8.875`).
    pub rate_percent: String,
    /// The tax line's title.
    pub title: String,
}

/// Which rate a record is: country, province and class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaxRateKey {
    /// The country.
    pub country_code: CountryCode,
    /// The province, if any.
    pub province: Option<String>,
    /// The class.
    pub tax_class: TaxClass,
}

impl TaxRateKey {
    /// Checks a key as an admin gives it (`deleteTaxRate`); errors name the field.
    pub fn parse(
        country_code: &str,
        province: Option<&str>,
        tax_class: Option<&str>,
    ) -> Result<TaxRateKey, Vec<UserError>> {
        let mut errors = Vec::new();
        let country_code = CountryCode::parse(country_code)
            .map_err(|why| errors.push(invalid("countryCode", why)))
            .ok();
        let province = checked_province(province)
            .map_err(|why| errors.push(invalid("province", why)))
            .ok();
        let tax_class = TaxClass::parse(tax_class.unwrap_or("standard").trim())
            .map_err(|why| errors.push(invalid("taxClass", why)))
            .ok();
        match (country_code, province, tax_class) {
            (Some(country_code), Some(province), Some(tax_class)) if errors.is_empty() => {
                Ok(TaxRateKey {
                    country_code,
                    province,
                    tax_class,
                })
            }
            _ => Err(errors),
        }
    }

    /// The record key: `DE//standard`, `US/NY/standard` (provinces hold no `/`).
    pub fn record_key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.country_code.as_str(),
            self.province.as_deref().unwrap_or(""),
            self.tax_class.as_str()
        )
    }
}

impl TaxRate {
    /// Checks `input`; each bad field is an `INVALID_TAX_RATE` naming it.
    pub fn parse(input: &TaxRateInput) -> Result<TaxRate, Vec<UserError>> {
        let key = TaxRateKey::parse(
            &input.country_code,
            input.province.as_deref(),
            input.tax_class.as_deref(),
        );
        let mut errors = key.as_ref().err().cloned().unwrap_or_default();
        let rate = Percent::parse(input.rate_percent.trim())
            .map_err(|why| errors.push(invalid("ratePercent", format!("the rate {why}"))))
            .ok();
        let title = Title::parse(&input.title)
            .map_err(|why| errors.push(invalid("title", why)))
            .ok();
        match (key, rate, title) {
            (Ok(key), Some(rate), Some(title)) if errors.is_empty() => Ok(TaxRate {
                country_code: key.country_code,
                province: key.province,
                tax_class: key.tax_class,
                rate,
                title: title.into_string(),
            }),
            _ => Err(errors),
        }
    }

    /// Which rate this is.
    pub fn key(&self) -> TaxRateKey {
        TaxRateKey {
            country_code: self.country_code.clone(),
            province: self.province.clone(),
            tax_class: self.tax_class.clone(),
        }
    }
}

/// The rates for a buyer's tax address: for each class, the province's rate
/// when the shop set one for it, else the country's. No address: an empty
/// table, `address_known: false` (the cost is estimated, without tax).
/// Provinces match without regard to case or surrounding spaces.
pub fn tax_table(
    rates: &[TaxRate],
    country: Option<&CountryCode>,
    province: Option<&str>,
) -> TaxTable {
    let Some(country) = country else {
        return TaxTable::default();
    };
    let province = province.map(|p| p.trim().to_lowercase());
    let mut table = TaxTable {
        address_known: true,
        ..TaxTable::default()
    };
    let in_country = rates.iter().filter(|r| &r.country_code == country);
    for rate in in_country.clone().filter(|r| r.province.is_none()) {
        table
            .by_class
            .insert(rate.tax_class.as_str().to_string(), class_rate(rate));
    }
    if let Some(province) = &province {
        for rate in in_country.filter(|r| {
            r.province
                .as_deref()
                .is_some_and(|p| p.to_lowercase() == *province)
        }) {
            table
                .by_class
                .insert(rate.tax_class.as_str().to_string(), class_rate(rate));
        }
    }
    table
}

fn class_rate(rate: &TaxRate) -> ClassRate {
    ClassRate {
        title: rate.title.clone(),
        rate: rate.rate,
    }
}

fn checked_province(text: Option<&str>) -> Result<Option<String>, String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.len() > MAX_PROVINCE_BYTES || text.contains('/') || text.chars().any(char::is_control) {
        return Err(format!(
            "a province has at most {MAX_PROVINCE_BYTES} bytes (UTF-8), no '/' or control characters"
        ));
    }
    Ok(Some(text.to_string()))
}

fn invalid(field: &str, message: impl Into<String>) -> UserError {
    UserError::new(ErrorCode::InvalidTaxRate, &[field], message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(country: &str, province: Option<&str>, class: &str, percent: &str) -> TaxRate {
        TaxRate::parse(&TaxRateInput {
            country_code: country.into(),
            province: province.map(Into::into),
            tax_class: Some(class.into()),
            rate_percent: percent.into(),
            title: format!("{country} {class}"),
        })
        .unwrap()
    }

    #[test]
    fn a_province_rate_replaces_the_country_rate_for_its_class() {
        let rates = [
            rate("US", None, "standard", "4"),
            rate("US", Some("NY"), "standard", "8.875"),
            rate("US", None, "books", "0"),
            rate("DE", None, "standard", "19"),
        ];
        let us = CountryCode::parse("us").unwrap();
        let ny = tax_table(&rates, Some(&us), Some(" ny "));
        assert!(ny.address_known);
        assert_eq!(
            ny.by_class["standard"].rate,
            Percent::parse("8.875").unwrap()
        );
        assert_eq!(ny.by_class["books"].rate, Percent::parse("0").unwrap());
        let ca = tax_table(&rates, Some(&us), Some("CA"));
        assert_eq!(ca.by_class["standard"].rate, Percent::parse("4").unwrap());
        let nowhere = tax_table(&rates, None, None);
        assert!(!nowhere.address_known && nowhere.by_class.is_empty());
        let fr = tax_table(&rates, Some(&CountryCode::parse("FR").unwrap()), None);
        assert!(fr.address_known && fr.by_class.is_empty());
    }

    #[test]
    fn bad_fields_are_named_and_keys_are_canonical() {
        let bad = TaxRate::parse(&TaxRateInput {
            country_code: "XX".into(),
            province: Some("a/b".into()),
            tax_class: Some("Standard".into()),
            rate_percent: "-1".into(),
            title: " ".into(),
        })
        .unwrap_err();
        let fields: Vec<String> = bad.iter().map(|e| e.field.join(".")).collect();
        assert_eq!(
            fields,
            [
                "countryCode",
                "province",
                "taxClass",
                "ratePercent",
                "title"
            ]
        );
        assert!(bad.iter().all(|e| e.code == ErrorCode::InvalidTaxRate));
        let de = rate("de", Some("  "), "standard", "19");
        assert_eq!(de.key().record_key(), "DE//standard");
        assert_eq!(
            rate("US", Some("NY"), "books", "4").key().record_key(),
            "US/NY/books"
        );
        for text in ["1000", "19.00001", "abc", ""] {
            let input = TaxRateInput {
                country_code: "DE".into(),
                rate_percent: text.into(),
                title: "VAT".into(),
                ..TaxRateInput::default()
            };
            assert!(TaxRate::parse(&input).is_err(), "{text}");
        }
    }
}
