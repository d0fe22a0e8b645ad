//! The admin's pricing records called directly: the caps on discounts and
//! shipping rates (too many to write over HTTP in a test), and a
//! discount's time being its id's.

use super::tests::services;
use super::{discounts, shipping};
use crate::domain::pricing::{
    Combinations, DiscountInput, DiscountTarget, ShippingRateInput, parse_discount,
};
use crate::domain::{ErrorCode, Rejection};
use chrono::{Duration, Utc};

fn ten_off(title: &str, codes: &[&str]) -> DiscountInput {
    DiscountInput {
        title: title.into(),
        codes: codes.iter().map(|c| c.to_string()).collect(),
        target: DiscountTarget::Lines,
        percentage: Some("10".into()),
        fixed_amount: None,
        applies_to: None,
        buy_x_get_y: None,
        minimum_subtotal: None,
        minimum_quantity: None,
        starts_at: None,
        ends_at: None,
        usage_limit: None,
        usage_limit_per_customer: None,
        customers_only: false,
        combines_with: Combinations::default(),
        active: true,
    }
}

fn rate(handle: &str) -> ShippingRateInput {
    ShippingRateInput {
        handle: handle.into(),
        title: handle.into(),
        price: "4.90".into(),
        active: true,
        ..ShippingRateInput::default()
    }
}

/// The refusal's (code, field) pairs.
fn refused<T: std::fmt::Debug>(outcome: Result<T, Rejection>) -> Vec<(ErrorCode, String)> {
    outcome
        .expect_err("refused")
        .into_user_errors()
        .into_iter()
        .map(|e| (e.code, e.field.join(".")))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_shop_holds_at_most_1000_discounts_and_one_at_the_cap_can_still_be_changed() {
    let fixture = services().await;
    let services = &fixture.services;
    // Without the demo's discount: the counts here are this test's own.
    discounts::delete(services, crate::start::DEMO_DISCOUNT_ID)
        .await
        .unwrap();
    // Written straight to the store: a thousand upserts would each read all.
    let start = Utc::now();
    let currency = services.shop.currency;
    for n in 0..discounts::MAX_DISCOUNTS {
        let at = start + Duration::milliseconds(n as i64);
        let id = ulid::Ulid::from_datetime(at.into()).to_string();
        let discount = parse_discount(&ten_off(&format!("D{n}"), &[]), id, at, &currency).unwrap();
        let value = serde_json::to_value(&discount).unwrap();
        let store = &services.store;
        store
            .put_shop_record("discount", &discount.id, &value)
            .await
            .unwrap();
    }
    let all = discounts::all(services).await.unwrap();
    assert_eq!(all.len(), discounts::MAX_DISCOUNTS);
    let one_more = discounts::upsert(services, None, &ten_off("One more", &[])).await;
    assert_eq!(
        refused(one_more.unwrap()),
        [(ErrorCode::InvalidDiscount, String::new())]
    );
    let first = &all[0];
    let changed = discounts::upsert(services, Some(&first.id), &ten_off("Changed", &["NEW"])).await;
    let changed = changed.unwrap().expect("an update at the cap");
    assert_eq!(
        (&changed.id, changed.created_at),
        (&first.id, first.created_at)
    );
    assert!(discounts::delete(services, &first.id).await.unwrap());
    let made = discounts::upsert(services, None, &ten_off("Now there is room", &[])).await;
    assert!(made.unwrap().is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_shop_holds_at_most_500_shipping_rates_and_one_at_the_cap_can_still_be_changed() {
    let fixture = services().await;
    let services = &fixture.services;
    // Without the demo's discount: the counts here are this test's own.
    discounts::delete(services, crate::start::DEMO_DISCOUNT_ID)
        .await
        .unwrap();
    for n in 0..shipping::MAX_SHIPPING_RATES {
        let written = shipping::upsert(services, &rate(&format!("rate-{n}"))).await;
        assert!(written.unwrap().is_ok());
    }
    let one_more = shipping::upsert(services, &rate("one-more")).await.unwrap();
    assert_eq!(
        refused(one_more),
        [(ErrorCode::InvalidShippingRate, String::new())]
    );
    let mut cheaper = rate("rate-7");
    cheaper.price = "1".into();
    assert!(shipping::upsert(services, &cheaper).await.unwrap().is_ok());
    let rates = shipping::rates(services).await.unwrap();
    assert_eq!(rates.len(), shipping::MAX_SHIPPING_RATES);
    assert_eq!(rates[0].handle.as_str(), "rate-7", "cheapest first");
    assert_eq!(rates[1].handle.as_str(), "rate-0", "then by handle");
}

#[tokio::test(start_paused = true)]
async fn a_discount_is_created_at_its_ids_time_and_ids_follow_creation() {
    let fixture = services().await;
    let services = &fixture.services;
    // Without the demo's discount: the counts here are this test's own.
    discounts::delete(services, crate::start::DEMO_DISCOUNT_ID)
        .await
        .unwrap();
    let mut made = Vec::new();
    for n in 0..3 {
        let input = ten_off(&format!("D{n}"), &[]);
        let discount = discounts::upsert(services, None, &input).await.unwrap();
        made.push(discount.unwrap());
    }
    for discount in &made {
        let id = ulid::Ulid::from_string(&discount.id).unwrap();
        let millis = u64::try_from(discount.created_at.timestamp_millis()).unwrap();
        assert_eq!(id.timestamp_ms(), millis, "createdAt is the id's time");
        assert_eq!(discount.created_at.timestamp_subsec_nanos() % 1_000_000, 0);
        assert_eq!(
            discounts::discount_id(&discount.id.to_lowercase()).as_ref(),
            Some(&discount.id)
        );
    }
    // The test clock barely moves: ids of one millisecond still list as made.
    let titles: Vec<String> = discounts::all(services)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.title)
        .collect();
    assert_eq!(titles, ["D0", "D1", "D2"]);
    let after_first = discounts::page(services, Some(&made[0].id), 10)
        .await
        .unwrap();
    assert_eq!(after_first.len(), 2);
    assert_eq!(after_first[0].id, made[1].id);
}
