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

fn new(s: &str, q: u32) -> NewLine {
    NewLine {
        sku: sku(s),
        quantity: q,
        attributes: Vec::new(),
        unit_price: Some(Money::from_minor(250)),
    }
}

fn engraved(s: &str, q: u32, text: &str) -> NewLine {
    NewLine {
        attributes: vec![Attribute {
            key: "engraving".into(),
            value: text.into(),
        }],
        ..new(s, q)
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

fn lines(set: &CartSet, cart: &str) -> Vec<(String, String, u32)> {
    set.cart(&name(cart), now(), life())
        .lines
        .iter()
        .map(|l| (l.id.clone(), l.sku.to_string(), l.quantity))
        .collect()
}

fn update(id: &str, quantity: u32) -> LineUpdate {
    LineUpdate {
        id: id.into(),
        quantity,
        attributes: None,
    }
}

fn updates(list: Vec<LineUpdate>) -> CartChange {
    CartChange::Update {
        lines: list,
        catalog: catalog(),
    }
}

fn codes(r: Rejection) -> Vec<ErrorCode> {
    r.into_user_errors().into_iter().map(|e| e.code).collect()
}

fn t(id: &str, s: &str, q: u32) -> (String, String, u32) {
    (id.into(), s.into(), q)
}

#[test]
fn adding_sums_quantities_and_bumps_the_version_once_per_change() {
    let mut set = CartSet::default();
    assert!(
        apply(
            &mut set,
            "default",
            CartChange::Add(vec![new("A", 2)]),
            Some(0)
        )
        .unwrap()
    );
    let add = CartChange::Add(vec![new("A", 3), new("B", 1)]);
    assert!(apply(&mut set, "default", add, Some(1)).unwrap());
    assert_eq!(set.cart(&name("default"), now(), life()).version, 2);
    assert_eq!(lines(&set, "default"), [t("1-0", "A", 5), t("2-0", "B", 1)]);
}

#[test]
fn the_same_sku_with_other_attributes_is_another_line() {
    let mut set = CartSet::default();
    let add = CartChange::Add(vec![engraved("A", 1, "Ann"), engraved("A", 2, "Bob")]);
    apply(&mut set, "default", add, None).unwrap();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![engraved("A", 1, "Ann")]),
        None,
    )
    .unwrap();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![new("A", 1)]),
        None,
    )
    .unwrap();
    assert_eq!(
        lines(&set, "default"),
        [t("1-0", "A", 2), t("1-1", "A", 2), t("3-0", "A", 1)]
    );
}

#[test]
fn a_stale_expected_version_is_a_conflict_and_changes_nothing() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![new("A", 1)]),
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
        CartChange::Add(vec![new("A", 1)]),
        None,
    )
    .unwrap();
    let remove = CartChange::Remove(vec!["9-9".into()]);
    assert!(!apply(&mut set, "default", remove, None).unwrap());
    assert!(!apply(&mut set, "default", updates(vec![update("1-0", 1)]), None).unwrap());
    assert!(!apply(&mut set, "default", CartChange::Note(None), None).unwrap());
    assert_eq!(set.cart(&name("default"), now(), life()).version, 1);
}

#[test]
fn lines_are_updated_and_removed_by_id_and_ids_are_never_reused() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![new("A", 1), new("B", 1)]),
        None,
    )
    .unwrap();
    apply(
        &mut set,
        "default",
        updates(vec![update("1-0", 7), update("1-1", 0)]),
        None,
    )
    .unwrap();
    assert_eq!(lines(&set, "default"), [t("1-0", "A", 7)]);
    apply(
        &mut set,
        "default",
        CartChange::Remove(vec!["1-0".into()]),
        None,
    )
    .unwrap();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![new("A", 1)]),
        None,
    )
    .unwrap();
    assert_eq!(lines(&set, "default"), [t("4-0", "A", 1)]);
    // A cart dropped and started again keeps counting versions.
    apply(&mut set, "default", CartChange::Clear, None).unwrap();
    set.drop_expired(now() + life() * 2, life());
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![new("A", 1)]),
        None,
    )
    .unwrap();
    assert_eq!(lines(&set, "default"), [t("6-0", "A", 1)]);
}

