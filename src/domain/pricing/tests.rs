//! The examples and each rule, as specifications. Helpers build a
//! cart with sensible defaults; each test changes only what it is about.

use super::*;
use crate::domain::money::Money;
use crate::domain::names::{Handle, Sku};
use crate::domain::owner::ViewerKind;
use crate::domain::testing::now;
use chrono::{DateTime, Duration, Utc};

mod examples;
mod invariants;
mod property;
mod quotes;
mod rules;
mod validation;

/// One line of `sku` (product `handle` = the SKU lower-cased) at `price`
/// minor units, `quantity` units, standard tax class.
pub(super) fn line(sku: &str, price: i64, quantity: u32) -> PricingLine {
    PricingLine {
        sku: Sku::parse(sku).unwrap(),
        handle: Some(Handle::parse(&sku.to_ascii_lowercase()).unwrap()),
        unit_price: Money::from_minor(price),
        quantity,
        tax_class: STANDARD_TAX_CLASS.into(),
    }
}

/// An active automatic discount, combining with nothing, created 30 days
/// before [`now`].
pub(super) fn discount(id: &str, target: DiscountTarget, value: DiscountValue) -> Discount {
    Discount {
        id: id.into(),
        title: format!("Discount {id}"),
        codes: Vec::new(),
        target,
        value,
        applies_to: None,
        minimum_subtotal: None,
        minimum_quantity: None,
        starts_at: None,
        ends_at: None,
        usage_limit: None,
        usage_limit_per_customer: None,
        customers_only: false,
        combines_with: Combinations::default(),
        active: true,
        created_at: days_ago(30),
    }
}

/// The same discount, redeemed with `code`.
pub(super) fn with_code(mut discount: Discount, code: &str) -> Discount {
    discount.codes = vec![DiscountCode::parse(code).unwrap()];
    discount
}

/// Combines with every kind of discount.
pub(super) fn combining(mut discount: Discount) -> Discount {
    discount.combines_with = Combinations {
        line_discounts: true,
        order_discounts: true,
        shipping_discounts: true,
    };
    discount
}

/// A percentage discount value (`"10"`, `"12.5"`).
pub(super) fn percent(text: &str) -> DiscountValue {
    DiscountValue::Percentage(Percent::parse(text).unwrap())
}

/// A fixed discount value, in minor units.
pub(super) fn fixed(minor: i64) -> DiscountValue {
    DiscountValue::FixedAmount(Money::from_minor(minor))
}

/// A creation time `days` before [`now`].
pub(super) fn days_ago(days: i64) -> DateTime<Utc> {
    now() - Duration::days(days)
}

/// A tax table with `rates` as (class, title, percent), address known.
pub(super) fn rates(rates: &[(&str, &str, &str)]) -> TaxTable {
    TaxTable {
        address_known: true,
        by_class: rates
            .iter()
            .map(|&(class, title, rate)| {
                let rate = Percent::parse(rate).unwrap();
                (
                    class.to_string(),
                    ClassRate {
                        title: title.into(),
                        rate,
                    },
                )
            })
            .collect(),
    }
}

/// A cart to price: defaults are a customer, no codes, no discounts,
/// nothing to ship, no tax, the default settings.
#[derive(Debug)]
pub(super) struct Cart {
    pub settings: PricingSettings,
    pub lines: Vec<PricingLine>,
    pub codes: Vec<String>,
    /// (discount, used in all, used by this buyer)
    pub discounts: Vec<(Discount, u64, u64)>,
    pub buyer: ViewerKind,
    pub delivery: Delivery,
    pub taxes: TaxTable,
    pub now: DateTime<Utc>,
}

impl Cart {
    /// A cart of `lines` with the defaults above.
    pub fn of(lines: Vec<PricingLine>) -> Cart {
        Cart {
            settings: PricingSettings::default(),
            lines,
            codes: Vec::new(),
            discounts: Vec::new(),
            buyer: ViewerKind::Customer,
            delivery: Delivery::NotRequired,
            taxes: TaxTable {
                address_known: true,
                ..TaxTable::default()
            },
            now: now(),
        }
    }

    /// Offers `discounts` too, none used yet.
    pub fn offering(mut self, discounts: impl IntoIterator<Item = Discount>) -> Cart {
        self.discounts
            .extend(discounts.into_iter().map(|d| (d, 0, 0)));
        self
    }

    /// Holds these codes (replacing any).
    pub fn codes(mut self, codes: &[&str]) -> Cart {
        self.codes = codes.iter().map(|c| c.to_string()).collect();
        self
    }

    /// Prices it.
    pub fn try_price(&self) -> Result<CostBreakdown, PricingError> {
        let offers: Vec<Offer> = self
            .discounts
            .iter()
            .map(|(discount, used, used_by_buyer)| Offer {
                discount,
                used: *used,
                used_by_buyer: *used_by_buyer,
            })
            .collect();
        price_cart(&PricingInput {
            settings: self.settings,
            lines: &self.lines,
            codes: &self.codes,
            offers: &offers,
            buyer: self.buyer,
            delivery: self.delivery,
            taxes: &self.taxes,
            now: self.now,
        })
    }

    /// Prices it, which must succeed.
    pub fn price(&self) -> CostBreakdown {
        self.try_price().unwrap()
    }
}

/// Each line's discount total, in minor units.
pub(super) fn line_discounts(priced: &CostBreakdown) -> Vec<i64> {
    priced
        .lines
        .iter()
        .map(|l| l.discount_total.minor())
        .collect()
}

/// Each line's tax, in minor units.
pub(super) fn line_taxes(priced: &CostBreakdown) -> Vec<i64> {
    priced.lines.iter().map(|l| l.tax_total.minor()).collect()
}

/// Each code's reason, `None` when applicable.
pub(super) fn reasons(priced: &CostBreakdown) -> Vec<Option<DiscountRejection>> {
    priced.codes.iter().map(|c| c.rejection).collect()
}
