use super::*;

use crate::domain::testing::{LIMITS, now};

fn life() -> Duration {
    Duration::days(30)
}

fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

fn name(s: &str) -> CartName {
    CartName::parse(s).unwrap()
}

fn line(s: &str, q: u32) -> CartLine {
    CartLine {
        sku: sku(s),
        quantity: q,
    }
}

fn apply(
    set: &mut CartSet,
    cart: &str,
    change: CartChange,
    expected: Option<u64>,
) -> Result<bool, Rejection> {
    set.apply(&name(cart), &change, expected, &LIMITS, now(), life())
}

fn codes(r: Rejection) -> Vec<ErrorCode> {
    r.into_user_errors().into_iter().map(|e| e.code).collect()
}

#[test]
fn adding_sums_quantities_and_bumps_the_version_once_per_change() {
    let mut set = CartSet::default();
    assert!(
        apply(
            &mut set,
            "default",
            CartChange::Add(vec![line("A", 2)]),
            Some(0)
        )
        .unwrap()
    );
    assert!(
        apply(
            &mut set,
            "default",
            CartChange::Add(vec![line("A", 3), line("B", 1)]),
            Some(1)
        )
        .unwrap()
    );
    let cart = set.cart(&name("default"), now(), life());
    assert_eq!(cart.version, 2);
    assert_eq!(cart.lines, vec![line("A", 5), line("B", 1)]);
}

#[test]
fn a_stale_expected_version_is_a_conflict_and_changes_nothing() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![line("A", 1)]),
        None,
    )
    .unwrap();
    let before = set.clone();
    let err = apply(&mut set, "default", CartChange::Clear, Some(0)).unwrap_err();
    assert_eq!(
        err,
        Rejection::VersionConflict {
            expected: 0,
            current: 1
        }
    );
    assert_eq!(set, before);
}

#[test]
fn a_change_that_changes_nothing_keeps_the_version() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![line("A", 1)]),
        None,
    )
    .unwrap();
    assert!(
        !apply(
            &mut set,
            "default",
            CartChange::Remove(vec![sku("ZZZ")]),
            None
        )
        .unwrap()
    );
    assert!(
        !apply(
            &mut set,
            "default",
            CartChange::Update(vec![line("A", 1)]),
            None
        )
        .unwrap()
    );
    assert_eq!(set.cart(&name("default"), now(), life()).version, 1);
}

#[test]
fn update_sets_quantities_and_zero_removes() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![line("A", 1), line("B", 1)]),
        None,
    )
    .unwrap();
    apply(
        &mut set,
        "default",
        CartChange::Update(vec![line("A", 7), line("B", 0), line("C", 2)]),
        None,
    )
    .unwrap();
    assert_eq!(
        set.cart(&name("default"), now(), life()).lines,
        vec![line("A", 7), line("C", 2)]
    );
}

#[test]
fn adding_past_the_per_line_maximum_is_refused() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![line("A", 8)]),
        None,
    )
    .unwrap();
    let err = apply(
        &mut set,
        "default",
        CartChange::Add(vec![line("A", 3)]),
        None,
    )
    .unwrap_err();
    assert_eq!(codes(err), vec![ErrorCode::InvalidQuantity]);
    assert_eq!(
        set.cart(&name("default"), now(), life()).lines,
        vec![line("A", 8)]
    );
}

#[test]
fn too_many_lines_or_carts_is_a_limit_error() {
    let mut set = CartSet::default();
    let four = (0..4).map(|i| line(&format!("S{i}"), 1)).collect();
    assert_eq!(
        codes(apply(&mut set, "default", CartChange::Replace(four), None).unwrap_err()),
        vec![ErrorCode::CartLimitExceeded]
    );
    apply(&mut set, "a", CartChange::Add(vec![line("A", 1)]), None).unwrap();
    apply(&mut set, "b", CartChange::Add(vec![line("A", 1)]), None).unwrap();
    let err = apply(&mut set, "c", CartChange::Add(vec![line("A", 1)]), None).unwrap_err();
    assert_eq!(codes(err), vec![ErrorCode::CartLimitExceeded]);
    // Emptying one frees a place.
    apply(&mut set, "a", CartChange::Clear, None).unwrap();
    apply(&mut set, "c", CartChange::Add(vec![line("A", 1)]), None).unwrap();
}

