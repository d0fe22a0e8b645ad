//! Carts that expire, the sweep that deletes them, versions that never go
//! back, and the subscription that reports all of it — on a clock the test
//! moves.

use super::*;
use futures_util::StreamExt;
use serde_json::json;

#[tokio::test(start_paused = true)]
async fn an_untouched_cart_reads_as_empty_at_its_expiry_and_keeps_its_version() {
    let shop = Shop::open().await;
    let guest = shop.viewer("g", ViewerKind::Guest, &[]);
    let customer = shop.viewer("c", ViewerKind::Customer, &[]);
    for viewer in [&guest, &customer] {
        shop.data(Some(viewer), ADD, json!({ "sku": "MUG-LOGO", "q": 1 }))
            .await;
    }
    let query = "{ cart { version expiresAt lines { sku } } }";
    shop.advance(GUEST_CART_LIFETIME - Duration::seconds(1))
        .await;
    assert_eq!(
        shop.data(Some(&guest), query, Value::Null).await["cart"]["lines"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    shop.advance(Duration::seconds(1)).await;
    let expired = shop.data(Some(&guest), query, Value::Null).await;
    assert_eq!(expired["cart"]["lines"], json!([]));
    assert_eq!(expired["cart"]["version"], 1);
    assert!(expired["cart"]["expiresAt"].is_null());
    // Customers' carts live longer.
    let kept = shop.data(Some(&customer), query, Value::Null).await;
    assert_eq!(kept["cart"]["lines"].as_array().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn versions_never_repeat_after_the_sweep_deletes_an_expired_cart() {
    let shop = Shop::open().await;
    let guest = shop.viewer("g", ViewerKind::Guest, &[]);
    for q in 1..=3 {
        shop.data(Some(&guest), ADD, json!({ "sku": "MUG-LOGO", "q": q }))
            .await;
    }
    shop.advance(GUEST_CART_LIFETIME + Duration::seconds(1))
        .await;
    shop.sweep().await;
    let gone = shop
        .data(Some(&guest), "{ carts { name } }", Value::Null)
        .await;
    assert_eq!(
        gone["carts"],
        json!([]),
        "the sweep deleted the expired cart"
    );
    for q in 1..=3 {
        let data = shop
            .data(Some(&guest), ADD, json!({ "sku": "STICKER-PACK", "q": q }))
            .await;
        assert!(
            data["addCartLines"]["cart"]["version"].as_u64().unwrap() > 3,
            "{data}"
        );
    }
    let stale = shop
        .data(
            Some(&guest),
            ADD,
            json!({ "sku": "MUG-LOGO", "q": 1, "v": 3 }),
        )
        .await;
    assert_eq!(codes(&stale["addCartLines"]), ["VERSION_CONFLICT"]);
    let newcomer = shop.viewer("n", ViewerKind::Guest, &[]);
    let data = shop
        .data(Some(&newcomer), ADD, json!({ "sku": "MUG-LOGO", "q": 1 }))
        .await;
    assert!(data["addCartLines"]["cart"]["version"].as_u64().unwrap() > 3);
}

#[tokio::test(start_paused = true)]
async fn a_subscription_pushes_the_expiry_and_stays_quiet_about_the_sweep() {
    let shop = Shop::open().await;
    let guest = shop.viewer("g", ViewerKind::Guest, &[]);
    let request = Request::new("subscription { cartUpdated { version lines { sku quantity } } }")
        .data(guest.clone());
    let mut stream = shop.engine.execute_stream(request, None);
    let first = stream.next().await.unwrap();
    assert!(first.errors.is_empty(), "{:?}", first.errors);
    shop.data(Some(&guest), ADD, json!({ "sku": "MUG-LOGO", "q": 2 }))
        .await;
    let added = serde_json::to_value(stream.next().await.unwrap().data).unwrap();
    assert_eq!(
        added["cartUpdated"]["lines"],
        json!([{"sku": "MUG-LOGO", "quantity": 2}])
    );
    // No sleeping: the cart's expiry timer fires as the clock is moved past it.
    shop.advance(GUEST_CART_LIFETIME + Duration::seconds(1))
        .await;
    let expired = serde_json::to_value(stream.next().await.unwrap().data).unwrap();
    assert_eq!(expired["cartUpdated"]["lines"], json!([]));
    assert_eq!(
        expired["cartUpdated"]["version"],
        added["cartUpdated"]["version"]
    );
    shop.sweep().await;
    let quiet = tokio::time::timeout(std::time::Duration::from_secs(60), stream.next()).await;
    assert!(quiet.is_err(), "the sweep is no news: {quiet:?}");
}

#[tokio::test(start_paused = true)]
async fn failed_log_ins_are_forgiven_when_the_window_ends() {
    let shop = Shop::open().await;
    let sign_up = "mutation { signUp(input: {email: \"ann@example.com\", password: \"correct horse battery\"}) { token userErrors { code } } }";
    assert!(shop.data(None, sign_up, Value::Null).await["signUp"]["token"].is_string());
    let log_in = |password: &str| {
        format!(
            "mutation {{ logIn(input: {{email: \"ann@example.com\", password: \"{password}\"}}) {{ token userErrors {{ code }} }} }}"
        )
    };
    for _ in 0..3 {
        let data = shop
            .data(None, &log_in("wrong wrong wrong"), Value::Null)
            .await;
        assert_eq!(codes(&data["logIn"]), ["INVALID_CREDENTIALS"]);
    }
    let data = shop
        .data(None, &log_in("correct horse battery"), Value::Null)
        .await;
    assert_eq!(
        codes(&data["logIn"]),
        ["THROTTLED"],
        "even the right password waits"
    );
    shop.advance(Duration::minutes(15)).await;
    let data = shop
        .data(None, &log_in("correct horse battery"), Value::Null)
        .await;
    assert!(data["logIn"]["token"].is_string(), "{data}");
}
