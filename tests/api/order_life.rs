//! Orders that move: placed → paid → fulfilled, cancelled with stock
//! returned once, the shop's admin-only view, and the buyer's live updates.

use crate::helpers::*;
use crate::sockets::{connect, next, send};
use serde_json::{Value, json};
use std::sync::Arc;

const ORDER: &str = "id status paymentReference trackingNumber trackingUrl cancelReason restocked events { status by note } buyerIdentity { email }";

async fn place(server: &TestServer, token: &str, sku: &str, quantity: i64, key: &str) -> String {
    add(server, token, "default", sku, quantity).await;
    let query = "mutation($key: String!) { checkout(input: {idempotencyKey: $key}) { order { id } userErrors { code } } }";
    let payload = server.data(Some(token), query, json!({ "key": key })).await["checkout"].clone();
    assert_eq!(codes(&payload), Vec::<String>::new(), "{payload}");
    payload["order"]["id"].as_str().unwrap().to_string()
}

async fn admin_move(server: &TestServer, token: &str, field: &str, input: Value) -> Value {
    let input_type = format!("{}{}Input!", field[..1].to_uppercase(), &field[1..]);
    let query = format!(
        "mutation($input: {input_type}) {{ {field}(input: $input) {{ order {{ {ORDER} }} userErrors {{ code field message }} }} }}"
    );
    server
        .gql(Some(token), &query, json!({ "input": input }))
        .await
}

async fn moved(server: &TestServer, field: &str, input: Value) -> Value {
    admin_move(server, &admin(), field, input).await["data"][field].clone()
}

async fn stock(server: &TestServer, sku: &str) -> i64 {
    let data = server
        .data(
            None,
            "query($sku: String!) { variant(sku: $sku) { stock } }",
            json!({ "sku": sku }),
        )
        .await;
    data["variant"]["stock"].as_i64().unwrap()
}

