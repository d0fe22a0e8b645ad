//! Shipping rates as an admin sets them (`upsertShippingRate`): a price, the
//! countries it ships to, and the carts it serves (by subtotal and weight);
//! which rates serve a cart ([`ShippingRate::serves`]) and what one costs it
//! ([`ShippingRate::price_for`]).

use super::input::rate_price;
use crate::domain::buyer::CountryCode;
use crate::domain::error::{ErrorCode, UserError};
use crate::domain::money::{Currency, Money};
use crate::domain::names::{Handle, Title};
use serde::{Deserialize, Serialize};

/// The most countries one rate lists (there are 249 ISO 3166-1 codes).
pub const MAX_RATE_COUNTRIES: usize = 250;

/// The largest weight bound a rate may have, in grams (1,000 tonnes: it
/// fits GraphQL's `Int`, and no bound above it tells carts apart that a
/// bound below it does not).
pub const MAX_RATE_WEIGHT_GRAMS: i64 = 1_000_000_000;

/// A shipping rate: what shipping costs a cart it serves. Stored as a shop
/// record keyed by its handle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShippingRate {
    /// Its key, and the delivery option's handle buyers choose.
    pub handle: Handle,
    /// What buyers see (`Standard`, `Express`).
    pub title: String,
    /// Where it ships, without repeats; empty = everywhere.
    pub countries: Vec<CountryCode>,
    /// Its price, on the shop's price basis.
    pub price: Money,
    /// It serves carts whose subtotal is at least this.
    pub min_subtotal: Option<Money>,
    /// It serves carts whose subtotal is at most this.
    pub max_subtotal: Option<Money>,
    /// It serves carts that weigh at least this.
    pub min_weight_grams: Option<u64>,
    /// It serves carts that weigh at most this.
    pub max_weight_grams: Option<u64>,
    /// Carts whose subtotal reaches this ship for nothing.
    pub free_above: Option<Money>,
    /// An inactive rate serves no cart.
    pub active: bool,
}

/// A shipping rate as an admin sends it: text and numbers, unchecked.
#[derive(Clone, Debug, Default)]
pub struct ShippingRateInput {
    /// The handle (`standard`, `express-eu`).
    pub handle: String,
    /// The title.
    pub title: String,
    /// ISO 3166-1 alpha-2 codes, any case; none = everywhere.
    pub countries: Vec<String>,
    /// A decimal amount in the shop currency.
    pub price: String,
    /// A decimal amount.
    pub min_subtotal: Option<String>,
    /// A decimal amount.
    pub max_subtotal: Option<String>,
    /// Grams.
    pub min_weight_grams: Option<i64>,
    /// Grams.
    pub max_weight_grams: Option<i64>,
    /// A decimal amount.
    pub free_above: Option<String>,
    /// Whether it serves carts at all.
    pub active: bool,
}

impl ShippingRate {
    /// Checks `input`, amounts in `currency`; every bad field is an
    /// `INVALID_SHIPPING_RATE` naming it, all reported at once.
    pub fn parse(
        input: &ShippingRateInput,
        currency: &Currency,
    ) -> Result<ShippingRate, Vec<UserError>> {
        let mut errors = Vec::new();
        let handle = Handle::parse(&input.handle)
            .map_err(|why| errors.push(invalid(&["handle"], why)))
            .ok();
        let title = Title::parse(&input.title)
            .map_err(|why| errors.push(invalid(&["title"], why)))
            .ok();
        let countries = countries(&input.countries, &mut errors);
        let e = &mut errors;
        let price = amount(currency, Some(&input.price), "price", e);
        let min_subtotal = amount(currency, input.min_subtotal.as_deref(), "minSubtotal", e);
        let max_subtotal = amount(currency, input.max_subtotal.as_deref(), "maxSubtotal", e);
        let min_weight = grams(input.min_weight_grams, "minWeightGrams", e);
        let max_weight = grams(input.max_weight_grams, "maxWeightGrams", e);
        let free_above = amount(currency, input.free_above.as_deref(), "freeAbove", e);
        if let (Some(min), Some(max)) = (min_subtotal, max_subtotal)
            && min > max
        {
            errors.push(invalid(
                &["maxSubtotal"],
                "maxSubtotal is below minSubtotal",
            ));
        }
        if let (Some(min), Some(max)) = (min_weight, max_weight)
            && min > max
        {
            let why = "maxWeightGrams is below minWeightGrams";
            errors.push(invalid(&["maxWeightGrams"], why));
        }
        match (handle, title, price) {
            (Some(handle), Some(title), Some(price)) if errors.is_empty() => Ok(ShippingRate {
                handle,
                title: title.into_string(),
                countries,
                price,
                min_subtotal,
                max_subtotal,
                min_weight_grams: min_weight,
                max_weight_grams: max_weight,
                free_above,
                active: input.active,
            }),
            _ => Err(errors),
        }
    }

