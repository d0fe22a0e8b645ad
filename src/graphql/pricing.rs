//! What the buyer pays, as the schema shows it: the shop's pricing settings
//! and tax rates (admin). A cart's cost is in `cart_cost`.

use super::access::require_admin;
use super::error::ApiResult;
use super::types::{
    Decimal, PricingSettingsView, RoundingMode, TaxRounding, UserErrorView, user_errors,
};
use crate::app::pricing::{self, SettingsPatch};
use crate::domain::Rejection;
use crate::domain::pricing::{TaxRate, TaxRateInput, TaxRateKey};
use crate::services::Services;
use async_graphql::{Context, InputObject, Object, SimpleObject};

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
