//! Guest carts survive log-in: every strategy, limits, idempotence, races,
//! and guest tokens that must not be accepted.

use super::*;
use jsonwebtoken::Algorithm;
use std::sync::Arc;

const MERGE: &str = "mutation($input: MergeGuestCartInput!) { mergeGuestCart(input: $input) { merge { strategy carts { name outcome guestLines cart { name version lines { sku quantity } } } adjustments { cart sku wanted kept message } } userErrors { code field message } } }";

async fn merge_guest_cart(server: &TestServer, customer: &str, guest: &str, merge: &str) -> Value {
    let input = json!({ "guestToken": guest, "merge": merge });
    server
        .data(Some(customer), MERGE, json!({ "input": input }))
        .await["mergeGuestCart"]
        .clone()
}

/// `(name, outcome)` of each merged cart.
fn outcomes(merge: &Value) -> Vec<(String, String)> {
    merge["carts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(name: &str, outcome: &str) -> (String, String) {
    (name.to_string(), outcome.to_string())
}

/// A guest with lines in `default` (MUG-LOGO 3, HOODIE-GRY-M 1) and `wishlist` (STICKER-PACK 2).
async fn guest_with_carts(server: &TestServer) -> String {
    let guest = start_guest(server).await;
    add(server, &guest, "default", "MUG-LOGO", 3).await;
    add(server, &guest, "default", "HOODIE-GRY-M", 1).await;
    add(server, &guest, "wishlist", "STICKER-PACK", 2).await;
    guest
}

/// A customer with lines in `default` (MUG-LOGO 2, TEE-BLK-M 1).
async fn customer_with_cart(server: &TestServer, email: &str) -> String {
    let token = customer_account(server, email).await;
    add(server, &token, "default", "MUG-LOGO", 2).await;
    add(server, &token, "default", "TEE-BLK-M", 1).await;
    token
}

#[tokio::test]
async fn sign_up_with_a_guest_token_moves_every_named_guest_cart() {
    let server = TestServer::spawn().await;
    let guest = guest_with_carts(&server).await;
    let payload = sign_up(&server, "ann@example.com", PASSWORD, Some(&guest)).await;
    assert_eq!(codes(&payload), Vec::<String>::new(), "{payload}");
    let merge = &payload["merge"];
    assert_eq!(merge["strategy"], "COMBINE");
    assert_eq!(
        outcomes(merge),
        [pair("default", "MOVED"), pair("wishlist", "MOVED")]
    );
    assert_eq!(merge["carts"][0]["guestLines"], 2);
    assert_eq!(merge["adjustments"], json!([]));
    let customer = token_of(&payload);
    assert_eq!(
        carts_of(&server, &customer).await,
        json!({
            "default": [["MUG-LOGO", 3], ["HOODIE-GRY-M", 1]],
            "wishlist": [["STICKER-PACK", 2]],
        })
    );
    assert_eq!(
        carts_of(&server, &guest).await,
        json!({}),
        "the guest's carts are gone"
    );
}

#[tokio::test]
async fn log_in_with_combine_sums_overlapping_skus_and_moves_distinct_carts() {
    let server = TestServer::spawn().await;
    customer_with_cart(&server, "ann@example.com").await;
    let guest = guest_with_carts(&server).await;
    let payload = log_in(&server, "ann@example.com", PASSWORD, Some(&guest), None).await;
    assert_eq!(codes(&payload), Vec::<String>::new(), "{payload}");
    assert_eq!(
        payload["merge"]["strategy"], "COMBINE",
        "the default strategy"
    );
    assert_eq!(
        outcomes(&payload["merge"]),
        [pair("default", "COMBINED"), pair("wishlist", "MOVED")]
    );
    let default = &payload["merge"]["carts"][0]["cart"];
    assert_eq!(default["version"], 3, "one version step for the merge");
    assert_eq!(
        carts_of(&server, &token_of(&payload)).await,
        json!({
            "default": [["MUG-LOGO", 5], ["TEE-BLK-M", 1], ["HOODIE-GRY-M", 1]],
            "wishlist": [["STICKER-PACK", 2]],
        })
    );
    assert_eq!(carts_of(&server, &guest).await, json!({}));
}

#[tokio::test]
async fn keep_customer_keeps_the_conflicting_cart_and_still_moves_distinct_ones() {
    let server = TestServer::spawn().await;
    customer_with_cart(&server, "ann@example.com").await;
    let guest = guest_with_carts(&server).await;
    let payload = log_in(
        &server,
        "ann@example.com",
        PASSWORD,
        Some(&guest),
        Some("KEEP_CUSTOMER"),
    )
    .await;
    assert_eq!(
        outcomes(&payload["merge"]),
        [pair("default", "KEPT_CUSTOMER"), pair("wishlist", "MOVED")]
    );
    assert_eq!(
        payload["merge"]["carts"][0]["cart"]["version"], 2,
        "unchanged"
    );
    assert_eq!(
        carts_of(&server, &token_of(&payload)).await,
        json!({
            "default": [["MUG-LOGO", 2], ["TEE-BLK-M", 1]],
            "wishlist": [["STICKER-PACK", 2]],
        })
    );
    assert_eq!(carts_of(&server, &guest).await, json!({}));
}

#[tokio::test]
async fn keep_guest_replaces_the_conflicting_cart_and_still_moves_distinct_ones() {
    let server = TestServer::spawn().await;
    let customer = customer_with_cart(&server, "ann@example.com").await;
    add(&server, &customer, "saved-for-later", "CAP-RED", 1).await;
    let guest = guest_with_carts(&server).await;
    let payload = log_in(
        &server,
        "ann@example.com",
        PASSWORD,
        Some(&guest),
        Some("KEEP_GUEST"),
    )
    .await;
    assert_eq!(
        outcomes(&payload["merge"]),
        [pair("default", "KEPT_GUEST"), pair("wishlist", "MOVED")]
    );
    assert_eq!(
        carts_of(&server, &token_of(&payload)).await,
        json!({
            "default": [["MUG-LOGO", 3], ["HOODIE-GRY-M", 1]],
            "saved-for-later": [["CAP-RED", 1]],
            "wishlist": [["STICKER-PACK", 2]],
        })
    );
}

#[tokio::test]
async fn combining_clamps_to_the_limits_and_says_what_was_clamped() {
    let server =
        TestServer::spawn_with(&["--max-quantity-per-line", "4", "--max-lines-per-cart", "3"])
            .await;
    let customer = customer_account(&server, "ann@example.com").await;
    add(&server, &customer, "default", "MUG-LOGO", 3).await;
    add(&server, &customer, "default", "TEE-BLK-M", 1).await;
    let guest = start_guest(&server).await;
    add(&server, &guest, "default", "MUG-LOGO", 4).await;
    add(&server, &guest, "default", "HOODIE-GRY-M", 1).await;
    add(&server, &guest, "default", "CAP-RED", 2).await;
    let merged = merge_guest_cart(&server, &customer, &guest, "COMBINE").await;
    assert_eq!(codes(&merged), Vec::<String>::new(), "{merged}");
    let adjustments: Vec<Value> = merged["merge"]["adjustments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| json!([a["cart"], a["sku"], a["wanted"], a["kept"]]))
        .collect();
    assert_eq!(
        adjustments,
        [
            json!(["default", "MUG-LOGO", 7, 4]),
            json!(["default", "CAP-RED", 2, 0]),
        ]
    );
    let message = merged["merge"]["adjustments"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("at most 4"), "{message}");
    assert_eq!(
        carts_of(&server, &customer).await,
        json!({"default": [["MUG-LOGO", 4], ["TEE-BLK-M", 1], ["HOODIE-GRY-M", 1]]})
    );
}

#[tokio::test]
async fn merging_twice_changes_nothing_the_second_time() {
    let server = TestServer::spawn().await;
    let customer = customer_with_cart(&server, "ann@example.com").await;
    let guest = guest_with_carts(&server).await;
    let first = merge_guest_cart(&server, &customer, &guest, "COMBINE").await;
    assert_eq!(outcomes(&first["merge"]).len(), 2);
    let versions = server
        .data(Some(&customer), "{ carts { name version } }", json!({}))
        .await;
    let second = merge_guest_cart(&server, &customer, &guest, "COMBINE").await;
    assert_eq!(codes(&second), Vec::<String>::new());
    assert_eq!(second["merge"]["carts"], json!([]));
    let after = server
        .data(Some(&customer), "{ carts { name version } }", json!({}))
        .await;
    assert_eq!(after, versions);
    assert_eq!(
        carts_of(&server, &customer).await,
        json!({
            "default": [["MUG-LOGO", 5], ["TEE-BLK-M", 1], ["HOODIE-GRY-M", 1]],
            "wishlist": [["STICKER-PACK", 2]],
        })
    );
}

#[tokio::test]
async fn an_expired_forged_or_non_guest_guest_token_changes_nothing() {
    let server = TestServer::spawn().await;
    let customer = customer_with_cart(&server, "ann@example.com").await;
    let guest = guest_with_carts(&server).await;
    let mut expired = claims("g-old", "guest", &[]);
    expired["exp"] = json!(now() - 60);
    let bad_tokens = [
        sign(expired, Algorithm::HS256, SECRET.as_bytes()),
        sign(
            claims("g-1", "guest", &[]),
            Algorithm::HS256,
            b"some-other-secret-of-at-least-32-bytes",
        ),
        customer.clone(),
        String::new(),
        "garbage".to_string(),
        "a.b.c".to_string(),
        "x".repeat(100_000),
        format!("{guest}x"),
    ];
    for bad in &bad_tokens {
        let merged = merge_guest_cart(&server, &customer, bad, "KEEP_GUEST").await;
        assert_eq!(codes(&merged), ["INVALID_GUEST_TOKEN"], "{bad:.40}");
        assert_eq!(merged["merge"], Value::Null);
        assert_eq!(merged["userErrors"][0]["field"], json!(["guestToken"]));

        let signed_up = sign_up(&server, "new@example.com", PASSWORD, Some(bad)).await;
        assert_eq!(codes(&signed_up), ["INVALID_GUEST_TOKEN"]);
        assert_eq!(signed_up["token"], Value::Null);
        let logged_in = log_in(&server, "ann@example.com", PASSWORD, Some(bad), None).await;
        assert_eq!(codes(&logged_in), ["INVALID_GUEST_TOKEN"]);
        assert_eq!(logged_in["token"], Value::Null);
    }
    assert_eq!(
        carts_of(&server, &customer).await,
        json!({"default": [["MUG-LOGO", 2], ["TEE-BLK-M", 1]]})
    );
    assert_eq!(
        carts_of(&server, &guest).await["wishlist"],
        json!([["STICKER-PACK", 2]])
    );
    let fresh = sign_up(&server, "new@example.com", PASSWORD, None).await;
    assert_eq!(
        codes(&fresh),
        Vec::<String>::new(),
        "no account was created before"
    );
}

#[tokio::test]
async fn a_merge_that_would_fill_too_many_carts_is_refused_and_changes_nothing() {
    let server = TestServer::spawn_with(&["--max-carts-per-viewer", "2"]).await;
    let customer = customer_with_cart(&server, "ann@example.com").await;
    add(&server, &customer, "saved-for-later", "CAP-RED", 1).await;
    let guest = guest_with_carts(&server).await;
    let merged = merge_guest_cart(&server, &customer, &guest, "COMBINE").await;
    assert_eq!(codes(&merged), ["CART_LIMIT_EXCEEDED"]);
    assert_eq!(
        carts_of(&server, &guest).await.as_object().unwrap().len(),
        2
    );
    assert_eq!(
        carts_of(&server, &customer)
            .await
            .as_object()
            .unwrap()
            .len(),
        2
    );

    let logged_in = log_in(&server, "ann@example.com", PASSWORD, Some(&guest), None).await;
    assert_eq!(
        codes(&logged_in),
        ["CART_LIMIT_EXCEEDED"],
        "the log-in works, the merge not"
    );
    assert!(logged_in["token"].is_string());
    assert_eq!(logged_in["merge"], Value::Null);
}

#[tokio::test]
async fn merge_guest_cart_needs_a_customer() {
    let server = TestServer::spawn().await;
    let guest = start_guest(&server).await;
    let other = start_guest(&server).await;
    let input = json!({ "input": { "guestToken": other } });
    let as_guest = server.gql(Some(&guest), MERGE, input.clone()).await;
    assert_eq!(error_code(&as_guest), "BAD_USER_INPUT");
    let anonymous = server.gql(None, MERGE, input).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_merge_racing_with_add_cart_lines_on_the_guest_cart_loses_nothing() {
    let server = Arc::new(TestServer::spawn().await);
    for round in 0..3 {
        let customer = customer_account(&server, &format!("racer{round}@example.com")).await;
        let guest = start_guest(&server).await;
        add(&server, &guest, "default", "STICKER-PACK", 1).await;
        let mut adds = Vec::new();
        for _ in 0..20 {
            let (server, guest) = (server.clone(), guest.clone());
            adds.push(tokio::spawn(async move {
                let added = add(&server, &guest, "default", "STICKER-PACK", 1).await;
                assert_eq!(codes(&added), Vec::<String>::new());
            }));
        }
        let merged = merge_guest_cart(&server, &customer, &guest, "COMBINE").await;
        assert_eq!(codes(&merged), Vec::<String>::new());
        for task in adds {
            task.await.unwrap();
        }
        let quantity = |carts: Value| carts["default"][0][1].as_u64().unwrap_or(0);
        let total = quantity(carts_of(&server, &customer).await)
            + quantity(carts_of(&server, &guest).await);
        assert_eq!(
            total, 21,
            "round {round}: every unit is in one of the two carts"
        );
    }
}
