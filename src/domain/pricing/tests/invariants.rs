//! What must hold of every pricing, whatever the cart: checked by the
//! property test, each returning what broke.

use super::*;
use std::collections::HashMap;

/// Fails with `message` unless `holds`.
fn ensure(holds: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if holds { Ok(()) } else { Err(message()) }
}

/// Each line: its amounts add up, its allocations are positive and sum to
/// its discount, and it is never below zero.
pub(super) fn check_lines(cart: &Cart, priced: &CostBreakdown) -> Result<(), String> {
    ensure(priced.lines.len() == cart.lines.len(), || {
        "one cost per line".into()
    })?;
    for (i, (line, cost)) in cart.lines.iter().zip(&priced.lines).enumerate() {
        let subtotal = line.unit_price.minor() * i64::from(line.quantity);
        ensure(
            cost.unit_price == line.unit_price && cost.subtotal.minor() == subtotal,
            || format!("line {i}: subtotal {cost:?}"),
        )?;
        let parts: i64 = cost
            .discount_allocations
            .iter()
            .map(|a| a.amount.minor())
            .sum();
        ensure(
            cost.discount_allocations
                .iter()
                .all(|a| a.amount > Money::ZERO),
            || format!("line {i}: an allocation of zero or less"),
        )?;
        ensure(parts == cost.discount_total.minor(), || {
            format!("line {i}: Σ allocations ≠ discount")
        })?;
        ensure(cost.total.minor() == subtotal - parts, || {
            format!("line {i}: total ≠ subtotal − discount")
        })?;
        ensure(cost.total >= Money::ZERO, || {
            format!("line {i} is negative: {cost:?}")
        })?;
    }
    Ok(())
}

/// The discounts add up (each discount's allocations to its amount, the
/// line discounts to `discount_total`, shipping's to `shipping_discount`),
/// the applied discounts may all combine, and the total identity holds.
pub(super) fn check_totals(cart: &Cart, priced: &CostBreakdown) -> Result<(), String> {
    let cost = &priced.cost;
    let mut allocated: HashMap<&str, i64> = HashMap::new();
    for allocation in priced.lines.iter().flat_map(|l| &l.discount_allocations) {
        *allocated
            .entry(allocation.discount_id.as_str())
            .or_default() += allocation.amount.minor();
    }
    let (mut merchandise, mut shipping) = (0i64, 0i64);
    for application in &priced.applications {
        let id = application.discount_id.as_str();
        let amount = application.amount.minor();
        if application.target == DiscountTarget::Shipping {
            shipping += amount;
            ensure(!allocated.contains_key(id), || {
                format!("shipping discount {id} on a line")
            })?;
        } else {
            merchandise += amount;
            let parts = allocated.get(id).copied().unwrap_or(0);
            ensure(parts == amount, || {
                format!("{id}: allocations {parts} ≠ amount {amount}")
            })?;
        }
        ensure(amount >= 0, || format!("{id} is negative"))?;
    }
    let line_discounts: i64 = priced.lines.iter().map(|l| l.discount_total.minor()).sum();
    ensure(
        merchandise == cost.discount_total.minor() && line_discounts == merchandise,
        || {
            format!(
                "discount_total {} vs Σ lines {line_discounts} vs Σ applications {merchandise}",
                cost.discount_total.minor()
            )
        },
    )?;
    ensure(shipping == cost.shipping_discount.minor(), || {
        "Σ shipping applications ≠ shipping_discount".into()
    })?;
    let price = cost.shipping.map_or(0, |s| s.minor());
    ensure((0..=price).contains(&shipping), || {
        format!("shipping discount {shipping} of {price}")
    })?;
    ensure(
        cost.shipping.is_some() == matches!(cart.delivery, Delivery::Chosen(_)),
        || "shipping shown".into(),
    )?;
    let subtotal: i64 = priced.lines.iter().map(|l| l.subtotal.minor()).sum();
    ensure(subtotal == cost.subtotal.minor(), || {
        "subtotal ≠ Σ line subtotals".into()
    })?;
    let added_tax = if cost.taxes_included {
        0
    } else {
        i128::from(cost.tax_total.minor())
    };
    let expected =
        i128::from(subtotal) - i128::from(merchandise) + i128::from(price - shipping) + added_tax;
    ensure(expected == i128::from(cost.total.minor()), || {
        format!("total {} ≠ {expected}", cost.total.minor())
    })?;
    let estimated = !cart.taxes.address_known || cart.delivery == Delivery::NotChosen;
    ensure(cost.estimated == estimated, || "estimated".into())?;
    let applied: Vec<&Discount> = priced
        .applications
        .iter()
        .map(|a| definition(cart, &a.discount_id))
        .collect();
    for (i, a) in applied.iter().enumerate() {
        for b in &applied[i + 1..] {
            ensure(a.id != b.id && a.may_combine_with(b), || {
                format!("{} and {} applied together", a.id, b.id)
            })?;
        }
    }
    Ok(())
}

fn definition<'a>(cart: &'a Cart, id: &str) -> &'a Discount {
    &cart
        .discounts
        .iter()
        .find(|(d, _, _)| d.id == id)
        .expect("an applied discount was offered")
        .0
}

/// A tax line's identity: its title and rate.
type RateKey = (String, Percent);

