//! Each rule of the module doc, one behaviour per test.

use super::*;
use crate::domain::money::MAX_UNIT_PRICE_MINOR;

fn rejection_of(cart: Cart) -> Option<DiscountRejection> {
    cart.price().codes[0].rejection
}

fn sale() -> Discount {
    with_code(discount("d", DiscountTarget::Order, percent("10")), "SALE")
}

#[test]
fn each_code_gets_the_first_reason_it_fails_in_the_documented_order() {
    use DiscountRejection::*;
    let cart = || Cart::of(vec![line("A", 1000, 2)]).codes(&["SALE"]);
    assert_eq!(
        rejection_of(cart().codes(&["NOPE"]).offering([sale()])),
        Some(NotFound)
    );
    let inactive = Discount {
        active: false,
        ..sale()
    };
    assert_eq!(rejection_of(cart().offering([inactive])), Some(NotFound));
    let later = Discount {
        starts_at: Some(now() + Duration::seconds(1)),
        ..sale()
    };
    assert_eq!(rejection_of(cart().offering([later])), Some(NotStarted));
    let started = Discount {
        starts_at: Some(now()),
        ..sale()
    };
    assert_eq!(
        rejection_of(cart().offering([started])),
        None,
        "startsAt is inclusive"
    );
    let mut guest = cart().offering([Discount {
        customers_only: true,
        ..sale()
    }]);
    guest.buyer = ViewerKind::Guest;
    assert_eq!(rejection_of(guest), Some(CustomersOnly));
    let mut used = cart().offering([Discount {
        usage_limit: Some(10),
        ..sale()
    }]);
    used.discounts[0].1 = 10;
    assert_eq!(rejection_of(used), Some(UsageLimitReached));
    let mut mine = cart().offering([Discount {
        usage_limit_per_customer: Some(1),
        ..sale()
    }]);
    mine.discounts[0].2 = 1;
    assert_eq!(rejection_of(mine), Some(CustomerUsageLimitReached));
    let minimum = Money::from_minor(2001);
    let small = Discount {
        minimum_subtotal: Some(minimum),
        ..sale()
    };
    assert_eq!(
        rejection_of(cart().offering([small])),
        Some(MinimumSubtotalNotMet)
    );
    let few = Discount {
        minimum_quantity: Some(3),
        ..sale()
    };
    assert_eq!(
        rejection_of(cart().offering([few])),
        Some(MinimumQuantityNotMet)
    );
    let enough = Discount {
        minimum_quantity: Some(2),
        minimum_subtotal: Some(Money::from_minor(2000)),
        ..sale()
    };
    assert_eq!(
        rejection_of(cart().offering([enough])),
        None,
        "minimums are inclusive"
    );
}

#[test]
fn a_scope_entitles_lines_by_sku_or_by_product_handle() {
    let scoped = |scope: DiscountScope| Discount {
        target: DiscountTarget::Lines,
        applies_to: Some(scope),
        ..sale()
    };
    let by_sku = scoped(DiscountScope {
        skus: vec![Sku::parse("B").unwrap()],
        ..Default::default()
    });
    let lines = vec![line("A", 1000, 1), line("B", 1000, 1)];
    let priced = Cart::of(lines.clone())
        .offering([by_sku])
        .codes(&["SALE"])
        .price();
    assert_eq!(line_discounts(&priced), [0, 100]);
    let by_handle = scoped(DiscountScope {
        product_handles: vec![Handle::parse("a").unwrap()],
        ..Default::default()
    });
    let priced = Cart::of(lines.clone())
        .offering([by_handle])
        .codes(&["SALE"])
        .price();
    assert_eq!(line_discounts(&priced), [100, 0]);
    let elsewhere = scoped(DiscountScope {
        skus: vec![Sku::parse("Z").unwrap()],
        ..Default::default()
    });
    let priced = Cart::of(lines)
        .offering([elsewhere])
        .codes(&["SALE"])
        .price();
    assert_eq!(reasons(&priced), [Some(DiscountRejection::NoEntitledLines)]);
}

#[test]
fn minimums_count_only_the_entitled_lines_before_any_discount() {
    let scoped = Discount {
        target: DiscountTarget::Lines,
        applies_to: Some(DiscountScope {
            skus: vec![Sku::parse("B").unwrap()],
            ..Default::default()
        }),
        minimum_subtotal: Some(Money::from_minor(1500)),
        ..sale()
    };
    let cart = Cart::of(vec![line("A", 5000, 1), line("B", 1000, 1)]).codes(&["SALE"]);
    assert_eq!(
        rejection_of(cart.offering([scoped])),
        Some(DiscountRejection::MinimumSubtotalNotMet)
    );
}

