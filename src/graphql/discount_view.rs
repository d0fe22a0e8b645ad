//! A discount as the schema shows it (admin only): its definition, as
//! checked and stored.

use super::error::ApiResult;
use super::ids;
use super::types::{Decimal, MoneyView};
use crate::domain::Currency;
use crate::domain::pricing::{Discount, DiscountValue};
use crate::services::Services;
use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};

/// What a discount takes its amount off, and so when it applies: `LINES`
/// first, then `ORDER` on what remains, then `SHIPPING`.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(
    remote = "crate::domain::pricing::DiscountTarget",
    name = "DiscountTarget"
)]
pub enum DiscountTargetView {
    /// The entitled lines (`appliesTo`; every line without it).
    Lines,
    /// The whole order's merchandise, split over every line.
    Order,
    /// The shipping price (never below zero).
    Shipping,
}

/// A discount.
pub struct DiscountView {
    /// The definition.
    pub discount: Discount,
    /// The shop currency, for amounts.
    pub currency: Currency,
}

/// Which lines a `LINES` discount is entitled to: a line is when its SKU or
/// its product's handle is listed.
#[derive(SimpleObject)]
#[graphql(name = "DiscountScope")]
pub struct DiscountScopeView {
    /// Variants by SKU.
    pub skus: Vec<String>,
    /// Every variant of these products.
    pub product_handles: Vec<String>,
}

/// Buy `buyQuantity` units, get `getQuantity` more at `getPercentage` off.
#[derive(SimpleObject)]
#[graphql(name = "BuyXGetY")]
pub struct BuyXGetYView {
    /// Units bought per group.
    pub buy_quantity: i32,
    /// Units reduced per group (the cheapest of the group).
    pub get_quantity: i32,
    /// How much they are reduced, in percent (`"100"`: free).
    pub get_percentage: Decimal,
    /// Groups one order may use; `null`: as many as its units make.
    pub max_uses_per_order: Option<i32>,
}

/// Which kinds of discount a discount may be applied together with (two
/// combine only when each allows the other's target).
#[derive(SimpleObject)]
#[graphql(name = "DiscountCombination")]
pub struct DiscountCombinationView {
    /// With `LINES` discounts.
    pub line_discounts: bool,
    /// With `ORDER` discounts.
    pub order_discounts: bool,
    /// With `SHIPPING` discounts.
    pub shipping_discounts: bool,
}

/// A discount: what it takes off, of what, for whom and when.
#[Object(name = "Discount")]
impl DiscountView {
    /// `gid://cartql/Discount/<ULID>`.
    pub(crate) async fn id(&self) -> ID {
        ids::discount_id(&self.discount.id)
    }
    /// The title buyers see on what it takes off.
    async fn title(&self) -> &str {
        &self.discount.title
    }
    /// Its codes as spelt (buyers may enter them in any case); none: it is
    /// automatic.
    async fn codes(&self) -> Vec<&str> {
        self.discount.codes.iter().map(|c| c.as_str()).collect()
    }
    /// What it takes its amount off.
    async fn target(&self) -> DiscountTargetView {
        self.discount.target.into()
    }
    /// Its share in percent (`"10"`), if it takes a share.
    async fn percentage(&self) -> Option<Decimal> {
        match &self.discount.value {
            DiscountValue::Percentage(p) => Some(Decimal(p.to_string())),
            _ => None,
        }
    }
    /// Its amount, if it takes a fixed amount.
    async fn fixed_amount(&self) -> Option<MoneyView> {
        match &self.discount.value {
            DiscountValue::FixedAmount(m) => Some(MoneyView::new(*m, &self.currency)),
            _ => None,
        }
    }
    /// The lines it is entitled to; `null`: every line.
    async fn applies_to(&self) -> Option<DiscountScopeView> {
        self.discount
            .applies_to
            .as_ref()
            .map(|scope| DiscountScopeView {
                skus: scope.skus.iter().map(|s| s.as_str().to_string()).collect(),
                product_handles: scope
                    .product_handles
                    .iter()
                    .map(|h| h.as_str().to_string())
                    .collect(),
            })
    }
    /// Buy X get Y, if that is what it does.
    async fn buy_x_get_y(&self) -> Option<BuyXGetYView> {
        match &self.discount.value {
            DiscountValue::BuyXGetY(b) => Some(BuyXGetYView {
                buy_quantity: int(b.buy.into()),
                get_quantity: int(b.get.into()),
                get_percentage: Decimal(b.get_percentage.to_string()),
                max_uses_per_order: b.max_uses_per_order.map(|n| int(n.into())),
            }),
            _ => None,
        }
    }
    /// What the entitled lines must add up to, before any discount.
    async fn minimum_subtotal(&self) -> Option<MoneyView> {
        let minimum = self.discount.minimum_subtotal?;
        Some(MoneyView::new(minimum, &self.currency))
    }
    /// How many units of the entitled lines the cart must hold.
    async fn minimum_quantity(&self) -> Option<i32> {
        self.discount.minimum_quantity.map(|n| int(n.into()))
    }
    /// Not applicable before this instant.
    async fn starts_at(&self) -> Option<DateTime<Utc>> {
        self.discount.starts_at
    }
    /// Not applicable from this instant on (exclusive).
    async fn ends_at(&self) -> Option<DateTime<Utc>> {
        self.discount.ends_at
    }
    /// Orders that may use it in all.
    async fn usage_limit(&self) -> Option<i32> {
        self.discount.usage_limit.map(int)
    }
    /// Orders one customer (or guest e-mail) may use it in.
    async fn usage_limit_per_customer(&self) -> Option<i32> {
        self.discount.usage_limit_per_customer.map(int)
    }
    /// Only signed-in customers may use it.
    async fn customers_only(&self) -> bool {
        self.discount.customers_only
    }
    /// What it may be applied together with.
    async fn combines_with(&self) -> DiscountCombinationView {
        let with = self.discount.combines_with;
        DiscountCombinationView {
            line_discounts: with.line_discounts,
            order_discounts: with.order_discounts,
            shipping_discounts: with.shipping_discounts,
        }
    }
    /// An inactive discount applies to nothing; its codes read as unknown.
    async fn active(&self) -> bool {
        self.discount.active
    }
    /// When it was created (whole milliseconds): discounts of one target
    /// apply in this order, and equally good stackings go to the earlier.
    async fn created_at(&self) -> DateTime<Utc> {
        self.discount.created_at
    }
    /// Orders that used it, exactly: each checkout counts its use in its
    /// own transaction (so `usageLimit` is never exceeded, on any number of
    /// instances), and cancelling an order gives its use back.
    #[graphql(complexity = "super::complexity::RECORD_READ")]
    async fn usage_count(&self, ctx: &Context<'_>) -> ApiResult<u64> {
        Ok(crate::app::pricing::usage_count(Services::of(ctx), &self.discount.id).await?)
    }
}

/// A count as GraphQL's `Int` (every stored count is at most 10^9).
fn int(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
