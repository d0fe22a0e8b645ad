//! Checking a discount as an admin sends it (`upsertDiscount`), all
//! problems at once, each with the path of its input field.
//!
//! What needs the store is not checked here: that a code is unique across
//! discounts (`DUPLICATE_DISCOUNT_CODE`), and the id and creation time. The
//! problems carry no error code: the use case reports them as
//! `INVALID_DISCOUNT`.

use super::discount::{
    BuyXGetY, Combinations, Discount, DiscountCode, DiscountScope, DiscountTarget, DiscountValue,
};
use super::percent::Percent;
use crate::domain::money::{Currency, Money};
use crate::domain::names::{Handle, Sku, Title};
use chrono::{DateTime, Utc};
use std::collections::HashSet;

/// Codes one discount may have.
pub const MAX_CODES_PER_DISCOUNT: usize = 100;
/// SKUs and handles one scope may list together.
pub const MAX_SCOPE_ENTRIES: usize = 250;
/// Units in the buy or the get part of a buy-X-get-Y group.
pub const MAX_GROUP_UNITS: i64 = 1000;
/// The largest count (minimum quantity, usage limits, uses per order).
pub const MAX_COUNT: i64 = 1_000_000_000;

/// A discount as an admin sends it: text and numbers, unchecked.
#[derive(Clone, Debug)]
pub struct DiscountInput {
    /// Title.
    pub title: String,
    /// Codes; none makes the discount automatic.
    pub codes: Vec<String>,
    /// What it takes its amount off.
    pub target: DiscountTarget,
    /// A decimal percentage (`"10"`, `"12.5"`).
    pub percentage: Option<String>,
    /// A decimal amount in the shop currency.
    pub fixed_amount: Option<String>,
    /// Which lines; `None` = every line.
    pub applies_to: Option<DiscountScopeInput>,
    /// Buy X get Y instead of a percentage or an amount.
    pub buy_x_get_y: Option<BuyXGetYInput>,
    /// A decimal amount the entitled lines must reach.
    pub minimum_subtotal: Option<String>,
    /// Units the entitled lines must reach.
    pub minimum_quantity: Option<i64>,
    /// Start (inclusive).
    pub starts_at: Option<DateTime<Utc>>,
    /// End (exclusive).
    pub ends_at: Option<DateTime<Utc>>,
    /// Orders that may use it in all.
    pub usage_limit: Option<i64>,
    /// Orders one customer may use it in.
    pub usage_limit_per_customer: Option<i64>,
    /// Only signed-in customers.
    pub customers_only: bool,
    /// What it combines with.
    pub combines_with: Combinations,
    /// Whether it applies at all.
    pub active: bool,
}

/// A scope as sent: either list may be left out.
#[derive(Clone, Debug, Default)]
pub struct DiscountScopeInput {
    /// SKUs.
    pub skus: Option<Vec<String>>,
    /// Product handles.
    pub product_handles: Option<Vec<String>>,
}

/// Buy X get Y as sent.
#[derive(Clone, Debug)]
pub struct BuyXGetYInput {
    /// Units bought per group.
    pub buy_quantity: i64,
    /// Units reduced per group.
    pub get_quantity: i64,
    /// A decimal percentage; `None` = `"100"` (free).
    pub get_percentage: Option<String>,
    /// Groups per order.
    pub max_uses_per_order: Option<i64>,
}

/// One thing wrong with a discount input: the path of its field (e.g.
/// `["buyXGetY", "getQuantity"]`, `["codes", "2"]`) and a sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscountProblem {
    /// Path of the input field, in the GraphQL input's names.
    pub field: Vec<String>,
    /// A sentence for a person.
    pub message: String,
}

/// Collects problems as the fields are checked.
struct Problems(Vec<DiscountProblem>);

impl Problems {
    fn add(&mut self, field: &[&str], message: impl Into<String>) {
        self.0.push(DiscountProblem {
            field: field.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
        });
    }

