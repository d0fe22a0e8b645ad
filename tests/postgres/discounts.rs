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