#[tokio::test]
async fn an_order_moves_placed_paid_fulfilled_and_the_buyer_sees_each_step() {
    let server = TestServer::spawn().await;
    let buyer = customer("ann");
    let id = place(&server, &buyer, "MUG-LOGO", 1, "k-1").await;

    let fulfilled_first = moved(&server, "markOrderFulfilled", json!({"orderId": id})).await;
    assert_eq!(codes(&fulfilled_first), ["INVALID_ORDER_TRANSITION"]);
    assert_eq!(fulfilled_first["order"]["status"], "PLACED");

    let paid = moved(
        &server,
        "markOrderPaid",
        json!({"orderId": id, "paymentReference": "pi_123"}),
    )
    .await;
    assert_eq!(codes(&paid), Vec::<String>::new(), "{paid}");
    assert_eq!(paid["order"]["status"], "PAID");
    assert_eq!(paid["order"]["paymentReference"], "pi_123");
    // Repeating the move it made is a no-op that returns the order.
    let again = moved(
        &server,
        "markOrderPaid",
        json!({"orderId": id, "paymentReference": "pi_other"}),
    )
    .await;
    assert_eq!(codes(&again), Vec::<String>::new());
    assert_eq!(again["order"], paid["order"]);

    let shipped = moved(
        &server,
        "markOrderFulfilled",
        json!({"orderId": id, "trackingNumber": "1Z999", "trackingUrl": "https://track.example/1Z999"}),
    )
    .await;
    assert_eq!(shipped["order"]["status"], "FULFILLED");
    assert_eq!(
        shipped["order"]["trackingUrl"],
        "https://track.example/1Z999"
    );
    let events: Vec<(String, String)> = shipped["order"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap().to_string(),
                e["by"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("PLACED".to_string(), "customer:ann".to_string()),
            ("PAID".to_string(), "root".to_string()),
            ("FULFILLED".to_string(), "root".to_string())
        ]
    );
    for (field, input) in [
        ("cancelOrder", json!({"orderId": id})),
        ("markOrderPaid", json!({"orderId": id})),
    ] {
        let refused = moved(&server, field, input).await;
        assert_eq!(codes(&refused), ["INVALID_ORDER_TRANSITION"], "{field}");
    }
    // The buyer reads the status; another buyer does not see the order.
    let mine = server
        .data(
            Some(&buyer),
            "query($id: ID!) { order(id: $id) { status trackingNumber } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        mine["order"],
        json!({"status": "FULFILLED", "trackingNumber": "1Z999"})
    );
    let theirs = server
        .data(
            Some(&customer("bob")),
            "query($id: ID!) { order(id: $id) { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(theirs["order"], json!(null));
}

#[tokio::test]
async fn bad_input_and_unknown_orders_are_user_errors() {
    let server = TestServer::spawn().await;
    let id = place(&server, &customer("ann"), "MUG-LOGO", 1, "k-1").await;
    let unknown = moved(
        &server,
        "markOrderPaid",
        json!({"orderId": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}),
    )
    .await;
    assert_eq!(codes(&unknown), ["ORDER_NOT_FOUND"]);
    assert_eq!(unknown["order"], json!(null));
    let garbage = moved(&server, "markOrderPaid", json!({"orderId": "not an id"})).await;
    assert_eq!(codes(&garbage), ["ORDER_NOT_FOUND"]);
    let long = moved(
        &server,
        "markOrderPaid",
        json!({"orderId": id, "paymentReference": "x".repeat(2001)}),
    )
    .await;
    assert_eq!(codes(&long), ["INVALID_ORDER_INPUT"]);
    assert_eq!(long["order"]["status"], "PLACED");
    let url = moved(&server, "markOrderPaid", json!({"orderId": id})).await;
    assert_eq!(codes(&url), Vec::<String>::new());
    let bad_url = moved(
        &server,
        "markOrderFulfilled",
        json!({"orderId": id, "trackingUrl": "javascript:alert(1)", "trackingNumber": "\u{7}"}),
    )
    .await;
    assert_eq!(
        codes(&bad_url),
        ["INVALID_ORDER_INPUT", "INVALID_ORDER_INPUT"]
    );
    assert_eq!(bad_url["order"]["status"], "PAID");
}

#[tokio::test]
async fn every_admin_order_field_is_refused_to_non_admins() {
    let server = TestServer::spawn().await;
    let id = place(&server, &customer("ann"), "MUG-LOGO", 1, "k-1").await;
    for token in [Some(customer("ann")), Some(guest("g")), None] {
        for (field, input) in [
            ("markOrderPaid", json!({"orderId": id})),
            ("markOrderFulfilled", json!({"orderId": id})),
            ("cancelOrder", json!({"orderId": id})),
        ] {
            let body = match &token {
                Some(token) => admin_move(&server, token, field, input).await,
                None => {
                    let query = format!(
                        "mutation {{ {field}(input: {{orderId: \"{id}\"}}) {{ order {{ id }} }} }}"
                    );
                    server.gql(None, &query, json!({})).await
                }
            };
            assert!(
                body["data"].is_null() || body["data"][field].is_null(),
                "{body}"
            );
            assert!(
                ["FORBIDDEN", "UNAUTHENTICATED"].contains(&error_code(&body)),
                "{body}"
            );
        }
        let t = token.as_deref();
        for query in [
            "{ adminOrders { edges { node { id } } } }",
            "{ adminOrder(id: \"01ARZ3NDEKTSV4RRFFQ69G5FAV\") { id } }",
        ] {
            let body = server.gql(t, query, json!({})).await;
            assert!(
                ["FORBIDDEN", "UNAUTHENTICATED"].contains(&error_code(&body)),
                "{body}"
            );
        }
    }
    let status = server
        .data(
            Some(&customer("ann")),
            "query($id: ID!) { order(id: $id) { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(status["order"]["status"], "PLACED");
}

#[tokio::test]
async fn concurrent_cancels_restock_exactly_once() {
    let server = Arc::new(TestServer::spawn().await);
    let before = stock(&server, "TEE-BLK-L").await;
    let id = place(&server, &customer("ann"), "TEE-BLK-L", 2, "k-1").await;
    assert_eq!(stock(&server, "TEE-BLK-L").await, before - 2);
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let (server, id) = (server.clone(), id.clone());
            tokio::spawn(async move {
                moved(
                    &server,
                    "cancelOrder",
                    json!({"orderId": id, "reason": "asked"}),
                )
                .await
            })
        })
        .collect();
    for task in tasks {
        let payload = task.await.unwrap();
        assert_eq!(codes(&payload), Vec::<String>::new(), "{payload}");
        assert_eq!(payload["order"]["status"], "CANCELLED");
    }
    assert_eq!(stock(&server, "TEE-BLK-L").await, before);
    let order = server
        .data(
            Some(&admin()),
            &format!("query($id: ID!) {{ adminOrder(id: $id) {{ {ORDER} }} }}"),
            json!({"id": id}),
        )
        .await;
    assert_eq!(order["adminOrder"]["events"].as_array().unwrap().len(), 2);
    assert_eq!(order["adminOrder"]["restocked"], true);
    // Without restock, the stock stays taken.
    let kept = place(&server, &customer("bob"), "TEE-BLK-L", 1, "k-2").await;
    moved(
        &server,
        "cancelOrder",
        json!({"orderId": kept, "restock": false}),
    )
    .await;
    assert_eq!(stock(&server, "TEE-BLK-L").await, before - 1);
}