    /// A count in `min..=max`, or a problem at `field`.
    fn count(&mut self, value: Option<i64>, min: i64, max: i64, field: &[&str]) -> Option<u64> {
        let value = value?;
        if (min..=max).contains(&value) {
            return u64::try_from(value).ok();
        }
        self.add(field, format!("must be {min} to {max}"));
        None
    }
}

/// Checks `input` and makes it the discount `id` created at `created_at`,
/// or returns every problem found.
pub fn parse_discount(
    input: &DiscountInput,
    id: String,
    created_at: DateTime<Utc>,
    currency: &Currency,
) -> Result<Discount, Vec<DiscountProblem>> {
    let mut problems = Problems(Vec::new());
    let title = Title::parse(&input.title)
        .map_err(|m| problems.add(&["title"], m))
        .ok();
    let codes = checked_codes(&input.codes, &mut problems);
    let value = checked_value(input, currency, &mut problems);
    let applies_to = input
        .applies_to
        .as_ref()
        .and_then(|scope| checked_scope(scope, input.target, &mut problems));
    let minimum_subtotal = input.minimum_subtotal.as_deref().and_then(|text| {
        let parsed = currency.parse_amount(text);
        parsed
            .map_err(|e| problems.add(&["minimumSubtotal"], format!("minimumSubtotal {e}")))
            .ok()
    });
    let minimum_quantity =
        problems.count(input.minimum_quantity, 1, MAX_COUNT, &["minimumQuantity"]);
    let usage_limit = problems.count(input.usage_limit, 1, MAX_COUNT, &["usageLimit"]);
    let per_customer = problems.count(
        input.usage_limit_per_customer,
        1,
        MAX_COUNT,
        &["usageLimitPerCustomer"],
    );
    if let (Some(start), Some(end)) = (input.starts_at, input.ends_at)
        && end <= start
    {
        problems.add(&["endsAt"], "endsAt must be after startsAt");
    }
    match (title, value, problems.0.is_empty()) {
        (Some(title), Some(value), true) => Ok(Discount {
            id,
            title: title.into_string(),
            codes,
            target: input.target,
            value,
            applies_to,
            minimum_subtotal,
            minimum_quantity: minimum_quantity.map(|q| q as u32),
            starts_at: input.starts_at,
            ends_at: input.ends_at,
            usage_limit,
            usage_limit_per_customer: per_customer,
            customers_only: input.customers_only,
            combines_with: input.combines_with,
            active: input.active,
            created_at,
        }),
        _ => Err(problems.0),
    }
}

fn checked_codes(given: &[String], problems: &mut Problems) -> Vec<DiscountCode> {
    if given.len() > MAX_CODES_PER_DISCOUNT {
        problems.add(
            &["codes"],
            format!("at most {MAX_CODES_PER_DISCOUNT} codes per discount"),
        );
    }
    let mut keys = HashSet::new();
    let mut codes = Vec::with_capacity(given.len());
    for (index, text) in given.iter().enumerate().take(MAX_CODES_PER_DISCOUNT) {
        let at = index.to_string();
        match DiscountCode::parse(text) {
            Ok(code) if !keys.insert(code.key()) => problems.add(
                &["codes", &at],
                format!(
                    "'{}' is given twice (codes are case-insensitive)",
                    code.as_str()
                ),
            ),
            Ok(code) => codes.push(code),
            Err(message) => problems.add(&["codes", &at], message),
        }
    }
    codes
}

/// A percentage above 0 and at most 100, or a problem at `field`.
fn checked_share(text: &str, field: &[&str], problems: &mut Problems) -> Option<Percent> {
    match Percent::parse(text) {
        Ok(p) if p > Percent::ZERO && p <= Percent::HUNDRED => Some(p),
        Ok(_) => {
            problems.add(field, "must be more than 0 and at most 100");
            None
        }
        Err(e) => {
            problems.add(field, e.to_string());
            None
        }
    }
}