    /// Whether it serves a cart shipped to `country` (none: not yet known)
    /// with this `subtotal` (before discounts) and weight: it is active,
    /// ships everywhere or to that country, and the subtotal and weight are
    /// within its bounds (inclusive).
    pub fn serves(
        &self,
        country: Option<&CountryCode>,
        subtotal: Money,
        weight_grams: u64,
    ) -> bool {
        let ships_there =
            self.countries.is_empty() || country.is_some_and(|c| self.countries.contains(c));
        self.active
            && ships_there
            && self.min_subtotal.is_none_or(|min| subtotal >= min)
            && self.max_subtotal.is_none_or(|max| subtotal <= max)
            && self.min_weight_grams.is_none_or(|min| weight_grams >= min)
            && self.max_weight_grams.is_none_or(|max| weight_grams <= max)
    }

    /// What it costs a cart with this `subtotal` (before discounts):
    /// nothing from `free_above` on, else its price ([`rate_price`]).
    pub fn price_for(&self, subtotal: Money) -> Money {
        rate_price(self.price, self.free_above, subtotal)
    }
}

/// The countries, checked and without repeats; each bad one named by its
/// index. More than [`MAX_RATE_COUNTRIES`] entries are refused unread.
fn countries(given: &[String], errors: &mut Vec<UserError>) -> Vec<CountryCode> {
    if given.len() > MAX_RATE_COUNTRIES {
        let why = format!("at most {MAX_RATE_COUNTRIES} countries per rate");
        errors.push(invalid(&["countries"], why));
        return Vec::new();
    }
    let mut countries: Vec<CountryCode> = Vec::with_capacity(given.len());
    for (index, text) in given.iter().enumerate() {
        match CountryCode::parse(text) {
            Ok(code) if countries.contains(&code) => {}
            Ok(code) => countries.push(code),
            Err(why) => errors.push(invalid(&["countries", &index.to_string()], why)),
        }
    }
    countries
}

/// An amount in `currency` (none when not given), or an error at `field`.
fn amount(
    currency: &Currency,
    text: Option<&str>,
    field: &str,
    errors: &mut Vec<UserError>,
) -> Option<Money> {
    let parsed = currency.parse_amount(text?);
    parsed
        .map_err(|why| errors.push(invalid(&[field], format!("{field} {why}"))))
        .ok()
}

/// A weight bound in `0..=MAX_RATE_WEIGHT_GRAMS`, or an error at `field`.
fn grams(value: Option<i64>, field: &str, errors: &mut Vec<UserError>) -> Option<u64> {
    let value = value?;
    match u64::try_from(value) {
        Ok(grams) if value <= MAX_RATE_WEIGHT_GRAMS => Some(grams),
        _ => {
            let why = format!("{field} must be 0 to {MAX_RATE_WEIGHT_GRAMS}");
            errors.push(invalid(&[field], why));
            None
        }
    }
}