#[tokio::test]
async fn admin_orders_lists_every_buyer_newest_first_with_filters() {
    let server = TestServer::spawn_with(&["--checkout-email", "optional"]).await;
    let mut ids = Vec::new();
    for (n, who) in ["ann", "bob", "cy"].iter().enumerate() {
        let token = customer(who);
        let query = "mutation($e: String) { updateCartBuyerIdentity(input: {buyerIdentity: {email: $e}}) { userErrors { code } } }";
        server
            .data(
                Some(&token),
                query,
                json!({"e": format!("{who}@example.com")}),
            )
            .await;
        ids.push(place(&server, &token, "STICKER-PACK", 1, &format!("k-{n}")).await);
    }
    moved(&server, "markOrderPaid", json!({"orderId": ids[1]})).await;
    let list = |args: &str| {
        let server = &server;
        let query = format!(
            "{{ adminOrders({args}) {{ edges {{ cursor node {{ id }} }} pageInfo {{ hasNextPage }} }} }}"
        );
        async move {
            let data = server.data(Some(&admin()), &query, json!({})).await;
            data["adminOrders"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list("first: 10").await,
        [ids[2].clone(), ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(list("status: PAID").await, [ids[1].clone()]);
    assert_eq!(
        list("status: PLACED").await,
        [ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(list("email: \"CY@example.com\"").await, [ids[2].clone()]);
    assert_eq!(list("email: \"not an email\"").await, Vec::<String>::new());
    assert_eq!(
        list(&format!("first: 1, after: \"{}\"", ids[2])).await,
        [ids[1].clone()]
    );
    assert_eq!(
        list("placedAfter: \"2999-01-01T00:00:00Z\"").await,
        Vec::<String>::new()
    );
    assert_eq!(
        list("placedBefore: \"2999-01-01T00:00:00Z\"").await.len(),
        3
    );
}

#[tokio::test]
async fn the_buyer_is_told_of_status_changes_of_their_own_orders_only() {
    let server = TestServer::spawn().await;
    let buyer = customer("ann");
    let id = place(&server, &buyer, "MUG-LOGO", 1, "k-1").await;
    let mut socket = connect(&server, json!({ "token": buyer })).await;
    let watch = "subscription($id: ID) { orderUpdated(id: $id) { id status events { status } } }";
    send(&mut socket, json!({"type": "subscribe", "id": "one", "payload": {"query": watch, "variables": {"id": id}}})).await;
    let first = next(&mut socket).await;
    assert_eq!(
        first["payload"]["data"]["orderUpdated"]["status"], "PLACED",
        "{first}"
    );
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "all", "payload": {"query": watch}}),
    )
    .await;
    // "all" sends nothing at first; once a new order reaches it, it listens.
    let mut listening = false;
    for n in 2..20 {
        place(&server, &buyer, "STICKER-PACK", 1, &format!("k-{n}")).await;
        if let Ok(Some(Ok(_))) = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            futures_util::StreamExt::next(&mut socket),
        )
        .await
        {
            listening = true;
            break;
        }
    }
    assert!(
        listening,
        "the all-orders subscription never saw a placement"
    );
    moved(&server, "markOrderPaid", json!({"orderId": id})).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let message = next(&mut socket).await;
        got.push((
            message["id"].as_str().unwrap().to_string(),
            message["payload"]["data"]["orderUpdated"]["status"]
                .as_str()
                .unwrap()
                .to_string(),
        ));
    }
    got.sort();
    assert_eq!(
        got,
        [
            ("all".to_string(), "PAID".to_string()),
            ("one".to_string(), "PAID".to_string())
        ]
    );

    // Someone else's order id is no order for them.
    let mut other = connect(&server, json!({ "token": customer("bob") })).await;
    send(&mut other, json!({"type": "subscribe", "id": "x", "payload": {"query": watch, "variables": {"id": id}}})).await;
    let refused = next(&mut other).await;
    assert_eq!(refused["payload"]["data"], json!(null), "{refused}");
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
}

#[tokio::test]
async fn cart_writes_never_wake_order_subscriptions_and_a_placement_does() {
    let server = crate::net::LoggedServer::spawn(
        &["--checkout-email", "optional"],
        "warn,cartql::graphql::subscription=trace",
        None,
    )
    .await;
    let buyer = customer("ann");
    let mut socket = crate::sockets::connect_at(&server.base, json!({ "token": buyer })).await;
    let watch = "subscription { orderUpdated { id status } }";
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "all", "payload": {"query": watch}}),
    )
    .await;
    // Placements until one reaches the subscription: then it listens.
    let buy = |n: usize| {
        format!(
            "mutation {{ checkoutLines(input: {{lines: [{{sku: \"STICKER-PACK\", quantity: 1}}], idempotencyKey: \"k-{n}\"}}) {{ order {{ id }} userErrors {{ code }} }} }}"
        )
    };
    let woken = || {
        server
            .log()
            .lines()
            .filter(|line| line.contains("order subscription woken by a change"))
            .count()
    };
    let mut listening = false;
    for n in 0..20 {
        server.data(Some(&buyer), &buy(n)).await;
        if let Ok(Some(Ok(_))) = tokio::time::timeout(
            std::time::Duration::from_millis(500),
            futures_util::StreamExt::next(&mut socket),
        )
        .await
        {
            listening = true;
            break;
        }
    }
    assert!(listening, "the subscription never saw a placement");
    let before = woken();
    for n in 0..20 {
        let note = format!(
            "mutation {{ updateCartNote(input: {{note: \"note {n}\"}}) {{ userErrors {{ code }} }} }}"
        );
        server.data(Some(&buyer), &note).await;
    }
    // A checkout of a client-held cart is placed: the subscription is told.
    let placed = server.data(Some(&buyer), &buy(99)).await["checkoutLines"].clone();
    let id = placed["order"]["id"].as_str().unwrap().to_string();
    let pushed = next(&mut socket).await;
    assert_eq!(
        pushed["payload"]["data"]["orderUpdated"],
        json!({"id": id, "status": "PLACED"})
    );
    assert_eq!(
        woken() - before,
        1,
        "20 note changes woke nothing; the placement woke it once"
    );
}

