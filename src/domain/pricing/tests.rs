//! Pricing's rules as specifications. Helpers build inputs with sensible
//! defaults; each test changes only what it is about.

use super::*;
use crate::domain::money::Money;
use crate::domain::testing::now;

mod validation;

/// A percentage discount value.
pub(super) fn percent(text: &str) -> DiscountValue {
    DiscountValue::Percentage(Percent::parse(text).unwrap())
}
