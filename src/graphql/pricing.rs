//! What the buyer pays, as the schema shows it: the shop's pricing settings
//! and tax rates (admin), and the cost of a cart and of each of its lines.

use super::access::require_admin;
use super::error::ApiResult;
use super::types::{
    Decimal, MoneyView, PricingSettingsView, RoundingMode, TaxRounding, UserErrorView, user_errors,
};
use crate::app::pricing::{self, SettingsPatch};
use crate::domain::buyer::BuyerIdentity;
use crate::domain::pricing::{
    CostBreakdown, LineCost, PricingLine, TaxRate, TaxRateInput, TaxRateKey,
};
use crate::domain::{Currency, Rejection, ViewerKind};
use crate::services::Services;
use async_graphql::{Context, InputObject, Object, SimpleObject};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// A tax rate.
#[derive(SimpleObject)]
#[graphql(name = "TaxRate")]
pub struct TaxRateView {
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
    /// The province or state; `null` for the whole country.
    pub province: Option<String>,
    /// The tax class it applies to.
    pub tax_class: String,
    /// The rate in percent (`"19"`, `"8.875"`).
    pub rate_percent: Decimal,
    /// The tax line's title.
    pub title: String,
}

impl From<TaxRate> for TaxRateView {
    fn from(r: TaxRate) -> Self {
        TaxRateView {
            country_code: r.country_code.as_str().to_string(),
            province: r.province,
            tax_class: r.tax_class.as_str().to_string(),
            rate_percent: Decimal(r.rate.to_string()),
            title: r.title,
        }
    }
}

/// Settings to change; those left out are kept.
#[derive(InputObject)]
pub struct UpdatePricingSettingsInput {
    /// Whether catalog prices include tax.
    pub prices_include_tax: Option<bool>,
    /// How halves round.
    pub rounding_mode: Option<RoundingMode>,
    /// Where tax is rounded.
    pub tax_rounding: Option<TaxRounding>,
}

/// The settings after a change.
#[derive(SimpleObject)]
pub struct PricingSettingsPayload {
    /// The settings now.
    pub pricing: Option<PricingSettingsView>,
    /// Why the change was refused (never, today: every value is allowed).
    pub user_errors: Vec<UserErrorView>,
}

/// A tax rate to write; it replaces the rate with the same country,
/// province and class.
#[derive(InputObject)]
pub struct UpsertTaxRateInput {
    /// ISO 3166-1 alpha-2 (`DE`).
    pub country_code: String,
    /// A province or state (`NY`); omit for the whole country. A province's
    /// rate replaces the country's for its class.
    pub province: Option<String>,
    /// The tax class (variants' `taxClass`).
    #[graphql(default = "standard")]
    pub tax_class: String,
    /// The rate in percent, at most four decimals, below 1000 (`"19"`).
    pub rate_percent: Decimal,
    /// The tax line's title (`VAT`).
    pub title: String,
}

/// A tax rate after a write.
#[derive(SimpleObject)]
pub struct TaxRatePayload {
    /// The rate as stored (`null` when refused).
    pub tax_rate: Option<TaxRateView>,
    /// Why it was refused: `INVALID_TAX_RATE` naming the field.
    pub user_errors: Vec<UserErrorView>,
}

/// Which tax rate to delete.
#[derive(InputObject)]
pub struct DeleteTaxRateInput {
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
    /// The province, if the rate has one.
    pub province: Option<String>,
    /// The tax class.
    #[graphql(default = "standard")]
    pub tax_class: String,
}

/// Whether a tax rate was deleted.
#[derive(SimpleObject)]
pub struct DeleteTaxRatePayload {
    /// Whether there was such a rate.
    pub deleted: bool,
    /// Why the input was refused.
    pub user_errors: Vec<UserErrorView>,
}

/// Admin pricing queries.
#[derive(Default)]
pub struct PricingQuery;