fn checked_value(
    input: &DiscountInput,
    currency: &Currency,
    problems: &mut Problems,
) -> Option<DiscountValue> {
    if let Some(bxgy) = &input.buy_x_get_y {
        if input.target != DiscountTarget::Lines {
            problems.add(&["target"], "buyXGetY discounts target LINES");
        }
        for (given, field) in [
            (&input.percentage, "percentage"),
            (&input.fixed_amount, "fixedAmount"),
        ] {
            if given.is_some() {
                problems.add(&[field], format!("a buyXGetY discount has no {field}"));
            }
        }
        return checked_buy_x_get_y(bxgy, problems).map(DiscountValue::BuyXGetY);
    }
    match (&input.percentage, &input.fixed_amount) {
        (Some(_), Some(_)) => {
            problems.add(
                &["fixedAmount"],
                "give a percentage or a fixedAmount, not both",
            );
            None
        }
        (None, None) => {
            problems.add(
                &["percentage"],
                "give a percentage, a fixedAmount or buyXGetY",
            );
            None
        }
        (Some(text), None) => {
            checked_share(text, &["percentage"], problems).map(DiscountValue::Percentage)
        }
        (None, Some(text)) => match currency.parse_amount(text) {
            Ok(amount) if amount > Money::ZERO => Some(DiscountValue::FixedAmount(amount)),
            Ok(_) => {
                problems.add(&["fixedAmount"], "fixedAmount must be more than 0");
                None
            }
            Err(e) => {
                problems.add(&["fixedAmount"], format!("fixedAmount {e}"));
                None
            }
        },
    }
}

fn checked_buy_x_get_y(given: &BuyXGetYInput, problems: &mut Problems) -> Option<BuyXGetY> {
    let buy = problems.count(
        Some(given.buy_quantity),
        1,
        MAX_GROUP_UNITS,
        &["buyXGetY", "buyQuantity"],
    );
    let get = problems.count(
        Some(given.get_quantity),
        1,
        MAX_GROUP_UNITS,
        &["buyXGetY", "getQuantity"],
    );
    let share = match &given.get_percentage {
        Some(text) => checked_share(text, &["buyXGetY", "getPercentage"], problems),
        None => Some(Percent::HUNDRED),
    };
    let uses_field = ["buyXGetY", "maxUsesPerOrder"];
    let max_uses = problems.count(given.max_uses_per_order, 1, MAX_COUNT, &uses_field);
    if given.max_uses_per_order.is_some() && max_uses.is_none() {
        return None;
    }
    Some(BuyXGetY {
        buy: buy? as u32,
        get: get? as u32,
        get_percentage: share?,
        max_uses_per_order: max_uses.map(|n| n as u32),
    })
}

fn checked_scope(
    given: &DiscountScopeInput,
    target: DiscountTarget,
    problems: &mut Problems,
) -> Option<DiscountScope> {
    if target != DiscountTarget::Lines {
        problems.add(
            &["appliesTo"],
            "only LINES discounts have a scope; ORDER and SHIPPING apply to the whole cart",
        );
        return None;
    }
    let skus = given.skus.as_deref().unwrap_or_default();
    let handles = given.product_handles.as_deref().unwrap_or_default();
    if skus.is_empty() && handles.is_empty() {
        problems.add(
            &["appliesTo"],
            "name at least one SKU or product handle, or leave appliesTo out (every line)",
        );
        return None;
    }
    if skus.len() + handles.len() > MAX_SCOPE_ENTRIES {
        problems.add(
            &["appliesTo"],
            format!("at most {MAX_SCOPE_ENTRIES} SKUs and handles together"),
        );
        return None;
    }
    let mut scope = DiscountScope::default();
    for (index, text) in skus.iter().enumerate() {
        match Sku::parse(text) {
            Ok(sku) if !scope.skus.contains(&sku) => scope.skus.push(sku),
            Ok(_) => {}
            Err(m) => problems.add(&["appliesTo", "skus", &index.to_string()], m),
        }
    }
    for (index, text) in handles.iter().enumerate() {
        match Handle::parse(text) {
            Ok(handle) if !scope.product_handles.contains(&handle) => {
                scope.product_handles.push(handle)
            }
            Ok(_) => {}
            Err(m) => problems.add(&["appliesTo", "productHandles", &index.to_string()], m),
        }
    }
    Some(scope)
}
