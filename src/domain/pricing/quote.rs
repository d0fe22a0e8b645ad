//! A quote: what a cart costs with the shop's pricing as it is, the
//! delivery options it has and what checkout would refuse. One function
//! for a cart read, `previewCheckout` and the checkout transaction, so the
//! three agree to the unit; only the usage counts they read differ in
//! freshness (the checkout transaction reads them locked).

use super::PricingError;
use super::cost::{CartCost, CostBreakdown, DiscountApplication, LineCost};
use super::discount::Discount;
use super::engine::price_cart;
use super::input::{Delivery, Offer, PricingInput, PricingLine};
use super::rates::{TaxRate, tax_table};
use super::rounding::PricingSettings;
use super::shipping_rate::ShippingRate;
use crate::domain::account::Email;
use crate::domain::buyer::{BuyerIdentity, CountryCode};
use crate::domain::catalog::Variant;
use crate::domain::error::{ErrorCode, Rejection, UserError};
use crate::domain::money::Money;
use crate::domain::owner::{OwnerKey, ViewerKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The kind of the shop records that count discount usage: `<id>` holds
/// the orders that used discount `id`, `<id>/<buyer>` those of one buyer
/// ([`buyer_usage_key`]). Each value is a JSON integer.
pub const USAGE_KIND: &str = "discount-usage";

/// Everything the shop has set that pricing reads.
#[derive(Clone, Debug, Default)]
pub struct ShopPricing {
    /// Rounding and whether prices include tax.
    pub settings: PricingSettings,
    /// Every tax rate.
    pub tax_rates: Vec<TaxRate>,
    /// Every discount (inactive ones included), by creation.
    pub discounts: Vec<Discount>,
    /// Every shipping rate (inactive ones included).
    pub shipping_rates: Vec<ShippingRate>,
}

impl ShopPricing {
    /// The discounts that may take part in pricing a cart holding `codes`:
    /// every active automatic one and every active one a code names.
    pub fn candidates<'a>(&'a self, codes: &'a [String]) -> impl Iterator<Item = &'a Discount> {
        self.discounts.iter().filter(move |discount| {
            discount.active
                && (discount.is_automatic()
                    || codes
                        .iter()
                        .any(|code| discount.code_matching(code).is_some()))
        })
    }

    /// The usage records ([`USAGE_KIND`]) a pricing of a cart holding
    /// `codes` for the buyer `buyer` reads: each candidate's count and the
    /// buyer's count of it.
    pub fn usage_keys(&self, codes: &[String], buyer: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .candidates(codes)
            .flat_map(|d| [d.id.clone(), format!("{}/{buyer}", d.id)])
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// Whether any shipping rate is active: a shop without one ships
    /// without charging for it, and checkout needs no delivery option.
    pub fn ships_with_rates(&self) -> bool {
        self.shipping_rates.iter().any(|rate| rate.active)
    }
}

/// Who a per-customer usage limit counts: a customer by their account, a
/// guest by the lower-cased e-mail of the order (else by the guest token's
/// subject). Hashed (SHA-256, 96 bits, hex), so usage records hold no
/// e-mail address and no character a record key cannot.
pub fn buyer_usage_key(owner: &OwnerKey, kind: ViewerKind, email: Option<&Email>) -> String {
    let who = match (kind, email) {
        (ViewerKind::Guest, Some(email)) => format!("email:{}", email.as_str().to_lowercase()),
        _ => format!("owner:{}", owner.as_str()),
    };
    hex::encode(&Sha256::digest(who.as_bytes())[..12])
}

/// Usage counts as read: record key ([`ShopPricing::usage_keys`]) → count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage(pub HashMap<String, u64>);

impl Usage {
    fn count(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }
}

/// One line to quote: the engine's line and what shipping needs of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteLine {
    /// The line as the engine prices it.
    pub line: PricingLine,
    /// Grams per unit.
    pub weight_grams: u32,
    /// Whether it is shipped.
    pub requires_shipping: bool,
}

impl QuoteLine {
    /// A line of `quantity` units of `variant` at `unit_price` (its price
    /// now, on the shop's price basis).
    pub fn of(variant: &Variant, quantity: u32, unit_price: Money) -> QuoteLine {
        QuoteLine {
            line: PricingLine {
                sku: variant.sku.clone(),
                handle: variant.handle.clone(),
                unit_price,
                quantity,
                tax_class: variant.shipping.tax_class.as_str().to_string(),
            },
            weight_grams: variant.shipping.weight_grams,
            requires_shipping: variant.shipping.requires_shipping,
        }
    }
}

/// What to quote.
#[derive(Clone, Copy, Debug)]
pub struct QuoteRequest<'a> {
    /// The lines, in the cart's order.
    pub lines: &'a [QuoteLine],
    /// The codes the cart holds.
    pub codes: &'a [String],
    /// The delivery option chosen (a shipping rate's handle).
    pub delivery: Option<&'a str>,
    /// The buyer (the tax and shipping address).
    pub buyer: &'a BuyerIdentity,
    /// Guest or customer (`customersOnly`).
    pub kind: ViewerKind,
    /// The buyer's usage key ([`buyer_usage_key`]).
    pub buyer_key: &'a str,
    /// The usage counts read for [`ShopPricing::usage_keys`].
    pub usage: &'a Usage,
    /// The time discount windows are judged at.
    pub now: DateTime<Utc>,
}