fn invalid(field: &[&str], message: impl Into<String>) -> UserError {
    UserError::new(ErrorCode::InvalidShippingRate, field, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn input() -> ShippingRateInput {
        ShippingRateInput {
            handle: "standard".into(),
            title: "Standard".into(),
            price: "4.90".into(),
            active: true,
            ..ShippingRateInput::default()
        }
    }

    fn rate(change: impl FnOnce(&mut ShippingRateInput)) -> ShippingRate {
        let mut given = input();
        change(&mut given);
        ShippingRate::parse(&given, &usd()).unwrap()
    }

    fn refused(change: impl FnOnce(&mut ShippingRateInput)) -> Vec<String> {
        let mut given = input();
        change(&mut given);
        let errors = ShippingRate::parse(&given, &usd()).unwrap_err();
        assert!(
            errors
                .iter()
                .all(|e| e.code == ErrorCode::InvalidShippingRate)
        );
        errors.iter().map(|e| e.field.join(".")).collect()
    }

    fn cents(minor: i64) -> Money {
        Money::from_minor(minor)
    }

    fn country(code: &str) -> CountryCode {
        CountryCode::parse(code).unwrap()
    }

    #[test]
    fn a_plain_rate_reads_in_minor_units_and_serves_everywhere() {
        let rate = rate(|_| {});
        assert_eq!(rate.price, cents(490));
        assert_eq!(rate.title, "Standard");
        assert!(rate.serves(None, Money::ZERO, 0));
        assert!(rate.serves(Some(&country("JP")), cents(i64::MAX), u64::MAX));
    }

    #[test]
    fn countries_are_canonical_and_deduplicated() {
        let rate = rate(|r| r.countries = vec!["de".into(), " AT ".into(), "DE".into()]);
        assert_eq!(rate.countries, vec![country("DE"), country("AT")]);
        assert!(rate.serves(Some(&country("AT")), cents(100), 10));
        assert!(!rate.serves(Some(&country("FR")), cents(100), 10));
        assert!(
            !rate.serves(None, cents(100), 10),
            "a listed country must be known"
        );
    }

    #[test]
    fn subtotal_and_weight_bounds_are_inclusive() {
        let rate = rate(|r| {
            r.min_subtotal = Some("10".into());
            r.max_subtotal = Some("50.00".into());
            r.min_weight_grams = Some(100);
            r.max_weight_grams = Some(2000);
        });
        for (subtotal, weight, served) in [
            (1000, 100, true),
            (5000, 2000, true),
            (999, 500, false),
            (5001, 500, false),
            (2000, 99, false),
            (2000, 2001, false),
        ] {
            assert_eq!(
                rate.serves(None, cents(subtotal), weight),
                served,
                "{subtotal} {weight}"
            );
        }
        let equal = super::tests::rate(|r| {
            r.min_subtotal = Some("10".into());
            r.max_subtotal = Some("10".into());
            r.min_weight_grams = Some(0);
            r.max_weight_grams = Some(0);
        });
        assert!(equal.serves(None, cents(1000), 0), "min = max is one point");
    }

    #[test]
    fn an_inactive_rate_serves_nothing() {
        let rate = rate(|r| r.active = false);
        assert!(!rate.serves(None, cents(100), 0));
    }

    #[test]
    fn free_above_is_reached_at_the_threshold() {
        let rate = rate(|r| r.free_above = Some("50".into()));
        assert_eq!(rate.price_for(cents(4999)), cents(490));
        assert_eq!(rate.price_for(cents(5000)), Money::ZERO);
        assert_eq!(
            super::tests::rate(|_| {}).price_for(cents(i64::MAX)),
            cents(490)
        );
        let free = super::tests::rate(|r| r.price = "0".into());
        assert_eq!(free.price_for(Money::ZERO), Money::ZERO);
    }

    #[test]
    fn each_bad_field_is_named_and_all_are_reported_at_once() {
        let fields = refused(|r| {
            r.handle = "Standard Post".into();
            r.title = "\u{7}".into();
            r.countries = vec!["DE".into(), "XX".into(), "".into()];
            r.price = "-1".into();
            r.min_subtotal = Some("1.234".into());
            r.max_subtotal = Some("abc".into());
            r.min_weight_grams = Some(-1);
            r.max_weight_grams = Some(MAX_RATE_WEIGHT_GRAMS + 1);
            r.free_above = Some("99999999999999999999".into());
        });
        assert_eq!(
            fields,
            [
                "handle",
                "title",
                "countries.1",
                "countries.2",
                "price",
                "minSubtotal",
                "maxSubtotal",
                "minWeightGrams",
                "maxWeightGrams",
                "freeAbove"
            ]
        );
    }

    #[test]
    fn minimums_above_maximums_are_refused_on_the_maximum() {
        let fields = refused(|r| {
            r.min_subtotal = Some("10.01".into());
            r.max_subtotal = Some("10".into());
            r.min_weight_grams = Some(2);
            r.max_weight_grams = Some(1);
        });
        assert_eq!(fields, ["maxSubtotal", "maxWeightGrams"]);
    }

    #[test]
    fn strings_are_bounded_in_bytes() {
        let long_title = "é".repeat(crate::domain::names::MAX_TITLE_BYTES / 2 + 1);
        assert_eq!(refused(|r| r.title = long_title), ["title"]);
        let fits = "é".repeat(crate::domain::names::MAX_TITLE_BYTES / 2);
        assert_eq!(rate(|r| r.title = fits.clone()).title, fits);
        assert_eq!(refused(|r| r.handle = "a".repeat(65)), ["handle"]);
        assert_eq!(refused(|r| r.handle = String::new()), ["handle"]);
        assert_eq!(refused(|r| r.price = String::new()), ["price"]);
        let many = vec!["DE".to_string(); MAX_RATE_COUNTRIES + 1];
        assert_eq!(refused(|r| r.countries = many), ["countries"]);
        let most = vec!["DE".to_string(); MAX_RATE_COUNTRIES];
        assert_eq!(rate(|r| r.countries = most).countries, vec![country("DE")]);
    }

    #[test]
    fn amounts_follow_the_currency() {
        let yen = Currency::parse("JPY").unwrap();
        let mut given = input();
        given.price = "500".into();
        assert_eq!(ShippingRate::parse(&given, &yen).unwrap().price, cents(500));
        given.price = "4.90".into();
        assert!(ShippingRate::parse(&given, &yen).is_err());
    }

    #[test]
    fn a_stored_rate_reads_back() {
        let rate = rate(|r| {
            r.countries = vec!["DE".into()];
            r.free_above = Some("50".into());
            r.max_weight_grams = Some(30_000);
        });
        let value = serde_json::to_value(&rate).unwrap();
        let back: ShippingRate = serde_json::from_value(value).unwrap();
        assert_eq!(back, rate);
    }
}
