//! Guest → customer: moving a guest's carts into a customer's at log-in.
//!
//! [`merge_guest_carts`] works on the two [`CartSet`]s the store reads in one
//! transaction. Every guest cart that holds anything goes to the customer's
//! cart of the same name; when that one holds something too, the
//! [`MergeStrategy`] decides.
//! Quantities and line counts are clamped to the [`Limits`], and each clamp is
//! reported as an [`Adjustment`], so nothing disappears silently. Afterwards
//! the guest has no carts, which makes a second merge a no-op.

use super::cart::{CartChange, CartLine, CartSet, Limits, NewLine};
use super::error::{ErrorCode, Rejection, UserError};
use super::names::{CartName, Sku};
use chrono::{DateTime, Duration, Utc};

/// What to do when the guest and the customer both have lines in a cart of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeStrategy {
    /// Put both carts' lines together, summing the quantities of a SKU in both.
    Combine,
    /// Keep the customer's cart as it is and drop the guest's.
    KeepCustomer,
    /// Replace the customer's cart with the guest's.
    KeepGuest,
}

/// What happened to one guest cart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeOutcome {
    /// The customer had no lines in a cart of this name; the guest's cart moved over.
    Moved,
    /// Both had lines; they were combined.
    Combined,
    /// Both had lines; the customer's were kept.
    KeptCustomer,
    /// Both had lines; the guest's replaced the customer's.
    KeptGuest,
}

/// One guest cart that was merged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergedCart {
    /// Its name (the customer's cart of the same name received it).
    pub name: CartName,
    /// What was done with it.
    pub outcome: MergeOutcome,
    /// How many lines the guest's cart had.
    pub guest_lines: usize,
}

/// A line the limits did not let through whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjustment {
    /// The cart.
    pub cart: CartName,
    /// The SKU.
    pub sku: Sku,
    /// The quantity the merge would have made.
    pub wanted: u64,
    /// The quantity the cart holds now (0: the line did not fit at all).
    pub kept: u32,
    /// Which limit, in a sentence.
    pub reason: String,
}

/// What a merge did, for the payload.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// The guest carts that had lines, in name order.
    pub carts: Vec<MergedCart>,
    /// Every clamped or dropped line.
    pub adjustments: Vec<Adjustment>,
}

/// The clock and cart lifetimes a merge judges expiry with.
#[derive(Clone, Copy, Debug)]
pub struct MergeClock {
    /// Now.
    pub now: DateTime<Utc>,
    /// How long an untouched guest cart lives (an expired one has nothing to merge).
    pub guest_lifetime: Duration,
    /// How long an untouched customer cart lives.
    pub customer_lifetime: Duration,
}

/// Moves every guest cart that holds anything into `customer`, then empties `guest`.
///
/// Lines follow the [`MergeStrategy`]. The note, the cart attributes and the
/// buyer identity (and the delivery option) are kept from the customer's
/// cart where it has them and taken from the guest's where it has none;
/// discount codes are the customer's then the guest's, distinct, at most five; with [`MergeStrategy::KeepGuest`]
/// the guest's win and the customer's fill the gaps. All or nothing: on `Err`
/// (the customer would hold more filled carts than the limit allows) both
/// sets are left as they were.
pub fn merge_guest_carts(
    customer: &mut CartSet,
    guest: &mut CartSet,
    strategy: MergeStrategy,
    limits: &Limits,
    clock: &MergeClock,
) -> Result<MergeReport, Rejection> {
    let mut next = customer.clone();
    let mut report = MergeReport::default();
    for (name, guest_cart) in &guest.carts {
        let theirs = guest_cart.as_of(clock.now, clock.guest_lifetime);
        if theirs.is_blank() {
            continue;
        }
        let mine = next.cart(name, clock.now, clock.customer_lifetime);
        let (outcome, wanted) = match strategy {
            // The guest's lines move whenever the customer's cart has none
            // (a note or a buyer alone does not keep them out).
            _ if mine.lines.is_empty() => (MergeOutcome::Moved, wanted(&theirs.lines)),
            MergeStrategy::Combine => {
                (MergeOutcome::Combined, combined(&mine.lines, &theirs.lines))
            }
            MergeStrategy::KeepCustomer => (MergeOutcome::KeptCustomer, wanted(&mine.lines)),
            MergeStrategy::KeepGuest => (MergeOutcome::KeptGuest, wanted(&theirs.lines)),
        };
        let (first, second) = match outcome {
            MergeOutcome::KeptGuest => (&theirs, &mine),
            _ => (&mine, &theirs),
        };
        let lines = clamp(name, wanted, limits, &mut report.adjustments);
        let change = CartChange::Become {
            lines,
            note: first.note.clone().or_else(|| second.note.clone()),
            attributes: if first.attributes.is_empty() {
                second.attributes.clone()
            } else {
                first.attributes.clone()
            },
            buyer_identity: if first.buyer_identity.is_empty() {
                second.buyer_identity.clone()
            } else {
                first.buyer_identity.clone()
            },
            discount_codes: crate::domain::pricing::merged_codes(
                &first.discount_codes,
                &second.discount_codes,
            ),
            delivery_option: first
                .delivery_option
                .clone()
                .or_else(|| second.delivery_option.clone()),
        };
        next.apply(
            name,
            &change,
            None,
            limits,
            clock.now,
            clock.customer_lifetime,
        )
        .map_err(|rejection| refused(rejection, name, limits))?;
        report.carts.push(MergedCart {
            name: name.clone(),
            outcome,
            guest_lines: theirs.lines.len(),
        });
    }
    let highest = guest.carts.values().map(|c| c.version).max().unwrap_or(0);
    guest.retired_version = guest.retired_version.max(highest);
    guest.carts.clear();
    *customer = next;
    Ok(report)
}

