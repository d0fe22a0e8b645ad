//! What pricing is given: the lines as the catalog prices them now, the
//! codes the cart holds, the discounts on offer with their usage, the
//! delivery, the tax rates for the buyer's address, and the time.
//!
//! Everything is read by the caller (a cart read, `previewCheckout`, or the
//! checkout transaction) before pricing, so pricing itself reads nothing.

use super::discount::Discount;
use super::percent::Percent;
use super::rounding::PricingSettings;
use crate::domain::money::Money;
use crate::domain::names::{Handle, Sku};
use crate::domain::owner::ViewerKind;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// The tax class of a variant that names none.
pub const STANDARD_TAX_CLASS: &str = "standard";

/// One line to price: a variant at its catalog price now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricingLine {
    /// The variant (scopes list SKUs).
    pub sku: Sku,
    /// Its product (scopes list product handles).
    pub handle: Option<Handle>,
    /// The unit price now, on the shop's price basis (gross when prices
    /// include tax). Never negative.
    pub unit_price: Money,
    /// Units (0 is priced as nothing).
    pub quantity: u32,
    /// Which tax rate applies ([`STANDARD_TAX_CLASS`] by default).
    pub tax_class: String,
}

/// A discount on offer to this cart, with how often it has been used: in
/// all, and by this buyer. Pricing only reads the counts (reporting
/// `USAGE_LIMIT_REACHED` and `CUSTOMER_USAGE_LIMIT_REACHED`); checkout
/// consumes usage atomically in its own transaction.
#[derive(Clone, Copy, Debug)]
pub struct Offer<'a> {
    /// The definition.
    pub discount: &'a Discount,
    /// Orders that used it (its `usageCount`).
    pub used: u64,
    /// Orders this buyer used it in (0 when the buyer is unknown).
    pub used_by_buyer: u64,
}

/// Shipping, as far as it is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Nothing to ship (no line requires shipping, or the shop ships
    /// nothing): no shipping price, nothing to estimate, and shipping
    /// discounts have nothing to apply to (`NO_ENTITLED_LINES`).
    NotRequired,
    /// Shipping is needed but no option is chosen yet: the cost is
    /// estimated and shipping reads as `null`.
    NotChosen,
    /// The chosen rate's price for this cart, on the shop's price basis
    /// (after its `freeAbove`: see [`rate_price`]). Never negative.
    Chosen(Money),
}

/// What a shipping rate costs a cart with this `subtotal` (before any
/// discount, the same subtotal that matches the rate's `minSubtotal` and
/// `maxSubtotal`): nothing at or above `free_above`, else `price`.
///
/// The caller applies it when it lists delivery options; using the subtotal
/// before discounts keeps the options (and their prices) independent of
/// which discounts win, so choosing discounts cannot change the shipping
/// price they are chosen against.
pub fn rate_price(price: Money, free_above: Option<Money>, subtotal: Money) -> Money {
    match free_above {
        Some(threshold) if subtotal >= threshold => Money::ZERO,
        _ => price,
    }
}

/// A tax rate as it applies to one tax class at the buyer's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassRate {
    /// The tax line's title (`VAT`, `NY State Tax`).
    pub title: String,
    /// The rate.
    pub rate: Percent,
}

/// The rates for the buyer's tax address, by tax class. A class without a
/// rate is not taxed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaxTable {
    /// Whether the buyer's tax address is known; when it is not, the caller
    /// may still give the rates it estimates with (the shop's own country),
    /// and the cost reads as estimated.
    pub address_known: bool,
    /// Rates by tax class.
    pub by_class: BTreeMap<String, ClassRate>,
}

/// Everything one pricing needs.
#[derive(Clone, Copy, Debug)]
pub struct PricingInput<'a> {
    /// The shop's settings.
    pub settings: PricingSettings,
    /// The lines, in the cart's order (the output keeps it).
    pub lines: &'a [PricingLine],
    /// The codes the cart holds, as entered (at most
    /// [`super::MAX_CODES_PER_CART`] distinct ones).
    pub codes: &'a [String],
    /// The discounts the codes may name and every automatic discount;
    /// inactive ones may be left out or given (their codes read as unknown).
    pub offers: &'a [Offer<'a>],
    /// Who buys (`CUSTOMERS_ONLY`).
    pub buyer: ViewerKind,
    /// Shipping.
    pub delivery: Delivery,
    /// Tax rates for the buyer's address.
    pub taxes: &'a TaxTable,
    /// The time the discounts' windows are judged at: the read's, or the
    /// checkout transaction's.
    pub now: DateTime<Utc>,
}
