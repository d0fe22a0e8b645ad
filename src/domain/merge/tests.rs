use super::*;
use crate::domain::cart::{Cart, NewLine};

use crate::domain::testing::{LIMITS, now};

fn clock() -> MergeClock {
    MergeClock {
        now: now(),
        guest_lifetime: Duration::days(30),
        customer_lifetime: Duration::days(180),
    }
}

fn name(s: &str) -> CartName {
    CartName::parse(s).unwrap()
}

/// A set with the given carts, each written once, `updated` days ago.
fn set(carts: &[(&str, &[(&str, u32)])]) -> CartSet {
    let mut set = CartSet::default();
    for (cart, lines) in carts {
        let lines = lines
            .iter()
            .map(|(sku, quantity)| NewLine {
                sku: Sku::parse(sku).unwrap(),
                quantity: *quantity,
                attributes: Vec::new(),
                unit_price: None,
            })
            .collect();
        set.apply(
            &name(cart),
            &CartChange::Replace(lines),
            None,
            &LIMITS,
            now() - Duration::days(1),
            Duration::days(180),
        )
        .unwrap();
    }
    set
}

fn lines(set: &CartSet, cart: &str) -> Vec<(String, u32)> {
    set.carts[&name(cart)]
        .lines
        .iter()
        .map(|l| (l.sku.to_string(), l.quantity))
        .collect()
}

fn pairs(items: &[(&str, u32)]) -> Vec<(String, u32)> {
    items.iter().map(|(s, q)| (s.to_string(), *q)).collect()
}

fn merge(
    customer: &mut CartSet,
    guest: &mut CartSet,
    strategy: MergeStrategy,
) -> Result<MergeReport, Rejection> {
    merge_guest_carts(customer, guest, strategy, &LIMITS, &clock())
}

#[test]
fn combine_sums_overlapping_skus_and_appends_new_ones() {
    let mut customer = set(&[("default", &[("A", 1), ("B", 2)])]);
    let mut guest = set(&[("default", &[("B", 3), ("C", 1)])]);
    let report = merge(&mut customer, &mut guest, MergeStrategy::Combine).unwrap();
    assert_eq!(
        lines(&customer, "default"),
        pairs(&[("A", 1), ("B", 5), ("C", 1)])
    );
    assert_eq!(report.carts[0].outcome, MergeOutcome::Combined);
    assert_eq!(report.carts[0].guest_lines, 2);
    assert!(report.adjustments.is_empty());
    assert_eq!(customer.carts[&name("default")].version, 2);
    assert!(guest.carts.is_empty());
}

#[test]
fn keep_customer_keeps_a_conflicting_cart_but_moves_distinct_ones() {
    let mut customer = set(&[("default", &[("A", 1)])]);
    let mut guest = set(&[("default", &[("B", 3)]), ("wishlist", &[("C", 2)])]);
    let report = merge(&mut customer, &mut guest, MergeStrategy::KeepCustomer).unwrap();
    assert_eq!(lines(&customer, "default"), pairs(&[("A", 1)]));
    assert_eq!(customer.carts[&name("default")].version, 1);
    assert_eq!(lines(&customer, "wishlist"), pairs(&[("C", 2)]));
    let outcomes: Vec<_> = report.carts.iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, [MergeOutcome::KeptCustomer, MergeOutcome::Moved]);
    assert!(guest.carts.is_empty());
}

#[test]
fn keep_guest_replaces_a_conflicting_cart() {
    let mut customer = set(&[("default", &[("A", 1), ("B", 1)])]);
    let mut guest = set(&[("default", &[("B", 4)])]);
    let report = merge(&mut customer, &mut guest, MergeStrategy::KeepGuest).unwrap();
    assert_eq!(lines(&customer, "default"), pairs(&[("B", 4)]));
    assert_eq!(report.carts[0].outcome, MergeOutcome::KeptGuest);
}