#[test]
fn updating_unknown_or_repeated_ids_is_refused_and_changes_nothing() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![new("A", 1)]),
        None,
    )
    .unwrap();
    let before = set.clone();
    let err = apply(
        &mut set,
        "default",
        updates(vec![update("1-0", 2), update("1-0", 3), update("7-7", 1)]),
        None,
    )
    .unwrap_err();
    assert_eq!(
        codes(err),
        [ErrorCode::DuplicateLine, ErrorCode::LineNotFound]
    );
    assert_eq!(set, before);
}

#[test]
fn new_attributes_that_match_another_line_join_it() {
    let mut set = CartSet::default();
    let add = CartChange::Add(vec![engraved("A", 1, "Ann"), engraved("A", 2, "Bob")]);
    apply(&mut set, "default", add, None).unwrap();
    let rename = LineUpdate {
        attributes: Some(engraved("A", 1, "Ann").attributes),
        ..update("1-1", 2)
    };
    apply(&mut set, "default", updates(vec![rename]), None).unwrap();
    assert_eq!(lines(&set, "default"), [t("1-0", "A", 3)]);
}

#[test]
fn a_line_of_a_variant_no_longer_for_sale_may_be_lowered_but_not_raised() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![new("OFF", 3)]),
        None,
    )
    .unwrap();
    let err = apply(&mut set, "default", updates(vec![update("1-0", 4)]), None).unwrap_err();
    assert_eq!(codes(err), [ErrorCode::ProductInactive]);
    apply(&mut set, "default", updates(vec![update("1-0", 2)]), None).unwrap();
    assert_eq!(lines(&set, "default"), [t("1-0", "OFF", 2)]);
}

#[test]
fn an_update_takes_the_price_of_now() {
    let mut set = CartSet::default();
    let mut old = new("A", 1);
    old.unit_price = Some(Money::from_minor(100));
    apply(&mut set, "default", CartChange::Add(vec![old]), None).unwrap();
    apply(&mut set, "default", updates(vec![update("1-0", 2)]), None).unwrap();
    let cart = set.cart(&name("default"), now(), life());
    assert_eq!(cart.lines[0].unit_price, Some(Money::from_minor(250)));
}

#[test]
fn adding_past_the_per_line_maximum_is_refused() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![new("A", 8)]),
        None,
    )
    .unwrap();
    let err = apply(
        &mut set,
        "default",
        CartChange::Add(vec![new("A", 3)]),
        None,
    )
    .unwrap_err();
    assert_eq!(codes(err), vec![ErrorCode::InvalidQuantity]);
    assert_eq!(lines(&set, "default"), [t("1-0", "A", 8)]);
}

#[test]
fn too_many_lines_or_carts_is_a_limit_error() {
    let mut set = CartSet::default();
    let four = (0..4).map(|i| new(&format!("S{i}"), 1)).collect();
    assert_eq!(
        codes(apply(&mut set, "default", CartChange::Replace(four), None).unwrap_err()),
        vec![ErrorCode::CartLimitExceeded]
    );
    apply(&mut set, "a", CartChange::Add(vec![new("A", 1)]), None).unwrap();
    apply(&mut set, "b", CartChange::Note(Some("hi".into())), None).unwrap();
    // A cart with only a note counts as filled.
    let err = apply(&mut set, "c", CartChange::Add(vec![new("A", 1)]), None).unwrap_err();
    assert_eq!(codes(err), vec![ErrorCode::CartLimitExceeded]);
    // Emptying one frees a place.
    apply(&mut set, "a", CartChange::Clear, None).unwrap();
    apply(&mut set, "c", CartChange::Add(vec![new("A", 1)]), None).unwrap();
}

#[test]
fn note_attributes_and_buyer_change_the_version_and_survive_clear_but_not_reset() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![new("A", 1)]),
        None,
    )
    .unwrap();
    apply(
        &mut set,
        "default",
        CartChange::Note(Some("ring twice".into())),
        Some(1),
    )
    .unwrap();
    let attributes = engraved("A", 1, "gift").attributes;
    apply(
        &mut set,
        "default",
        CartChange::Attributes(attributes.clone()),
        Some(2),
    )
    .unwrap();
    apply(&mut set, "default", CartChange::Clear, Some(3)).unwrap();
    let cart = set.cart(&name("default"), now(), life());
    assert_eq!(cart.version, 4);
    assert_eq!(cart.note.as_deref(), Some("ring twice"));
    assert_eq!(cart.attributes, attributes);
    assert!(!cart.is_blank());
    apply(&mut set, "default", CartChange::Reset, None).unwrap();
    assert!(set.cart(&name("default"), now(), life()).is_blank());
}