#[test]
fn shipping_discounts_need_something_to_ship_but_not_a_chosen_option() {
    let free = with_code(
        discount("s", DiscountTarget::Shipping, percent("100")),
        "SHIP",
    );
    let cart = || {
        Cart::of(vec![line("A", 1000, 1)])
            .offering([free.clone()])
            .codes(&["ship"])
    };
    assert_eq!(
        rejection_of(cart()),
        Some(DiscountRejection::NoEntitledLines)
    );
    let mut unchosen = cart();
    unchosen.delivery = Delivery::NotChosen;
    let priced = unchosen.price();
    assert_eq!(reasons(&priced), [None]);
    assert!(priced.cost.estimated);
    assert_eq!(priced.cost.shipping, None);
}

#[test]
fn codes_match_case_insensitively_and_report_as_the_cart_holds_them() {
    let priced = Cart::of(vec![line("A", 1000, 1)])
        .offering([sale()])
        .codes(&[" sAlE ", "SALE"])
        .price();
    assert_eq!(priced.codes[0].code, " sAlE ");
    assert_eq!(
        reasons(&priced),
        [None, None],
        "a repeat shares the verdict"
    );
    assert_eq!(
        priced.applications.len(),
        1,
        "and the discount applies once"
    );
    assert_eq!(priced.applications[0].code.as_deref(), Some("SALE"));
    assert_eq!(
        priced.lines[0].discount_allocations[0].code.as_deref(),
        Some("SALE")
    );
}

#[test]
fn more_than_five_distinct_codes_is_an_error_not_a_silent_cut() {
    let cart = Cart::of(vec![line("A", 1000, 1)]).codes(&["a", "b", "c", "d", "e", "A", "E"]);
    assert!(cart.try_price().is_ok(), "repeats do not count");
    let cart = cart.codes(&["a", "b", "c", "d", "e", "f"]);
    assert_eq!(cart.try_price().unwrap_err(), PricingError::TooManyCodes(6));
}

#[test]
fn automatic_discounts_apply_without_a_code_and_are_reported_without_one() {
    let priced = Cart::of(vec![line("A", 1000, 1)])
        .offering([discount("auto", DiscountTarget::Lines, percent("5"))])
        .price();
    assert_eq!(priced.cost.discount_total.minor(), 50);
    assert_eq!(priced.applications[0].code, None);
    assert_eq!(priced.lines[0].discount_allocations[0].code, None);
    assert!(priced.codes.is_empty());
}

#[test]
fn discounts_apply_lines_then_order_on_what_remains_then_shipping() {
    let order = combining(discount("o", DiscountTarget::Order, percent("10")));
    let lines = combining(discount("l", DiscountTarget::Lines, fixed(1000)));
    let ship = combining(discount("s", DiscountTarget::Shipping, percent("50")));
    let mut cart =
        Cart::of(vec![line("A", 3000, 1), line("B", 1000, 1)]).offering([order, ship, lines]);
    cart.delivery = Delivery::Chosen(Money::from_minor(801));
    let priced = cart.price();
    let applied: Vec<(&str, i64)> = priced
        .applications
        .iter()
        .map(|a| (a.discount_id.as_str(), a.amount.minor()))
        .collect();
    // 10.00 over 30:10 → 7.50 + 2.50; then 10 % of the 30.00 left; then half of 8.01 (HALF_EVEN 4.00).
    assert_eq!(applied, [("l", 1000), ("o", 300), ("s", 400)]);
    assert_eq!(line_discounts(&priced), [750 + 225, 250 + 75]);
    assert_eq!(priced.cost.total.minor(), 4000 - 1300 + 401);
}

#[test]
fn when_savings_tie_fewer_codes_win_then_the_earlier_created() {
    let lines = vec![line("A", 1000, 1)];
    let coded = with_code(discount("coded", DiscountTarget::Order, fixed(100)), "CODE");
    let auto = Discount {
        created_at: days_ago(1),
        ..discount("auto", DiscountTarget::Order, fixed(100))
    };
    let priced = Cart::of(lines.clone())
        .offering([coded, auto])
        .codes(&["CODE"])
        .price();
    assert_eq!(
        priced.applications[0].discount_id, "auto",
        "no code beats a code"
    );
    assert_eq!(reasons(&priced), [Some(DiscountRejection::NotCombinable)]);
    let older = with_code(
        Discount {
            created_at: days_ago(9),
            ..discount("older", DiscountTarget::Order, fixed(100))
        },
        "OLD",
    );
    let newer = with_code(
        Discount {
            created_at: days_ago(2),
            ..discount("newer", DiscountTarget::Order, fixed(100))
        },
        "NEW",
    );
    let priced = Cart::of(lines)
        .offering([newer, older])
        .codes(&["NEW", "OLD"])
        .price();
    assert_eq!(
        reasons(&priced),
        [Some(DiscountRejection::NotCombinable), None]
    );
}

