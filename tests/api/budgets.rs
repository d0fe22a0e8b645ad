//! What one viewer can store and how often it can write: byte budgets per
//! cart, per owner and per order; write rates per viewer and per client
//! address. How little a small change writes (sled) and one owner's writes
//! queueing without holding connections (PostgreSQL) are in tests/sled and
//! tests/postgres.

use crate::helpers::*;
use crate::shop::{add_lines, heavy_lines};
use serde_json::{Value, json};

fn message(payload: &Value) -> &str {
    payload["userErrors"][0]["message"].as_str().unwrap_or("")
}

#[tokio::test]
async fn one_viewer_cannot_store_more_than_its_byte_budgets_and_can_always_shrink() {
    let server = TestServer::spawn().await;
    let limits = server
        .data(
            None,
            "{ shop { limits { maxCartBytes maxOwnerBytes maxOrderBytes } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        limits["shop"]["limits"],
        json!({"maxCartBytes": 65536, "maxOwnerBytes": 262144, "maxOrderBytes": 131072})
    );
    let token = guest("budget");
    // One cart: 30 heavy lines are about 75 KB, over the 64 KiB a cart may take.
    let over = add_lines(&server, &token, "c0", heavy_lines(30, "c0")).await;
    assert_eq!(codes(&over), ["CART_LIMIT_EXCEEDED"], "{over}");
    assert!(message(&over).contains("--max-cart-bytes"), "{over}");
    assert_eq!(over["cart"]["version"], 0, "nothing was written");
    // Four carts of 22 heavy lines (about 56 KB each) fit; a fifth would
    // take the viewer's carts past 256 KiB together.
    for cart in ["c0", "c1", "c2", "c3"] {
        let filled = add_lines(&server, &token, cart, heavy_lines(22, cart)).await;
        assert_eq!(codes(&filled), Vec::<String>::new(), "{cart}: {filled}");
    }
    let fifth = add_lines(&server, &token, "c4", heavy_lines(22, "c4")).await;
    assert_eq!(codes(&fifth), ["CART_LIMIT_EXCEEDED"], "{fifth}");
    assert!(message(&fifth).contains("--max-owner-bytes"), "{fifth}");
    assert_eq!(fifth["cart"]["version"], 0);
    // A fifth cart of 8 lines fits (about 240 KB together); 10 more lines
    // in it would not, though that cart alone would still be far below 64 KiB.
    let some = add_lines(&server, &token, "c4", heavy_lines(8, "c4")).await;
    assert_eq!(codes(&some), Vec::<String>::new(), "{some}");
    let grow = add_lines(&server, &token, "c4", heavy_lines(10, "more")).await;
    assert_eq!(codes(&grow), ["CART_LIMIT_EXCEEDED"], "{grow}");
    assert!(message(&grow).contains("--max-owner-bytes"), "{grow}");
    assert_eq!(grow["cart"]["version"], some["cart"]["version"]);
    // A change that does not make a cart bigger is never refused for size,
    // and what it frees can be used again.
    let full = server
        .data(
            Some(&token),
            "{ cart(name: \"c3\") { lines { id } } }",
            json!({}),
        )
        .await;
    let ids: Vec<Value> = full["cart"]["lines"].as_array().unwrap()[..5]
        .iter()
        .map(|l| l["id"].clone())
        .collect();
    let removed = server
        .data(
            Some(&token),
            "mutation($ids: [ID!]!) { removeCartLines(input: {cart: \"c3\", lineIds: $ids}) { cart { version } userErrors { code } } }",
            json!({"ids": ids}),
        )
        .await;
    assert_eq!(codes(&removed["removeCartLines"]), Vec::<String>::new());
    let again = add_lines(&server, &token, "c4", heavy_lines(4, "again")).await;
    assert_eq!(codes(&again), Vec::<String>::new(), "{again}");
    // What a read of all the viewer's carts answers stays near the budget.
    let all = server
        .gql(
            Some(&token),
            "{ carts { name lines { attributes { key value } } } }",
            json!({}),
        )
        .await;
    let answered = all.to_string().len();
    assert!(answered < 300_000, "{answered} bytes answered");
}