#[test]
fn combining_clamps_quantities_and_line_counts_and_says_so() {
    let mut customer = set(&[("default", &[("A", 8), ("B", 1)])]);
    let mut guest = set(&[("default", &[("A", 7), ("C", 1), ("D", 2)])]);
    let report = merge(&mut customer, &mut guest, MergeStrategy::Combine).unwrap();
    assert_eq!(
        lines(&customer, "default"),
        pairs(&[("A", 10), ("B", 1), ("C", 1)])
    );
    let adjusted: Vec<_> = report
        .adjustments
        .iter()
        .map(|a| (a.sku.to_string(), a.wanted, a.kept))
        .collect();
    assert_eq!(adjusted, [("A".into(), 15, 10), ("D".into(), 2, 0)]);
    assert!(report.adjustments[0].reason.contains("at most 10"));
    assert!(report.adjustments[1].reason.contains("at most 3 lines"));
}

#[test]
fn a_second_merge_changes_nothing() {
    let mut customer = set(&[("default", &[("A", 1)])]);
    let mut guest = set(&[("default", &[("A", 2)])]);
    merge(&mut customer, &mut guest, MergeStrategy::Combine).unwrap();
    let (customer_after, guest_after) = (customer.clone(), guest.clone());
    let report = merge(&mut customer, &mut guest, MergeStrategy::Combine).unwrap();
    assert_eq!(report, MergeReport::default());
    assert_eq!(customer, customer_after);
    assert_eq!(guest, guest_after);
}

#[test]
fn too_many_filled_carts_refuses_the_whole_merge() {
    let mut customer = set(&[("default", &[("A", 1)]), ("wishlist", &[("B", 1)])]);
    let mut guest = set(&[("default", &[("C", 1)]), ("later", &[("D", 1)])]);
    let (customer_before, guest_before) = (customer.clone(), guest.clone());
    let rejection = merge(&mut customer, &mut guest, MergeStrategy::Combine).unwrap_err();
    let errors = rejection.into_user_errors();
    assert_eq!(errors[0].code, ErrorCode::CartLimitExceeded);
    assert!(errors[0].message.contains("nothing was changed"));
    assert_eq!(customer, customer_before);
    assert_eq!(guest, guest_before);
}

#[test]
fn expired_guest_carts_have_nothing_to_merge_and_guest_versions_never_restart() {
    let mut customer = CartSet::default();
    let mut guest = set(&[("default", &[("A", 1)])]);
    guest.carts.insert(
        name("old"),
        Cart {
            name: name("old"),
            version: 7,
            lines: vec![CartLine {
                id: "7-0".into(),
                sku: Sku::parse("B").unwrap(),
                quantity: 1,
                attributes: Vec::new(),
                unit_price: None,
            }],
            created_at: now() - Duration::days(90),
            updated_at: now() - Duration::days(90),
            note: None,
            attributes: Vec::new(),
            buyer_identity: Default::default(),
            discount_codes: Vec::new(),
            delivery_option: None,
        },
    );
    let report = merge(&mut customer, &mut guest, MergeStrategy::Combine).unwrap();
    assert_eq!(report.carts.len(), 1);
    assert_eq!(report.carts[0].name, name("default"));
    assert!(!customer.carts.contains_key(&name("old")));
    assert_eq!(guest.retired_version, 7);
}

