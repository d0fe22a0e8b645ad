//! What the buyer pays, around the pure engine ([`domain::pricing`]): the
//! shop's pricing settings and tax rates (admin), and a cart's cost.
//!
//! Settings, rates, discounts and shipping rates are shop records
//! (`store::shop`), read when a cost is asked for (only then: a cart read
//! that does not select `cost` reads nothing more), with the usage counts
//! of the discounts that may apply.
//!
//! [`domain::pricing`]: crate::domain::pricing

use super::AppError;
use crate::auth::Viewer;
use crate::domain::account::Email;
use crate::domain::buyer::BuyerIdentity;
use crate::domain::buyer::BuyerIdentityInput;
use crate::domain::pricing::entered_codes;
use crate::domain::pricing::{
    MAX_TAX_RATES, PricingSettings, Quote, QuoteLine, QuoteRequest, RoundingMode, ShopPricing,
    TaxRate, TaxRateInput, TaxRateKey, TaxRounding, USAGE_KIND, Usage, buyer_usage_key, quote,
};
use crate::domain::{
    Cart, CartLine, CartName, ErrorCode, Handle, LineInput, NewLine, OwnerKey, Rejection, Sku,
    UserError, Variant, ViewerKind,
};
use crate::services::Services;
use crate::store::StoreError;
use crate::store::shop::{SETTINGS, SETTINGS_KEY, TAX_RATES, usage_counts};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

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

/// Everything the shop has set that pricing reads: settings, tax rates,
/// discounts (by creation) and shipping rates, in one store read (per
/// priced cart: issue "Fast with prices" caches it).
pub async fn shop_pricing(services: &Services) -> Result<ShopPricing, AppError> {
    Ok(services.store.shop_pricing().await?)
}

/// What a cart holds that pricing reads.
#[derive(Clone, Debug, Default)]
pub struct CartToQuote {
    /// The lines at today's prices, in the cart's order.
    pub lines: Vec<QuoteLine>,
    /// The codes it holds.
    pub codes: Vec<String>,
    /// The delivery option chosen.
    pub delivery: Option<String>,
    /// The buyer (the destination; a guest's e-mail counts their usage).
    pub buyer: BuyerIdentity,
}

impl CartToQuote {
    /// A stored cart at today's prices (`catalog`: its lines' variants;
    /// lines whose variant is gone are left out, as a cart read leaves them
    /// out of its subtotal). `default_email` stands in for the buyer's.
    pub fn of(cart: &Cart, catalog: &HashMap<Sku, Variant>, default_email: Option<&Email>) -> Self {
        let mut buyer = cart.buyer_identity.clone();
        if buyer.email.is_none() {
            buyer.email = default_email.cloned();
        }
        CartToQuote {
            lines: cart
                .lines
                .iter()
                .filter_map(|line| {
                    let variant = catalog.get(&line.sku)?;
                    Some(QuoteLine::of(variant, line.quantity, variant.price))
                })
                .collect(),
            codes: cart.discount_codes.clone(),
            delivery: cart.delivery_option.clone(),
            buyer,
        }
    }
}

/// A cart quoted, with what it was quoted from (to quote another delivery
/// option the same way).
#[derive(Clone, Debug)]
pub struct Quoted {
    /// The quote.
    pub quote: Quote,
    shop: Arc<ShopPricing>,
    usage: Usage,
    buyer_key: String,
    kind: ViewerKind,
    now: DateTime<Utc>,
}

impl Quoted {
    /// The same cart quoted with delivery option `handle` instead (what the
    /// option would cost after shipping discounts).
    pub fn with_delivery(&self, cart: &CartToQuote, handle: &str) -> Result<Quote, AppError> {
        quote_with(
            &self.shop,
            cart,
            Some(handle),
            self.kind,
            &self.buyer_key,
            &self.usage,
            self.now,
        )
    }
}

/// What a cart costs its buyer (the owner `owner`, a viewer of `kind`)
/// now: the quote of [`domain::pricing::quote`] over the shop's pricing and
/// the usage counts as committed (checkout reads them again, locked).
///
/// [`domain::pricing::quote`]: crate::domain::pricing::quote
pub async fn quote_cart(
    services: &Services,
    owner: &OwnerKey,
    kind: ViewerKind,
    cart: &CartToQuote,
) -> Result<Quoted, AppError> {
    let shop = Arc::new(shop_pricing(services).await?);
    let buyer_key = buyer_usage_key(owner, kind, cart.buyer.email.as_ref());
    let keys = shop.usage_keys(&cart.codes, &buyer_key);
    let usage = if keys.is_empty() {
        Usage::default()
    } else {
        usage_counts(services.store.shop_records_at(USAGE_KIND, &keys).await?)?
    };
    let now = services.clock.now();
    let quote = quote_with(
        &shop,
        cart,
        cart.delivery.as_deref(),
        kind,
        &buyer_key,
        &usage,
        now,
    )?;
    Ok(Quoted {
        quote,
        shop,
        usage,
        buyer_key,
        kind,
        now,
    })
}

