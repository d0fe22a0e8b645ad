//! The "Done when" examples that pricing alone decides.

use super::*;

#[test]
fn a_fixed_two_cents_over_three_lines_of_one_cent_allocates_one_one_zero() {
    let lines = vec![line("A", 1, 1), line("B", 1, 1), line("C", 1, 1)];
    for target in [DiscountTarget::Lines, DiscountTarget::Order] {
        let priced = Cart::of(lines.clone())
            .offering([discount("d", target, fixed(2))])
            .price();
        assert_eq!(line_discounts(&priced), [1, 1, 0], "{target:?}");
        assert_eq!(priced.cost.discount_total.minor(), 2);
        assert_eq!(priced.cost.total.minor(), 1);
    }
}

#[test]
fn three_times_ten_at_nineteen_percent_included_is_tax_4_79_and_exactly_30_00() {
    let mut cart = Cart::of(vec![line("A", 1000, 3)]);
    cart.settings.prices_include_tax = true;
    cart.taxes = rates(&[("standard", "VAT", "19")]);
    let priced = cart.price();
    assert_eq!(priced.cost.tax_total.minor(), 479, "3000 × 19/119 = 478.99");
    assert_eq!(priced.cost.total.minor(), 3000);
    assert!(priced.cost.taxes_included);
    assert_eq!(priced.cost.tax_lines.len(), 1);
    assert_eq!(priced.cost.tax_lines[0].title, "VAT");
    assert_eq!(priced.cost.tax_lines[0].rate.to_string(), "19");
    assert_eq!(
        priced.lines[0].total.minor(),
        3000,
        "the line's total is gross"
    );
}

#[test]
fn ten_percent_off_0_25_is_0_02_half_even_and_0_03_half_up() {
    for (mode, expected) in [
        (RoundingMode::HalfEven, 2),
        (RoundingMode::HalfUp, 3),
        (RoundingMode::HalfDown, 2),
    ] {
        for target in [DiscountTarget::Lines, DiscountTarget::Order] {
            let mut cart =
                Cart::of(vec![line("A", 25, 1)]).offering([discount("d", target, percent("10"))]);
            cart.settings.rounding_mode = mode;
            assert_eq!(
                cart.price().cost.discount_total.minor(),
                expected,
                "{mode:?} {target:?}"
            );
        }
    }
}

#[test]
fn two_free_shipping_discounts_make_shipping_zero_never_negative() {
    let free = |id| combining(discount(id, DiscountTarget::Shipping, percent("100")));
    let mut cart = Cart::of(vec![line("A", 1000, 1)]).offering([free("a"), free("b")]);
    cart.delivery = Delivery::Chosen(Money::from_minor(495));
    let priced = cart.price();
    assert_eq!(priced.cost.shipping, Some(Money::from_minor(495)));
    assert_eq!(priced.cost.shipping_discount.minor(), 495);
    assert_eq!(priced.cost.total.minor(), 1000, "shipping adds 0.00");
    let amounts: Vec<i64> = priced
        .applications
        .iter()
        .map(|a| a.amount.minor())
        .collect();
    assert_eq!(amounts, [495, 0], "the second finds nothing left");
    // The same with fixed amounts larger than the shipping price.
    let big = |id| combining(discount(id, DiscountTarget::Shipping, fixed(1000)));
    cart.discounts.clear();
    let priced = cart.offering([big("a"), big("b")]).price();
    assert_eq!(priced.cost.shipping_discount.minor(), 495);
    assert_eq!(priced.cost.total.minor(), 1000);
}

#[test]
fn a_fixed_discount_larger_than_the_subtotal_is_capped() {
    for target in [DiscountTarget::Lines, DiscountTarget::Order] {
        let mut cart = Cart::of(vec![line("A", 1000, 2), line("B", 350, 1)]).offering([discount(
            "d",
            target,
            fixed(1_000_000),
        )]);
        cart.delivery = Delivery::Chosen(Money::from_minor(500));
        let priced = cart.price();
        assert_eq!(priced.cost.discount_total.minor(), 2350, "{target:?}");
        assert_eq!(line_discounts(&priced), [2000, 350]);
        assert!(priced.lines.iter().all(|l| l.total == Money::ZERO));
        assert_eq!(priced.cost.total.minor(), 500, "only shipping is left");
        assert_eq!(priced.applications[0].amount.minor(), 2350);
    }
}

fn buy_2_get_1(max_uses: Option<u32>) -> Discount {
    discount(
        "b2g1",
        DiscountTarget::Lines,
        DiscountValue::BuyXGetY(BuyXGetY {
            buy: 2,
            get: 1,
            get_percentage: Percent::HUNDRED,
            max_uses_per_order: max_uses,
        }),
    )
}

