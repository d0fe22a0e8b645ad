//! Choosing which eligible discounts apply together.
//!
//! Two discounts may apply together when each allows the other's target
//! ([`Discount::may_combine_with`]). Among the sets in which every pair
//! may, the chosen one saves the buyer most (the sum of what its discounts
//! take off, before tax, on the price basis); ties go to the set with fewer
//! codes, then to the set holding the earliest-created discount where the
//! two differ. Every candidate outside it is `NOT_COMBINABLE`.
//!
//! Only maximal sets (no other candidate could join) compete: a code that
//! may combine with everything chosen is applied, never reported
//! `NOT_COMBINABLE`. This loses the buyer nothing beyond rounding: each
//! discount applies to what the ones before it left and is capped there (a
//! later percentage loses at most its share of what an earlier discount
//! took), and eligibility (minimums, windows) is judged before any
//! discount, so a discount joining a set cannot disqualify another. The
//! maximal sets are found by
//! Bron–Kerbosch with pivoting over at most [`MAX_CANDIDATES`] candidates,
//! which yields at most 3^(n/3) sets (Moon–Moser): 8,748 for 25, the
//! absolute worst case; a shop whose discounts all combine prices one set,
//! and each mutually exclusive group multiplies the count only by its size.
//!
//! [`Discount::may_combine_with`]: super::discount::Discount::may_combine_with

use super::PricingError;
use super::apply::{Candidate, Ledger, apply_set};
use super::input::PricingLine;
use super::rounding::RoundingMode;
use super::{MAX_AUTOMATIC_DISCOUNTS, MAX_CODES_PER_CART};

/// The most candidates one stacking considers: every code a cart may hold
/// plus the automatic discounts considered. Fits the bit sets below.
pub const MAX_CANDIDATES: usize = MAX_CODES_PER_CART + MAX_AUTOMATIC_DISCOUNTS;

const _: () = assert!(MAX_CANDIDATES <= 32);

/// Every maximal set of candidates (bit i = candidate i) whose members may
/// all apply together; one empty set when there are no candidates.
pub(super) fn maximal_sets(candidates: &[Candidate]) -> Vec<u32> {
    let n = candidates.len().min(MAX_CANDIDATES);
    let neighbours: Vec<u32> = (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| {
                    j != i
                        && candidates[i]
                            .discount
                            .may_combine_with(candidates[j].discount)
                })
                .fold(0u32, |set, j| set | (1 << j))
        })
        .collect();
    let everyone = if n == 32 { u32::MAX } else { (1u32 << n) - 1 };
    let mut sets = Vec::new();
    extend(0, everyone, 0, &neighbours, &mut sets);
    sets
}

/// Bron–Kerbosch with a pivot: `taken` is the set being grown, `open` the
/// candidates that may still join, `closed` those already tried.
fn extend(taken: u32, mut open: u32, mut closed: u32, neighbours: &[u32], sets: &mut Vec<u32>) {
    if open == 0 && closed == 0 {
        sets.push(taken);
        return;
    }
    let pivot = members(open | closed)
        .max_by_key(|&u| ((open & neighbours[u]).count_ones(), std::cmp::Reverse(u)))
        .unwrap_or(0);
    for v in members(open & !neighbours[pivot]) {
        extend(
            taken | (1 << v),
            open & neighbours[v],
            closed & neighbours[v],
            neighbours,
            sets,
        );
        open &= !(1 << v);
        closed |= 1 << v;
    }
}

/// The members of a bit set, lowest first.
fn members(mut set: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (set != 0).then(|| {
            let lowest = set.trailing_zeros() as usize;
            set &= set - 1;
            lowest
        })
    })
}

/// The set to apply and what it does, by the rule in the module doc.
pub(super) fn best_set(
    lines: &[PricingLine],
    amounts: &[i64],
    shipping: i64,
    candidates: &[Candidate],
    mode: RoundingMode,
) -> Result<(u32, Ledger), PricingError> {
    let coded = members(u32::MAX)
        .take(candidates.len())
        .filter(|&i| candidates[i].code.is_some())
        .fold(0u32, |set, i| set | (1 << i));
    let mut sets = maximal_sets(candidates).into_iter();
    let first = sets.next().unwrap_or(0);
    let mut best = (
        first,
        apply_set(lines, amounts, shipping, candidates, first, mode)?,
    );
    for set in sets {
        let ledger = apply_set(lines, amounts, shipping, candidates, set, mode)?;
        if better(set, ledger.saving(), best.0, best.1.saving(), coded) {
            best = (set, ledger);
        }
    }
    Ok(best)
}

/// Whether set `a` (saving `saving_a`) beats set `b`: a larger saving, then
/// fewer codes, then the earliest-created discount where they differ
/// (candidates are in creation order, so the lowest differing bit).
fn better(a: u32, saving_a: i128, b: u32, saving_b: i128, coded: u32) -> bool {
    if saving_a != saving_b {
        return saving_a > saving_b;
    }
    let (codes_a, codes_b) = ((a & coded).count_ones(), (b & coded).count_ones());
    if codes_a != codes_b {
        return codes_a < codes_b;
    }
    let differ = a ^ b;
    differ != 0 && a & (1 << differ.trailing_zeros()) != 0
}