#[Object]
impl PricingQuery {
    /// Admin only: every tax rate, by country, province and class.
    #[graphql(
        complexity = "super::complexity::list(crate::domain::pricing::MAX_TAX_RATES, child_complexity)"
    )]
    async fn tax_rates(&self, ctx: &Context<'_>) -> ApiResult<Vec<TaxRateView>> {
        require_admin(ctx)?;
        let rates = pricing::tax_rates(Services::of(ctx)).await?;
        Ok(rates.into_iter().map(Into::into).collect())
    }
}

/// Admin pricing mutations.
#[derive(Default)]
pub struct PricingMutation;

#[Object]
impl PricingMutation {
    /// Admin only: changes the shop's pricing settings (those given).
    async fn update_pricing_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdatePricingSettingsInput,
    ) -> ApiResult<PricingSettingsPayload> {
        require_admin(ctx)?;
        let patch = SettingsPatch {
            prices_include_tax: input.prices_include_tax,
            rounding_mode: input.rounding_mode.map(Into::into),
            tax_rounding: input.tax_rounding.map(Into::into),
        };
        let now = pricing::update_settings(Services::of(ctx), patch).await?;
        Ok(PricingSettingsPayload {
            pricing: Some(now.into()),
            user_errors: Vec::new(),
        })
    }

    /// Admin only: writes a tax rate.
    async fn upsert_tax_rate(
        &self,
        ctx: &Context<'_>,
        input: UpsertTaxRateInput,
    ) -> ApiResult<TaxRatePayload> {
        require_admin(ctx)?;
        let given = TaxRateInput {
            country_code: input.country_code,
            province: input.province,
            tax_class: Some(input.tax_class),
            rate_percent: input.rate_percent.0,
            title: input.title,
        };
        Ok(
            match pricing::upsert_tax_rate(Services::of(ctx), &given).await? {
                Ok(rate) => TaxRatePayload {
                    tax_rate: Some(rate.into()),
                    user_errors: Vec::new(),
                },
                Err(refused) => TaxRatePayload {
                    tax_rate: None,
                    user_errors: user_errors(refused.into_user_errors()),
                },
            },
        )
    }

    /// Admin only: deletes a tax rate.
    async fn delete_tax_rate(
        &self,
        ctx: &Context<'_>,
        input: DeleteTaxRateInput,
    ) -> ApiResult<DeleteTaxRatePayload> {
        require_admin(ctx)?;
        let key = match TaxRateKey::parse(
            &input.country_code,
            input.province.as_deref(),
            Some(&input.tax_class),
        ) {
            Ok(key) => key,
            Err(errors) => {
                return Ok(DeleteTaxRatePayload {
                    deleted: false,
                    user_errors: user_errors(Rejection::Invalid(errors).into_user_errors()),
                });
            }
        };
        let deleted = pricing::delete_tax_rate(Services::of(ctx), &key).await?;
        Ok(DeleteTaxRatePayload {
            deleted,
            user_errors: Vec::new(),
        })
    }
}

/// What a cart costs, computed once per cart view and shared with its
/// lines (`Cart.cost` and each `CartLine.cost` ask it).
pub struct CostCell {
    kind: ViewerKind,
    buyer: BuyerIdentity,
    lines: Vec<PricingLine>,
    ships: bool,
    currency: Currency,
    once: OnceCell<CostBreakdown>,
}

impl CostCell {
    /// The cell of a cart with these lines, for a viewer of `kind`.
    pub fn new(
        kind: ViewerKind,
        buyer: BuyerIdentity,
        lines: Vec<PricingLine>,
        ships: bool,
        currency: Currency,
    ) -> Arc<CostCell> {
        Arc::new(CostCell {
            kind,
            buyer,
            lines,
            ships,
            currency,
            once: OnceCell::new(),
        })
    }

    /// The cart's cost breakdown, computed at the first ask.
    pub async fn get(&self, ctx: &Context<'_>) -> ApiResult<&CostBreakdown> {
        Ok(self
            .once
            .get_or_try_init(|| {
                pricing::cost(
                    Services::of(ctx),
                    self.kind,
                    &self.buyer,
                    &self.lines,
                    self.ships,
                )
            })
            .await?)
    }

