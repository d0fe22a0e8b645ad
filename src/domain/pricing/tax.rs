//! Tax on each line's amount after discounts, and on shipping after its
//! discounts.
//!
//! A line is taxed at the rate of its tax class at the buyer's address (no
//! rate, no tax). With prices excluding tax, `tax = round(net × r)`; with
//! prices including it, `tax = round(gross × r / (1 + r))`, and the net is
//! `gross − tax`, so net + tax = gross exactly. Shipping is taxed at the
//! highest rate among the cart's lines' classes (ties: the earlier line's
//! rate), on the same basis as prices; a cart whose lines have no rate
//! ships untaxed.
//!
//! Rates with the same title and percentage form one tax line. With
//! [`TaxRounding::Line`] each line (and shipping) is rounded on its own and
//! a tax line is their sum; with [`TaxRounding::Total`] a tax line is one
//! rounding of its rate on the exact sum of its lines' amounts, split back
//! over them by largest remainder. Either way Σ line tax + shipping tax =
//! Σ tax lines.

use super::PricingError;
use super::allocate::allocate;
use super::cost::TaxLine;
use super::input::{PricingLine, TaxTable};
use super::percent::{MILLION, Percent};
use super::rounding::{PricingSettings, TaxRounding};
use crate::domain::money::Money;

/// The tax of a cart.
#[derive(Clone, Debug, Default)]
pub(super) struct Taxed {
    /// Per line, in the lines' order.
    pub lines: Vec<i64>,
    /// On shipping.
    pub shipping: i64,
    /// By rate, in the order of the first line (then shipping) taxed at it.
    pub tax_lines: Vec<TaxLine>,
}

/// One tax line being built: its rate and who is taxed at it.
struct Group<'a> {
    title: &'a str,
    rate: Percent,
    /// (line index, or `None` for shipping; amount taxed).
    members: Vec<(Option<usize>, i64)>,
}

/// Taxes lines whose amounts after discounts are `amounts`, and `shipping`
/// after its discounts (when there is shipping).
pub(super) fn tax(
    settings: &PricingSettings,
    table: &TaxTable,
    lines: &[PricingLine],
    amounts: &[i64],
    shipping: Option<i64>,
) -> Result<Taxed, PricingError> {
    let mut groups: Vec<Group> = Vec::new();
    let mut shipping_group: Option<usize> = None;
    for (index, (line, &amount)) in lines.iter().zip(amounts).enumerate() {
        let Some(rate) = table.by_class.get(&line.tax_class) else {
            continue;
        };
        let at = match groups
            .iter()
            .position(|g| g.title == rate.title && g.rate == rate.rate)
        {
            Some(at) => at,
            None => {
                groups.push(Group {
                    title: &rate.title,
                    rate: rate.rate,
                    members: Vec::new(),
                });
                groups.len() - 1
            }
        };
        groups[at].members.push((Some(index), amount));
        if shipping_group.is_none_or(|s| groups[s].rate < rate.rate) {
            shipping_group = Some(at);
        }
    }
    if let (Some(at), Some(amount)) = (shipping_group, shipping) {
        groups[at].members.push((None, amount));
    }
    let mut taxed = Taxed {
        lines: vec![0; lines.len()],
        ..Taxed::default()
    };
    for group in groups {
        let parts = group_tax(settings, &group)?;
        let mut sum = 0i64;
        for (&(member, _), part) in group.members.iter().zip(parts) {
            match member {
                Some(line) => taxed.lines[line] = part,
                None => taxed.shipping = part,
            }
            sum = sum.checked_add(part).ok_or(PricingError::Overflow)?;
        }
        taxed.tax_lines.push(TaxLine {
            title: group.title.to_string(),
            rate: group.rate,
            amount: Money::from_minor(sum),
        });
    }
    Ok(taxed)
}

/// Each member's tax at the group's rate.
fn group_tax(settings: &PricingSettings, group: &Group) -> Result<Vec<i64>, PricingError> {
    let rate = i128::from(group.rate.millionths());
    // r = rate / MILLION; inclusive: r / (1 + r) = rate / (MILLION + rate).
    let denominator = i128::from(MILLION) + if settings.prices_include_tax { rate } else { 0 };
    let mode = settings.rounding_mode;
    let round = |amount: i128| -> Result<i64, PricingError> {
        let exact = amount.checked_mul(rate).ok_or(PricingError::Overflow)?;
        let tax = mode
            .divide(exact, denominator)
            .ok_or(PricingError::Overflow)?;
        i64::try_from(tax).map_err(|_| PricingError::Overflow)
    };
    match settings.tax_rounding {
        // Rounding point: each line's (and shipping's) tax.
        TaxRounding::Line => group
            .members
            .iter()
            .map(|&(_, amount)| round(i128::from(amount)))
            .collect(),
        TaxRounding::Total => {
            // Rounding point: the rate's tax on the exact sum; the split
            // back by largest remainder (in proportion to each member's
            // exact tax, that is to its amount) rounds nothing more.
            let weights: Vec<i64> = group.members.iter().map(|&(_, amount)| amount).collect();
            let total = round(weights.iter().map(|&w| i128::from(w)).sum())?;
            allocate(total, &weights)
        }
    }
}