#[test]
fn note_attributes_and_buyer_fill_what_the_customer_cart_lacks() {
    use crate::domain::account::Email;
    let life = Duration::days(180);
    let at = now() - Duration::days(1);
    let mut customer = set(&[("default", &[("A", 1)])]);
    customer
        .apply(
            &name("default"),
            &CartChange::Note(Some("mine".into())),
            None,
            &LIMITS,
            at,
            life,
        )
        .unwrap();
    let mut guest = set(&[("default", &[("B", 1)])]);
    let buyer = crate::domain::buyer::BuyerIdentity {
        email: Some(Email::parse("g@example.com").unwrap()),
        ..Default::default()
    };
    for change in [
        CartChange::Note(Some("theirs".into())),
        CartChange::BuyerIdentity(buyer.clone()),
    ] {
        guest
            .apply(&name("default"), &change, None, &LIMITS, at, life)
            .unwrap();
    }
    let keep_guest = (customer.clone(), guest.clone());
    merge(&mut customer, &mut guest, MergeStrategy::KeepCustomer).unwrap();
    let cart = &customer.carts[&name("default")];
    assert_eq!(lines(&customer, "default"), pairs(&[("A", 1)]));
    assert_eq!(cart.note.as_deref(), Some("mine"));
    assert_eq!(cart.buyer_identity, buyer);

    let (mut customer, mut guest) = keep_guest;
    merge(&mut customer, &mut guest, MergeStrategy::KeepGuest).unwrap();
    let cart = &customer.carts[&name("default")];
    assert_eq!(lines(&customer, "default"), pairs(&[("B", 1)]));
    assert_eq!(cart.note.as_deref(), Some("theirs"));
}

#[test]
fn a_guest_cart_with_only_a_note_moves_too() {
    let life = Duration::days(30);
    let mut guest = CartSet::default();
    guest
        .apply(
            &name("gift"),
            &CartChange::Note(Some("wrap it".into())),
            None,
            &LIMITS,
            now(),
            life,
        )
        .unwrap();
    let mut customer = CartSet::default();
    let report = merge(&mut customer, &mut guest, MergeStrategy::Combine).unwrap();
    assert_eq!(report.carts[0].outcome, MergeOutcome::Moved);
    assert_eq!(
        customer.carts[&name("gift")].note.as_deref(),
        Some("wrap it")
    );
}

#[test]
fn a_customer_cart_with_only_a_buyer_still_takes_the_guests_lines() {
    let life = Duration::days(180);
    let at = now() - Duration::days(1);
    let mut customer = CartSet::default();
    let buyer = crate::domain::buyer::BuyerIdentity {
        phone: Some(crate::domain::buyer::Phone::parse("+15555550100").unwrap()),
        ..Default::default()
    };
    customer
        .apply(
            &name("default"),
            &CartChange::BuyerIdentity(buyer.clone()),
            None,
            &LIMITS,
            at,
            life,
        )
        .unwrap();
    let mut guest = set(&[("default", &[("A", 2)])]);
    let report = merge(&mut customer, &mut guest, MergeStrategy::KeepCustomer).unwrap();
    assert_eq!(report.carts[0].outcome, MergeOutcome::Moved);
    assert_eq!(lines(&customer, "default"), pairs(&[("A", 2)]));
    assert_eq!(customer.carts[&name("default")].buyer_identity, buyer);
}

#[test]
fn a_merge_that_would_break_the_owner_byte_budget_refuses_whole_and_names_it() {
    let mut customer = set(&[("default", &[("A", 1)])]);
    let mut guest = set(&[("wishlist", &[("B", 1)])]);
    let both = customer.index().total_bytes() + guest.index().total_bytes();
    let tight = Limits {
        max_owner_bytes: both as usize - 1,
        ..LIMITS
    };
    let (customer_before, guest_before) = (customer.clone(), guest.clone());
    let rejection = merge_guest_carts(
        &mut customer,
        &mut guest,
        MergeStrategy::Combine,
        &tight,
        &clock(),
    )
    .unwrap_err();
    let errors = rejection.into_user_errors();
    assert_eq!(errors[0].code, ErrorCode::CartLimitExceeded);
    assert_eq!(errors[0].field, ["guestToken"]);
    assert!(
        errors[0].message.contains("'wishlist'") && errors[0].message.contains("--max-owner-bytes"),
        "{}",
        errors[0].message
    );
    assert_eq!(customer, customer_before);
    assert_eq!(guest, guest_before);
}
