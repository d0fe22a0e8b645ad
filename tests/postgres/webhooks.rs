//! Webhooks with three instances on one database: every instance runs the
//! relay, and still each event is handed out once and sent once, one
//! order's events in order.

use crate::helpers::*;
use crate::hook::Hook;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

#[tokio::test]
async fn three_instances_send_each_event_once_and_each_order_in_order() {
    let hook = Hook::default();
    let url = hook.serve().await;
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    let db = database.url();
    let instances = futures_util::future::join_all(
        (0..3).map(|_| TestServer::spawn_on(&db, &["--webhook-allow-insecure"])),
    )
    .await;
    let create = "mutation($url: String!) { createWebhookEndpoint(input: {url: $url, events: [ORDER_PLACED, ORDER_PAID]}) { userErrors { code } } }";
    let made = instances[0]
        .data(Some(&admin()), create, json!({ "url": url }))
        .await;
    assert_eq!(made["createWebhookEndpoint"]["userErrors"], json!([]));

    // 100 orders placed through the three instances, every fifth paid
    // through another.
    let checkout = "mutation($input: CheckoutLinesInput!) { checkoutLines(input: $input) { order { id } userErrors { code } } }";
    let placed = (0..100).map(|n| {
        let server = &instances[n % 3];
        async move {
            let input = json!({"lines": [{"sku": "STICKER-PACK", "quantity": 1}], "idempotencyKey": format!("k{n}")});
            let done = server
                .data(Some(&customer(&format!("wh{n}"))), checkout, json!({ "input": input }))
                .await;
            done["checkoutLines"]["order"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{done}"))
                .to_string()
        }
    });
    let orders: Vec<String> = futures_util::future::join_all(placed).await;
    let pay = "mutation($id: ID!) { markOrderPaid(input: {orderId: $id}) { userErrors { code } } }";
    for (n, order) in orders.iter().enumerate().step_by(5) {
        let done = instances[(n + 1) % 3]
            .data(Some(&admin()), pay, json!({ "id": order }))
            .await;
        assert_eq!(done["markOrderPaid"]["userErrors"], json!([]));
    }

    hook.until("120 events", |got| got.len() >= 120).await;
    // Time for a duplicate to show up, if one were coming.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = hook.got();
    assert_eq!(got.len(), 120, "each event once: {got:#?}");
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 120);
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for received in &got {
        let order = received.body["data"]["order"]["id"].as_str().unwrap();
        let kind = received.body["type"].as_str().unwrap();
        seen.entry(order.to_string())
            .or_default()
            .push(kind.to_string());
    }
    assert_eq!(seen.len(), 100);
    let placed = got.iter().filter(|r| r.body["type"] == "order.placed");
    assert_eq!(placed.count(), 100, "exactly one order.placed per order");
    for (n, order) in orders.iter().enumerate() {
        let kinds = &seen[order];
        match n % 5 {
            0 => assert_eq!(kinds, &["order.placed", "order.paid"], "{order}"),
            _ => assert_eq!(kinds, &["order.placed"], "{order}"),
        }
    }
}

#[tokio::test]
async fn an_instance_killed_mid_delivery_leaves_the_delivery_to_another() {
    let hook = Hook::default();
    hook.set_hang(true);
    let url = hook.serve().await;
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    let db = database.url();
    // A short claim: 2 s after an instance claimed a delivery and died,
    // another takes it over (the first is killed well within those 2 s).
    let args = ["--webhook-allow-insecure", "--webhook-lease", "2s"];
    let first = TestServer::spawn_on(&db, &args).await;
    let create = "mutation($url: String!) { createWebhookEndpoint(input: {url: $url, events: [ORDER_PLACED]}) { endpoint { id } userErrors { code } } }";
    let made = first
        .data(Some(&admin()), create, json!({ "url": url }))
        .await;
    let endpoint = made["createWebhookEndpoint"]["endpoint"]["id"].clone();
    let checkout = "mutation { checkoutLines(input: {lines: [{sku: \"STICKER-PACK\", quantity: 1}], idempotencyKey: \"mid\"}) { order { id } } }";
    let done = first
        .data(Some(&customer("mid-delivery")), checkout, json!({}))
        .await;
    let order = done["checkoutLines"]["order"]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The first instance's attempt is under way (the endpoint holds it): kill it.
    hook.until("the first attempt", |got| !got.is_empty()).await;
    first.kill().await;
    hook.set_hang(false);
    let second = TestServer::spawn_on(&db, &args).await;
    let got = hook
        .until("the second instance's attempt", |got| got.len() >= 2)
        .await;
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].id, got[1].id, "the same event, the same id");
    assert_eq!(got[1].body["data"]["order"]["id"], order.as_str());

    // The log: succeeded, with the one attempt that was recorded.
    let log = "query($endpoint: ID) { webhookDeliveries(endpointId: $endpoint, first: 10) { edges { node { status attempts { responseStatus } } } } }";
    let mut status = json!(null);
    for _ in 0..100 {
        let read = second
            .data(Some(&admin()), log, json!({ "endpoint": endpoint }))
            .await;
        status = read["webhookDeliveries"]["edges"][0]["node"].clone();
        if status["status"] == "SUCCEEDED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status["status"], "SUCCEEDED", "{status}");
    assert_eq!(status["attempts"], json!([{"responseStatus": 200}]));
}

#[tokio::test]
async fn three_instances_announce_each_abandoned_cart_once() {
    let hook = Hook::default();
    let url = hook.serve().await;
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    let db = database.url();
    let args = ["--webhook-allow-insecure", "--abandoned-cart-after", "2s"];
    let instances =
        futures_util::future::join_all((0..3).map(|_| TestServer::spawn_on(&db, &args))).await;
    let create = "mutation($url: String!) { createWebhookEndpoint(input: {url: $url, events: [CART_ABANDONED]}) { userErrors { code } } }";
    let made = instances[0]
        .data(Some(&admin()), create, json!({ "url": url }))
        .await;
    assert_eq!(made["createWebhookEndpoint"]["userErrors"], json!([]));

    // 30 carts with an e-mail, written through the three instances.
    let email = "mutation($email: String!) { updateCartBuyerIdentity(input: {buyerIdentity: {email: $email}}) { userErrors { code } } }";
    for n in 0..30 {
        let server = &instances[n % 3];
        let token = guest(&format!("abandon-{n}"));
        add(server, &token, "default", "STICKER-PACK", 1).await;
        let done = server
            .data(
                Some(&token),
                email,
                json!({ "email": format!("buyer{n}@example.com") }),
            )
            .await;
        assert_eq!(done["updateCartBuyerIdentity"]["userErrors"], json!([]));
    }
    hook.until("30 abandoned carts", |got| got.len() >= 30)
        .await;
    // Several walks later, still one each.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got = hook.got();
    assert_eq!(got.len(), 30, "each cart once: {got:#?}");
    let mut emails: Vec<&str> = got
        .iter()
        .map(|r| {
            r.body["data"]["cart"]["buyerIdentity"]["email"]
                .as_str()
                .unwrap()
        })
        .collect();
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), 30);
}