/// A delivery option: a shipping rate that serves the cart, at its price
/// for the cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryOption {
    /// The rate's handle.
    pub handle: String,
    /// Its title.
    pub title: String,
    /// Its price for this cart (after its `freeAbove`), before discounts.
    pub price: Money,
}

/// Where the cart's delivery stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    /// No line is shipped, or the shop has no active shipping rate.
    NotRequired,
    /// Shipping is needed and nothing is chosen.
    NotChosen,
    /// The chosen handle names no active rate serving this cart now.
    Unavailable(String),
    /// The chosen option.
    Chosen(DeliveryOption),
}

/// A quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The cost, lines, applications and codes.
    pub breakdown: CostBreakdown,
    /// The rates serving the cart, cheapest first.
    pub options: Vec<DeliveryOption>,
    /// The delivery.
    pub delivery: DeliveryState,
}

/// Where a buyer's tax and shipping go: the shipping address's country and
/// province, else the buyer's country (no province).
pub fn destination(buyer: &BuyerIdentity) -> (Option<&CountryCode>, Option<&str>) {
    match &buyer.shipping_address {
        Some(address) if address.country_code.is_some() => {
            (address.country_code.as_ref(), address.province.as_deref())
        }
        _ => (buyer.country_code.as_ref(), None),
    }
}

/// Quotes a cart (see the module docs).
///
/// Shipping rates are matched on the subtotal before discounts and the
/// weight of the shipped lines; the tax table is the destination's.
pub fn quote(shop: &ShopPricing, request: &QuoteRequest) -> Result<Quote, PricingError> {
    let mut subtotal = Money::ZERO;
    let mut weight: u64 = 0;
    let mut ships = false;
    for line in request.lines {
        let amount = line
            .line
            .unit_price
            .checked_mul(line.line.quantity)
            .and_then(|a| subtotal.checked_add(a))
            .ok_or(PricingError::Overflow)?;
        subtotal = amount;
        if line.requires_shipping && line.line.quantity > 0 {
            ships = true;
            weight = weight.saturating_add(
                u64::from(line.weight_grams).saturating_mul(u64::from(line.line.quantity)),
            );
        }
    }
    let (country, province) = destination(request.buyer);
    let mut options: Vec<DeliveryOption> = if ships {
        shop.shipping_rates
            .iter()
            .filter(|rate| rate.serves(country, subtotal, weight))
            .map(|rate| DeliveryOption {
                handle: rate.handle.as_str().to_string(),
                title: rate.title.clone(),
                price: rate.price_for(subtotal),
            })
            .collect()
    } else {
        Vec::new()
    };
    options.sort_by(|a, b| a.price.cmp(&b.price).then_with(|| a.handle.cmp(&b.handle)));
    let delivery = if !ships || !shop.ships_with_rates() {
        DeliveryState::NotRequired
    } else {
        match request.delivery {
            None => DeliveryState::NotChosen,
            Some(handle) => match options.iter().find(|o| o.handle == handle) {
                Some(option) => DeliveryState::Chosen(option.clone()),
                None => DeliveryState::Unavailable(handle.to_string()),
            },
        }
    };
    let engine_delivery = match &delivery {
        DeliveryState::NotRequired => Delivery::NotRequired,
        DeliveryState::NotChosen | DeliveryState::Unavailable(_) => Delivery::NotChosen,
        DeliveryState::Chosen(option) => Delivery::Chosen(option.price),
    };
    let offers: Vec<Offer> = shop
        .candidates(request.codes)
        .map(|discount| Offer {
            discount,
            used: request.usage.count(&discount.id),
            used_by_buyer: request
                .usage
                .count(&format!("{}/{}", discount.id, request.buyer_key)),
        })
        .collect();
    let lines: Vec<PricingLine> = request.lines.iter().map(|l| l.line.clone()).collect();
    let taxes = tax_table(&shop.tax_rates, country, province);
    let breakdown = price_cart(&PricingInput {
        settings: shop.settings,
        lines: &lines,
        codes: request.codes,
        offers: &offers,
        buyer: request.kind,
        delivery: engine_delivery,
        taxes: &taxes,
        now: request.now,
    })?;
    Ok(Quote {
        breakdown,
        options,
        delivery,
    })
}

