//! Shipping rates as an admin keeps them (`upsertShippingRate`,
//! `deleteShippingRate`, `shippingRates`), checked by
//! [`ShippingRate::parse`] and stored as shop records (kind
//! `shipping-rate`, keyed by handle) on both backends. Which rates a cart
//! may choose is [`ShippingRate::serves`]; what one costs it,
//! [`ShippingRate::price_for`].

use super::AppError;
use super::pricing::decode;
use crate::domain::pricing::{ShippingRate, ShippingRateInput};
use crate::domain::{ErrorCode, Handle, Rejection, UserError};
use crate::services::Services;
use crate::store::shop::SHIPPING_RATES;

/// The most shipping rates a shop may have. Every priced read of a cart
/// that ships reads them all to list its delivery options (until issue
/// "Fast with prices" caches shop records), and each is offered to the
/// buyer that it serves.
pub const MAX_SHIPPING_RATES: usize = 500;

/// Every shipping rate, cheapest first (then by handle): the order
/// delivery options are listed in.
pub async fn rates(services: &Services) -> Result<Vec<ShippingRate>, AppError> {
    let stored = services.store.shop_records(SHIPPING_RATES).await?;
    let mut rates = stored
        .into_iter()
        .map(|(key, value)| decode::<ShippingRate>(&key, value))
        .collect::<Result<Vec<_>, _>>()?;
    rates.sort_by(|a, b| (a.price, &a.handle).cmp(&(b.price, &b.handle)));
    Ok(rates)
}

/// Admin: writes a rate (replacing the one with its handle), or says why
/// not: `INVALID_SHIPPING_RATE` naming each bad field, or too many rates.
pub async fn upsert(
    services: &Services,
    input: &ShippingRateInput,
) -> Result<Result<ShippingRate, Rejection>, AppError> {
    let rate = match ShippingRate::parse(input, &services.shop.currency) {
        Ok(rate) => rate,
        Err(errors) => return Ok(Err(Rejection::Invalid(errors))),
    };
    let key = rate.handle.as_str();
    let existing = services.store.shop_records(SHIPPING_RATES).await?;
    // Checked, then written: two admins adding the 500th and 501st rate at
    // once could both pass; only admins write rates, and one more is harmless.
    if existing.len() >= MAX_SHIPPING_RATES && !existing.iter().any(|(k, _)| k == key) {
        return Ok(Err(Rejection::one(UserError::new(
            ErrorCode::InvalidShippingRate,
            &[],
            format!("a shop has at most {MAX_SHIPPING_RATES} shipping rates; delete some first"),
        ))));
    }
    let value = serde_json::to_value(&rate).map_err(|e| AppError::Broken(e.to_string()))?;
    services
        .store
        .put_shop_record(SHIPPING_RATES, key, &value)
        .await?;
    Ok(Ok(rate))
}

/// Admin: deletes the rate `handle`; whether there was one.
pub async fn delete(services: &Services, handle: &Handle) -> Result<bool, AppError> {
    Ok(services
        .store
        .delete_shop_record(SHIPPING_RATES, handle.as_str())
        .await?)
}
