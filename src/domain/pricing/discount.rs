//! Discounts as an admin defines them, checked (see [`super::validate`] for
//! the check): only valid definitions exist, so pricing never re-checks one.

use super::percent::Percent;
use crate::domain::money::Money;
use crate::domain::names::{Handle, Sku};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a discount takes its amount off, and so when it is applied: every
/// `Lines` discount first, then `Order` discounts on what remains, then
/// `Shipping` discounts on the shipping price.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DiscountTarget {
    /// The entitled lines, each on its own (a percentage) or together (a
    /// fixed amount spread over them).
    Lines,
    /// The whole order's merchandise, spread over every line.
    Order,
    /// The shipping price.
    Shipping,
}

/// How much a discount takes off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiscountValue {
    /// A share of what it applies to (more than 0, at most 100 %).
    Percentage(Percent),
    /// An amount, on the same basis as prices (gross when prices include
    /// tax), capped at what it applies to.
    FixedAmount(Money),
    /// Buy some units, get others reduced (`Lines` only).
    BuyXGetY(BuyXGetY),
}

/// Buy `buy` units, get `get` more at `get_percentage` off, among the
/// entitled units: the same scope is both what is bought and what is got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyXGetY {
    /// Units bought per group (at least 1).
    pub buy: u32,
    /// Units reduced per group (at least 1).
    pub get: u32,
    /// How much the reduced units are reduced (100 % = free).
    pub get_percentage: Percent,
    /// Groups one order may use; `None` = as many as the units make.
    pub max_uses_per_order: Option<u32>,
}

/// Which lines a `Lines` discount is entitled to: a line is when its SKU or
/// its product's handle is listed. A discount without a scope applies to
/// every line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscountScope {
    /// Variants by SKU.
    pub skus: Vec<Sku>,
    /// Every variant of these products.
    pub product_handles: Vec<Handle>,
}

impl DiscountScope {
    /// Whether a line of this SKU (of the product `handle`) is entitled.
    pub fn covers(&self, sku: &Sku, handle: Option<&Handle>) -> bool {
        self.skus.contains(sku) || handle.is_some_and(|h| self.product_handles.contains(h))
    }
}

/// Which other kinds of discount a discount may be applied together with.
/// Two discounts combine only when each allows the other's target; the
/// default combines with nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Combinations {
    /// With `Lines` discounts (itself included, for a `Lines` discount).
    pub line_discounts: bool,
    /// With `Order` discounts.
    pub order_discounts: bool,
    /// With `Shipping` discounts.
    pub shipping_discounts: bool,
}

impl Combinations {
    /// Whether a discount of `target` is allowed alongside.
    pub fn allows(self, target: DiscountTarget) -> bool {
        match target {
            DiscountTarget::Lines => self.line_discounts,
            DiscountTarget::Order => self.order_discounts,
            DiscountTarget::Shipping => self.shipping_discounts,
        }
    }
}

/// A discount code: 1 to [`DiscountCode::MAX_LEN`] printable ASCII
/// characters without spaces. Codes match case-insensitively (ASCII only:
/// no Unicode case folding can make two different codes meet).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DiscountCode(String);

impl DiscountCode {
    /// The longest code accepted.
    pub const MAX_LEN: usize = 64;

    /// Parses a code as an admin defines it (kept as spelt).
    pub fn parse(text: &str) -> Result<DiscountCode, String> {
        let text = text.trim();
        if text.is_empty() || text.len() > Self::MAX_LEN {
            return Err(format!("a code has 1 to {} characters", Self::MAX_LEN));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("a code holds printable ASCII characters without spaces".into());
        }
        Ok(DiscountCode(text.to_string()))
    }

    /// The code as the admin spelt it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether a buyer's `entered` code names this one (case-insensitive,
    /// surrounding spaces ignored).
    pub fn matches(&self, entered: &str) -> bool {
        self.0.eq_ignore_ascii_case(entered.trim())
    }

    /// The key codes are unique by (upper case): what a store indexes.
    pub fn key(&self) -> String {
        self.0.to_ascii_uppercase()
    }
}

impl TryFrom<String> for DiscountCode {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        DiscountCode::parse(&value)
    }
}

impl From<DiscountCode> for String {
    fn from(code: DiscountCode) -> String {
        code.0
    }
}

/// A checked discount definition, as stored (`upsertDiscount`), with the id
/// and creation time the store gave it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    /// Its id, opaque to pricing (it is reported back on every application).
    pub id: String,
    /// The title buyers see on allocations.
    pub title: String,
    /// Its codes; none makes it automatic (applied whenever it applies).
    pub codes: Vec<DiscountCode>,
    /// What it takes its amount off.
    pub target: DiscountTarget,
    /// How much.
    pub value: DiscountValue,
    /// The lines it is entitled to (`Lines` only); `None` = every line.
    pub applies_to: Option<DiscountScope>,
    /// The entitled lines' subtotal, before any discount, must reach this.
    pub minimum_subtotal: Option<Money>,
    /// The entitled lines' units must reach this.
    pub minimum_quantity: Option<u32>,
    /// Not applicable before this instant.
    pub starts_at: Option<DateTime<Utc>>,
    /// Not applicable from this instant on (exclusive end).
    pub ends_at: Option<DateTime<Utc>>,
    /// Orders that may use it in all.
    pub usage_limit: Option<u64>,
    /// Orders one customer may use it in.
    pub usage_limit_per_customer: Option<u64>,
    /// Only signed-in customers may use it.
    pub customers_only: bool,
    /// What it may be applied together with.
    pub combines_with: Combinations,
    /// An inactive discount applies to nothing; its codes read as unknown.
    pub active: bool,
    /// When it was created: ties between equally good stackings go to the
    /// earlier, and discounts of one target apply in this order.
    pub created_at: DateTime<Utc>,
}

impl Discount {
    /// Whether it applies without a code.
    pub fn is_automatic(&self) -> bool {
        self.codes.is_empty()
    }

    /// The code of this discount a buyer's `entered` code names, if any.
    pub fn code_matching(&self, entered: &str) -> Option<&DiscountCode> {
        self.codes.iter().find(|code| code.matches(entered))
    }

    /// Whether it and `other` may be applied together: each allows the
    /// other's target.
    pub fn may_combine_with(&self, other: &Discount) -> bool {
        self.combines_with.allows(other.target) && other.combines_with.allows(self.target)
    }

    /// Whether a line of `sku` (of the product `handle`) is entitled to it.
    pub fn entitles(&self, sku: &Sku, handle: Option<&Handle>) -> bool {
        self.applies_to
            .as_ref()
            .is_none_or(|scope| scope.covers(sku, handle))
    }
}
