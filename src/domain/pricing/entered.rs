//! Discount codes as a buyer enters them into a cart
//! (`updateCartDiscountCodes`, `checkoutLines`, `previewCheckout`).

use super::MAX_CODES_PER_CART;
use super::discount::DiscountCode;
use crate::domain::error::{ErrorCode, Rejection, UserError};

/// Checks the codes a buyer sends (input field `field`): each must be the
/// shape of a code (1–64 printable ASCII characters, surrounding spaces
/// trimmed: `INVALID_DISCOUNT` otherwise, so a cart stores nothing larger),
/// repeats ignoring case are dropped (the first spelling is kept), and at
/// most [`MAX_CODES_PER_CART`] distinct codes remain
/// (`TOO_MANY_DISCOUNT_CODES`). Whether a code names a discount is not
/// checked: an unknown code is kept and shown as not applicable.
pub fn entered_codes(codes: &[String], field: &str) -> Result<Vec<String>, Rejection> {
    let mut errors = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    for (index, code) in codes.iter().enumerate() {
        match DiscountCode::parse(code) {
            Err(why) => errors.push(UserError::new(
                ErrorCode::InvalidDiscount,
                &[field, &index.to_string()],
                format!("not a discount code: {why}"),
            )),
            Ok(code) => {
                if !kept.iter().any(|k| code.matches(k)) {
                    kept.push(code.as_str().to_string());
                }
            }
        }
        // Enough to refuse: no need to look at thousands more.
        if errors.len() >= 20 || kept.len() > MAX_CODES_PER_CART {
            break;
        }
    }
    if !errors.is_empty() {
        return Err(Rejection::Invalid(errors));
    }
    if kept.len() > MAX_CODES_PER_CART {
        return Err(Rejection::one(UserError::new(
            ErrorCode::TooManyDiscountCodes,
            &[field],
            format!("a cart holds at most {MAX_CODES_PER_CART} discount codes"),
        )));
    }
    Ok(kept)
}

/// The codes of two carts becoming one: `first`'s, then those of `second`
/// it does not hold (ignoring case), at most [`MAX_CODES_PER_CART`].
pub fn merged_codes(first: &[String], second: &[String]) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for code in first.iter().chain(second) {
        if kept.len() == MAX_CODES_PER_CART {
            break;
        }
        if !kept.iter().any(|k| k.eq_ignore_ascii_case(code)) {
            kept.push(code.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn repeats_ignoring_case_are_dropped_and_spaces_trimmed() {
        let kept = entered_codes(&codes(&[" SAVE10 ", "save10", "Ship"]), "codes").unwrap();
        assert_eq!(kept, codes(&["SAVE10", "Ship"]));
        assert_eq!(entered_codes(&[], "codes").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn six_distinct_codes_are_too_many_but_six_spellings_of_one_are_not() {
        let six = codes(&["a", "b", "c", "d", "e", "f"]);
        let refused = entered_codes(&six, "codes").unwrap_err().into_user_errors();
        assert_eq!(refused[0].code, ErrorCode::TooManyDiscountCodes);
        let same = codes(&["a", "A", " a", "a ", "A", "a"]);
        assert_eq!(entered_codes(&same, "codes").unwrap(), codes(&["a"]));
    }

    #[test]
    fn malformed_codes_name_their_index() {
        let long = "x".repeat(65);
        let refused = entered_codes(
            &codes(&["ok", "", &long, "two words", "é", "\u{0}"]),
            "codes",
        )
        .unwrap_err()
        .into_user_errors();
        let fields: Vec<String> = refused.iter().map(|e| e.field.join(".")).collect();
        assert_eq!(
            fields,
            ["codes.1", "codes.2", "codes.3", "codes.4", "codes.5"]
        );
        assert!(refused.iter().all(|e| e.code == ErrorCode::InvalidDiscount));
    }

    #[test]
    fn a_flood_of_codes_stops_early() {
        let flood: Vec<String> = (0..100_000).map(|n| format!("c{n}")).collect();
        let refused = entered_codes(&flood, "codes")
            .unwrap_err()
            .into_user_errors();
        assert_eq!(refused.len(), 1);
        let bad: Vec<String> = (0..100_000).map(|_| String::new()).collect();
        assert_eq!(
            entered_codes(&bad, "codes")
                .unwrap_err()
                .into_user_errors()
                .len(),
            20
        );
    }

    #[test]
    fn merged_codes_keep_the_first_cart_first() {
        let merged = merged_codes(&codes(&["A", "b"]), &codes(&["B", "c", "d", "e", "f"]));
        assert_eq!(merged, codes(&["A", "b", "c", "d", "e"]));
    }
}