impl Quote {
    /// Why checkout must refuse this quote, all reasons at once: a code
    /// that does not apply (`DISCOUNT_NOT_APPLICABLE`, naming the reason), a
    /// missing delivery option (`DELIVERY_OPTION_REQUIRED`) or one that no
    /// longer serves the cart (`DELIVERY_OPTION_UNAVAILABLE`), and a total
    /// other than the client's `expected` (`TOTAL_CHANGED`, only when
    /// nothing else is wrong: the total of a refused quote means little).
    pub fn refusal(
        &self,
        expected: Option<Money>,
        show: impl Fn(Money) -> String,
    ) -> Option<Rejection> {
        let mut errors = Vec::new();
        for (index, outcome) in self.breakdown.codes.iter().enumerate() {
            if let Some(reason) = outcome.rejection {
                errors.push(UserError::new(
                    ErrorCode::DiscountNotApplicable,
                    &["discountCodes", &index.to_string()],
                    format!(
                        "discount code {} does not apply: {} (remove it, or change the cart, to check out)",
                        outcome.code,
                        reason.as_str()
                    ),
                ));
            }
        }
        match &self.delivery {
            DeliveryState::NotChosen => errors.push(UserError::new(
                ErrorCode::DeliveryOptionRequired,
                &["deliveryOption"],
                "these lines are shipped: choose one of the cart's deliveryOptions first",
            )),
            DeliveryState::Unavailable(handle) => errors.push(UserError::new(
                ErrorCode::DeliveryOptionUnavailable,
                &["deliveryOption"],
                format!("delivery option {handle} does not serve this cart (its address, subtotal or weight); choose one of its deliveryOptions"),
            )),
            DeliveryState::NotRequired | DeliveryState::Chosen(_) => {}
        }
        if errors.is_empty()
            && let Some(expected) = expected
            && expected != self.breakdown.cost.total
        {
            errors.push(UserError::new(
                ErrorCode::TotalChanged,
                &["expectedTotal"],
                format!(
                    "the total is now {}, not {}: show the buyer the new total and check out again with it",
                    show(self.breakdown.cost.total),
                    show(expected)
                ),
            ));
        }
        (!errors.is_empty()).then_some(Rejection::Invalid(errors))
    }

    /// The usage records checkout increments (each applied discount's
    /// count and the buyer's count of it) with their new values, given the
    /// counts read in the transaction.
    pub fn usage_taken(&self, usage: &Usage, buyer_key: &str) -> Vec<(String, u64)> {
        let mut taken = Vec::new();
        for application in &self.breakdown.applications {
            for key in [
                application.discount_id.clone(),
                format!("{}/{buyer_key}", application.discount_id),
            ] {
                if !taken.iter().any(|(k, _)| *k == key) {
                    let next = usage.count(&key).saturating_add(1);
                    taken.push((key, next));
                }
            }
        }
        taken
    }

    /// What an order keeps of this quote.
    pub fn frozen(&self, usage: Vec<String>) -> OrderCost {
        OrderCost {
            cost: self.breakdown.cost.clone(),
            lines: self.breakdown.lines.clone(),
            applications: self.breakdown.applications.clone(),
            delivery: match &self.delivery {
                DeliveryState::Chosen(option) => Some(option.clone()),
                _ => None,
            },
            usage,
        }
    }
}

/// What an order froze at checkout: never recomputed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCost {
    /// The cost (`Order.cost`).
    pub cost: CartCost,
    /// Each line's cost, in the order's line order (`OrderLine.cost`).
    pub lines: Vec<LineCost>,
    /// The discounts applied (`Order.discountApplications`).
    pub applications: Vec<DiscountApplication>,
    /// The delivery chosen (`Order.deliveryOption`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<DeliveryOption>,
    /// The usage records the order took (given back when it is cancelled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<String>,
}
