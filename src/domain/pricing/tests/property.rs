//! 10,000 random carts, discounts and rates, each priced and checked
//! against the invariants the issue promises. The generator is seeded per
//! case (`SEED + case`), and a failure prints the case and its seed, so it
//! reproduces with `PRICING_CASE=<case> cargo test --lib pricing::property`.

use super::invariants;
use super::*;
use crate::domain::money::MAX_UNIT_PRICE_MINOR;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SEED: u64 = 0x9e1c_e5ee_d000;
const CASES: u64 = 10_000;

#[test]
fn random_carts_keep_every_invariant_in_every_mode() {
    let only: Option<u64> = std::env::var("PRICING_CASE")
        .ok()
        .and_then(|c| c.parse().ok());
    let mut seen = Coverage::default();
    for case in only.map_or(0..CASES, |c| c..c + 1) {
        let seed = SEED + case;
        let cart = random_cart(&mut StdRng::seed_from_u64(seed));
        match check(&cart) {
            Ok(priced) => seen.record(&cart, &priced),
            Err(broken) => {
                panic!("case {case} (seed {seed:#x}, PRICING_CASE={case}): {broken}\n{cart:#?}")
            }
        }
    }
    if only.is_none() {
        seen.assert_reached();
    }
}

/// How often the generator reached each path, so a change to it cannot
/// quietly stop testing one.
#[derive(Debug, Default)]
struct Coverage {
    stacked: u32,
    not_combinable: u32,
    buy_x_get_y: u32,
    shipping_discounted: u32,
    capped_to_zero: u32,
    several_tax_lines: u32,
    taxed_shipping: u32,
    reasons: std::collections::HashSet<DiscountRejection>,
}

impl Coverage {
    fn record(&mut self, cart: &Cart, priced: &CostBreakdown) {
        let count = |hit: bool| u32::from(hit);
        self.stacked += count(priced.applications.len() >= 2);
        self.reasons
            .extend(priced.codes.iter().filter_map(|c| c.rejection));
        self.not_combinable += count(
            priced
                .codes
                .iter()
                .any(|c| c.rejection == Some(DiscountRejection::NotCombinable)),
        );
        self.buy_x_get_y += count(priced.applications.iter().any(|a| {
            a.amount > Money::ZERO
                && cart.discounts.iter().any(|(d, _, _)| {
                    d.id == a.discount_id && matches!(d.value, DiscountValue::BuyXGetY(_))
                })
        }));
        self.shipping_discounted += count(priced.cost.shipping_discount > Money::ZERO);
        self.capped_to_zero += count(
            priced
                .lines
                .iter()
                .any(|l| l.total == Money::ZERO && l.subtotal > Money::ZERO),
        );
        self.several_tax_lines += count(priced.cost.tax_lines.len() >= 2);
        self.taxed_shipping += count(priced.cost.shipping_tax > Money::ZERO);
    }

    fn assert_reached(&self) {
        let counts = [
            self.stacked,
            self.not_combinable,
            self.buy_x_get_y,
            self.shipping_discounted,
            self.capped_to_zero,
            self.several_tax_lines,
            self.taxed_shipping,
        ];
        assert!(
            counts.iter().all(|&n| n >= 100),
            "a path is rarely reached: {self:?}"
        );
        assert_eq!(
            self.reasons.len(),
            DiscountRejection::ALL.len(),
            "reasons reached: {:?}",
            self.reasons
        );
    }
}

fn random_cart(rng: &mut StdRng) -> Cart {
    let lines = (0..rng.random_range(0..=8))
        .map(|_| random_line(rng))
        .collect();
    let mut cart = Cart::of(lines);
    cart.settings = PricingSettings {
        prices_include_tax: rng.random_bool(0.5),
        rounding_mode: [
            RoundingMode::HalfEven,
            RoundingMode::HalfUp,
            RoundingMode::HalfDown,
        ][rng.random_range(0..3)],
        tax_rounding: [TaxRounding::Line, TaxRounding::Total][rng.random_range(0..2)],
    };
    let discounts: Vec<Discount> = (0..rng.random_range(0..=6))
        .map(|i| random_discount(rng, i))
        .collect();
    let mut codes = Vec::new();
    for code in discounts.iter().flat_map(|d| &d.codes).take(4) {
        if rng.random_bool(0.7) {
            let code = code.as_str();
            codes.push(if rng.random_bool(0.3) {
                code.to_ascii_lowercase()
            } else {
                code.to_string()
            });
        }
    }
    if rng.random_bool(0.2) {
        codes.push("UNKNOWN".into());
    }
    cart.codes = codes;
    cart.discounts = discounts
        .into_iter()
        .map(|d| (d, rng.random_range(0..3), rng.random_range(0..2)))
        .collect();
    cart.buyer = if rng.random_bool(0.7) {
        ViewerKind::Customer
    } else {
        ViewerKind::Guest
    };
    cart.delivery = match rng.random_range(0..4) {
        0 => Delivery::NotRequired,
        1 => Delivery::NotChosen,
        _ => Delivery::Chosen(Money::from_minor(random_amount(rng))),
    };
    cart.taxes = random_taxes(rng);
    cart
}

fn random_amount(rng: &mut StdRng) -> i64 {
    match rng.random_range(0..10) {
        0 => 0,
        1..=3 => rng.random_range(1..=10),
        4..=7 => rng.random_range(1..=10_000),
        8 => rng.random_range(1..=10_000_000),
        _ => MAX_UNIT_PRICE_MINOR,
    }
}

