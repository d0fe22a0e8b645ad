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

    // 30 orders placed through the three instances, each paid through another.
    let checkout = "mutation($input: CheckoutLinesInput!) { checkoutLines(input: $input) { order { id } userErrors { code } } }";
    let placed = (0..30).map(|n| {
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
    for (n, order) in orders.iter().enumerate() {
        let done = instances[(n + 1) % 3]
            .data(Some(&admin()), pay, json!({ "id": order }))
            .await;
        assert_eq!(done["markOrderPaid"]["userErrors"], json!([]));
    }

    hook.until("60 events", |got| got.len() >= 60).await;
    // Time for a duplicate to show up, if one were coming.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = hook.got();
    assert_eq!(got.len(), 60, "each event once: {got:#?}");
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60);
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for received in &got {
        let order = received.body["data"]["order"]["id"].as_str().unwrap();
        let kind = received.body["type"].as_str().unwrap();
        seen.entry(order.to_string())
            .or_default()
            .push(kind.to_string());
    }
    assert_eq!(seen.len(), 30);
    for (order, kinds) in &seen {
        assert_eq!(kinds, &["order.placed", "order.paid"], "{order}");
    }
}