#[test]
fn discounts_combine_only_when_each_allows_the_others_target() {
    let lines = vec![line("A", 1000, 1)];
    let mut order = with_code(discount("o", DiscountTarget::Order, fixed(100)), "O");
    order.combines_with.line_discounts = true;
    let one_sided = with_code(discount("l", DiscountTarget::Lines, fixed(200)), "L");
    let priced = Cart::of(lines.clone())
        .offering([order.clone(), one_sided.clone()])
        .codes(&["O", "L"])
        .price();
    assert_eq!(
        reasons(&priced),
        [Some(DiscountRejection::NotCombinable), None]
    );
    let mut both = one_sided;
    both.combines_with.order_discounts = true;
    let priced = Cart::of(lines)
        .offering([order, both])
        .codes(&["O", "L"])
        .price();
    assert_eq!(reasons(&priced), [None, None]);
    assert_eq!(priced.cost.discount_total.minor(), 300);
}

#[test]
fn a_fixed_discount_on_tax_inclusive_prices_takes_its_share_of_tax_too() {
    let mut cart = Cart::of(vec![line("A", 1190, 1)]).offering([discount(
        "d",
        DiscountTarget::Lines,
        fixed(119),
    )]);
    cart.settings.prices_include_tax = true;
    cart.taxes = rates(&[("standard", "VAT", "19")]);
    let priced = cart.price();
    assert_eq!(priced.lines[0].total.minor(), 1071, "1.19 off the gross");
    assert_eq!(
        priced.cost.tax_total.minor(),
        171,
        "1071 × 19/119 = 171: the tax fell by 0.19"
    );
    assert_eq!(priced.cost.total.minor(), 1071);
}

#[test]
fn shipping_is_taxed_at_the_highest_rate_among_the_lines_classes() {
    let mut book = line("BOOK", 1000, 1);
    book.tax_class = "reduced".into();
    let mut cart = Cart::of(vec![book, line("MUG", 1000, 1)]);
    cart.taxes = rates(&[("standard", "VAT", "19"), ("reduced", "VAT reduced", "7")]);
    cart.delivery = Delivery::Chosen(Money::from_minor(500));
    let priced = cart.price();
    assert_eq!(priced.cost.shipping_tax.minor(), 95);
    let by_title: Vec<(&str, i64)> = priced
        .cost
        .tax_lines
        .iter()
        .map(|t| (t.title.as_str(), t.amount.minor()))
        .collect();
    assert_eq!(by_title, [("VAT reduced", 70), ("VAT", 190 + 95)]);
    assert_eq!(priced.cost.total.minor(), 2000 + 500 + 70 + 285);
    cart.lines.pop();
    assert_eq!(
        cart.price().cost.shipping_tax.minor(),
        35,
        "only the reduced rate is left"
    );
    cart.lines[0].tax_class = "none".into();
    let priced = cart.price();
    assert_eq!(
        priced.cost.tax_total,
        Money::ZERO,
        "no class with a rate: no tax"
    );
    assert!(priced.cost.tax_lines.is_empty());
}

#[test]
fn the_cost_is_estimated_until_the_address_and_the_delivery_are_known() {
    let mut cart = Cart::of(vec![line("A", 1000, 1)]);
    assert!(
        !cart.price().cost.estimated,
        "nothing to ship, address known"
    );
    cart.delivery = Delivery::NotChosen;
    assert!(cart.price().cost.estimated);
    cart.delivery = Delivery::Chosen(Money::ZERO);
    cart.taxes.address_known = false;
    assert!(cart.price().cost.estimated);
}

#[test]
fn free_above_is_judged_on_the_subtotal_before_discounts() {
    let price = Money::from_minor(500);
    let threshold = Some(Money::from_minor(5000));
    assert_eq!(
        rate_price(price, threshold, Money::from_minor(5000)),
        Money::ZERO
    );
    assert_eq!(rate_price(price, threshold, Money::from_minor(4999)), price);
    assert_eq!(rate_price(price, None, Money::from_minor(1_000_000)), price);
}

