//! Money: integer minor units with checked arithmetic, and the shop's currency.
//!
//! Amounts never pass through floats. A `Money` is a count of the currency's
//! minor units (cents for USD, yen for JPY); `Currency` knows how many decimal
//! places that is and turns amounts into and out of decimal strings.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest unit price a product may have, in minor units.
///
/// Chosen with the cart limits so that no cart or order total can overflow an
/// i64: 10^12 × 10,000 (max quantity) × 500 (max lines) = 5 × 10^18 < 9.2 × 10^18.
/// Arithmetic is still checked everywhere.
pub const MAX_UNIT_PRICE_MINOR: i64 = 1_000_000_000_000;

/// An amount in minor units of the shop's single currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    /// Zero, in any currency.
    pub const ZERO: Money = Money(0);

    /// An amount from a count of minor units.
    pub fn from_minor(minor: i64) -> Self {
        Money(minor)
    }

    /// The count of minor units.
    pub fn minor(self) -> i64 {
        self.0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// `self × quantity`, or `None` on overflow.
    pub fn checked_mul(self, quantity: u32) -> Option<Money> {
        self.0.checked_mul(i64::from(quantity)).map(Money)
    }
}

/// The shop's currency: an ISO 4217 code with a fixed number of decimal places.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Currency {
    code: iso_currency::Currency,
    exponent: u32,
}

/// Why a decimal string is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not of the form `123` or `123.45`.
    #[error("must be a non-negative decimal like \"19.99\" (at most {0} decimal places)")]
    Malformed(u32),
    /// More decimal places than the currency has.
    #[error("has more than {0} decimal places")]
    TooPrecise(u32),
    /// Larger than [`MAX_UNIT_PRICE_MINOR`].
    #[error("is larger than the maximum of {0}")]
    TooLarge(String),
}

impl Currency {
    /// Parses an ISO 4217 code such as `USD` or `eur`. Codes without a
    /// decimal convention (precious metals, `XXX`) are refused.
    pub fn parse(code: &str) -> Result<Self, String> {
        let upper = code.trim().to_ascii_uppercase();
        let iso = iso_currency::Currency::from_code(&upper)
            .ok_or_else(|| format!("'{code}' is not an ISO 4217 currency code"))?;
        let exponent = iso
            .exponent()
            .ok_or_else(|| format!("'{upper}' has no minor unit and cannot price goods"))?;
        Ok(Currency {
            code: iso,
            exponent: u32::from(exponent),
        })
    }