    /// The cart's cost for output.
    pub async fn cart_cost(&self, ctx: &Context<'_>) -> ApiResult<CartCostView> {
        let breakdown = self.get(ctx).await?;
        let money = |m| MoneyView::new(m, &self.currency);
        let cost = &breakdown.cost;
        Ok(CartCostView {
            subtotal: money(cost.subtotal),
            discount_total: money(cost.discount_total),
            shipping: cost.shipping.map(money),
            shipping_discount: money(cost.shipping_discount),
            tax_total: money(cost.tax_total),
            taxes_included: cost.taxes_included,
            total: money(cost.total),
            tax_lines: cost
                .tax_lines
                .iter()
                .map(|t| TaxLineView {
                    title: t.title.clone(),
                    rate_percent: Decimal(t.rate.to_string()),
                    amount: money(t.amount),
                })
                .collect(),
            estimated: cost.estimated,
        })
    }

    /// Line `index`'s cost for output.
    pub async fn line_cost(&self, ctx: &Context<'_>, index: usize) -> ApiResult<CartLineCostView> {
        let breakdown = self.get(ctx).await?;
        let money = |m| MoneyView::new(m, &self.currency);
        let Some(line): Option<&LineCost> = breakdown.lines.get(index) else {
            return Err(
                crate::app::AppError::Broken(format!("the cost has no line {index}")).into(),
            );
        };
        Ok(CartLineCostView {
            unit_price: money(line.unit_price),
            subtotal: money(line.subtotal),
            discount_allocations: line
                .discount_allocations
                .iter()
                .map(|a| DiscountAllocationView {
                    code: a.code.clone(),
                    title: a.title.clone(),
                    amount: money(a.amount),
                })
                .collect(),
            discount_total: money(line.discount_total),
            total: money(line.total),
            tax_total: money(line.tax_total),
        })
    }
}

/// What the buyer pays for a cart. `total = subtotal − discountTotal +
/// (shipping − shippingDiscount) + (taxesIncluded ? 0 : taxTotal)`, exactly.
#[derive(SimpleObject)]
#[graphql(name = "CartCost")]
pub struct CartCostView {
    /// Σ unit price × quantity.
    pub subtotal: MoneyView,
    /// What discounts take off the lines.
    pub discount_total: MoneyView,
    /// The chosen delivery's price; `null` until one is chosen, or when
    /// nothing is shipped.
    pub shipping: Option<MoneyView>,
    /// What discounts take off shipping (never more than shipping).
    pub shipping_discount: MoneyView,
    /// Tax, shipping's included.
    pub tax_total: MoneyView,
    /// Whether prices include tax (then `taxTotal` is inside `total`).
    pub taxes_included: bool,
    /// What the buyer pays.
    pub total: MoneyView,
    /// Tax by rate.
    pub tax_lines: Vec<TaxLineView>,
    /// Whether the tax address or the delivery option is still unknown.
    pub estimated: bool,
}

/// Tax at one rate.
#[derive(SimpleObject)]
#[graphql(name = "TaxLine")]
pub struct TaxLineView {
    /// The rate's title.
    pub title: String,
    /// The rate in percent.
    pub rate_percent: Decimal,
    /// The tax.
    pub amount: MoneyView,
}

/// What one line costs. `total = subtotal − discountTotal`, on the price
/// basis (with tax when prices include it).
#[derive(SimpleObject)]
#[graphql(name = "CartLineCost")]
pub struct CartLineCostView {
    /// The unit price now.
    pub unit_price: MoneyView,
    /// Unit price × quantity.
    pub subtotal: MoneyView,
    /// What each discount took off this line.
    pub discount_allocations: Vec<DiscountAllocationView>,
    /// Σ `discountAllocations`.
    pub discount_total: MoneyView,
    /// What is left of the line.
    pub total: MoneyView,
    /// The line's tax.
    pub tax_total: MoneyView,
}

/// One discount's part of a line.
#[derive(SimpleObject)]
#[graphql(name = "DiscountAllocation")]
pub struct DiscountAllocationView {
    /// The code that applied it; `null` for an automatic discount.
    pub code: Option<String>,
    /// The discount's title.
    pub title: String,
    /// The amount.
    pub amount: MoneyView,
}
