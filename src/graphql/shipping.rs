//! Shipping rates (admin only): `upsertShippingRate`, `deleteShippingRate`
//! and `shippingRates`. The rules are [`app::shipping`](crate::app::shipping)
//! and [`ShippingRate::parse`]; here the input is read and the outcome shown.

use super::access::require_admin;
use super::error::ApiResult;
use super::types::{Decimal, MoneyView, UserErrorView, user_errors};
use crate::app::shipping;
use crate::domain::pricing::{ShippingRate, ShippingRateInput};
use crate::domain::{Currency, ErrorCode, Handle, UserError};
use crate::services::Services;
use async_graphql::{Context, InputObject, Object, SimpleObject};

/// A shipping rate: what shipping costs the carts it serves.
#[derive(SimpleObject)]
#[graphql(name = "ShippingRate")]
pub struct ShippingRateView {
    /// Its key, and the delivery option's handle.
    pub handle: String,
    /// What buyers see.
    pub title: String,
    /// ISO 3166-1 alpha-2 codes it ships to; empty: everywhere.
    pub countries: Vec<String>,
    /// Its price.
    pub price: MoneyView,
    /// It serves carts whose subtotal (before discounts) is at least this.
    pub min_subtotal: Option<MoneyView>,
    /// It serves carts whose subtotal (before discounts) is at most this.
    pub max_subtotal: Option<MoneyView>,
    /// It serves carts weighing at least this many grams.
    pub min_weight_grams: Option<i32>,
    /// It serves carts weighing at most this many grams.
    pub max_weight_grams: Option<i32>,
    /// Carts whose subtotal (before discounts) reaches this ship for nothing.
    pub free_above: Option<MoneyView>,
    /// An inactive rate serves no cart.
    pub active: bool,
}

impl ShippingRateView {
    /// The view of `rate`, amounts in `currency`.
    pub fn new(rate: ShippingRate, currency: &Currency) -> ShippingRateView {
        let money = |m| MoneyView::new(m, currency);
        // Bounds are at most 10^9 grams (MAX_RATE_WEIGHT_GRAMS): they fit an Int.
        let grams = |g: u64| i32::try_from(g).unwrap_or(i32::MAX);
        ShippingRateView {
            handle: rate.handle.as_str().to_string(),
            title: rate.title,
            countries: rate
                .countries
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            price: money(rate.price),
            min_subtotal: rate.min_subtotal.map(money),
            max_subtotal: rate.max_subtotal.map(money),
            min_weight_grams: rate.min_weight_grams.map(grams),
            max_weight_grams: rate.max_weight_grams.map(grams),
            free_above: rate.free_above.map(money),
            active: rate.active,
        }
    }
}

/// A shipping rate to write; it replaces the rate with the same handle.
#[derive(InputObject)]
pub struct UpsertShippingRateInput {
    /// Its key (`standard`, `express-eu`): 1 to 64 lowercase letters,
    /// digits and `-`.
    pub handle: String,
    /// What buyers see (1 to 800 bytes).
    pub title: String,
    /// ISO 3166-1 alpha-2 codes, at most 250; none: everywhere.
    #[graphql(default)]
    pub countries: Vec<String>,
    /// Its price in the shop currency, on the price basis.
    pub price: Decimal,
    /// Serves carts whose subtotal (before discounts) is at least this.
    pub min_subtotal: Option<Decimal>,
    /// Serves carts whose subtotal is at most this (not below `minSubtotal`).
    pub max_subtotal: Option<Decimal>,
    /// Serves carts weighing at least this many grams (0 to 10^9).
    pub min_weight_grams: Option<i32>,
    /// Serves carts weighing at most this many grams (not below `minWeightGrams`).
    pub max_weight_grams: Option<i32>,
    /// Carts whose subtotal (before discounts) reaches this ship for nothing.
    pub free_above: Option<Decimal>,
    /// Whether it serves carts at all.
    #[graphql(default = true)]
    pub active: bool,
}

/// A shipping rate after a write.
#[derive(SimpleObject)]
pub struct ShippingRatePayload {
    /// The rate as stored (`null` when refused).
    pub shipping_rate: Option<ShippingRateView>,
    /// Why it was refused: `INVALID_SHIPPING_RATE` naming the field.
    pub user_errors: Vec<UserErrorView>,
}

/// Which shipping rate to delete.
#[derive(InputObject)]
pub struct DeleteShippingRateInput {
    /// Its handle.
    pub handle: String,
}

/// Whether a shipping rate was deleted.
#[derive(SimpleObject)]
pub struct DeleteShippingRatePayload {
    /// Whether there was such a rate.
    pub deleted: bool,
    /// Why the input was refused.
    pub user_errors: Vec<UserErrorView>,
}

/// Admin shipping queries.
#[derive(Default)]
pub struct ShippingQuery;

#[Object]
impl ShippingQuery {
    /// Admin only: every shipping rate, cheapest first (then by handle).
    #[graphql(
        complexity = "super::complexity::list(crate::app::shipping::MAX_SHIPPING_RATES, child_complexity)"
    )]
    async fn shipping_rates(&self, ctx: &Context<'_>) -> ApiResult<Vec<ShippingRateView>> {
        require_admin(ctx)?;
        let services = Services::of(ctx);
        let rates = shipping::rates(services).await?;
        let currency = &services.shop.currency;
        Ok(rates
            .into_iter()
            .map(|r| ShippingRateView::new(r, currency))
            .collect())
    }
}

/// Admin shipping mutations.
#[derive(Default)]
pub struct ShippingMutation;

#[Object]
impl ShippingMutation {
    /// Admin only: writes a shipping rate.
    async fn upsert_shipping_rate(
        &self,
        ctx: &Context<'_>,
        input: UpsertShippingRateInput,
    ) -> ApiResult<ShippingRatePayload> {
        require_admin(ctx)?;
        let services = Services::of(ctx);
        let given = ShippingRateInput {
            handle: input.handle,
            title: input.title,
            countries: input.countries,
            price: input.price.0,
            min_subtotal: input.min_subtotal.map(|d| d.0),
            max_subtotal: input.max_subtotal.map(|d| d.0),
            min_weight_grams: input.min_weight_grams.map(Into::into),
            max_weight_grams: input.max_weight_grams.map(Into::into),
            free_above: input.free_above.map(|d| d.0),
            active: input.active,
        };
        Ok(match shipping::upsert(services, &given).await? {
            Ok(rate) => ShippingRatePayload {
                shipping_rate: Some(ShippingRateView::new(rate, &services.shop.currency)),
                user_errors: Vec::new(),
            },
            Err(refused) => ShippingRatePayload {
                shipping_rate: None,
                user_errors: user_errors(refused.into_user_errors()),
            },
        })
    }

    /// Admin only: deletes a shipping rate.
    async fn delete_shipping_rate(
        &self,
        ctx: &Context<'_>,
        input: DeleteShippingRateInput,
    ) -> ApiResult<DeleteShippingRatePayload> {
        require_admin(ctx)?;
        let handle = match Handle::parse(&input.handle) {
            Ok(handle) => handle,
            Err(why) => {
                let refused = UserError::new(ErrorCode::InvalidShippingRate, &["handle"], why);
                return Ok(DeleteShippingRatePayload {
                    deleted: false,
                    user_errors: user_errors(vec![refused]),
                });
            }
        };
        let deleted = shipping::delete(Services::of(ctx), &handle).await?;
        Ok(DeleteShippingRatePayload {
            deleted,
            user_errors: Vec::new(),
        })
    }
}
