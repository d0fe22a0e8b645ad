//! Checking a discount as an admin sends it.

use super::*;
use crate::domain::money::Currency;

fn input() -> DiscountInput {
    DiscountInput {
        title: "Summer sale".into(),
        codes: vec!["SUMMER".into()],
        target: DiscountTarget::Lines,
        percentage: Some("10".into()),
        fixed_amount: None,
        applies_to: None,
        buy_x_get_y: None,
        minimum_subtotal: None,
        minimum_quantity: None,
        starts_at: None,
        ends_at: None,
        usage_limit: None,
        usage_limit_per_customer: None,
        customers_only: false,
        combines_with: Combinations::default(),
        active: true,
    }
}

fn check(input: &DiscountInput) -> Result<Discount, Vec<DiscountProblem>> {
    parse_discount(input, "id".into(), now(), &Currency::parse("USD").unwrap())
}

/// The fields of the problems `input` has.
fn fields(input: &DiscountInput) -> Vec<String> {
    check(input)
        .unwrap_err()
        .into_iter()
        .map(|p| p.field.join("."))
        .collect()
}

#[test]
fn a_valid_discount_is_checked_into_its_definition() {
    let discount = check(&DiscountInput {
        codes: vec!["summer".into(), " WINTER ".into()],
        minimum_subtotal: Some("50".into()),
        usage_limit: Some(10),
        applies_to: Some(DiscountScopeInput {
            skus: Some(vec!["TEE-M".into(), "TEE-M".into()]),
            product_handles: None,
        }),
        ..input()
    })
    .unwrap();
    assert_eq!(discount.value, percent("10"));
    assert_eq!(
        discount
            .codes
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
        ["summer", "WINTER"]
    );
    assert_eq!(discount.minimum_subtotal, Some(Money::from_minor(5000)));
    assert_eq!(discount.usage_limit, Some(10));
    assert_eq!(
        discount.applies_to.unwrap().skus.len(),
        1,
        "repeats are dropped"
    );
    assert_eq!(discount.created_at, now());
}

#[test]
fn exactly_one_of_percentage_and_fixed_amount_unless_buy_x_get_y() {
    let both = DiscountInput {
        fixed_amount: Some("5".into()),
        ..input()
    };
    assert_eq!(fields(&both), ["fixedAmount"]);
    let neither = DiscountInput {
        percentage: None,
        ..input()
    };
    assert_eq!(fields(&neither), ["percentage"]);
    let bxgy = BuyXGetYInput {
        buy_quantity: 2,
        get_quantity: 1,
        get_percentage: None,
        max_uses_per_order: Some(1),
    };
    let with_percentage = DiscountInput {
        buy_x_get_y: Some(bxgy.clone()),
        ..input()
    };
    assert_eq!(fields(&with_percentage), ["percentage"]);
    let alone = DiscountInput {
        buy_x_get_y: Some(bxgy.clone()),
        percentage: None,
        ..input()
    };
    let DiscountValue::BuyXGetY(rule) = check(&alone).unwrap().value else {
        panic!("not buy X get Y")
    };
    assert_eq!(
        (
            rule.buy,
            rule.get,
            rule.get_percentage,
            rule.max_uses_per_order
        ),
        (2, 1, Percent::HUNDRED, Some(1))
    );
    let on_order = DiscountInput {
        target: DiscountTarget::Order,
        ..alone
    };
    assert_eq!(fields(&on_order), ["target"]);
}

#[test]
fn every_bad_field_is_reported_with_its_path() {
    let bad = DiscountInput {
        title: " ".into(),
        codes: vec!["OK".into(), "has space".into(), "ok".into()],
        percentage: Some("100.5".into()),
        minimum_subtotal: Some("-1".into()),
        minimum_quantity: Some(0),
        usage_limit: Some(-3),
        usage_limit_per_customer: Some(0),
        starts_at: Some(now()),
        ends_at: Some(now()),
        applies_to: Some(DiscountScopeInput {
            skus: Some(vec!["bad sku".into()]),
            product_handles: Some(vec!["Bad".into()]),
        }),
        ..input()
    };
    assert_eq!(
        fields(&bad),
        [
            "title",
            "codes.1",
            "codes.2",
            "percentage",
            "appliesTo.skus.0",
            "appliesTo.productHandles.0",
            "minimumSubtotal",
            "minimumQuantity",
            "usageLimit",
            "usageLimitPerCustomer",
            "endsAt",
        ]
    );
}

#[test]
fn amounts_and_percentages_are_bounded() {
    for (percentage, ok) in [
        ("0", false),
        ("0.0001", true),
        ("100", true),
        ("100.0001", false),
        ("1.00001", false),
    ] {
        let given = DiscountInput {
            percentage: Some(percentage.into()),
            ..input()
        };
        assert_eq!(check(&given).is_ok(), ok, "{percentage}");
    }
    for (amount, ok) in [
        ("0", false),
        ("0.01", true),
        ("0.001", false),
        ("10000000000.01", false),
    ] {
        let given = DiscountInput {
            percentage: None,
            fixed_amount: Some(amount.into()),
            ..input()
        };
        assert_eq!(check(&given).is_ok(), ok, "{amount}");
    }
    let big_group = BuyXGetYInput {
        buy_quantity: 1001,
        get_quantity: 0,
        get_percentage: Some("0".into()),
        max_uses_per_order: Some(0),
    };
    let given = DiscountInput {
        buy_x_get_y: Some(big_group),
        percentage: None,
        ..input()
    };
    assert_eq!(
        fields(&given),
        [
            "buyXGetY.buyQuantity",
            "buyXGetY.getQuantity",
            "buyXGetY.getPercentage",
            "buyXGetY.maxUsesPerOrder"
        ]
    );
}

#[test]
fn only_line_discounts_have_a_scope_and_a_scope_names_something() {
    let scope = DiscountScopeInput {
        skus: Some(vec!["A".into()]),
        product_handles: None,
    };
    let on_order = DiscountInput {
        target: DiscountTarget::Order,
        applies_to: Some(scope),
        ..input()
    };
    assert_eq!(fields(&on_order), ["appliesTo"]);
    let empty = DiscountInput {
        applies_to: Some(DiscountScopeInput::default()),
        ..input()
    };
    assert_eq!(fields(&empty), ["appliesTo"]);
}

#[test]
fn no_codes_make_an_automatic_discount_and_too_many_are_refused() {
    assert!(
        check(&DiscountInput {
            codes: Vec::new(),
            ..input()
        })
        .unwrap()
        .is_automatic()
    );
    let many = DiscountInput {
        codes: (0..101).map(|i| format!("C{i}")).collect(),
        ..input()
    };
    assert_eq!(fields(&many), ["codes"]);
}