fn random_line(rng: &mut StdRng) -> PricingLine {
    let sku = ["A", "B", "C", "D", "E", "F"][rng.random_range(0..6)];
    let mut line = line(sku, random_amount(rng), 0);
    line.handle = Some(Handle::parse(["x", "y", "z"][rng.random_range(0..3)]).unwrap());
    line.quantity = match rng.random_range(0..10) {
        0 => 0,
        1 => 999,
        _ => rng.random_range(1..=5),
    };
    line.tax_class = ["standard", "reduced", "zero", "untaxed"][rng.random_range(0..4)].into();
    line
}

fn random_percent(rng: &mut StdRng, max: u32) -> Percent {
    let millionths = match rng.random_range(0..4) {
        0 => max,
        1 => rng.random_range(1..=max / 100) * 100,
        _ => rng.random_range(1..=max),
    };
    Percent::from_millionths(millionths).unwrap()
}

fn random_discount(rng: &mut StdRng, i: usize) -> Discount {
    let target = [
        DiscountTarget::Lines,
        DiscountTarget::Order,
        DiscountTarget::Shipping,
    ][rng.random_range(0..3)];
    let value = match rng.random_range(0..5) {
        0 | 1 => DiscountValue::Percentage(random_percent(rng, 1_000_000)),
        2 if target == DiscountTarget::Lines => DiscountValue::BuyXGetY(BuyXGetY {
            buy: rng.random_range(1..=4),
            get: rng.random_range(1..=3),
            get_percentage: random_percent(rng, 1_000_000),
            max_uses_per_order: rng.random_bool(0.3).then(|| rng.random_range(1..=3)),
        }),
        _ => DiscountValue::FixedAmount(Money::from_minor(random_amount(rng).max(1))),
    };
    let mut discount = discount(&format!("d{i}"), target, value);
    if rng.random_bool(0.6) {
        discount.codes = vec![DiscountCode::parse(&format!("CODE{i}")).unwrap()];
    }
    if target == DiscountTarget::Lines && rng.random_bool(0.4) {
        discount.applies_to = Some(DiscountScope {
            skus: ["A", "C", "E"]
                .iter()
                .filter(|_| rng.random_bool(0.5))
                .map(|s| Sku::parse(s).unwrap())
                .collect(),
            product_handles: ["x", "y"]
                .iter()
                .filter(|_| rng.random_bool(0.3))
                .map(|h| Handle::parse(h).unwrap())
                .collect(),
        });
    }
    discount.combines_with = Combinations {
        line_discounts: rng.random_bool(0.5),
        order_discounts: rng.random_bool(0.5),
        shipping_discounts: rng.random_bool(0.5),
    };
    discount.minimum_subtotal = rng
        .random_bool(0.2)
        .then(|| Money::from_minor(random_amount(rng)));
    discount.minimum_quantity = rng.random_bool(0.1).then(|| rng.random_range(1..=6));
    discount.starts_at = rng
        .random_bool(0.1)
        .then(|| now() + Duration::hours(rng.random_range(-2..=2)));
    discount.ends_at = rng
        .random_bool(0.1)
        .then(|| now() + Duration::hours(rng.random_range(-2..=2)));
    discount.usage_limit = rng.random_bool(0.1).then(|| rng.random_range(1..=3));
    discount.usage_limit_per_customer = rng.random_bool(0.1).then_some(1);
    discount.customers_only = rng.random_bool(0.1);
    discount.active = rng.random_bool(0.9);
    discount.created_at = now() - Duration::days(rng.random_range(1..=3));
    discount
}

fn random_taxes(rng: &mut StdRng) -> TaxTable {
    let mut table = TaxTable {
        address_known: rng.random_bool(0.7),
        ..TaxTable::default()
    };
    let standard = random_percent(rng, 300_000);
    let reduced = if rng.random_bool(0.2) {
        standard
    } else {
        random_percent(rng, 100_000)
    };
    let title = if rng.random_bool(0.2) {
        "VAT"
    } else {
        "Reduced"
    };
    for (class, title, rate) in [
        ("standard", "VAT", standard),
        ("reduced", title, reduced),
        ("zero", "Zero", Percent::ZERO),
    ] {
        if rng.random_bool(0.9) {
            table.by_class.insert(
                class.into(),
                ClassRate {
                    title: title.into(),
                    rate,
                },
            );
        }
    }
    if rng.random_bool(0.05) {
        let huge = Percent::from_millionths(9_999_999).unwrap();
        table.by_class.insert(
            "standard".into(),
            ClassRate {
                title: "Huge".into(),
                rate: huge,
            },
        );
    }
    table
}

/// The pricing of `cart`, or what broke.
fn check(cart: &Cart) -> Result<CostBreakdown, String> {
    let priced = cart
        .try_price()
        .map_err(|e| format!("pricing failed: {e}"))?;
    if cart.try_price().as_ref() != Ok(&priced) {
        return Err("the same cart priced twice differs".into());
    }
    invariants::check_lines(cart, &priced)?;
    invariants::check_totals(cart, &priced)?;
    invariants::check_tax(cart, &priced)?;
    invariants::check_codes(cart, &priced)?;
    Ok(priced)
}