#[test]
fn the_largest_cart_prices_and_a_larger_one_is_an_error_not_a_panic() {
    let lines: Vec<PricingLine> = (0..100)
        .map(|i| line(&format!("S{i}"), MAX_UNIT_PRICE_MINOR, 999))
        .collect();
    let mut cart =
        Cart::of(lines).offering([discount("d", DiscountTarget::Order, percent("33.3333"))]);
    cart.settings.tax_rounding = TaxRounding::Total;
    cart.taxes = rates(&[("standard", "Tax", "999.9999")]);
    cart.delivery = Delivery::Chosen(Money::from_minor(MAX_UNIT_PRICE_MINOR));
    let priced = cart.price();
    assert_eq!(
        priced.cost.subtotal.minor(),
        MAX_UNIT_PRICE_MINOR * 999 * 100
    );
    cart.lines[0].unit_price = Money::from_minor(i64::MAX / 2);
    assert_eq!(cart.try_price().unwrap_err(), PricingError::Overflow);
    cart.lines[0].unit_price = Money::from_minor(-1);
    assert_eq!(cart.try_price().unwrap_err(), PricingError::NegativeAmount);
}

#[test]
fn an_empty_cart_prices_to_zero() {
    let priced = Cart::of(Vec::new())
        .offering([sale()])
        .codes(&["SALE"])
        .price();
    assert_eq!(priced.cost.total, Money::ZERO);
    assert_eq!(reasons(&priced), [Some(DiscountRejection::NoEntitledLines)]);
}

#[test]
fn stacking_stays_bounded_with_the_most_candidates_that_exclude_each_other() {
    // 25 candidates in three classes, none combining within its class and
    // each combining across: every maximal set takes one of each class.
    let mut discounts = Vec::new();
    for i in 0..25 {
        let target = [
            DiscountTarget::Lines,
            DiscountTarget::Order,
            DiscountTarget::Shipping,
        ][i % 3];
        let mut d = discount(&format!("d{i:02}"), target, fixed(1 + i as i64));
        d.combines_with = Combinations {
            line_discounts: true,
            order_discounts: true,
            shipping_discounts: true,
        };
        match target {
            DiscountTarget::Lines => d.combines_with.line_discounts = false,
            DiscountTarget::Order => d.combines_with.order_discounts = false,
            DiscountTarget::Shipping => d.combines_with.shipping_discounts = false,
        }
        d.created_at = days_ago(100 - i as i64);
        if i < 5 {
            d.codes = vec![DiscountCode::parse(&format!("C{i}")).unwrap()];
        }
        discounts.push(d);
    }
    let candidates: Vec<apply::Candidate> = discounts
        .iter()
        .map(|discount| apply::Candidate {
            discount,
            code: None,
        })
        .collect();
    assert_eq!(stacking::maximal_sets(&candidates).len(), 9 * 8 * 8);
    let mut cart = Cart::of(
        (0..100)
            .map(|i| line(&format!("S{i}"), 1000 + i, 3))
            .collect(),
    )
    .offering(discounts)
    .codes(&["C0", "C1", "C2", "C3", "C4"]);
    cart.delivery = Delivery::Chosen(Money::from_minor(10_000));
    let started = std::time::Instant::now();
    let priced = cart.price();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The largest fixed amount of each class: d24 (lines), d22 (order), d23 (shipping).
    let ids: Vec<&str> = priced
        .applications
        .iter()
        .map(|a| a.discount_id.as_str())
        .collect();
    assert_eq!(ids, ["d24", "d22", "d23"]);
}

#[test]
fn with_many_automatic_discounts_only_the_earliest_created_eligible_ones_count() {
    let mut discounts: Vec<Discount> = (0..30)
        .map(|i| {
            let mut d = combining(discount(
                &format!("a{i:02}"),
                DiscountTarget::Order,
                fixed(1),
            ));
            d.created_at = days_ago(100 - i);
            d
        })
        .collect();
    discounts[0].active = false;
    let priced = Cart::of(vec![line("A", 1000, 1)])
        .offering(discounts)
        .price();
    assert_eq!(priced.applications.len(), MAX_AUTOMATIC_DISCOUNTS);
    assert_eq!(priced.applications[0].discount_id, "a01");
    assert_eq!(priced.applications.last().unwrap().discount_id, "a20");
}