/// A line the merge wants, before the limits: its quantity may exceed them.
struct Wanted {
    line: NewLine,
    quantity: u64,
}

fn wanted(lines: &[CartLine]) -> Vec<Wanted> {
    lines
        .iter()
        .map(|l| Wanted {
            line: NewLine::from(l),
            quantity: u64::from(l.quantity),
        })
        .collect()
}

/// The customer's lines first, in their order, then the guest's new items.
fn combined(mine: &[CartLine], theirs: &[CartLine]) -> Vec<Wanted> {
    let mut lines = wanted(mine);
    for line in theirs {
        match lines
            .iter_mut()
            .find(|w| line.same_item(&w.line.sku, &w.line.attributes))
        {
            Some(w) => {
                w.quantity += u64::from(line.quantity);
                w.line.unit_price = line.unit_price.or(w.line.unit_price);
            }
            None => lines.push(Wanted {
                line: NewLine::from(line),
                quantity: u64::from(line.quantity),
            }),
        }
    }
    lines
}

/// Applies the per-line and per-cart limits, noting every line it changes.
fn clamp(
    cart: &CartName,
    wanted: Vec<Wanted>,
    limits: &Limits,
    adjustments: &mut Vec<Adjustment>,
) -> Vec<NewLine> {
    let max = limits.max_quantity_per_line;
    let mut lines = Vec::with_capacity(wanted.len().min(limits.max_lines_per_cart));
    for Wanted { mut line, quantity } in wanted {
        let sku = line.sku.clone();
        if lines.len() == limits.max_lines_per_cart {
            adjustments.push(Adjustment {
                cart: cart.clone(),
                reason: format!(
                    "a cart holds at most {} lines; {sku} did not fit",
                    limits.max_lines_per_cart
                ),
                sku,
                wanted: quantity,
                kept: 0,
            });
            continue;
        }
        let kept = u32::try_from(quantity).unwrap_or(u32::MAX).min(max);
        if u64::from(kept) < quantity {
            adjustments.push(Adjustment {
                cart: cart.clone(),
                reason: format!("at most {max} units per line; {sku} was lowered to {max}"),
                sku,
                wanted: quantity,
                kept,
            });
        }
        line.quantity = kept;
        lines.push(line);
    }
    lines
}

/// Rewords a limit the merge would break (the number of filled carts, a
/// byte budget) for the guest token it came with; other rejections pass
/// through.
fn refused(rejection: Rejection, cart: &CartName, limits: &Limits) -> Rejection {
    let Rejection::Invalid(errors) = &rejection else {
        return rejection;
    };
    let Some(limit) = errors
        .iter()
        .find(|e| e.code == ErrorCode::CartLimitExceeded)
    else {
        return rejection;
    };
    let message = if limit.message.contains("carts at once") {
        format!(
            "merging would leave more than {} carts with lines; empty one of the carts and merge again (nothing was changed)",
            limits.max_carts_per_viewer
        )
    } else {
        format!(
            "merging the guest's cart '{cart}' would break a limit: {} (nothing was changed)",
            limit.message
        )
    };
    Rejection::one(UserError::new(
        ErrorCode::CartLimitExceeded,
        &["guestToken"],
        message,
    ))
}

#[cfg(test)]
mod tests;
