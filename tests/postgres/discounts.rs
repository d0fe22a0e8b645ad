//! Discount usage limits across several instances on one PostgreSQL
//! database: the checkout transaction locks each discount's usage row, so
//! no number of instances can take more uses than the limit.

use crate::helpers::*;
use serde_json::{Value, json};

#[tokio::test]
async fn three_instances_give_a_ten_use_code_to_exactly_ten_of_a_hundred_buyers() {
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    let url = database.url();
    let instances =
        futures_util::future::join_all((0..3).map(|_| TestServer::spawn_on(&url, &[]))).await;
    let admin = admin();
    let upsert = "mutation($input: DiscountInput!) { upsertDiscount(input: $input) { discount { id } userErrors { code } } }";
    let made = instances[0]
        .data(
            Some(&admin),
            upsert,
            json!({"input": {"title": "Ten off", "codes": ["TEN"], "target": "ORDER", "percentage": "10", "usageLimit": 10}}),
        )
        .await;
    let id = made["upsertDiscount"]["discount"]["id"].clone();
    assert!(id.is_string(), "{made}");
    let query = "mutation($input: CheckoutLinesInput!) { checkoutLines(input: $input) { order { total { amount } discountApplications { code } } userErrors { code message } } }";
    let attempts = (0..100).map(|n| {
        let server = &instances[n % 3];
        async move {
            let input = json!({"lines": [{"sku": "STICKER-PACK", "quantity": 1}], "discountCodes": ["ten"], "idempotencyKey": format!("k{n}")});
            server
                .data(Some(&customer(&format!("buyer{n}"))), query, json!({ "input": input }))
                .await["checkoutLines"]
                .clone()
        }
    });
    let results: Vec<Value> = futures_util::future::join_all(attempts).await;
    let placed = results.iter().filter(|r| !r["order"].is_null()).count();
    assert_eq!(placed, 10, "{results:?}");
    for refused in results.iter().filter(|r| r["order"].is_null()) {
        assert_eq!(codes(refused), ["DISCOUNT_NOT_APPLICABLE"], "{refused}");
        let message = refused["userErrors"][0]["message"].as_str().unwrap();
        assert!(message.contains("USAGE_LIMIT_REACHED"), "{message}");
    }
    for server in &instances {
        let read = server
            .data(
                Some(&admin),
                "query($id: ID!) { discount(id: $id) { usageCount } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(read["discount"]["usageCount"], 10);
    }
}

/// What `server` says `token`'s cart's discounts come to.
async fn discount_total(server: &TestServer, token: &str) -> Value {
    server
        .data(
            Some(token),
            "{ cart { cost { discountTotal { amount } } } }",
            json!({}),
        )
        .await["cart"]["cost"]["discountTotal"]["amount"]
        .clone()
}

/// Reads until `server` prices `token`'s cart's discounts as something
/// other than `before` (within 10 s); returns it.
async fn priced_anew(server: &TestServer, token: &str, before: &Value) -> Value {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let now = discount_total(server, token).await;
        if &now != before {
            return now;
        }
        assert!(
            std::time::Instant::now() < until,
            "still {before} after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_pricing_change_on_one_instance_reaches_the_others_also_after_their_listener_was_cut() {
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    let url = database.url();
    let a = TestServer::spawn_on(&url, &[]).await;
    let b = TestServer::spawn_on(&url, &[]).await;
    let buyer = customer("priced-on-b");
    add(&b, &buyer, "default", "STICKER-PACK", 2).await;
    // Read (and kept) on b before the change.
    let none = discount_total(&b, &buyer).await;
    assert_eq!(discount_total(&b, &buyer).await, none);
    let upsert = "mutation($input: DiscountInput!) { upsertDiscount(input: $input) { discount { id } userErrors { code } } }";
    let made = a
        .data(
            Some(&admin()),
            upsert,
            json!({"input": {"title": "Tenth", "target": "ORDER", "percentage": "10"}}),
        )
        .await;
    let id = made["upsertDiscount"]["discount"]["id"].clone();
    assert!(id.is_string(), "{made}");
    let tenth = priced_anew(&b, &buyer, &none).await;
    assert_eq!(discount_total(&a, &buyer).await, tenth);
    // b's listener cut: a change made while it reconnects is priced once
    // it is back (the notice was lost; its return forgets the copy).
    admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'cartql-listener' AND datname = '{}'",
        database.name
    ))
    .await;
    let changed = a
        .data(
            Some(&admin()),
            upsert,
            json!({"input": {"id": id, "title": "Half", "target": "ORDER", "percentage": "50"}}),
        )
        .await;
    assert_eq!(
        changed["upsertDiscount"]["userErrors"],
        json!([]),
        "{changed}"
    );
    let half = priced_anew(&b, &buyer, &tenth).await;
    assert_eq!(discount_total(&a, &buyer).await, half);
    assert_ne!(half, none);
    // Once the listener is back, b keeps pricing it so (no copy from
    // before the cut comes back).
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.get("/readyz").await.status() != 200 {
        assert!(
            std::time::Instant::now() < until,
            "b's listener is not back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for _ in 0..3 {
        assert_eq!(discount_total(&b, &buyer).await, half);
    }
}
