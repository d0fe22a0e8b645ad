//! What pricing answers: the cart's cost, each line's, the discounts
//! applied and what became of each code. Orders freeze it as it is.

use super::discount::DiscountTarget;
use super::eligibility::DiscountRejection;
use super::percent::Percent;
use crate::domain::money::Money;
use serde::{Deserialize, Serialize};

/// The whole answer of one pricing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostBreakdown {
    /// The cart's cost (`Cart.cost`).
    pub cost: CartCost,
    /// Each line's cost, in the order of the input's lines (`CartLine.cost`).
    pub lines: Vec<LineCost>,
    /// The discounts applied, in the order they were applied: `Lines`, then
    /// `Order`, then `Shipping`, each by creation (`Order.discountApplications`).
    /// What checkout consumes usage for.
    pub applications: Vec<DiscountApplication>,
    /// One outcome per code the cart holds, in its order (`Cart.discountCodes`).
    pub codes: Vec<CodeOutcome>,
}

/// The cart's cost. `total = subtotal − discount_total + (shipping −
/// shipping_discount) + (taxes_included ? 0 : tax_total)`, exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartCost {
    /// Σ unit price × quantity, before discounts.
    pub subtotal: Money,
    /// What `Lines` and `Order` discounts take off the merchandise: the sum
    /// of every line's `discount_total`.
    pub discount_total: Money,
    /// The chosen delivery's price; `None` while none is chosen or none is needed.
    pub shipping: Option<Money>,
    /// What `Shipping` discounts take off, at most `shipping`.
    pub shipping_discount: Money,
    /// Σ `tax_lines` = Σ line `tax_total` + `shipping_tax`.
    pub tax_total: Money,
    /// Of `tax_total`, the tax on shipping (after its discounts).
    pub shipping_tax: Money,
    /// Whether prices include tax (then `tax_total` is inside `total`, not added).
    pub taxes_included: bool,
    /// What the buyer pays.
    pub total: Money,
    /// Tax by rate.
    pub tax_lines: Vec<TaxLine>,
    /// Whether the tax address or the delivery option is still unknown.
    pub estimated: bool,
}

/// The tax of one rate over the cart (lines and shipping).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxLine {
    /// The rate's title.
    pub title: String,
    /// The rate.
    pub rate: Percent,
    /// The tax.
    pub amount: Money,
}

/// One line's cost. `total = subtotal − discount_total`, on the price basis
/// (so it includes tax when prices do, and excludes it when they do not).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCost {
    /// The unit price.
    pub unit_price: Money,
    /// Unit price × quantity.
    pub subtotal: Money,
    /// What each discount took off this line (only non-zero parts).
    pub discount_allocations: Vec<DiscountAllocation>,
    /// Σ `discount_allocations`.
    pub discount_total: Money,
    /// What is left of the line.
    pub total: Money,
    /// The line's tax (inside `total` when prices include tax).
    pub tax_total: Money,
}

/// The part of one discount on one line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountAllocation {
    /// The discount.
    pub discount_id: String,
    /// The code that applied it (as the discount spells it); `None` for an
    /// automatic discount.
    pub code: Option<String>,
    /// The discount's title.
    pub title: String,
    /// `Lines` or `Order`.
    pub target: DiscountTarget,
    /// The amount.
    pub amount: Money,
}

/// One discount as applied to the whole cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountApplication {
    /// The discount.
    pub discount_id: String,
    /// The code that applied it; `None` for an automatic discount.
    pub code: Option<String>,
    /// Its title.
    pub title: String,
    /// What it applied to.
    pub target: DiscountTarget,
    /// What it took off in all (its allocations' sum, or the shipping part);
    /// zero when what it applies to was already taken by earlier discounts.
    pub amount: Money,
}

/// What became of one code the cart holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeOutcome {
    /// The code as the cart holds it.
    pub code: String,
    /// The discount it names, when it names one.
    pub discount_id: Option<String>,
    /// Why it does not apply; `None` when it does.
    pub rejection: Option<DiscountRejection>,
}

impl CodeOutcome {
    /// Whether the code is applied (`applicable` in GraphQL).
    pub fn applicable(&self) -> bool {
        self.rejection.is_none()
    }
}
