//! The shop's pricing settings and the one rounding function every rounding
//! point calls.
//!
//! A rounding is always of an exact fraction `numerator / denominator` of
//! integers (i128, so `amount × millionths` cannot overflow) to a whole
//! number of minor units: no float is ever involved, so the result depends
//! only on the mode, never on binary representation.

use serde::{Deserialize, Serialize};

/// How a fraction of a minor unit that is exactly one half is resolved.
/// Fractions other than one half always go to the nearer integer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RoundingMode {
    /// Halves go to the even neighbour (banker's rounding): no bias over
    /// many roundings, the default (and what IEEE 754 and most tax
    /// authorities that name a rule choose).
    #[default]
    HalfEven,
    /// Halves go away from zero (what shoppers learnt at school).
    HalfUp,
    /// Halves go towards zero.
    HalfDown,
}

/// Where tax is rounded: per line, or once per rate for the whole cart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaxRounding {
    /// Each line's tax is rounded on its own (and shipping's on its own); a
    /// rate's tax line is the sum of those. The default: a line's tax never
    /// changes because another line was added.
    #[default]
    Line,
    /// One rounding per rate on the exact tax of the whole cart, then split
    /// back over the lines by largest remainder (EU VAT invoices compute it
    /// this way).
    Total,
}

/// What an admin sets for the whole shop (`updatePricingSettings`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PricingSettings {
    /// Whether catalog prices, fixed discounts and shipping prices already
    /// include tax (gross) or not (net).
    pub prices_include_tax: bool,
    /// How every rounding point resolves halves.
    pub rounding_mode: RoundingMode,
    /// Where tax is rounded.
    pub tax_rounding: TaxRounding,
}

impl RoundingMode {
    /// `numerator / denominator` rounded to an integer with this mode, exact
    /// for any sign of the numerator; `None` when the denominator is not
    /// positive. Ties are decided by comparing twice the remainder with the
    /// denominator, so no precision is lost.
    pub fn divide(self, numerator: i128, denominator: i128) -> Option<i128> {
        if denominator <= 0 {
            return None;
        }
        let magnitude = numerator.checked_abs()?;
        let quotient = magnitude / denominator;
        let twice_remainder = (magnitude % denominator).checked_mul(2)?;
        let up = match twice_remainder.cmp(&denominator) {
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Equal => match self {
                RoundingMode::HalfEven => quotient % 2 == 1,
                RoundingMode::HalfUp => true,
                RoundingMode::HalfDown => false,
            },
        };
        let rounded = quotient + i128::from(up);
        Some(if numerator < 0 { -rounded } else { rounded })
    }
}

#[cfg(test)]
mod tests {
    use super::RoundingMode::{self, HalfDown, HalfEven, HalfUp};

    fn all(numerator: i128, denominator: i128) -> [i128; 3] {
        [HalfEven, HalfUp, HalfDown].map(|mode| mode.divide(numerator, denominator).unwrap())
    }

    #[test]
    fn halves_follow_the_mode_and_everything_else_goes_to_the_nearer_integer() {
        assert_eq!(all(5, 2), [2, 3, 2], "2.5");
        assert_eq!(all(7, 2), [4, 4, 3], "3.5");
        assert_eq!(all(-5, 2), [-2, -3, -2], "-2.5: up is away from zero");
        assert_eq!(all(25, 10), [2, 3, 2], "0.25 × 10 % in cents");
        assert_eq!(all(26, 10), [3, 3, 3]);
        assert_eq!(all(24, 10), [2, 2, 2]);
        assert_eq!(all(0, 7), [0, 0, 0]);
        assert_eq!(all(21, 7), [3, 3, 3], "exact quotients are not rounded");
    }

    #[test]
    fn a_denominator_that_is_not_positive_is_refused_not_a_panic() {
        assert_eq!(RoundingMode::HalfEven.divide(1, 0), None);
        assert_eq!(RoundingMode::HalfEven.divide(1, -3), None);
        assert_eq!(RoundingMode::HalfUp.divide(i128::MIN, 3), None);
    }

    #[test]
    fn the_largest_products_pricing_forms_round_exactly() {
        // A cart's largest amount (10^12 × 999 × 100) times a rate of 999.9999 %.
        let numerator = 99_900_000_000_000_000i128 * 9_999_999;
        assert_eq!(
            HalfEven.divide(numerator, 1_000_000),
            Some(998_999_900_100_000_000)
        );
    }
}