fn quote_with(
    shop: &ShopPricing,
    cart: &CartToQuote,
    delivery: Option<&str>,
    kind: ViewerKind,
    buyer_key: &str,
    usage: &Usage,
    now: DateTime<Utc>,
) -> Result<Quote, AppError> {
    let request = QuoteRequest {
        lines: &cart.lines,
        codes: &cart.codes,
        delivery,
        buyer: &cart.buyer,
        kind,
        buyer_key,
        usage,
        now,
    };
    quote(shop, &request).map_err(|e| AppError::Broken(format!("pricing the cart failed: {e}")))
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

/// What a client-held cart says about its pricing, checked as
/// `checkoutLines` and `previewCheckout` both check it: the buyer's fields,
/// the codes (`discountCodes.N`) and the delivery option's handle
/// (`deliveryOption`). Problems are added to `errors`; what was bad reads
/// as absent.
pub(super) fn checked_pricing(
    buyer: Option<&BuyerIdentityInput>,
    codes: &[String],
    delivery: Option<&str>,
    errors: &mut Vec<UserError>,
) -> (BuyerIdentity, Vec<String>, Option<String>) {
    let buyer = match buyer {
        None => BuyerIdentity::default(),
        Some(given) => given
            .check()
            .map_err(|e| errors.extend(e))
            .unwrap_or_default(),
    };
    let codes = entered_codes(codes, "discountCodes")
        .map_err(|e| errors.extend(e.into_user_errors()))
        .unwrap_or_default();
    let delivery = match delivery.map(Handle::parse) {
        None => None,
        Some(Ok(handle)) => Some(handle.as_str().to_string()),
        Some(Err(why)) => {
            errors.push(UserError::new(
                ErrorCode::DeliveryOptionUnavailable,
                &["deliveryOption"],
                format!("not a delivery option: {why}"),
            ));
            None
        }
    };
    (buyer, codes, delivery)
}

/// A client-held cart to price as checkout would (`previewCheckout`).
#[derive(Clone, Debug, Default)]
pub struct PreviewInput {
    /// The lines.
    pub lines: Vec<LineInput>,
    /// Discount codes, as entered.
    pub discount_codes: Vec<String>,
    /// Who buys.
    pub buyer_identity: Option<BuyerIdentityInput>,
    /// The delivery option (a shipping rate's handle).
    pub delivery_option: Option<String>,
}

/// A preview: the lines as checked (a repeated SKU with the same
/// attributes adds up), the cart they make, and its quote.
#[derive(Clone, Debug)]
pub struct Preview {
    /// The lines, as `checkoutLines` would buy them.
    pub lines: Vec<NewLine>,
    /// What was quoted.
    pub cart: CartToQuote,
    /// The quote.
    pub quoted: Quoted,
}

/// Prices lines a client keeps exactly as `checkoutLines` would (the same
/// checks of lines, codes, buyer and delivery option, the same quote), or
/// says what `checkoutLines` would refuse in them. Reads only: usage is
/// read as committed, so a code's last use can still go to another buyer
/// before this one checks out.
pub async fn preview(
    services: &Services,
    viewer: &Viewer,
    input: &PreviewInput,
) -> Result<Result<Preview, Rejection>, AppError> {
    let mut errors = Vec::new();
    let (checked, catalog) = super::catalog::checked_lines(services, &input.lines).await?;
    let lines = checked
        .map_err(|e| errors.extend(e.into_user_errors()))
        .unwrap_or_default();
    let (buyer, codes, delivery) = checked_pricing(
        input.buyer_identity.as_ref(),
        &input.discount_codes,
        input.delivery_option.as_deref(),
        &mut errors,
    );
    if !errors.is_empty() {
        return Ok(Err(Rejection::Invalid(errors)));
    }
    let mut held = Cart::empty(CartName::default_cart(), services.clock.now());
    held.buyer_identity = buyer;
    held.discount_codes = codes;
    held.delivery_option = delivery;
    held.lines = lines
        .iter()
        .map(|line| CartLine {
            id: String::new(),
            sku: line.sku.clone(),
            quantity: line.quantity,
            attributes: line.attributes.clone(),
            unit_price: line.unit_price,
        })
        .collect();
    let cart = CartToQuote::of(&held, &catalog, viewer.email.as_ref());
    let quoted = quote_cart(services, &viewer.owner_key(), viewer.kind, &cart).await?;
    Ok(Ok(Preview {
        lines,
        cart,
        quoted,
    }))
}

/// How many orders used discount `id` (`Discount.usageCount`): the count
/// checkouts take in their transactions and cancels give back.
pub async fn usage_count(services: &Services, id: &str) -> Result<u64, AppError> {
    let records = services
        .store
        .shop_records_at(USAGE_KIND, &[id.to_string()])
        .await?;
    Ok(usage_counts(records)?.0.get(id).copied().unwrap_or(0))
}