/// Σ line tax + shipping tax = Σ tax lines = tax_total, and each tax line
/// is what its rounding rule gives, recomputed here independently.
pub(super) fn check_tax(cart: &Cart, priced: &CostBreakdown) -> Result<(), String> {
    let cost = &priced.cost;
    let lines: i64 = priced.lines.iter().map(|l| l.tax_total.minor()).sum();
    let by_rate: i64 = cost.tax_lines.iter().map(|t| t.amount.minor()).sum();
    ensure(
        lines + cost.shipping_tax.minor() == by_rate && by_rate == cost.tax_total.minor(),
        || {
            format!(
                "Σ line tax {lines} + shipping {} vs tax lines {by_rate} vs {}",
                cost.shipping_tax.minor(),
                cost.tax_total.minor()
            )
        },
    )?;
    // Members of each (title, rate), in first-seen order: (amount, tax).
    let mut groups: Vec<(RateKey, Vec<(i64, i64)>)> = Vec::new();
    let mut highest: Option<(Percent, usize)> = None;
    for (line, cost) in cart.lines.iter().zip(&priced.lines) {
        let Some(rate) = cart.taxes.by_class.get(&line.tax_class) else {
            ensure(cost.tax_total == Money::ZERO, || {
                "an untaxed line has tax".into()
            })?;
            continue;
        };
        let key = (rate.title.clone(), rate.rate);
        let at = groups
            .iter()
            .position(|(k, _)| *k == key)
            .unwrap_or_else(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
        groups[at]
            .1
            .push((cost.total.minor(), cost.tax_total.minor()));
        if highest.is_none_or(|(r, _)| r < rate.rate) {
            highest = Some((rate.rate, at));
        }
    }
    let shipping = cost
        .shipping
        .map(|s| s.minor() - cost.shipping_discount.minor());
    match (highest, shipping) {
        (Some((_, at)), Some(amount)) => groups[at].1.push((amount, cost.shipping_tax.minor())),
        _ => ensure(cost.shipping_tax == Money::ZERO, || {
            "untaxed shipping has tax".into()
        })?,
    }
    ensure(groups.len() == cost.tax_lines.len(), || {
        "one tax line per rate".into()
    })?;
    for (((title, rate), members), tax_line) in groups.iter().zip(&cost.tax_lines) {
        ensure(*title == tax_line.title && *rate == tax_line.rate, || {
            format!("tax line {tax_line:?}")
        })?;
        let sum: i64 = members.iter().map(|m| m.1).sum();
        ensure(sum == tax_line.amount.minor(), || {
            format!("{title}: Σ members ≠ tax line")
        })?;
        check_group(&cart.settings, *rate, members)
            .map_err(|e| format!("{title} at {rate} %: {e}"))?;
    }
    Ok(())
}

/// One rate's members (amount, tax) follow its rounding rule.
fn check_group(
    settings: &PricingSettings,
    rate: Percent,
    members: &[(i64, i64)],
) -> Result<(), String> {
    let r = i128::from(rate.millionths());
    let denominator = 1_000_000 + if settings.prices_include_tax { r } else { 0 };
    let round = |amount: i128| {
        settings
            .rounding_mode
            .divide(amount * r, denominator)
            .unwrap()
    };
    for &(amount, tax) in members {
        ensure(tax >= 0, || format!("negative tax {tax}"))?;
        ensure(!settings.prices_include_tax || tax <= amount, || {
            format!("tax {tax} above gross {amount}")
        })?;
    }
    match settings.tax_rounding {
        TaxRounding::Line => {
            for &(amount, tax) in members {
                ensure(i128::from(tax) == round(i128::from(amount)), || {
                    format!("tax of {amount} is {tax}")
                })?;
            }
        }
        TaxRounding::Total => {
            let amounts: i128 = members.iter().map(|m| i128::from(m.0)).sum();
            let total = round(amounts);
            let taxes: i128 = members.iter().map(|m| i128::from(m.1)).sum();
            ensure(taxes == total, || {
                format!("Σ tax {taxes} ≠ one rounding {total}")
            })?;
            for &(amount, tax) in members {
                let floor = if amounts == 0 {
                    0
                } else {
                    total * i128::from(amount) / amounts
                };
                let tax = i128::from(tax);
                ensure(tax == floor || tax == floor + 1, || {
                    format!("{tax} is not its share {floor}")
                })?;
            }
        }
    }
    Ok(())
}

/// One outcome per held code; applicable codes are applied, others not;
/// a code left out by stacking could not have joined the applied set.
pub(super) fn check_codes(cart: &Cart, priced: &CostBreakdown) -> Result<(), String> {
    ensure(priced.codes.len() == cart.codes.len(), || {
        "one outcome per code".into()
    })?;
    let applied = |id: &str| priced.applications.iter().any(|a| a.discount_id == id);
    for (held, outcome) in cart.codes.iter().zip(&priced.codes) {
        ensure(*held == outcome.code, || "codes reported as held".into())?;
        let Some(id) = outcome.discount_id.as_deref() else {
            ensure(
                outcome.rejection == Some(DiscountRejection::NotFound),
                || format!("{held}: no id"),
            )?;
            continue;
        };
        ensure(applied(id) == outcome.applicable(), || {
            format!("{held}: applicable but not applied, or not but applied")
        })?;
        if outcome.rejection == Some(DiscountRejection::NotCombinable) {
            let discount = definition(cart, id);
            let blocked = priced
                .applications
                .iter()
                .any(|a| !discount.may_combine_with(definition(cart, &a.discount_id)));
            ensure(blocked, || {
                format!("{held} is NOT_COMBINABLE but combines with all applied")
            })?;
        }
    }
    Ok(())
}
