//! Whether a discount may apply to a cart at all, before stacking: its
//! window, usage, who buys, and what the cart holds.
//!
//! Checks run in a fixed order and the first failure is the reason
//! reported: a buyer is told the most basic problem first (an expired code
//! is `EXPIRED` even if the cart is also too small).

use super::discount::{Discount, DiscountTarget, DiscountValue};
use super::input::{Delivery, Offer, PricingInput};
use crate::domain::owner::ViewerKind;
use serde::{Deserialize, Serialize};

/// Why a code the cart holds is not applied (`DiscountRejection`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DiscountRejection {
    /// No active discount has this code.
    NotFound,
    /// Before its `startsAt`.
    NotStarted,
    /// At or after its `endsAt`.
    Expired,
    /// Its `usageLimit` is used up.
    UsageLimitReached,
    /// This buyer has used it `usageLimitPerCustomer` times.
    CustomerUsageLimitReached,
    /// Only for signed-in customers, and the buyer is a guest.
    CustomersOnly,
    /// The entitled lines' subtotal (before discounts) is below its minimum.
    MinimumSubtotalNotMet,
    /// The entitled lines' units are below its minimum.
    MinimumQuantityNotMet,
    /// Nothing in the cart it can apply to: no entitled line, fewer entitled
    /// units than one buy-X-get-Y group, or (shipping) nothing to ship.
    NoEntitledLines,
    /// It applies, but not together with discounts that save the buyer more.
    NotCombinable,
}

impl DiscountRejection {
    /// Every reason, in the order they are checked.
    pub const ALL: &[DiscountRejection] = &[
        DiscountRejection::NotFound,
        DiscountRejection::NotStarted,
        DiscountRejection::Expired,
        DiscountRejection::CustomersOnly,
        DiscountRejection::UsageLimitReached,
        DiscountRejection::CustomerUsageLimitReached,
        DiscountRejection::NoEntitledLines,
        DiscountRejection::MinimumSubtotalNotMet,
        DiscountRejection::MinimumQuantityNotMet,
        DiscountRejection::NotCombinable,
    ];

    /// The reason as clients see it (`USAGE_LIMIT_REACHED`).
    pub fn as_str(self) -> &'static str {
        match self {
            DiscountRejection::NotFound => "NOT_FOUND",
            DiscountRejection::NotStarted => "NOT_STARTED",
            DiscountRejection::Expired => "EXPIRED",
            DiscountRejection::UsageLimitReached => "USAGE_LIMIT_REACHED",
            DiscountRejection::CustomerUsageLimitReached => "CUSTOMER_USAGE_LIMIT_REACHED",
            DiscountRejection::CustomersOnly => "CUSTOMERS_ONLY",
            DiscountRejection::MinimumSubtotalNotMet => "MINIMUM_SUBTOTAL_NOT_MET",
            DiscountRejection::MinimumQuantityNotMet => "MINIMUM_QUANTITY_NOT_MET",
            DiscountRejection::NoEntitledLines => "NO_ENTITLED_LINES",
            DiscountRejection::NotCombinable => "NOT_COMBINABLE",
        }
    }
}

/// Why `offer` cannot apply to the cart of `input` (whose line amounts
/// before discounts are `amounts`), or `None` when it can.
pub(super) fn rejection(
    offer: &Offer,
    input: &PricingInput,
    amounts: &[i64],
) -> Option<DiscountRejection> {
    use DiscountRejection::*;
    let discount = offer.discount;
    let reached = |limit: Option<u64>, used: u64| limit.is_some_and(|limit| used >= limit);
    if !discount.active {
        Some(NotFound)
    } else if discount.starts_at.is_some_and(|start| input.now < start) {
        Some(NotStarted)
    } else if discount.ends_at.is_some_and(|end| input.now >= end) {
        Some(Expired)
    } else if discount.customers_only && input.buyer != ViewerKind::Customer {
        Some(CustomersOnly)
    } else if reached(discount.usage_limit, offer.used) {
        Some(UsageLimitReached)
    } else if reached(discount.usage_limit_per_customer, offer.used_by_buyer) {
        Some(CustomerUsageLimitReached)
    } else {
        cart_rejection(discount, input, amounts)
    }
}

/// The checks that depend on what the cart holds.
fn cart_rejection(
    discount: &Discount,
    input: &PricingInput,
    amounts: &[i64],
) -> Option<DiscountRejection> {
    let (mut subtotal, mut units) = (0i128, 0u64);
    for (line, &amount) in input.lines.iter().zip(amounts) {
        if line.quantity > 0 && discount.entitles(&line.sku, line.handle.as_ref()) {
            subtotal += i128::from(amount);
            units += u64::from(line.quantity);
        }
    }
    let nothing_to_apply_to = match (discount.target, &discount.value) {
        (DiscountTarget::Shipping, _) => input.delivery == Delivery::NotRequired,
        (_, DiscountValue::BuyXGetY(rule)) => units < u64::from(rule.buy) + u64::from(rule.get),
        _ => units == 0,
    };
    if nothing_to_apply_to {
        Some(DiscountRejection::NoEntitledLines)
    } else if discount
        .minimum_subtotal
        .is_some_and(|min| subtotal < i128::from(min.minor()))
    {
        Some(DiscountRejection::MinimumSubtotalNotMet)
    } else if discount
        .minimum_quantity
        .is_some_and(|min| units < u64::from(min))
    {
        Some(DiscountRejection::MinimumQuantityNotMet)
    } else {
        None
    }
}