#[test]
fn replace_keeps_the_ids_of_lines_that_stay() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![new("A", 1), new("B", 1)]),
        None,
    )
    .unwrap();
    let replace = CartChange::Replace(vec![new("C", 1), new("B", 5)]);
    apply(&mut set, "default", replace, None).unwrap();
    assert_eq!(lines(&set, "default"), [t("2-0", "C", 1), t("1-1", "B", 5)]);
}

#[test]
fn emptied_carts_are_pruned_but_versions_never_repeat() {
    let mut set = CartSet::default();
    for n in ["a", "b", "c", "d"] {
        apply(&mut set, n, CartChange::Add(vec![new("A", 1)]), None).unwrap();
        apply(&mut set, n, CartChange::Clear, None).unwrap();
    }
    assert!(
        set.carts.len() <= LIMITS.max_carts_per_viewer + 1,
        "{}",
        set.carts.len()
    );
    assert!(!set.carts.contains_key(&name("a")));
    assert_eq!(set.retired_version, 2);
    apply(&mut set, "a", CartChange::Add(vec![new("A", 1)]), None).unwrap();
    assert!(set.cart(&name("a"), now(), life()).version > 2);
}

#[test]
fn an_expired_cart_reads_as_blank_and_keeps_its_version() {
    let mut set = CartSet::default();
    apply(
        &mut set,
        "default",
        CartChange::Add(vec![new("A", 1)]),
        None,
    )
    .unwrap();
    apply(
        &mut set,
        "default",
        CartChange::Note(Some("n".into())),
        None,
    )
    .unwrap();
    let later = now() + life() + Duration::seconds(1);
    let cart = set.cart(&name("default"), later, life());
    assert!(cart.is_blank());
    assert_eq!(cart.version, 2);
}

#[test]
fn carts_stored_before_line_ids_get_stable_ids_when_read() {
    let stored = r#"{"carts":{"default":{"name":"default","version":3,
        "lines":[{"sku":"A","quantity":1},{"sku":"B","quantity":2}],
        "created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}},
        "retired_version":0}"#;
    let mut set: CartSet = serde_json::from_str(stored).unwrap();
    assert_eq!(lines(&set, "default"), [t("0-0", "A", 1), t("0-1", "B", 2)]);
    apply(
        &mut set,
        "default",
        CartChange::Remove(vec!["0-0".into()]),
        Some(3),
    )
    .unwrap();
    let again: CartSet = serde_json::from_str(&serde_json::to_string(&set).unwrap()).unwrap();
    assert_eq!(lines(&again, "default"), [t("0-1", "B", 2)]);
}

fn catalog() -> HashMap<Sku, Variant> {
    let product = |s: &str, active, stock| {
        Variant::new(sku(s), s.into(), Money::from_minor(250), stock, active)
    };
    [
        product("A", true, None),
        product("B", true, None),
        product("OFF", false, None),
        product("FEW", true, Some(2)),
        product("NONE", true, Some(0)),
    ]
    .into_iter()
    .map(|p| (p.sku.clone(), p))
    .collect()
}

fn input(lines: &[(&str, i64)]) -> Vec<LineInput> {
    lines
        .iter()
        .map(|(s, q)| LineInput {
            sku: s.to_string(),
            quantity: *q,
            attributes: Vec::new(),
        })
        .collect()
}

fn attribute_limits() -> AttributeLimits {
    AttributeLimits::default()
}

#[test]
fn input_lines_are_checked_against_the_catalog_and_limits() {
    let mut given = input(&[("A", 0), ("NOPE", 1), ("bad sku", 1), ("OFF", 1), ("A", 11)]);
    given.push(LineInput {
        sku: "A".into(),
        quantity: 1,
        attributes: vec![("".into(), "x".into())],
    });
    let err = check_lines(&given, &LIMITS, &attribute_limits(), &catalog());
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
            (
                ErrorCode::InvalidAttribute,
                "lines.5.attributes.0.key".to_string()
            ),
        ]
    );
}

#[test]
fn repeated_items_add_up_and_out_of_stock_ones_may_be_added() {
    let lines = check_lines(
        &input(&[("A", 2), ("A", 3), ("NONE", 1)]),
        &LIMITS,
        &attribute_limits(),
        &catalog(),
    )
    .unwrap();
    assert_eq!(lines, vec![new("A", 5), new("NONE", 1)]);
}

