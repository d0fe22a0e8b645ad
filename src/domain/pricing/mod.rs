//! What the buyer pays: discounts, shipping and tax, priced exactly.
//!
//! This first part holds the arithmetic every rule uses: integer minor
//! units, percentages as exact millionths ([`Percent`]), one rounding
//! function ([`RoundingMode::divide`]) that rounds an exact fraction of
//! i128 integers with the shop's mode, and largest-remainder allocation
//! ([`allocate`]) so that amounts split over lines add up exactly.
//!
//! Discounts are defined by [`Discount`], which only a checked definition
//! can be: [`parse_discount`] turns an admin's [`DiscountInput`] into one or
//! reports every problem with its field path.

mod allocate;
mod discount;
mod percent;
mod rounding;
mod validate;

pub use allocate::allocate;
pub use discount::{
    BuyXGetY, Combinations, Discount, DiscountCode, DiscountScope, DiscountTarget, DiscountValue,
};
pub use percent::{Percent, PercentError};
pub use rounding::{PricingSettings, RoundingMode, TaxRounding};
pub use validate::{
    BuyXGetYInput, DiscountInput, DiscountProblem, DiscountScopeInput, parse_discount,
};

/// Why a cart cannot be priced. None is a buyer's mistake: each means the
/// caller passed what its own checks should have refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    /// An amount beyond an i64 (no cart within the shop's limits gets here).
    #[error("an amount is too large to price")]
    Overflow,
    /// A negative price, shipping price, amount or weight.
    #[error("a price or amount is negative")]
    NegativeAmount,
    /// A positive amount to split over nothing (every weight zero).
    #[error("an amount cannot be split over lines that are all zero")]
    NothingToAllocate,
}

#[cfg(test)]
mod tests;
