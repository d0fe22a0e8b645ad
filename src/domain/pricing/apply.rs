//! Applying a set of discounts to a cart's merchandise and shipping, before
//! tax: `Lines` discounts, then `Order` discounts on what remains, then
//! `Shipping` discounts; within a target, by creation. Each discount works
//! on what the ones before it left, and never takes a line or the shipping
//! below zero.

use super::PricingError;
use super::allocate::allocate;
use super::discount::Discount;
use super::discount::{BuyXGetY, DiscountCode, DiscountTarget, DiscountValue};
use super::input::PricingLine;
use super::percent::MILLION;
use super::rounding::RoundingMode;

/// A discount that may be applied: eligible, named by `code` (or automatic).
#[derive(Clone, Copy, Debug)]
pub(super) struct Candidate<'a> {
    /// The definition.
    pub discount: &'a Discount,
    /// The code that named it; `None` when it is automatic.
    pub code: Option<&'a DiscountCode>,
}

/// The merchandise and shipping after a set of discounts.
#[derive(Clone, Debug, Default)]
pub(super) struct Ledger {
    /// What is left of each line.
    pub remaining: Vec<i64>,
    /// What is left of the shipping price.
    pub shipping_left: i64,
    /// Per line, the non-zero parts as (candidate index, amount).
    pub parts: Vec<Vec<(usize, i64)>>,
    /// Per applied discount, in application order: (candidate index, amount).
    pub applied: Vec<(usize, i64)>,
}

impl Ledger {
    /// What the set takes off in all: the buyer's saving before tax.
    pub fn saving(&self) -> i128 {
        self.applied
            .iter()
            .map(|&(_, amount)| i128::from(amount))
            .sum()
    }
}

/// Applies the candidates whose bit is set in `chosen` (bit i = candidate
/// i; candidates are in creation order) to lines whose amounts before
/// discounts are `amounts`, and to `shipping`.
pub(super) fn apply_set(
    lines: &[PricingLine],
    amounts: &[i64],
    shipping: i64,
    candidates: &[Candidate],
    chosen: u32,
    mode: RoundingMode,
) -> Result<Ledger, PricingError> {
    let mut ledger = Ledger {
        remaining: amounts.to_vec(),
        shipping_left: shipping,
        parts: vec![Vec::new(); lines.len()],
        applied: Vec::new(),
    };
    for target in [
        DiscountTarget::Lines,
        DiscountTarget::Order,
        DiscountTarget::Shipping,
    ] {
        for (index, candidate) in candidates.iter().enumerate() {
            if chosen & (1 << index) == 0 || candidate.discount.target != target {
                continue;
            }
            let amount = if target == DiscountTarget::Shipping {
                let part = shipping_part(&candidate.discount.value, ledger.shipping_left, mode)?;
                ledger.shipping_left -= part;
                part
            } else {
                let parts = merchandise_parts(candidate.discount, lines, &ledger.remaining, mode)?;
                let mut sum = 0i64;
                for (line, part) in parts.into_iter().enumerate().filter(|&(_, p)| p > 0) {
                    ledger.remaining[line] -= part;
                    ledger.parts[line].push((index, part));
                    sum = sum.checked_add(part).ok_or(PricingError::Overflow)?;
                }
                sum
            };
            ledger.applied.push((index, amount));
        }
    }
    Ok(ledger)
}

/// What a shipping discount takes off the `left` shipping price.
fn shipping_part(
    value: &DiscountValue,
    left: i64,
    mode: RoundingMode,
) -> Result<i64, PricingError> {
    let part = match value {
        // Rounding point: the shipping discount's percentage.
        DiscountValue::Percentage(share) => share.of(left, mode).ok_or(PricingError::Overflow)?,
        DiscountValue::FixedAmount(amount) => amount.minor(),
        DiscountValue::BuyXGetY(_) => 0,
    };
    Ok(part.clamp(0, left))
}

/// What a `Lines` or `Order` discount takes off each line, given what
/// remains of each; never more than remains.
fn merchandise_parts(
    discount: &Discount,
    lines: &[PricingLine],
    remaining: &[i64],
    mode: RoundingMode,
) -> Result<Vec<i64>, PricingError> {
    let entitled: Vec<bool> = lines
        .iter()
        .map(|line| line.quantity > 0 && discount.entitles(&line.sku, line.handle.as_ref()))
        .collect();
    let weights: Vec<i64> = remaining
        .iter()
        .zip(&entitled)
        .map(|(&left, &entitled)| if entitled { left } else { 0 })
        .collect();
    let base: i64 = weights
        .iter()
        .try_fold(0i64, |sum, &w| sum.checked_add(w))
        .ok_or(PricingError::Overflow)?;
    match (&discount.value, discount.target) {
        (DiscountValue::BuyXGetY(rule), _) => buy_x_get_y(rule, lines, &entitled, &weights, mode),
        (DiscountValue::Percentage(share), DiscountTarget::Lines) => weights
            .iter()
            // Rounding point: a line discount's percentage, per line.
            .map(|&w| {
                share
                    .of(w, mode)
                    .map(|part| part.min(w))
                    .ok_or(PricingError::Overflow)
            })
            .collect(),
        (DiscountValue::Percentage(share), _) => {
            // Rounding point: an order discount's percentage, once on the
            // order's remaining amount; then split by largest remainder.
            let amount = share.of(base, mode).ok_or(PricingError::Overflow)?;
            allocate(amount.min(base), &weights)
        }
        (DiscountValue::FixedAmount(amount), _) => allocate(amount.minor().min(base), &weights),
    }
}

/// Buy X get Y: the entitled units by unit price ascending (ties to the
/// earlier line); `floor(n / (buy + get))` groups, at most
/// `max_uses_per_order`; the `get × groups` cheapest units are reduced by
/// `get_percentage` of what remains of their line per unit. Entitlement is
/// by scope, not by what remains: a line earlier discounts emptied still
/// counts towards the groups (its reduction is then zero).
fn buy_x_get_y(
    rule: &BuyXGetY,
    lines: &[PricingLine],
    entitled: &[bool],
    weights: &[i64],
    mode: RoundingMode,
) -> Result<Vec<i64>, PricingError> {
    let mut eligible: Vec<usize> = (0..lines.len()).filter(|&i| entitled[i]).collect();
    eligible.sort_by_key(|&i| (lines[i].unit_price, i));
    let units: u64 = eligible.iter().map(|&i| u64::from(lines[i].quantity)).sum();
    let mut groups = units / (u64::from(rule.buy) + u64::from(rule.get));
    if let Some(max) = rule.max_uses_per_order {
        groups = groups.min(u64::from(max));
    }
    let mut reduced = groups * u64::from(rule.get);
    let mut parts = vec![0i64; lines.len()];
    for index in eligible {
        let quantity = u64::from(lines[index].quantity);
        let units_here = reduced.min(quantity);
        reduced -= units_here;
        if units_here == 0 {
            break;
        }
        // Rounding point: the reduced units' share of what remains of
        // their line, × get_percentage, per line.
        let exact = i128::from(weights[index])
            * i128::from(units_here)
            * i128::from(rule.get_percentage.millionths());
        let denominator = i128::from(quantity) * i128::from(MILLION);
        let part = mode
            .divide(exact, denominator)
            .ok_or(PricingError::Overflow)?;
        parts[index] = i64::try_from(part)
            .map_err(|_| PricingError::Overflow)?
            .min(weights[index]);
    }
    Ok(parts)
}