fn stored(s: &str, q: u32, price: i64) -> CartLine {
    CartLine {
        id: format!("1-{s}"),
        sku: sku(s),
        quantity: q,
        attributes: Vec::new(),
        unit_price: Some(Money::from_minor(price)),
    }
}

#[test]
fn pricing_multiplies_and_sums_in_minor_units() {
    let usd = crate::domain::Currency::parse("USD").unwrap();
    let priced = price_lines(
        &[stored("A", 3, 250), stored("B", 2, 250)],
        &catalog(),
        &usd,
    )
    .unwrap();
    assert_eq!(priced.subtotal, Money::from_minor(1250));
    assert_eq!(priced.total_quantity, 5);
    assert_eq!(priced.lines[0].line_total, Money::from_minor(750));
    assert!(priced.warnings.is_empty());
    assert_eq!(
        price_lines(&[stored("GONE", 1, 1)], &catalog(), &usd),
        Err(PricingError::MissingProduct(sku("GONE")))
    );
}

#[test]
fn warnings_name_the_line_and_say_what_changed() {
    let usd = crate::domain::Currency::parse("USD").unwrap();
    let lines = [
        stored("OFF", 1, 250),
        stored("NONE", 1, 250),
        stored("FEW", 3, 250),
        stored("A", 1, 199),
        stored("FEW", 2, 250),
    ];
    let priced = price_lines(&lines, &catalog(), &usd).unwrap();
    let got: Vec<_> = priced
        .warnings
        .iter()
        .map(|w| (w.code, w.line_id.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (WarningCode::NoLongerAvailable, "1-OFF"),
            (WarningCode::OutOfStock, "1-NONE"),
            (WarningCode::InsufficientStock, "1-FEW"),
            (WarningCode::PriceChanged, "1-A"),
            // Two alone would fit the stock of 2, but the cart wants 5 of
            // FEW in all, as checkout counts: this line warns too.
            (WarningCode::InsufficientStock, "1-FEW"),
        ]
    );
    assert!(
        priced.warnings[2].message.contains("only 2"),
        "{}",
        priced.warnings[2].message
    );
    assert!(
        priced.warnings[4].message.contains("want 5 in all"),
        "{}",
        priced.warnings[4].message
    );
    assert!(
        priced.warnings[3].message.contains("1.99 to 2.50 USD"),
        "{}",
        priced.warnings[3].message
    );
}

#[test]
fn sweeping_drops_only_expired_carts_and_remembers_their_versions() {
    let mut set = CartSet::default();
    apply(&mut set, "a", CartChange::Add(vec![new("A", 1)]), None).unwrap();
    let later = now() + Duration::days(10);
    set.apply(
        &name("b"),
        &CartChange::Add(vec![new("A", 1)]),
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

#[test]
fn a_quantity_is_one_to_the_limit_or_zero_where_zero_removes() {
    let max = i64::from(LIMITS.max_quantity_per_line);
    assert_eq!(Quantity::parse(1, Zero::Refused, &LIMITS).unwrap().get(), 1);
    assert_eq!(
        Quantity::parse(max, Zero::Refused, &LIMITS).unwrap().get(),
        LIMITS.max_quantity_per_line
    );
    assert_eq!(Quantity::parse(0, Zero::Removes, &LIMITS).unwrap().get(), 0);
    assert_eq!(
        Quantity::parse(0, Zero::Refused, &LIMITS).unwrap_err(),
        format!("quantity must be 1 to {max}, got 0")
    );
    for bad in [max + 1, -1, i64::MIN, i64::MAX, i64::from(u32::MAX) + 1] {
        for zero in [Zero::Refused, Zero::Removes] {
            assert!(Quantity::parse(bad, zero, &LIMITS).is_err(), "{bad}");
        }
    }
}

#[test]
fn no_request_names_more_lines_than_a_cart_holds() {
    assert!(LIMITS.check_line_count(LIMITS.max_lines_per_cart).is_ok());
    let refused = LIMITS
        .check_line_count(LIMITS.max_lines_per_cart + 1)
        .unwrap_err()
        .into_user_errors();
    assert_eq!(refused[0].code, ErrorCode::CartLimitExceeded);
    assert_eq!(refused[0].field, vec!["lines".to_string()]);
}
