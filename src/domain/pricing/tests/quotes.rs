//! Quotes: what a cart read, `previewCheckout` and checkout share — the
//! delivery state, usage records, and what checkout refuses.

use super::*;
use crate::domain::buyer::{BuyerIdentity, CountryCode};
use crate::domain::error::ErrorCode;
use crate::domain::owner::{Namespace, OwnerKey};

fn shipped(sku: &str, price: i64, quantity: u32, grams: u32) -> QuoteLine {
    QuoteLine {
        line: line(sku, price, quantity),
        weight_grams: grams,
        requires_shipping: true,
    }
}

fn rate(handle: &str, price: i64) -> ShippingRate {
    ShippingRate {
        handle: Handle::parse(handle).unwrap(),
        title: handle.to_uppercase(),
        countries: Vec::new(),
        price: Money::from_minor(price),
        min_subtotal: None,
        max_subtotal: None,
        min_weight_grams: None,
        max_weight_grams: None,
        free_above: None,
        active: true,
    }
}

fn in_country(code: &str) -> BuyerIdentity {
    BuyerIdentity {
        country_code: Some(CountryCode::parse(code).unwrap()),
        ..BuyerIdentity::default()
    }
}

struct Ask<'a> {
    lines: &'a [QuoteLine],
    codes: &'a [String],
    delivery: Option<&'a str>,
    buyer: BuyerIdentity,
    usage: Usage,
}

impl<'a> Ask<'a> {
    fn new(lines: &'a [QuoteLine]) -> Self {
        Ask {
            lines,
            codes: &[],
            delivery: None,
            buyer: BuyerIdentity::default(),
            usage: Usage::default(),
        }
    }

    fn quote(&self, shop: &ShopPricing) -> Quote {
        quote(
            shop,
            &QuoteRequest {
                lines: self.lines,
                codes: self.codes,
                delivery: self.delivery,
                buyer: &self.buyer,
                kind: ViewerKind::Customer,
                buyer_key: "buyer",
                usage: &self.usage,
                now: now(),
            },
        )
        .unwrap()
    }
}

#[test]
fn a_shop_without_active_rates_ships_without_asking_for_a_delivery_option() {
    let lines = [shipped("BOX", 1000, 1, 500)];
    let mut shop = ShopPricing::default();
    let quoted = Ask::new(&lines).quote(&shop);
    assert_eq!(quoted.delivery, DeliveryState::NotRequired);
    assert!(quoted.refusal(None, |m| m.minor().to_string()).is_none());
    let mut inactive = rate("post", 490);
    inactive.active = false;
    shop.shipping_rates.push(inactive);
    assert_eq!(
        Ask::new(&lines).quote(&shop).delivery,
        DeliveryState::NotRequired
    );
}