    /// The three-letter code, e.g. `USD`.
    pub fn code(&self) -> &'static str {
        self.code.code()
    }

    /// Decimal places of the minor unit (2 for USD, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// Formats an amount as a decimal string: `1999` minor USD → `"19.99"`.
    pub fn format(&self, amount: Money) -> String {
        // The digits of the absolute amount, then the point put in (padded
        // with zeros below one unit): an answer formats every price it
        // selects, and `format!` with a width cost 850 instructions a price.
        let minor = amount.minor();
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(minor.unsigned_abs());
        let exponent = self.exponent as usize;
        let mut text = String::with_capacity(digits.len() + exponent + 3);
        if minor < 0 {
            text.push('-');
        }
        if exponent == 0 {
            text.push_str(digits);
            return text;
        }
        let whole = digits.len().saturating_sub(exponent);
        text.push_str(if whole == 0 { "0" } else { &digits[..whole] });
        text.push('.');
        text.extend(std::iter::repeat_n(
            '0',
            exponent.saturating_sub(digits.len()),
        ));
        text.push_str(&digits[whole..]);
        text
    }

    /// Parses a non-negative decimal string into an amount: `"19.99"` → 1999.
    /// Accepts fewer decimal places than the currency has (`"19.9"`, `"19"`).
    pub fn parse_amount(&self, text: &str) -> Result<Money, AmountError> {
        let malformed = AmountError::Malformed(self.exponent);
        let (whole, fraction) = match text.split_once('.') {
            Some((w, f)) => (w, f),
            None => (text, ""),
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) {
            return Err(malformed);
        }
        if text.contains('.') && fraction.is_empty() {
            return Err(malformed);
        }
        if fraction.len() > self.exponent as usize {
            return Err(AmountError::TooPrecise(self.exponent));
        }
        let too_large = || AmountError::TooLarge(self.format(Money(MAX_UNIT_PRICE_MINOR)));
        let whole: i64 = whole.parse().map_err(|_| too_large())?;
        let padded = format!("{fraction:0<width$}", width = self.exponent as usize);
        let fraction: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| malformed.clone())?
        };
        let minor = whole
            .checked_mul(10i64.pow(self.exponent))
            .and_then(|w| w.checked_add(fraction))
            .ok_or_else(too_large)?;
        if minor > MAX_UNIT_PRICE_MINOR {
            return Err(too_large());
        }
        Ok(Money(minor))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn formats_minor_units_with_the_currency_exponent() {
        assert_eq!(usd().format(Money::from_minor(1999)), "19.99");
        assert_eq!(usd().format(Money::from_minor(5)), "0.05");
        assert_eq!(usd().format(Money::from_minor(-50)), "-0.50");
        assert_eq!(
            Currency::parse("JPY")
                .unwrap()
                .format(Money::from_minor(1999)),
            "1999"
        );
        assert_eq!(
            Currency::parse("KWD")
                .unwrap()
                .format(Money::from_minor(1999)),
            "1.999"
        );
    }

    /// The formatter against the plain arithmetic it replaced, over the
    /// edges (zero, one unit, the extremes of i64) and every exponent ISO
    /// 4217 uses.
    #[test]
    fn formats_like_whole_point_fraction_for_every_exponent_and_extreme() {
        let plain = |minor: i64, exponent: u32| {
            if exponent == 0 {
                return minor.to_string();
            }
            let scale = 10u64.pow(exponent);
            let abs = minor.unsigned_abs();
            let sign = if minor < 0 { "-" } else { "" };
            format!(
                "{sign}{}.{:0width$}",
                abs / scale,
                abs % scale,
                width = exponent as usize
            )
        };
        let mut amounts = vec![i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1];
        for magnitude in 0..19 {
            let power = 10i64.pow(magnitude);
            for near in [power - 1, power, power + 1, power * 7 + 3] {
                amounts.extend([near, -near]);
            }
        }
        // ISO 4217 has exponents 0 (JPY), 2 (USD), 3 (KWD) and 4 (CLF); 1 too,
        // should a currency take it.
        for (code, exponent) in [("JPY", 0), ("USD", 2), ("KWD", 3), ("CLF", 4)] {
            assert_eq!(Currency::parse(code).unwrap().exponent, exponent, "{code}");
        }
        for exponent in 0..=4 {
            let currency = Currency { exponent, ..usd() };
            for &minor in &amounts {
                assert_eq!(
                    currency.format(Money::from_minor(minor)),
                    plain(minor, exponent),
                    "{minor} with exponent {exponent}"
                );
            }
        }
    }

    #[test]
    fn parses_decimal_strings_exactly() {
        assert_eq!(usd().parse_amount("19.99"), Ok(Money::from_minor(1999)));
        assert_eq!(usd().parse_amount("19.9"), Ok(Money::from_minor(1990)));
        assert_eq!(usd().parse_amount("19"), Ok(Money::from_minor(1900)));
        assert_eq!(usd().parse_amount("0"), Ok(Money::ZERO));
        assert_eq!(
            Currency::parse("JPY").unwrap().parse_amount("500"),
            Ok(Money::from_minor(500))
        );
    }

    #[test]
    fn refuses_malformed_negative_and_overprecise_amounts() {
        for bad in [
            "", "-1", "1.", ".5", "1e3", "1,00", " 1", "0x10", "1.2.3", "NaN",
        ] {
            assert!(
                matches!(usd().parse_amount(bad), Err(AmountError::Malformed(2))),
                "{bad:?}"
            );
        }
        assert_eq!(usd().parse_amount("1.999"), Err(AmountError::TooPrecise(2)));
        assert!(matches!(
            Currency::parse("JPY").unwrap().parse_amount("1.5"),
            Err(AmountError::TooPrecise(0))
        ));
    }

    #[test]
    fn refuses_amounts_above_the_maximum_price() {
        assert!(matches!(
            usd().parse_amount("10000000000.01"),
            Err(AmountError::TooLarge(_))
        ));
        assert!(matches!(
            usd().parse_amount("99999999999999999999999"),
            Err(AmountError::TooLarge(_))
        ));
        assert_eq!(
            usd().parse_amount("10000000000"),
            Ok(Money::from_minor(MAX_UNIT_PRICE_MINOR))
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(
            Money::from_minor(i64::MAX).checked_add(Money::from_minor(1)),
            None
        );
        assert_eq!(Money::from_minor(i64::MAX / 2).checked_mul(3), None);
        assert_eq!(
            Money::from_minor(250).checked_mul(4),
            Some(Money::from_minor(1000))
        );
    }

    #[test]
    fn currency_codes_are_validated() {
        assert_eq!(Currency::parse("eur").unwrap().code(), "EUR");
        assert!(Currency::parse("ABC").is_err());
        assert!(Currency::parse("XAU").is_err());
        assert!(Currency::parse("").is_err());
    }
}