#[test]
fn emptied_carts_are_pruned_but_versions_never_repeat() {
    let mut set = CartSet::default();
    for n in ["a", "b", "c", "d"] {
        apply(&mut set, n, CartChange::Add(vec![line("A", 1)]), None).unwrap();
        apply(&mut set, n, CartChange::Clear, None).unwrap();
    }
    assert!(
        set.carts.len() <= LIMITS.max_carts_per_viewer + 1,
        "{}",
        set.carts.len()
    );
    assert!(!set.carts.contains_key(&name("a")));
    assert_eq!(set.retired_version, 2);
    apply(&mut set, "a", CartChange::Add(vec![line("A", 1)]), None).unwrap();
    assert!(set.cart(&name("a"), now(), life()).version > 2);
}

#[test]
fn an_expired_cart_reads_as_empty_and_keeps_its_version() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![line("A", 1)]),
        None,
    )
    .unwrap();
    let later = now() + life() + Duration::seconds(1);
    let cart = set.cart(&name("default"), later, life());
    assert!(cart.lines.is_empty());
    assert_eq!(cart.version, 1);
}

fn catalog() -> HashMap<Sku, Product> {
    let product = |s: &str, active| Product {
        sku: sku(s),
        title: s.into(),
        price: Money::from_minor(250),
        stock: None,
        active,
    };
    [product("A", true), product("OFF", false)]
        .into_iter()
        .map(|p| (p.sku.clone(), p))
        .collect()
}

fn input(lines: &[(&str, i64)]) -> Vec<(String, i64)> {
    lines.iter().map(|(s, q)| (s.to_string(), *q)).collect()
}

#[test]
fn input_lines_are_checked_against_the_catalog_and_limits() {
    let err = check_lines(
        &input(&[("A", 0), ("NOPE", 1), ("bad sku", 1), ("OFF", 1), ("A", 11)]),
        LineMode::Add,
        &LIMITS,
        &catalog(),
    );
    let errors = err.unwrap_err().into_user_errors();
    let got: Vec<_> = errors.iter().map(|e| (e.code, e.field.join("."))).collect();
    assert_eq!(
        got,
        vec![
            (ErrorCode::InvalidQuantity, "lines.0.quantity".to_string()),
            (ErrorCode::UnknownSku, "lines.1.sku".to_string()),
            (ErrorCode::UnknownSku, "lines.2.sku".to_string()),
            (ErrorCode::ProductInactive, "lines.3.sku".to_string()),
            (ErrorCode::InvalidQuantity, "lines.4.quantity".to_string()),
        ]
    );
}

#[test]
fn setting_an_inactive_product_to_zero_is_allowed_so_it_can_be_removed() {
    let lines = check_lines(&input(&[("OFF", 0)]), LineMode::Set, &LIMITS, &catalog()).unwrap();
    assert_eq!(lines, vec![line("OFF", 0)]);
}

#[test]
fn repeated_skus_add_up_when_adding_and_are_refused_when_setting() {
    let lines = check_lines(
        &input(&[("A", 2), ("A", 3)]),
        LineMode::Add,
        &LIMITS,
        &catalog(),
    )
    .unwrap();
    assert_eq!(lines, vec![line("A", 5)]);
    let err = check_lines(
        &input(&[("A", 2), ("A", 3)]),
        LineMode::Set,
        &LIMITS,
        &catalog(),
    )
    .unwrap_err();
    assert_eq!(codes(err), vec![ErrorCode::DuplicateSku]);
}

#[test]
fn pricing_multiplies_and_sums_in_minor_units() {
    let priced = price_lines(&[line("A", 3), line("OFF", 2)], &catalog()).unwrap();
    assert_eq!(priced.subtotal, Money::from_minor(1250));
    assert_eq!(priced.total_quantity, 5);
    assert_eq!(priced.lines[0].line_total, Money::from_minor(750));
    assert_eq!(
        price_lines(&[line("GONE", 1)], &catalog()),
        Err(PricingError::MissingProduct(sku("GONE")))
    );
}

#[test]
fn sweeping_drops_only_expired_carts_and_remembers_their_versions() {
    let mut set = CartSet::default();
    apply(&mut set, "a", CartChange::Add(vec![line("A", 1)]), None).unwrap();
    let later = now() + Duration::days(10);
    set.apply(
        &name("b"),
        &CartChange::Add(vec![line("A", 1)]),
        None,
        &LIMITS,
        later,
        life(),
    )
    .unwrap();
    assert_eq!(
        set.drop_expired(now() + life() + Duration::seconds(1), life()),
        1
    );
    assert_eq!(
        set.carts.keys().map(|n| n.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    assert_eq!(set.retired_version, 1);
    assert_eq!(set.drop_expired(now(), life()), 0);
}
