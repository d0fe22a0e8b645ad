//! One pricing, end to end: gather the candidates, choose the set to
//! stack, apply it, tax what remains and add it up.

use super::PricingError;
use super::apply::{Candidate, Ledger};
use super::codes::gather;
use super::cost::{
    CartCost, CodeOutcome, CostBreakdown, DiscountAllocation, DiscountApplication, LineCost,
};
use super::eligibility::DiscountRejection;
use super::input::{Delivery, PricingInput};
use super::stacking::best_set;
use super::tax::{Taxed, tax};
use crate::domain::money::Money;

/// Prices a cart (a stored one, a client-held one, or one being checked
/// out) by the rules in [the module doc](super). Pure: the same input gives
/// the same answer, so a cart read, `previewCheckout` and checkout agree.
///
/// Errors are values, never panics: a negative price or shipping price
/// ([`PricingError::NegativeAmount`]), more than
/// [`super::MAX_CODES_PER_CART`] distinct codes
/// ([`PricingError::TooManyCodes`]), and amounts beyond an i64
/// ([`PricingError::Overflow`], which no cart within the shop's limits reaches).
pub fn price_cart(input: &PricingInput) -> Result<CostBreakdown, PricingError> {
    let amounts = line_amounts(input)?;
    let shipping = match input.delivery {
        Delivery::Chosen(price) if price < Money::ZERO => return Err(PricingError::NegativeAmount),
        Delivery::Chosen(price) => Some(price.minor()),
        Delivery::NotRequired | Delivery::NotChosen => None,
    };
    let (candidates, verdicts) = gather(input, &amounts)?;
    let mode = input.settings.rounding_mode;
    let (chosen, ledger) = best_set(
        input.lines,
        &amounts,
        shipping.unwrap_or(0),
        &candidates,
        mode,
    )?;
    let shipping_left = shipping.map(|_| ledger.shipping_left);
    let taxed = tax(
        &input.settings,
        input.taxes,
        input.lines,
        &ledger.remaining,
        shipping_left,
    )?;
    let lines = line_costs(input, &amounts, &ledger, &taxed, &candidates)?;
    let cost = cart_cost(input, &lines, shipping, shipping_left, &taxed)?;
    let applied = |id: &str| {
        (0..candidates.len()).any(|i| chosen & (1 << i) != 0 && candidates[i].discount.id == id)
    };
    let codes = verdicts
        .into_iter()
        .map(|verdict| {
            let left_out =
                verdict.rejection.is_none() && !verdict.discount_id.as_deref().is_some_and(applied);
            CodeOutcome {
                code: verdict.code,
                discount_id: verdict.discount_id,
                rejection: if left_out {
                    Some(DiscountRejection::NotCombinable)
                } else {
                    verdict.rejection
                },
            }
        })
        .collect();
    Ok(CostBreakdown {
        cost,
        lines,
        applications: applications(&ledger, &candidates),
        codes,
    })
}

/// Unit price × quantity per line, checked.
fn line_amounts(input: &PricingInput) -> Result<Vec<i64>, PricingError> {
    let amount = |line: &super::input::PricingLine| {
        if line.unit_price < Money::ZERO {
            return Err(PricingError::NegativeAmount);
        }
        let amount = line
            .unit_price
            .checked_mul(line.quantity)
            .ok_or(PricingError::Overflow)?;
        Ok(amount.minor())
    };
    input.lines.iter().map(amount).collect()
}

/// Each line's cost: its amounts, its discounts' parts and its tax.
fn line_costs(
    input: &PricingInput,
    amounts: &[i64],
    ledger: &Ledger,
    taxed: &Taxed,
    candidates: &[Candidate],
) -> Result<Vec<LineCost>, PricingError> {
    let mut costs = Vec::with_capacity(input.lines.len());
    for (index, line) in input.lines.iter().enumerate() {
        let allocations: Vec<DiscountAllocation> = ledger.parts[index]
            .iter()
            .map(|&(candidate, amount)| {
                let Candidate { discount, code } = candidates[candidate];
                DiscountAllocation {
                    discount_id: discount.id.clone(),
                    code: code.map(|c| c.as_str().to_string()),
                    title: discount.title.clone(),
                    target: discount.target,
                    amount: Money::from_minor(amount),
                }
            })
            .collect();
        let discount_total = sum(allocations.iter().map(|a| a.amount.minor()))?;
        costs.push(LineCost {
            unit_price: line.unit_price,
            subtotal: Money::from_minor(amounts[index]),
            discount_allocations: allocations,
            discount_total: Money::from_minor(discount_total),
            total: Money::from_minor(ledger.remaining[index]),
            tax_total: Money::from_minor(taxed.lines[index]),
        });
    }
    Ok(costs)
}

/// The cart's cost, adding up the lines, shipping and tax.
fn cart_cost(
    input: &PricingInput,
    lines: &[LineCost],
    shipping: Option<i64>,
    shipping_left: Option<i64>,
    taxed: &Taxed,
) -> Result<CartCost, PricingError> {
    let subtotal = sum(lines.iter().map(|l| l.subtotal.minor()))?;
    let discount_total = sum(lines.iter().map(|l| l.discount_total.minor()))?;
    let tax_total = sum(taxed.tax_lines.iter().map(|t| t.amount.minor()))?;
    let shipping_paid = shipping_left.unwrap_or(0);
    let taxes_included = input.settings.prices_include_tax;
    let added_tax = if taxes_included { 0 } else { tax_total };
    let total = subtotal
        .checked_sub(discount_total)
        .and_then(|t| t.checked_add(shipping_paid))
        .and_then(|t| t.checked_add(added_tax))
        .ok_or(PricingError::Overflow)?;
    Ok(CartCost {
        subtotal: Money::from_minor(subtotal),
        discount_total: Money::from_minor(discount_total),
        shipping: shipping.map(Money::from_minor),
        shipping_discount: Money::from_minor(shipping.unwrap_or(0) - shipping_paid),
        tax_total: Money::from_minor(tax_total),
        shipping_tax: Money::from_minor(taxed.shipping),
        taxes_included,
        total: Money::from_minor(total),
        tax_lines: taxed.tax_lines.clone(),
        estimated: !input.taxes.address_known || input.delivery == Delivery::NotChosen,
    })
}

/// The applied discounts, in application order.
fn applications(ledger: &Ledger, candidates: &[Candidate]) -> Vec<DiscountApplication> {
    ledger
        .applied
        .iter()
        .map(|&(candidate, amount)| {
            let Candidate { discount, code } = candidates[candidate];
            DiscountApplication {
                discount_id: discount.id.clone(),
                code: code.map(|c| c.as_str().to_string()),
                title: discount.title.clone(),
                target: discount.target,
                amount: Money::from_minor(amount),
            }
        })
        .collect()
}

/// A checked sum of minor units.
fn sum(mut amounts: impl Iterator<Item = i64>) -> Result<i64, PricingError> {
    amounts
        .try_fold(0i64, |total, amount| total.checked_add(amount))
        .ok_or(PricingError::Overflow)
}
