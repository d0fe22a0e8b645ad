//! `CART_ABANDONED`, black-box on both backends: a cart with lines and a
//! buyer e-mail left alone past `--abandoned-cart-after` is announced once
//! per version, signed like every webhook, as the `Cart` type shows it;
//! carts without an e-mail, without lines, or checked out are not.

use crate::helpers::*;
use crate::hook::{Hook, Received, verifies};
use crate::webhooks::{deliveries, endpoint};
use serde_json::{Value, json};
use std::time::Duration;

const BUYER: &str = "mutation($email: String!) { updateCartBuyerIdentity(input: {buyerIdentity: {email: $email}}) { cart { id version } userErrors { code } } }";

/// Sets the cart's buyer e-mail; the cart's global id and version.
async fn with_email(server: &TestServer, token: &str, email: &str) -> (String, i64) {
    let done = server
        .data(Some(token), BUYER, json!({ "email": email }))
        .await["updateCartBuyerIdentity"]
        .clone();
    assert_eq!(done["userErrors"], json!([]), "{done}");
    (
        done["cart"]["id"].as_str().unwrap().to_string(),
        done["cart"]["version"].as_i64().unwrap(),
    )
}

fn about<'a>(got: &'a [Received], email: &str) -> Vec<&'a Received> {
    got.iter()
        .filter(|r| r.body["data"]["cart"]["buyerIdentity"]["email"] == email)
        .collect()
}

#[tokio::test]
async fn an_idle_cart_with_an_email_is_announced_once_per_version_and_never_after_checkout() {
    let hook = Hook::default();
    let url = hook.serve().await;
    let server =
        TestServer::spawn_with(&["--webhook-allow-insecure", "--abandoned-cart-after", "3s"]).await;
    let (id, secret) = endpoint(&server, &url, &["CART_ABANDONED"]).await;

    // Left with lines and an e-mail: announced.
    let ann = guest("abandon-ann");
    add(&server, &ann, "default", "MUG-LOGO", 2).await;
    let (cart_id, version) = with_email(&server, &ann, "ann@example.com").await;
    // Lines, no e-mail: never. An e-mail, no lines: never.
    let bob = guest("abandon-bob");
    add(&server, &bob, "default", "MUG-LOGO", 1).await;
    let cy = guest("abandon-cy");
    with_email(&server, &cy, "cy@example.com").await;
    // Lines and an e-mail, checked out before going idle: never.
    let dee = customer("abandon-dee");
    add(&server, &dee, "default", "MUG-LOGO", 1).await;
    with_email(&server, &dee, "dee@example.com").await;
    let checkout = "mutation { checkout(input: {idempotencyKey: \"abandon-dee\"}) { order { id } userErrors { code } } }";
    let done = server.data(Some(&dee), checkout, json!({})).await;
    assert_eq!(done["checkout"]["userErrors"], json!([]), "{done}");

    let got = hook
        .until("ann's cart", |got| {
            !about(got, "ann@example.com").is_empty()
        })
        .await;
    let first = about(&got, "ann@example.com")[0].clone();
    assert!(verifies(&secret, &first), "signed: {first:?}");
    assert_eq!(first.body["type"], "cart.abandoned");
    let cart = &first.body["data"]["cart"];
    assert_eq!(cart["id"], cart_id.as_str());
    assert_eq!(cart["version"], version);
    assert_eq!(cart["lines"][0]["sku"], "MUG-LOGO");
    assert_eq!(cart["lines"][0]["quantity"], 2);
    assert_eq!(cart["lines"][0]["variant"]["product"]["title"], "Logo mug");
    assert_eq!(cart["totalQuantity"], 2);
    assert_eq!(cart["cost"]["total"]["currencyCode"], "USD");
    let updated: chrono::DateTime<chrono::Utc> =
        cart["updatedAt"].as_str().unwrap().parse().unwrap();
    let announced: chrono::DateTime<chrono::Utc> =
        first.body["timestamp"].as_str().unwrap().parse().unwrap();
    // (The timestamp is in whole milliseconds.)
    let idle = (announced - updated).num_milliseconds();
    assert!(
        (2999..=3000).contains(&idle),
        "the event is when the cart went idle: {idle} ms"
    );

    // Once per version: a few more walks announce nothing new.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got = hook.got();
    assert_eq!(about(&got, "ann@example.com").len(), 1, "{got:#?}");
    for email in ["bob@example.com", "cy@example.com", "dee@example.com"] {
        assert!(about(&got, email).is_empty(), "{email}: {got:#?}");
    }
    assert_eq!(got.len(), 1, "only ann's cart: {got:#?}");

    // A new version left alone again is a new event (a new id).
    add(&server, &ann, "default", "STICKER-PACK", 1).await;
    let got = hook
        .until("ann's changed cart", |got| {
            about(got, "ann@example.com").len() >= 2
        })
        .await;
    let second = about(&got, "ann@example.com")[1].clone();
    assert_ne!(second.id, first.id);
    assert_eq!(
        second.body["data"]["cart"]["version"].as_i64().unwrap(),
        version + 1
    );
    assert_eq!(
        second.body["data"]["cart"]["lines"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The log names the cart.
    let log = deliveries(&server, &id).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    for delivery in &log {
        assert_eq!(delivery["event"], "CART_ABANDONED");
        assert_eq!(delivery["resourceId"], cart_id.as_str());
    }
}

#[tokio::test]
async fn carts_that_went_idle_while_nobody_listened_are_not_announced_later() {
    let hook = Hook::default();
    let url = hook.serve().await;
    let server =
        TestServer::spawn_with(&["--webhook-allow-insecure", "--abandoned-cart-after", "1s"]).await;
    // Idle, with nobody listening for abandoned carts (an order endpoint only).
    let early = guest("abandon-early");
    add(&server, &early, "default", "MUG-LOGO", 1).await;
    with_email(&server, &early, "early@example.com").await;
    let (_, _) = endpoint(&server, &url, &["ORDER_PLACED"]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Now someone listens: only carts that go idle from now on are heard of.
    endpoint(&server, &url, &["CART_ABANDONED"]).await;
    let late = guest("abandon-late");
    add(&server, &late, "default", "MUG-LOGO", 1).await;
    with_email(&server, &late, "late@example.com").await;
    hook.until("the late cart", |got| {
        !about(got, "late@example.com").is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = hook.got();
    let carts: Vec<&Value> = got
        .iter()
        .map(|r| &r.body["data"]["cart"]["buyerIdentity"]["email"])
        .collect();
    assert_eq!(carts, [&json!("late@example.com")], "{got:#?}");
}
