//! What the buyer pays: discounts, shipping and tax, priced exactly.
//!
//! Pure: [`price_cart`] is given everything (the lines at today's prices,
//! the codes, the discounts on offer with their usage counts, the chosen
//! delivery's price, the tax rates for the buyer's address, the time) and
//! reads nothing, so a cart read, `previewCheckout` and the checkout
//! transaction compute the same [`CostBreakdown`]. Usage is only read here;
//! checkout consumes it atomically.
//!
//! # Rules
//!
//! - **Integer minor units** throughout; percentages are exact millionths
//!   ([`Percent`]); every division is an exact fraction of i128 integers
//!   rounded with the shop's [`RoundingMode`], only at the points below.
//! - **Order**: `LINES` discounts, then `ORDER` discounts on what remains,
//!   then `SHIPPING` discounts on the shipping price; within a target, by
//!   creation (then id). Each works on what the ones before it left.
//! - **Caps**: no discount takes a line or the shipping below zero; a fixed
//!   amount larger than what it applies to is cut to it. Fixed amounts are
//!   on the same basis as prices (gross when prices include tax).
//! - **Allocation**: a fixed amount over several lines, and every `ORDER`
//!   amount, is split in proportion to what remains of each line by
//!   largest remainder ([`allocate`]); the parts sum to it exactly.
//! - **Buy X get Y**: the entitled units by unit price ascending,
//!   `floor(n / (buy + get))` groups (at most `maxUsesPerOrder`), the
//!   `get × groups` cheapest units reduced by `getPercentage`.
//! - **Eligibility**: window (`startsAt` inclusive, `endsAt` exclusive),
//!   customers only, usage limits, entitled lines, then minimums; minimums
//!   are judged on the entitled lines before any discount.
//! - **Stacking**: among eligible discounts, the maximal set whose members
//!   all combine and that saves most (before tax), ties to fewer codes, then
//!   to the earliest created (the search and its bound: `stacking.rs`).
//! - **Tax**: on each line's amount after discounts, at its class's rate;
//!   shipping at the highest rate among the lines' classes (`tax.rs`).
//! - **Total**, exactly:
//!   `subtotal − discount_total + (shipping − shipping_discount) + (taxes_included ? 0 : tax_total)`;
//!   `estimated` while the tax address or the delivery option is unknown.
//! - **Shipping's `freeAbove`** is the caller's, with [`rate_price`] on the
//!   subtotal before discounts: pricing gets the rate's price for this cart.
//!
//! # Rounding points (every one there is)
//!
//! 1. A `LINES` percentage: per entitled line, `round(remaining × p)`.
//! 2. Buy X get Y: per line, `round(remaining × units reduced / quantity × p)`.
//! 3. An `ORDER` percentage: once, `round(Σ remaining × p)`, then allocated.
//! 4. A `SHIPPING` percentage: `round(shipping remaining × p)`.
//! 5. Tax, `LINE` rounding: per line and for shipping, `round(net × r)` or,
//!    with prices including tax, `round(gross × r / (1 + r))`.
//! 6. Tax, `TOTAL` rounding: once per tax line on the exact sum of its
//!    lines' (and shipping's) amounts, then allocated back.
//!
//! Fixed amounts, caps and allocations round nothing: they move whole units.
//!
//! # Bounds
//!
//! At most [`MAX_CODES_PER_CART`] codes and [`MAX_AUTOMATIC_DISCOUNTS`]
//! automatic discounts (the earliest created that are eligible) take part,
//! so stacking prices at most 8,748 sets (`stacking.rs`); one set when
//! everything combines.

mod allocate;
mod apply;
mod codes;
mod cost;
mod discount;
mod eligibility;
mod engine;
mod entered;
mod input;
mod percent;
mod quote;
mod rates;
mod rounding;
mod shipping_rate;
mod stacking;
mod tax;
mod validate;

pub use allocate::allocate;
pub use cost::{
    CartCost, CodeOutcome, CostBreakdown, DiscountAllocation, DiscountApplication, LineCost,
    TaxLine,
};
pub use discount::{
    BuyXGetY, Combinations, Discount, DiscountCode, DiscountScope, DiscountTarget, DiscountValue,
};
pub use eligibility::DiscountRejection;
pub use engine::price_cart;
pub use entered::{entered_codes, merged_codes};
pub use input::{
    ClassRate, Delivery, Offer, PricingInput, PricingLine, STANDARD_TAX_CLASS, TaxTable, rate_price,
};
pub use percent::{Percent, PercentError};
pub use quote::{
    DeliveryOption, DeliveryState, OrderCost, Quote, QuoteLine, QuoteRequest, ShopPricing,
    USAGE_KIND, Usage, buyer_usage_key, destination, quote,
};
pub use rates::{MAX_TAX_RATES, TaxRate, TaxRateInput, TaxRateKey, tax_table};
pub use rounding::{PricingSettings, RoundingMode, TaxRounding};
pub use shipping_rate::{
    MAX_RATE_COUNTRIES, MAX_RATE_WEIGHT_GRAMS, ShippingRate, ShippingRateInput,
};
pub use validate::{
    BuyXGetYInput, DiscountInput, DiscountProblem, DiscountScopeInput, MAX_CODES_PER_DISCOUNT,
    parse_discount,
};

/// Distinct codes one cart may hold (`TOO_MANY_DISCOUNT_CODES` beyond).
pub const MAX_CODES_PER_CART: usize = 5;

/// Automatic discounts one pricing considers: the earliest-created eligible
/// ones. Keeps stacking bounded whatever an admin configures.
pub const MAX_AUTOMATIC_DISCOUNTS: usize = 20;

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
    /// More distinct codes than [`MAX_CODES_PER_CART`].
    #[error("{0} discount codes; a cart holds at most {MAX_CODES_PER_CART}")]
    TooManyCodes(usize),
}

#[cfg(test)]
mod tests;