#[test]
fn buy_2_get_1_on_7_units_frees_the_2_cheapest_or_1_with_one_use() {
    // 7 units: 3 at 10.00, 2 at 3.00, 2 at 5.00 → 2 groups, the 2 at 3.00 free.
    let lines = vec![line("A", 1000, 3), line("B", 300, 2), line("C", 500, 2)];
    let priced = Cart::of(lines.clone())
        .offering([buy_2_get_1(None)])
        .price();
    assert_eq!(line_discounts(&priced), [0, 600, 0]);
    let priced = Cart::of(lines).offering([buy_2_get_1(Some(1))]).price();
    assert_eq!(line_discounts(&priced), [0, 300, 0]);
}

#[test]
fn buy_2_get_1_reaches_past_a_line_when_its_cheapest_units_run_out() {
    // 7 units at 1.00, 2.00 ×2, 4.00 ×4: 2 groups free the 1.00 and one 2.00.
    let lines = vec![line("A", 400, 4), line("B", 200, 2), line("C", 100, 1)];
    let priced = Cart::of(lines).offering([buy_2_get_1(None)]).price();
    assert_eq!(line_discounts(&priced), [0, 200, 100]);
}

#[test]
fn a_code_whose_end_has_passed_is_expired_and_applies_nothing() {
    let mut sale = with_code(
        discount("d", DiscountTarget::Order, percent("10")),
        "SUMMER",
    );
    sale.ends_at = Some(now());
    let priced = Cart::of(vec![line("A", 1000, 1)])
        .offering([sale])
        .codes(&["summer"])
        .price();
    assert_eq!(
        reasons(&priced),
        [Some(DiscountRejection::Expired)],
        "endsAt is exclusive"
    );
    assert!(!priced.codes[0].applicable());
    assert_eq!(priced.cost.discount_total, Money::ZERO);
    assert!(priced.applications.is_empty());
}

#[test]
fn stacking_picks_the_larger_saving_and_reports_the_other_not_combinable() {
    let ten_percent = with_code(discount("pct", DiscountTarget::Lines, percent("10")), "TEN");
    let five_off = with_code(discount("five", DiscountTarget::Order, fixed(500)), "FIVE");
    let priced = Cart::of(vec![line("A", 1000, 3)])
        .offering([ten_percent, five_off])
        .codes(&["TEN", "FIVE"])
        .price();
    assert_eq!(
        priced.cost.discount_total.minor(),
        500,
        "5.00 beats 10 % of 30.00"
    );
    assert_eq!(
        reasons(&priced),
        [Some(DiscountRejection::NotCombinable), None]
    );
    assert_eq!(priced.applications.len(), 1);
    assert_eq!(priced.applications[0].code.as_deref(), Some("FIVE"));
}

#[test]
fn total_tax_rounding_rounds_once_per_rate_and_line_rounding_once_per_line() {
    // Three lines of 10.00 at 19 % included: per line 159.66 → 1.60 each.
    let mut cart = Cart::of(vec![
        line("A", 1000, 1),
        line("B", 1000, 1),
        line("C", 1000, 1),
    ]);
    cart.settings.prices_include_tax = true;
    cart.taxes = rates(&[("standard", "VAT", "19")]);
    let priced = cart.price();
    assert_eq!(line_taxes(&priced), [160, 160, 160]);
    assert_eq!(priced.cost.tax_total.minor(), 480);
    cart.settings.tax_rounding = TaxRounding::Total;
    let priced = cart.price();
    assert_eq!(
        priced.cost.tax_total.minor(),
        479,
        "once: 3000 × 19/119 = 478.99"
    );
    assert_eq!(
        line_taxes(&priced),
        [160, 160, 159],
        "split back by largest remainder"
    );
    assert_eq!(priced.cost.total.minor(), 3000);
    // Prices excluding tax: three lines of 0.05 at 10 %: 0.5 cent each.
    let mut cart = Cart::of(vec![line("A", 5, 1), line("B", 5, 1), line("C", 5, 1)]);
    cart.taxes = rates(&[("standard", "Sales tax", "10")]);
    assert_eq!(
        cart.price().cost.tax_total.minor(),
        0,
        "each half rounds to even 0"
    );
    cart.settings.tax_rounding = TaxRounding::Total;
    let priced = cart.price();
    assert_eq!(priced.cost.tax_total.minor(), 2, "1.5 rounds to even 2");
    assert_eq!(line_taxes(&priced), [1, 1, 0]);
    assert_eq!(priced.cost.total.minor(), 17);
}
