//! Percentages held exactly: tax rates and percentage discounts.
//!
//! A percentage is a count of millionths of the whole (parts per million):
//! `"19"` % is 190,000, `"8.875"` % is 88,750. Four decimal places of a
//! percent are exactly one millionth, so every percentage an admin can type
//! is held without loss, and `amount × millionths` fits an i128 for any cart.

use super::rounding::RoundingMode;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Millionths in the whole (100 %).
pub const MILLION: u32 = 1_000_000;

/// A non-negative percentage below 1000 %, exact to 0.0001 %.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Percent(u32);

/// Why a decimal string is not a percentage.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PercentError {
    /// Not of the form `19` or `8.875`.
    #[error("must be a decimal percentage like \"19\" or \"8.875\"")]
    Malformed,
    /// Below zero.
    #[error("must not be negative")]
    Negative,
    /// More than four decimal places.
    #[error("has more than {} decimal places", Percent::MAX_DECIMALS)]
    TooPrecise,
    /// 1000 % or more.
    #[error("must be below 1000 %")]
    TooLarge,
}

impl Percent {
    /// Nothing.
    pub const ZERO: Percent = Percent(0);
    /// The whole: 100 %.
    pub const HUNDRED: Percent = Percent(MILLION);
    /// Decimal places of a percent that can be written (one millionth).
    pub const MAX_DECIMALS: usize = 4;
    /// The first percentage refused: 1000 % (no tax or discount is larger;
    /// the bound keeps `amount × millionths` far from overflow).
    const LIMIT: u32 = 1000 * MILLION / 100;

    /// Parses a decimal percent string: digits, optionally a point and one
    /// to four more digits (`"19"`, `"8.875"`, `"0.0001"`).
    pub fn parse(text: &str) -> Result<Percent, PercentError> {
        if text.starts_with('-') {
            return Err(PercentError::Negative);
        }
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) {
            return Err(PercentError::Malformed);
        }
        if text.contains('.') && fraction.is_empty() {
            return Err(PercentError::Malformed);
        }
        if fraction.len() > Self::MAX_DECIMALS {
            return Err(PercentError::TooPrecise);
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 3 {
            return Err(PercentError::TooLarge);
        }
        let whole: u32 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| PercentError::Malformed)?
        };
        let padded = format!("{fraction:0<width$}", width = Self::MAX_DECIMALS);
        let fraction: u32 = padded.parse().map_err(|_| PercentError::Malformed)?;
        Percent::from_millionths(whole * 10_000 + fraction).ok_or(PercentError::TooLarge)
    }

    /// A percentage from its count of millionths; `None` at 1000 % or more.
    pub fn from_millionths(millionths: u32) -> Option<Percent> {
        (millionths < Self::LIMIT).then_some(Percent(millionths))
    }

    /// Its count of millionths of the whole (190,000 for 19 %).
    pub fn millionths(self) -> u32 {
        self.0
    }

    /// `amount × self`, rounded with `mode` (a rounding point: the caller
    /// names which). `None` only on overflow, which no cart reaches.
    pub fn of(self, amount: i64, mode: RoundingMode) -> Option<i64> {
        let exact = i128::from(amount).checked_mul(i128::from(self.0))?;
        i64::try_from(mode.divide(exact, i128::from(MILLION))?).ok()
    }
}

impl TryFrom<u32> for Percent {
    type Error = String;
    fn try_from(millionths: u32) -> Result<Self, Self::Error> {
        Percent::from_millionths(millionths).ok_or_else(|| "a percentage below 1000 %".into())
    }
}

impl From<Percent> for u32 {
    fn from(percent: Percent) -> u32 {
        percent.0
    }
}

impl fmt::Display for Percent {
    /// The shortest decimal percent that parses back to it: `19`, `8.875`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, fraction) = (self.0 / 10_000, self.0 % 10_000);
        if fraction == 0 {
            return write!(f, "{whole}");
        }
        let digits = format!("{fraction:04}");
        write!(f, "{whole}.{}", digits.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse_into_exact_millionths() {
        assert_eq!(Percent::parse("19").unwrap().millionths(), 190_000);
        assert_eq!(Percent::parse("8.875").unwrap().millionths(), 88_750);
        assert_eq!(Percent::parse("0.0001").unwrap().millionths(), 1);
        assert_eq!(Percent::parse("100").unwrap(), Percent::HUNDRED);
        assert_eq!(Percent::parse("0").unwrap(), Percent::ZERO);
        assert_eq!(Percent::parse("007.50").unwrap().millionths(), 75_000);
        assert_eq!(Percent::parse("999.9999").unwrap().millionths(), 9_999_999);
    }

    #[test]
    fn bad_percentages_say_what_is_wrong() {
        assert_eq!(Percent::parse("-1"), Err(PercentError::Negative));
        assert_eq!(Percent::parse("1.00001"), Err(PercentError::TooPrecise));
        assert_eq!(Percent::parse("1000"), Err(PercentError::TooLarge));
        assert_eq!(Percent::parse("99999999999"), Err(PercentError::TooLarge));
        for bad in ["", ".5", "5.", "1e2", "12%", " 5", "5,5", "NaN", "+5"] {
            assert_eq!(Percent::parse(bad), Err(PercentError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn percentages_print_as_they_are_typed() {
        for text in ["19", "8.875", "0.0001", "100", "0", "999.9999"] {
            assert_eq!(Percent::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn a_percentage_of_an_amount_rounds_with_the_mode() {
        let ten = Percent::parse("10").unwrap();
        assert_eq!(ten.of(25, RoundingMode::HalfEven), Some(2));
        assert_eq!(ten.of(25, RoundingMode::HalfUp), Some(3));
        assert_eq!(ten.of(25, RoundingMode::HalfDown), Some(2));
        assert_eq!(
            Percent::HUNDRED.of(i64::MAX, RoundingMode::HalfUp),
            Some(i64::MAX)
        );
        let max = Percent::from_millionths(9_999_999).unwrap();
        assert_eq!(
            max.of(i64::MAX, RoundingMode::HalfUp),
            None,
            "overflow is a value"
        );
    }
}