#[tokio::test]
async fn writes_above_the_viewer_rate_are_throttled_with_the_wait_and_change_nothing() {
    let server =
        TestServer::spawn_with(&["--viewer-write-burst", "3", "--viewer-write-rate", "6"]).await;
    let ann = guest("ann-rate");
    for _ in 0..3 {
        assert_eq!(
            codes(&add(&server, &ann, "default", "MUG-LOGO", 1).await),
            Vec::<String>::new()
        );
    }
    let refused = add(&server, &ann, "default", "MUG-LOGO", 1).await;
    assert_eq!(codes(&refused), ["THROTTLED"], "{refused}");
    assert!(message(&refused).contains("try again in 10 s"), "{refused}");
    assert_eq!(
        refused["cart"]["version"], 3,
        "the refused write changed nothing"
    );
    let checkout = server
        .data(
            Some(&ann),
            "mutation { checkout(input: {idempotencyKey: \"k1\"}) { order { id } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        codes(&checkout["checkout"]),
        ["THROTTLED"],
        "checkouts count as writes"
    );
    let bob = guest("bob-rate");
    assert_eq!(
        codes(&add(&server, &bob, "default", "MUG-LOGO", 1).await),
        Vec::<String>::new()
    );
    let read = server
        .data(Some(&ann), "{ cart { version } }", json!({}))
        .await;
    assert_eq!(read["cart"]["version"], 3, "reads are not limited");
}

#[tokio::test]
async fn one_client_address_is_limited_whatever_tokens_it_writes_with() {
    let server =
        TestServer::spawn_with(&["--client-write-burst", "4", "--client-write-rate", "1"]).await;
    for i in 0..4 {
        let token = guest(&format!("g{i}"));
        assert_eq!(
            codes(&add(&server, &token, "default", "MUG-LOGO", 1).await),
            Vec::<String>::new()
        );
    }
    let fifth = add(&server, &guest("g4"), "default", "MUG-LOGO", 1).await;
    assert_eq!(codes(&fifth), ["THROTTLED"], "{fifth}");
    assert!(
        message(&fifth).contains("try again in 60 s"),
        "a token a minute: {fifth}"
    );
}

#[tokio::test]
async fn an_order_over_the_order_budget_is_refused_and_takes_nothing() {
    let server = TestServer::spawn_with(&["--max-order-bytes", "4096"]).await;
    let token = customer("big-order");
    let mut line = heavy_lines(1, "o")[0].clone();
    line["sku"] = json!("MUG-LOGO");
    let checkout = |lines: Value| {
        let (server, token) = (&server, &token);
        async move {
            server
                .data(
                    Some(token),
                    "mutation($lines: [CartLineInput!]!, $key: String!) { checkoutLines(input: {lines: $lines, idempotencyKey: $key, buyerIdentity: {email: \"a@example.com\"}}) { order { id } userErrors { code field message } } }",
                    json!({"lines": lines, "key": ulid::Ulid::new().to_string()}),
                )
                .await["checkoutLines"]
                .clone()
        }
    };
    let mut second = line.clone();
    second["attributes"][0]["value"] = json!("o-1");
    // Two lines of about 2.5 KB each: over 4 KiB.
    let refused = checkout(json!([line, second])).await;
    assert_eq!(codes(&refused), ["CART_LIMIT_EXCEEDED"], "{refused}");
    assert_eq!(refused["userErrors"][0]["field"], json!(["lines"]));
    assert!(message(&refused).contains("--max-order-bytes"), "{refused}");
    let stock = server
        .data(None, "{ variant(sku: \"MUG-LOGO\") { stock } }", json!({}))
        .await;
    assert_eq!(stock["variant"]["stock"], 40, "no stock was taken");
    let small = checkout(json!([{"sku": "MUG-LOGO", "quantity": 1}])).await;
    assert_eq!(codes(&small), Vec::<String>::new(), "{small}");
}
