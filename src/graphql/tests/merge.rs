//! Guest carts moved into a customer's, under each strategy.

use super::*;
use serde_json::json;

const MERGE: &str = "mutation($token: String!, $merge: CartMergeStrategy!) { mergeGuestCart(input: {guestToken: $token, merge: $merge}) { merge { strategy carts { name outcome cart { lines { sku quantity } } } } userErrors { code } } }";

/// A customer with 1 mug and a guest with 2 mugs and a cap, merged by `strategy`.
async fn merged(strategy: &str) -> Value {
    let shop = Shop::open().await;
    let customer = shop.viewer("c", ViewerKind::Customer, &[]);
    let guest = shop.viewer("g", ViewerKind::Guest, &[]);
    shop.data(Some(&customer), ADD, json!({ "sku": "MUG-LOGO", "q": 1 }))
        .await;
    shop.data(Some(&guest), ADD, json!({ "sku": "MUG-LOGO", "q": 2 }))
        .await;
    shop.data(Some(&guest), ADD, json!({ "sku": "STICKER-PACK", "q": 1 }))
        .await;
    let token = shop.guest_token("g");
    let data = shop
        .data(
            Some(&customer),
            MERGE,
            json!({ "token": token, "merge": strategy }),
        )
        .await;
    let guest_after = shop
        .data(Some(&guest), "{ carts { lines { sku } } }", Value::Null)
        .await;
    for cart in guest_after["carts"].as_array().unwrap() {
        assert_eq!(cart["lines"], json!([]), "the guest has no lines left");
    }
    let again = shop
        .data(
            Some(&customer),
            MERGE,
            json!({ "token": token, "merge": strategy }),
        )
        .await;
    assert_eq!(
        again["mergeGuestCart"]["merge"]["carts"],
        json!([]),
        "a second merge changes nothing"
    );
    data["mergeGuestCart"]["merge"]["carts"][0].clone()
}

#[tokio::test(start_paused = true)]
async fn combine_adds_quantities_of_the_same_sku() {
    let cart = merged("COMBINE").await;
    assert_eq!(cart["outcome"], "COMBINED");
    assert_eq!(
        cart["cart"]["lines"],
        json!([{"sku": "MUG-LOGO", "quantity": 3}, {"sku": "STICKER-PACK", "quantity": 1}])
    );
}

#[tokio::test(start_paused = true)]
async fn keep_customer_drops_the_guest_lines() {
    let cart = merged("KEEP_CUSTOMER").await;
    assert_eq!(cart["outcome"], "KEPT_CUSTOMER");
    assert_eq!(
        cart["cart"]["lines"],
        json!([{"sku": "MUG-LOGO", "quantity": 1}])
    );
}

#[tokio::test(start_paused = true)]
async fn keep_guest_replaces_the_customer_lines() {
    let cart = merged("KEEP_GUEST").await;
    assert_eq!(cart["outcome"], "KEPT_GUEST");
    assert_eq!(
        cart["cart"]["lines"],
        json!([{"sku": "MUG-LOGO", "quantity": 2}, {"sku": "STICKER-PACK", "quantity": 1}])
    );
}

#[tokio::test(start_paused = true)]
async fn a_guest_token_that_is_not_valid_merges_nothing() {
    let shop = Shop::open().await;
    let customer = shop.viewer("c", ViewerKind::Customer, &[]);
    for token in ["junk".to_string(), shop.guest_token("g") + "x"] {
        let data = shop
            .data(
                Some(&customer),
                MERGE,
                json!({ "token": token, "merge": "COMBINE" }),
            )
            .await;
        assert_eq!(codes(&data["mergeGuestCart"]), ["INVALID_GUEST_TOKEN"]);
    }
}
