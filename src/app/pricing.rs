//! What the buyer pays, around the pure engine ([`domain::pricing`]): the
//! shop's pricing settings and tax rates (admin), and a cart's cost.
//!
//! Settings and rates are shop records (`store::shop`), read when a cost is
//! asked for (only then: a cart read that does not select `cost` reads
//! nothing more). Discounts, shipping rates and checkout come next (issue
//! "What the buyer pays"); until then a cost has no discounts and, where
//! something is shipped, no delivery option (so it is `estimated`).
//!
//! [`domain::pricing`]: crate::domain::pricing

use super::AppError;
use crate::domain::buyer::BuyerIdentity;
use crate::domain::pricing::{
    CostBreakdown, Delivery, MAX_TAX_RATES, PricingInput, PricingLine, PricingSettings,
    RoundingMode, TaxRate, TaxRateInput, TaxRateKey, TaxRounding, price_cart, tax_table,
};
use crate::domain::{ErrorCode, Rejection, UserError};
use crate::domain::{Money, Variant, ViewerKind};
use crate::services::Services;
use crate::store::StoreError;

/// The kind of the settings record.
const SETTINGS: &str = "pricing";
/// Its key.
const SETTINGS_KEY: &str = "settings";
/// The kind of tax-rate records (keyed by [`TaxRateKey::record_key`]).
const TAX_RATES: &str = "tax-rate";

/// A change to the pricing settings: `None` keeps a setting.
#[derive(Clone, Copy, Debug, Default)]
pub struct SettingsPatch {
    /// Whether prices include tax.
    pub prices_include_tax: Option<bool>,
    /// How halves round.
    pub rounding_mode: Option<RoundingMode>,
    /// Where tax is rounded.
    pub tax_rounding: Option<TaxRounding>,
}

/// The shop's pricing settings (the defaults until an admin sets them).
pub async fn settings(services: &Services) -> Result<PricingSettings, AppError> {
    let stored = services.store.shop_records(SETTINGS).await?;
    match stored.into_iter().find(|(key, _)| key == SETTINGS_KEY) {
        None => Ok(PricingSettings::default()),
        Some((_, value)) => decode(SETTINGS_KEY, value),
    }
}

/// Admin: changes the settings given, keeps the others; the settings now.
pub async fn update_settings(
    services: &Services,
    patch: SettingsPatch,
) -> Result<PricingSettings, AppError> {
    let mut now = settings(services).await?;
    if let Some(included) = patch.prices_include_tax {
        now.prices_include_tax = included;
    }
    if let Some(mode) = patch.rounding_mode {
        now.rounding_mode = mode;
    }
    if let Some(rounding) = patch.tax_rounding {
        now.tax_rounding = rounding;
    }
    let value = serde_json::to_value(now).map_err(|e| AppError::Broken(e.to_string()))?;
    services
        .store
        .put_shop_record(SETTINGS, SETTINGS_KEY, &value)
        .await?;
    Ok(now)
}

/// Every tax rate, by country, province and class.
pub async fn tax_rates(services: &Services) -> Result<Vec<TaxRate>, AppError> {
    let stored = services.store.shop_records(TAX_RATES).await?;
    stored
        .into_iter()
        .map(|(key, value)| decode(&key, value))
        .collect()
}

/// Admin: writes a tax rate (replacing the one with its country, province
/// and class), or says why not (`INVALID_TAX_RATE`; too many rates).
pub async fn upsert_tax_rate(
    services: &Services,
    input: &TaxRateInput,
) -> Result<Result<TaxRate, Rejection>, AppError> {
    let rate = match TaxRate::parse(input) {
        Ok(rate) => rate,
        Err(errors) => return Ok(Err(Rejection::Invalid(errors))),
    };
    let key = rate.key().record_key();
    let existing = services.store.shop_records(TAX_RATES).await?;
    if existing.len() >= MAX_TAX_RATES && !existing.iter().any(|(k, _)| *k == key) {
        return Ok(Err(Rejection::one(UserError::new(
            ErrorCode::InvalidTaxRate,
            &[],
            format!("a shop has at most {MAX_TAX_RATES} tax rates; delete some first"),
        ))));
    }
    let value = serde_json::to_value(&rate).map_err(|e| AppError::Broken(e.to_string()))?;
    services
        .store
        .put_shop_record(TAX_RATES, &key, &value)
        .await?;
    Ok(Ok(rate))
}

/// Admin: deletes the rate with this key; whether there was one.
pub async fn delete_tax_rate(services: &Services, key: &TaxRateKey) -> Result<bool, AppError> {
    Ok(services
        .store
        .delete_shop_record(TAX_RATES, &key.record_key())
        .await?)
}

/// The engine's view of a cart line: the variant as it is now, its quantity
/// and today's unit price.
pub fn pricing_line(variant: &Variant, quantity: u32, unit_price: Money) -> PricingLine {
    PricingLine {
        sku: variant.sku.clone(),
        handle: variant.handle.clone(),
        unit_price,
        quantity,
        tax_class: variant.shipping.tax_class.as_str().to_string(),
    }
}

/// What a cart costs its buyer (a viewer of `kind`): the engine over its
/// lines at today's prices, the shop's settings and the tax rates of the
/// cart's address (the shipping address's country and province, else the
/// buyer's country; none: estimated, untaxed). `ships`: whether any line
/// requires shipping.
pub async fn cost(
    services: &Services,
    kind: ViewerKind,
    buyer: &BuyerIdentity,
    lines: &[PricingLine],
    ships: bool,
) -> Result<CostBreakdown, AppError> {
    let settings = settings(services).await?;
    let rates = tax_rates(services).await?;
    let address = buyer.shipping_address.as_ref();
    let country = address
        .and_then(|a| a.country_code.as_ref())
        .or(buyer.country_code.as_ref());
    let province = address.and_then(|a| a.province.as_deref());
    let taxes = tax_table(&rates, country, province);
    let input = PricingInput {
        settings,
        lines,
        codes: &[],
        offers: &[],
        buyer: kind,
        delivery: if ships {
            Delivery::NotChosen
        } else {
            Delivery::NotRequired
        },
        taxes: &taxes,
        now: services.clock.now(),
    };
    price_cart(&input).map_err(|e| AppError::Broken(format!("pricing the cart failed: {e}")))
}

/// A shop record read back, or why it is unreadable.
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    key: &str,
    value: serde_json::Value,
) -> Result<T, AppError> {
    serde_json::from_value(value).map_err(|e| {
        AppError::Store(StoreError::Corrupt {
            key: format!("shop record {key}"),
            reason: e.to_string(),
        })
    })
}