#[test]
fn options_are_the_serving_rates_cheapest_first_and_a_choice_must_be_one() {
    let lines = [shipped("BOX", 1000, 2, 300)];
    let mut heavy_only = rate("freight", 100);
    heavy_only.min_weight_grams = Some(1000);
    let mut de = rate("de-post", 490);
    de.countries = vec![CountryCode::parse("DE").unwrap()];
    let shop = ShopPricing {
        shipping_rates: vec![rate("express", 990), de, heavy_only, rate("aa", 990)],
        ..ShopPricing::default()
    };
    let mut ask = Ask::new(&lines);
    let handles = |q: &Quote| {
        q.options
            .iter()
            .map(|o| o.handle.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        handles(&ask.quote(&shop)),
        ["aa", "express"],
        "600 g; no address"
    );
    ask.buyer = in_country("DE");
    let quoted = ask.quote(&shop);
    assert_eq!(handles(&quoted), ["de-post", "aa", "express"]);
    assert_eq!(quoted.delivery, DeliveryState::NotChosen);
    assert!(quoted.breakdown.cost.estimated);
    let refusal = quoted.refusal(None, |m| m.minor().to_string()).unwrap();
    assert_eq!(
        refusal.into_user_errors()[0].code,
        ErrorCode::DeliveryOptionRequired
    );
    ask.delivery = Some("freight");
    let quoted = ask.quote(&shop);
    assert_eq!(
        quoted.delivery,
        DeliveryState::Unavailable("freight".into())
    );
    ask.delivery = Some("de-post");
    let quoted = ask.quote(&shop);
    assert_eq!(quoted.breakdown.cost.shipping, Some(Money::from_minor(490)));
    assert_eq!(quoted.breakdown.cost.total, Money::from_minor(2490));
    assert!(
        quoted
            .refusal(Some(Money::from_minor(2490)), |m| m.minor().to_string())
            .is_none()
    );
    let changed = quoted
        .refusal(Some(Money::from_minor(2000)), |m| m.minor().to_string())
        .unwrap()
        .into_user_errors();
    assert_eq!(changed[0].code, ErrorCode::TotalChanged);
    assert_eq!(changed[0].field, ["expectedTotal"]);
}

#[test]
fn a_code_that_does_not_apply_is_refused_before_the_total_is_compared() {
    let lines = [shipped("MUG", 1000, 1, 0)];
    let mut limited = with_code(discount("d1", DiscountTarget::Order, percent("10")), "TEN");
    limited.usage_limit = Some(3);
    let shop = ShopPricing {
        discounts: vec![limited],
        ..ShopPricing::default()
    };
    let codes = vec!["ten".to_string()];
    let mut ask = Ask::new(&lines);
    ask.codes = &codes;
    ask.usage = Usage([("d1".to_string(), 3)].into_iter().collect());
    let quoted = ask.quote(&shop);
    let errors = quoted
        .refusal(Some(Money::from_minor(1)), |m| m.minor().to_string())
        .unwrap()
        .into_user_errors();
    assert_eq!(errors.len(), 1, "no TOTAL_CHANGED beside it");
    assert_eq!(errors[0].code, ErrorCode::DiscountNotApplicable);
    assert_eq!(errors[0].field, ["discountCodes", "0"]);
    assert!(errors[0].message.contains("USAGE_LIMIT_REACHED"));
    ask.usage = Usage([("d1".to_string(), 2)].into_iter().collect());
    let quoted = ask.quote(&shop);
    assert!(quoted.refusal(None, |m| m.minor().to_string()).is_none());
    assert_eq!(
        quoted.usage_taken(&ask.usage, "buyer"),
        [("d1".to_string(), 3), ("d1/buyer".to_string(), 1)]
    );
}

#[test]
fn usage_keys_cover_the_candidates_only() {
    let shop = ShopPricing {
        discounts: vec![
            discount("auto", DiscountTarget::Order, percent("1")),
            with_code(
                discount("coded", DiscountTarget::Order, percent("1")),
                "CODE",
            ),
            with_code(
                discount("other", DiscountTarget::Order, percent("1")),
                "OTHER",
            ),
            {
                let mut off = discount("off", DiscountTarget::Order, percent("1"));
                off.active = false;
                off
            },
        ],
        ..ShopPricing::default()
    };
    assert_eq!(
        shop.usage_keys(&["code".to_string()], "b"),
        ["auto", "auto/b", "coded", "coded/b"]
    );
    assert_eq!(shop.usage_keys(&[], "b"), ["auto", "auto/b"]);
}

#[test]
fn buyer_keys_hide_the_email_and_count_a_guest_by_it() {
    let guest = OwnerKey::new(Namespace::Guest, "g1");
    let other_guest = OwnerKey::new(Namespace::Guest, "g2");
    let email = crate::domain::account::Email::parse("Ann@Example.com").unwrap();
    let a = buyer_usage_key(&guest, ViewerKind::Guest, Some(&email));
    let b = buyer_usage_key(&other_guest, ViewerKind::Guest, Some(&email));
    assert_eq!(a, b, "two guest tokens, one e-mail: one buyer");
    assert_eq!(a.len(), 24);
    assert!(!a.contains("ann") && a.bytes().all(|c| c.is_ascii_hexdigit()));
    let anonymous = buyer_usage_key(&guest, ViewerKind::Guest, None);
    assert_ne!(anonymous, a);
    let customer = OwnerKey::new(Namespace::Customer, "ann");
    let with_mail = buyer_usage_key(&customer, ViewerKind::Customer, Some(&email));
    assert_eq!(
        with_mail,
        buyer_usage_key(&customer, ViewerKind::Customer, None)
    );
}
