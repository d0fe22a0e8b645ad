//! One call shape for idempotent operations: look up, replay or proceed,
//! record in the write.

use super::*;
use serde_json::json;

const CHECKOUT_LINES: &str = "mutation($key: String!, $q: Int! = 1, $sku: String! = \"MUG-LOGO\") { checkoutLines(input: {lines: [{sku: $sku, quantity: $q}], idempotencyKey: $key}) { order { id total { amount } } userErrors { code } } }";

#[tokio::test(start_paused = true)]
async fn an_add_with_a_key_happens_once_and_a_retry_answers_without_changing() {
    let shop = Shop::open().await;
    let ann = shop.viewer("ann", ViewerKind::Guest, &[]);
    let first = shop
        .data(
            Some(&ann),
            ADD,
            json!({ "sku": "MUG-LOGO", "q": 2, "key": "k1" }),
        )
        .await;
    let retry = shop
        .data(
            Some(&ann),
            ADD,
            json!({ "sku": "MUG-LOGO", "q": 2, "key": "k1" }),
        )
        .await;
    assert_eq!(first, retry);
    assert_eq!(retry["addCartLines"]["cart"]["lines"][0]["quantity"], 2);
    let other = shop
        .data(
            Some(&ann),
            ADD,
            json!({ "sku": "MUG-LOGO", "q": 3, "key": "k1" }),
        )
        .await;
    assert_eq!(codes(&other["addCartLines"]), ["IDEMPOTENCY_KEY_REUSED"]);
    // Keys belong to their viewer.
    let bob = shop.viewer("bob", ViewerKind::Guest, &[]);
    let theirs = shop
        .data(
            Some(&bob),
            ADD,
            json!({ "sku": "MUG-LOGO", "q": 3, "key": "k1" }),
        )
        .await;
    assert!(codes(&theirs["addCartLines"]).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_retry_is_answered_even_after_its_input_stopped_passing() {
    let shop = Shop::open().await;
    let ann = shop.viewer("ann", ViewerKind::Customer, &[]);
    let placed = shop
        .data(Some(&ann), CHECKOUT_LINES, json!({ "key": "buy-1" }))
        .await;
    let added = shop
        .data(
            Some(&ann),
            ADD,
            json!({ "sku": "MUG-LOGO", "q": 1, "key": "add-1" }),
        )
        .await;
    let admin = shop.viewer("ops", ViewerKind::Customer, &["admin"]);
    shop.data(
        Some(&admin),
        "mutation { updateVariant(input: {sku: \"MUG-LOGO\", active: false}) { userErrors { code } } }",
        Value::Null,
    )
    .await;
    let retried = shop
        .data(Some(&ann), CHECKOUT_LINES, json!({ "key": "buy-1" }))
        .await;
    assert_eq!(
        retried, placed,
        "the same order, though the product is inactive now"
    );
    let re_added = shop
        .data(
            Some(&ann),
            ADD,
            json!({ "sku": "MUG-LOGO", "q": 1, "key": "add-1" }),
        )
        .await;
    assert_eq!(re_added, added);
    let fresh = shop
        .data(Some(&ann), CHECKOUT_LINES, json!({ "key": "buy-2" }))
        .await;
    assert_eq!(codes(&fresh["checkoutLines"]), ["PRODUCT_INACTIVE"]);
}

#[tokio::test(start_paused = true)]
async fn a_refused_checkout_does_not_use_its_key_and_a_swept_key_is_new_again() {
    let shop = Shop::open().await;
    let ann = shop.viewer("ann", ViewerKind::Customer, &[]);
    // HOODIE-GRY-M has 10 in stock.
    let too_many = shop
        .data(
            Some(&ann),
            CHECKOUT_LINES,
            json!({ "key": "k", "q": 11, "sku": "HOODIE-GRY-M" }),
        )
        .await;
    assert_eq!(codes(&too_many["checkoutLines"]), ["INSUFFICIENT_STOCK"]);
    let placed = shop
        .data(
            Some(&ann),
            CHECKOUT_LINES,
            json!({ "key": "k", "q": 1, "sku": "HOODIE-GRY-M" }),
        )
        .await;
    let first_id = placed["checkoutLines"]["order"]["id"].clone();
    assert!(first_id.is_string(), "{placed}");
    // A day later the key is forgotten: the same key places a new order.
    shop.advance(IDEMPOTENCY_TTL + Duration::seconds(1)).await;
    shop.sweep().await;
    let again = shop
        .data(
            Some(&ann),
            CHECKOUT_LINES,
            json!({ "key": "k", "q": 1, "sku": "HOODIE-GRY-M" }),
        )
        .await;
    assert_ne!(again["checkoutLines"]["order"]["id"], first_id);
}