#[tokio::test]
async fn a_cancel_returns_only_the_units_checkout_took() {
    let server = TestServer::spawn().await;
    let buyer = customer("ann");
    // Bought while the stock was untracked, then the shop starts tracking it.
    let id = place(&server, &buyer, "STICKER-PACK", 3, "k-1").await;
    let update = "mutation { updateVariant(input: {sku: \"STICKER-PACK\", stock: 5}) { userErrors { code } } }";
    server.data(Some(&admin()), update, json!({})).await;
    let cancelled = moved(&server, "cancelOrder", json!({"orderId": id})).await;
    assert_eq!(cancelled["order"]["status"], "CANCELLED");
    assert_eq!(stock(&server, "STICKER-PACK").await, 5);
}

#[tokio::test]
async fn the_buyer_sees_that_the_shop_moved_the_order_not_who() {
    let server = TestServer::spawn().await;
    let buyer = customer("ann");
    let id = place(&server, &buyer, "MUG-LOGO", 1, "k-1").await;
    moved(&server, "markOrderPaid", json!({"orderId": id})).await;
    let mine = server
        .data(
            Some(&buyer),
            "query($id: ID!) { order(id: $id) { events { status by } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(
        mine["order"]["events"],
        json!([{"status": "PLACED", "by": "customer:ann"}, {"status": "PAID", "by": "shop"}])
    );
    let admins = server
        .data(
            Some(&admin()),
            "query($id: ID!) { adminOrder(id: $id) { events { by } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(admins["adminOrder"]["events"][1]["by"], "root");
}
