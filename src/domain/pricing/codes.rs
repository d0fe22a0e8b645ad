//! From the codes a cart holds and the discounts on offer to the
//! candidates stacking chooses among, and each code's verdict so far.

use super::apply::Candidate;
use super::eligibility::{DiscountRejection, rejection};
use super::input::{Offer, PricingInput};
use super::{MAX_AUTOMATIC_DISCOUNTS, MAX_CODES_PER_CART, PricingError};
use chrono::{DateTime, Utc};

/// What a held code names, before stacking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Verdict {
    /// The code as the cart holds it.
    pub code: String,
    /// The discount it names (`None`: `NOT_FOUND`).
    pub discount_id: Option<String>,
    /// Why that discount cannot apply; `None` when it is a candidate.
    pub rejection: Option<DiscountRejection>,
}

/// The candidates, in creation order (eligible discounts the codes name,
/// then the earliest-created [`MAX_AUTOMATIC_DISCOUNTS`] eligible automatic
/// ones), and one verdict per held code, in the cart's order.
///
/// Codes match case-insensitively and only active discounts; a code that
/// names a discount an earlier code named shares its verdict (the discount
/// applies once, under the first code).
pub(super) fn gather<'a>(
    input: &PricingInput<'a>,
    amounts: &[i64],
) -> Result<(Vec<Candidate<'a>>, Vec<Verdict>), PricingError> {
    let mut keys: Vec<String> = input
        .codes
        .iter()
        .map(|c| c.trim().to_ascii_uppercase())
        .collect();
    keys.sort();
    keys.dedup();
    if keys.len() > MAX_CODES_PER_CART {
        return Err(PricingError::TooManyCodes(keys.len()));
    }
    let mut candidates: Vec<Candidate<'a>> = Vec::new();
    let mut verdicts = Vec::with_capacity(input.codes.len());
    for entered in input.codes {
        let Some((offer, code)) = named_by(input.offers, entered) else {
            verdicts.push(Verdict {
                code: entered.clone(),
                discount_id: None,
                rejection: Some(DiscountRejection::NotFound),
            });
            continue;
        };
        let discount = offer.discount;
        let earlier = verdicts
            .iter()
            .find(|v: &&Verdict| v.discount_id.as_deref() == Some(&discount.id));
        let reason = match earlier {
            Some(verdict) => verdict.rejection,
            None => {
                let reason = rejection(offer, input, amounts);
                if reason.is_none() {
                    candidates.push(Candidate {
                        discount,
                        code: Some(code),
                    });
                }
                reason
            }
        };
        verdicts.push(Verdict {
            code: entered.clone(),
            discount_id: Some(discount.id.clone()),
            rejection: reason,
        });
    }
    let mut automatic: Vec<Candidate<'a>> = input
        .offers
        .iter()
        .filter(|offer| offer.discount.is_automatic() && rejection(offer, input, amounts).is_none())
        .map(|offer| Candidate {
            discount: offer.discount,
            code: None,
        })
        .collect();
    automatic.sort_by(|a, b| creation(a).cmp(&creation(b)));
    automatic.dedup_by(|a, b| a.discount.id == b.discount.id);
    candidates.extend(automatic.into_iter().take(MAX_AUTOMATIC_DISCOUNTS));
    candidates.sort_by(|a, b| creation(a).cmp(&creation(b)));
    Ok((candidates, verdicts))
}

/// The active offer one of whose codes `entered` is, with that code.
fn named_by<'o, 'a>(
    offers: &'o [Offer<'a>],
    entered: &str,
) -> Option<(&'o Offer<'a>, &'a super::discount::DiscountCode)> {
    offers.iter().find_map(|offer| {
        let code = offer.discount.code_matching(entered)?;
        offer.discount.active.then_some((offer, code))
    })
}

/// The order candidates are applied in and ties go by: creation, then id.
pub(super) fn creation<'a>(candidate: &Candidate<'a>) -> (DateTime<Utc>, &'a str) {
    (
        candidate.discount.created_at,
        candidate.discount.id.as_str(),
    )
}
