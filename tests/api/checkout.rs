//! Checkout: atomic orders, idempotency keys, client-held carts, races,
//! crashes and expiry.

use crate::helpers::*;
use crate::shop::{ORDER, checkout, checkout_query, stock};
use serde_json::{Value, json};
use std::sync::Arc;

async fn create_product(server: &TestServer, sku: &str, stock: i64) {
    let query = "mutation($handle: String!, $sku: String!, $stock: Int) { upsertProduct(input: {handle: $handle, title: \"Limited\", variants: [{sku: $sku, price: \"5.00\", stock: $stock}]}) { userErrors { code } } }";
    let handle = sku
        .to_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "-");
    let data = server
        .data(
            Some(&admin()),
            query,
            json!({ "handle": handle, "sku": sku, "stock": stock }),
        )
        .await;
    assert_eq!(data["upsertProduct"]["userErrors"], json!([]));
}

async fn order_count(server: &TestServer, token: &str) -> usize {
    let data = server
        .data(
            Some(token),
            "{ orders(first: 100) { nodes { id } } }",
            json!({}),
        )
        .await;
    data["orders"]["nodes"].as_array().unwrap().len()
}

#[tokio::test]
async fn checkout_turns_the_cart_into_an_order_and_takes_the_stock() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 2).await;
    add(&server, &token, "default", "STICKER-PACK", 3).await;
    let payload = checkout(&server, &token, "k-1").await;
    assert_eq!(codes(&payload), Vec::<String>::new());
    let order = &payload["order"];
    assert_eq!(order["status"], "PLACED");
    assert_eq!(
        order["lines"],
        json!([
            {"sku": "MUG-LOGO", "title": "Logo mug", "quantity": 2, "unitPrice": {"amount": "9.50"}, "lineTotal": {"amount": "19.00"}},
            {"sku": "STICKER-PACK", "title": "Sticker pack", "quantity": 3, "unitPrice": {"amount": "4.00"}, "lineTotal": {"amount": "12.00"}}
        ])
    );
    assert_eq!(
        order["subtotal"],
        json!({"amount": "31.00", "currencyCode": "USD"})
    );
    assert_eq!(order["total"]["amount"], "31.00");
    assert_eq!(
        (order["cartName"].clone(), order["cartVersion"].clone()),
        (json!("default"), json!(2))
    );
    assert_eq!(payload["cart"], json!({"version": 3, "lines": []}));
    assert_eq!(stock(&server, "MUG-LOGO").await, 38);
    assert_eq!(
        stock(&server, "STICKER-PACK").await,
        json!(null),
        "untracked stock stays untracked"
    );

    let id = order["id"].as_str().unwrap();
    let fetched = server
        .data(
            Some(&token),
            &format!("query($id: ID!) {{ order(id: $id) {{ {ORDER} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(&fetched["order"], order);
    let stranger = server
        .data(
            Some(&customer("bob")),
            "query($id: ID!) { order(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        stranger["order"],
        json!(null),
        "someone else's order looks like no order"
    );

    // The snapshot does not follow later price changes.
    server.data(Some(&admin()), "mutation { updateVariant(input: {sku: \"MUG-LOGO\", price: \"1.00\"}) { userErrors { code } } }", json!({})).await;
    let again = server
        .data(
            Some(&token),
            "query($id: ID!) { order(id: $id) { lines { unitPrice { amount } } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(again["order"]["lines"][0]["unitPrice"]["amount"], "9.50");
}

#[tokio::test]
async fn a_failed_checkout_names_the_lines_and_writes_nothing() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    let empty = checkout(&server, &token, "k-empty").await;
    assert_eq!(codes(&empty), ["CART_EMPTY"]);

    add(&server, &token, "default", "TEE-BLK-L", 3).await;
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    server.data(Some(&admin()), "mutation { adjustStock(input: {sku: \"TEE-BLK-L\", delta: -2}) { userErrors { code } } }", json!({})).await;
    server.data(Some(&admin()), "mutation { updateVariant(input: {sku: \"MUG-LOGO\", active: false}) { userErrors { code } } }", json!({})).await;
    let payload = checkout(&server, &token, "k-2").await;
    assert_eq!(codes(&payload), ["INSUFFICIENT_STOCK", "PRODUCT_INACTIVE"]);
    assert_eq!(
        payload["userErrors"][0]["field"],
        json!(["lines", "0", "quantity"])
    );
    assert!(
        payload["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("TEE-BLK-L: 1 available, 3 wanted")
    );
    assert!(
        payload["userErrors"][1]["message"]
            .as_str()
            .unwrap()
            .contains("MUG-LOGO")
    );
    assert_eq!(payload["order"], json!(null));
    assert_eq!(
        payload["cart"],
        json!({"version": 2, "lines": [{"sku": "TEE-BLK-L", "quantity": 3}, {"sku": "MUG-LOGO", "quantity": 1}]})
    );
    assert_eq!(stock(&server, "TEE-BLK-L").await, 1);
    assert_eq!(order_count(&server, &token).await, 0);

    // The key was not consumed by the failure: fixing the cart and retrying works.
    let fix = "mutation { updateCartLines(input: {lines: [{id: \"1-0\", quantity: 1}, {id: \"2-0\", quantity: 0}]}) { userErrors { code } } }";
    server.data(Some(&token), fix, json!({})).await;
    let retried = checkout(&server, &token, "k-2").await;
    assert_eq!(codes(&retried), Vec::<String>::new());
    assert_eq!(stock(&server, "TEE-BLK-L").await, 0);
}

#[tokio::test]
async fn a_stale_expected_version_refuses_the_checkout() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    let payload = server
        .data(
            Some(&token),
            &checkout_query(),
            json!({ "key": "k", "v": 1 }),
        )
        .await["checkout"]
        .clone();
    assert_eq!(codes(&payload), ["VERSION_CONFLICT"]);
    assert_eq!(payload["cart"]["version"], 2);
    let ok = server
        .data(
            Some(&token),
            &checkout_query(),
            json!({ "key": "k", "v": 2 }),
        )
        .await["checkout"]
        .clone();
    assert_eq!(codes(&ok), Vec::<String>::new());
    assert_eq!(ok["order"]["cartVersion"], 2);
}

#[tokio::test]
async fn the_same_key_returns_the_first_order_and_another_request_with_it_is_refused() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 2).await;
    let first = checkout(&server, &token, "same-key").await;
    let retry = checkout(&server, &token, "same-key").await;
    assert_eq!(first, retry);
    assert_eq!(stock(&server, "MUG-LOGO").await, 38);
    assert_eq!(order_count(&server, &token).await, 1);

    add(&server, &token, "wishlist", "MUG-LOGO", 1).await;
    let other = server
        .data(
            Some(&token),
            &checkout_query(),
            json!({ "key": "same-key", "cart": "wishlist" }),
        )
        .await["checkout"]
        .clone();
    assert_eq!(codes(&other), ["IDEMPOTENCY_KEY_REUSED"]);
    assert_eq!(other["order"], json!(null));

    // Keys belong to a viewer: bob's "same-key" is his own.
    let bob = customer("bob");
    add(&server, &bob, "default", "MUG-LOGO", 1).await;
    let bobs = checkout(&server, &bob, "same-key").await;
    assert_eq!(codes(&bobs), Vec::<String>::new());
    assert_ne!(bobs["order"]["id"], first["order"]["id"]);

    for bad in ["", "has space", &"k".repeat(256)] {
        let payload = checkout(&server, &token, bad).await;
        assert_eq!(codes(&payload), ["INVALID_IDEMPOTENCY_KEY"], "{bad:?}");
    }
}

#[tokio::test]
async fn checkout_lines_buys_a_client_held_cart_at_server_prices() {
    let server = TestServer::spawn().await;
    let token = guest("g-1");
    let query = format!(
        "mutation($lines: [CartLineInput!]!, $key: String!) {{ checkoutLines(input: {{lines: $lines, idempotencyKey: $key, buyerIdentity: {{email: \"g@example.com\"}}}}) {{ order {{ {ORDER} }} cart {{ version }} userErrors {{ code field }} }} }}"
    );
    let lines = json!([{"sku": "HOODIE-GRY-M", "quantity": 2}, {"sku": "STICKER-PACK", "quantity": 1}, {"sku": "HOODIE-GRY-M", "quantity": 1}]);
    let payload = server
        .data(
            Some(&token),
            &query,
            json!({ "lines": lines, "key": "cl-1" }),
        )
        .await["checkoutLines"]
        .clone();
    assert_eq!(codes(&payload), Vec::<String>::new());
    assert_eq!(payload["order"]["subtotal"]["amount"], "151.00");
    assert_eq!(payload["order"]["lines"][0]["quantity"], 3);
    assert_eq!(payload["order"]["cartName"], json!(null));
    assert_eq!(payload["cart"], json!(null));
    assert_eq!(stock(&server, "HOODIE-GRY-M").await, 7);
    let retry = server
        .data(
            Some(&token),
            &query,
            json!({ "lines": lines, "key": "cl-1" }),
        )
        .await["checkoutLines"]
        .clone();
    assert_eq!(retry, payload);
    let changed = server
        .data(
            Some(&token),
            &query,
            json!({ "lines": [{"sku": "HOODIE-GRY-M", "quantity": 1}], "key": "cl-1" }),
        )
        .await;
    assert_eq!(codes(&changed["checkoutLines"]), ["IDEMPOTENCY_KEY_REUSED"]);

    let bad = server.data(Some(&token), &query, json!({ "lines": [{"sku": "NOPE", "quantity": 1}, {"sku": "CAP-RED", "quantity": 1}, {"sku": "MUG-LOGO", "quantity": 0}], "key": "cl-2" })).await;
    assert_eq!(
        codes(&bad["checkoutLines"]),
        ["UNKNOWN_SKU", "INVALID_QUANTITY"]
    );
    let sold_out = server
        .data(
            Some(&token),
            &query,
            json!({ "lines": [{"sku": "CAP-RED", "quantity": 1}], "key": "cl-3" }),
        )
        .await;
    assert_eq!(codes(&sold_out["checkoutLines"]), ["OUT_OF_STOCK"]);
    let nothing = server
        .data(Some(&token), &query, json!({ "lines": [], "key": "cl-4" }))
        .await;
    assert_eq!(codes(&nothing["checkoutLines"]), ["CART_EMPTY"]);
    let anonymous = server
        .gql(None, &query, json!({ "lines": lines, "key": "cl-5" }))
        .await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
}

#[tokio::test]
async fn add_cart_lines_with_a_key_adds_once() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    let query = "mutation($key: String!, $q: Int!) { addCartLines(input: {lines: [{sku: \"MUG-LOGO\", quantity: $q}], idempotencyKey: $key}) { cart { version lines { quantity } } userErrors { code } } }";
    let first = server
        .data(Some(&token), query, json!({ "key": "a-1", "q": 2 }))
        .await;
    let retry = server
        .data(Some(&token), query, json!({ "key": "a-1", "q": 2 }))
        .await;
    assert_eq!(first, retry);
    assert_eq!(
        first["addCartLines"]["cart"],
        json!({"version": 1, "lines": [{"quantity": 2}]})
    );
    let other = server
        .data(Some(&token), query, json!({ "key": "a-1", "q": 3 }))
        .await;
    assert_eq!(codes(&other["addCartLines"]), ["IDEMPOTENCY_KEY_REUSED"]);
    assert_eq!(
        other["addCartLines"]["cart"]["lines"],
        json!([{"quantity": 2}])
    );
    let next = server
        .data(Some(&token), query, json!({ "key": "a-2", "q": 1 }))
        .await;
    assert_eq!(
        next["addCartLines"]["cart"],
        json!({"version": 2, "lines": [{"quantity": 3}]})
    );
}

#[tokio::test]
async fn orders_are_listed_newest_first_a_page_at_a_time() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    let mut ids = Vec::new();
    for i in 0..5 {
        add(&server, &token, "default", "STICKER-PACK", i + 1).await;
        ids.push(
            checkout(&server, &token, &format!("k-{i}")).await["order"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    ids.reverse();
    let page = "query($after: String) { orders(first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { id lines { quantity } } } }";
    let mut seen = Vec::new();
    let mut after = json!(null);
    loop {
        let data = server
            .data(Some(&token), page, json!({ "after": after }))
            .await;
        seen.extend(
            data["orders"]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap().to_string()),
        );
        if !data["orders"]["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = data["orders"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ids);
    // Ids are global; the bare ULID inside one (what older versions showed)
    // is taken as a cursor and an order id too, in either case: the page
    // after it does not start with the cursor's own order.
    assert!(
        ids.iter().all(|id| id.starts_with("gid://cartql/Order/")),
        "{ids:?}"
    );
    let lower = ids[1].rsplit('/').next().unwrap().to_lowercase();
    let data = server
        .data(Some(&token), page, json!({ "after": lower }))
        .await;
    let next: Vec<&str> = data["orders"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(next, [ids[2].as_str(), ids[3].as_str()]);
    let one = "query($id: ID!) { order(id: $id) { id } }";
    let data = server.data(Some(&token), one, json!({ "id": lower })).await;
    assert_eq!(data["order"]["id"], ids[1].as_str());
    let body = server
        .gql(
            Some(&token),
            "{ orders(first: 0) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    let body = server
        .gql(
            Some(&token),
            "{ orders(after: \"nope\") { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert_eq!(
        server
            .data(
                Some(&token),
                "{ order(id: \"not-an-id\") { id } }",
                json!({})
            )
            .await["order"],
        json!(null)
    );
}

#[tokio::test]
async fn fifty_buyers_for_the_last_ten_units_make_exactly_ten_orders() {
    let server = Arc::new(TestServer::spawn().await);
    create_product(&server, "LAST-10", 10).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let token = customer(&format!("buyer-{i}"));
            add(&server, &token, "default", "LAST-10", 1).await;
            checkout(&server, &token, "buy").await
        }));
    }
    let (mut placed, mut sold_out) = (0, 0);
    for task in tasks {
        let payload = task.await.unwrap();
        match codes(&payload).as_slice() {
            [] => placed += 1,
            [code] if code == "OUT_OF_STOCK" => sold_out += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((placed, sold_out), (10, 40));
    assert_eq!(stock(&server, "LAST-10").await, 0);
}

#[tokio::test]
async fn twenty_concurrent_retries_with_one_key_place_one_order() {
    let server = Arc::new(TestServer::spawn().await);
    create_product(&server, "ONE-KEY", 100).await;
    let token = customer("ann");
    add(&server, &token, "default", "ONE-KEY", 3).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (server, token) = (server.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            checkout(&server, &token, "retry-key").await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert_eq!(codes(&answers[0]), Vec::<String>::new());
    assert!(
        answers.iter().all(|a| a == &answers[0]),
        "all 20 answers are identical"
    );
    assert_eq!(stock(&server, "ONE-KEY").await, 97);
    assert_eq!(order_count(&server, &token).await, 1);
}

#[tokio::test]
async fn a_checkout_racing_adds_orders_a_cart_version_that_existed() {
    let server = Arc::new(TestServer::spawn().await);
    let token = customer("ann");
    add(&server, &token, "default", "STICKER-PACK", 1).await; // version 1 holds 1 unit; version k holds k
    let mut adds = Vec::new();
    for _ in 0..20 {
        let (server, token) = (server.clone(), token.clone());
        adds.push(tokio::spawn(async move {
            add(&server, &token, "default", "STICKER-PACK", 1).await
        }));
    }
    let order = checkout(&server, &token, "race").await["order"].clone();
    for task in adds {
        assert_eq!(codes(&task.await.unwrap()), Vec::<String>::new());
    }
    let version = order["cartVersion"].as_u64().unwrap();
    let bought = order["lines"][0]["quantity"].as_u64().unwrap();
    assert_eq!(
        bought, version,
        "the order holds exactly what cart version {version} held"
    );
    let left = server
        .data(Some(&token), "{ cart { lines { quantity } } }", json!({}))
        .await;
    let left = left["cart"]["lines"]
        .as_array()
        .unwrap()
        .first()
        .map_or(0, |l| l["quantity"].as_u64().unwrap());
    assert_eq!(bought + left, 21, "no unit is lost or counted twice");
}

#[tokio::test]
async fn kill_9_during_checkouts_leaves_each_order_whole_or_absent() {
    let server = Arc::new(TestServer::spawn().await);
    create_product(&server, "CRASH", 1000).await;
    let buyers: Vec<String> = (0..30).map(|i| customer(&format!("crash-{i}"))).collect();
    for token in &buyers {
        add(&server, token, "default", "CRASH", 2).await;
    }
    let first_ack = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for token in buyers.clone() {
        let (server, first_ack) = (server.clone(), first_ack.clone());
        tasks.push(tokio::spawn(async move {
            let response = server
                .try_post(
                    Some(&token),
                    json!({ "query": checkout_query(), "variables": { "key": "crash" } }),
                )
                .await
                .ok()?;
            let body: Value = response.json().await.ok()?;
            let id = body["data"]["checkout"]["order"]["id"]
                .as_str()
                .map(str::to_string);
            first_ack.notify_one();
            id
        }));
    }
    // Kill as soon as one checkout is acknowledged: the rest are in flight.
    tokio::time::timeout(std::time::Duration::from_secs(20), first_ack.notified())
        .await
        .expect("a checkout completes");
    server.send_kill();
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.push(task.await.unwrap());
    }
    let server = Arc::try_unwrap(server).unwrap_or_else(|_| panic!("no other handle"));
    let dir = server.dir.clone();
    let temp = server.kill().await;
    let placed_before_crash = acknowledged.iter().flatten().count();
    eprintln!("{placed_before_crash} of 30 checkouts were acknowledged before the kill");

    let again = TestServer::spawn_in(&dir, &[]).await;
    let mut ordered_units = 0;
    for (token, ack) in buyers.iter().zip(&acknowledged) {
        let data = again
            .data(
                Some(token),
                "{ orders { nodes { id lines { quantity } } } cart { lines { quantity } } }",
                json!({}),
            )
            .await;
        let orders = data["orders"]["nodes"].as_array().unwrap();
        let cart_units: u64 = data["cart"]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["quantity"].as_u64().unwrap())
            .sum();
        match orders.as_slice() {
            [] => {
                assert!(
                    ack.is_none(),
                    "an acknowledged order must survive the crash"
                );
                assert_eq!(cart_units, 2, "no order: the cart is intact");
            }
            [order] => {
                if let Some(id) = ack {
                    assert_eq!(order["id"], json!(id));
                }
                assert_eq!(order["lines"][0]["quantity"], 2);
                assert_eq!(cart_units, 0, "an order: the cart was cleared with it");
                ordered_units += 2;
            }
            more => panic!("{} orders for one checkout", more.len()),
        }
    }
    assert_eq!(
        stock(&again, "CRASH").await,
        json!(1000 - ordered_units),
        "stock moved exactly with the orders"
    );
    eprintln!("{} orders found after the restart", ordered_units / 2);
    assert!(placed_before_crash >= 1);
    drop(temp);
}

#[tokio::test]
async fn a_retry_gets_its_first_answer_even_after_the_product_went_inactive() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    let lines_query = "mutation($key: String!) { checkoutLines(input: {lines: [{sku: \"MUG-LOGO\", quantity: 1}], idempotencyKey: $key}) { order { id } userErrors { code } } }";
    let first = server
        .data(Some(&token), lines_query, json!({ "key": "lines-retry" }))
        .await;
    let add_query = "mutation($key: String!) { addCartLines(input: {lines: [{sku: \"MUG-LOGO\", quantity: 1}], idempotencyKey: $key}) { cart { version lines { quantity } } userErrors { code } } }";
    let added = server
        .data(Some(&token), add_query, json!({ "key": "add-retry" }))
        .await;
    server.data(Some(&admin()), "mutation { updateVariant(input: {sku: \"MUG-LOGO\", active: false}) { userErrors { code } } }", json!({})).await;

    let retried = server
        .data(Some(&token), lines_query, json!({ "key": "lines-retry" }))
        .await;
    assert_eq!(retried, first);
    let re_added = server
        .data(Some(&token), add_query, json!({ "key": "add-retry" }))
        .await;
    assert_eq!(re_added, added);
    let fresh = server
        .data(Some(&token), add_query, json!({ "key": "add-new" }))
        .await;
    assert_eq!(codes(&fresh["addCartLines"]), ["PRODUCT_INACTIVE"]);
    assert_eq!(stock(&server, "MUG-LOGO").await, 39);
}

#[tokio::test]
async fn idempotency_keys_are_capped_per_viewer() {
    let server = TestServer::spawn_with(&["--max-idempotency-keys-per-viewer", "10"]).await;
    let token = guest("keys");
    let query = "mutation($key: String!) { addCartLines(input: {lines: [{sku: \"STICKER-PACK\", quantity: 1}], idempotencyKey: $key}) { cart { version lines { quantity } } userErrors { code field } } }";
    for i in 0..10 {
        let body = server
            .data(Some(&token), query, json!({ "key": format!("k{i}") }))
            .await;
        assert!(codes(&body["addCartLines"]).is_empty(), "{body}");
    }
    let over = server
        .data(Some(&token), query, json!({ "key": "k10" }))
        .await;
    assert_eq!(codes(&over["addCartLines"]), ["THROTTLED"]);
    assert_eq!(
        over["addCartLines"]["userErrors"][0]["field"],
        json!(["idempotencyKey"])
    );
    assert_eq!(over["addCartLines"]["cart"]["lines"][0]["quantity"], 10);
    // A retry of a recorded key is still answered, and changes nothing.
    let retry = server
        .data(Some(&token), query, json!({ "key": "k3" }))
        .await;
    assert!(codes(&retry["addCartLines"]).is_empty(), "{retry}");
    assert_eq!(retry["addCartLines"]["cart"]["lines"][0]["quantity"], 10);
    // Checkout keys count too; a refused checkout changes nothing.
    let refused = checkout(&server, &token, "c1").await;
    assert_eq!(codes(&refused), ["THROTTLED"]);
    let orders = server
        .data(Some(&token), "{ orders { nodes { id } } }", json!({}))
        .await;
    assert_eq!(orders["orders"]["nodes"], json!([]));
    assert_eq!(refused["cart"]["lines"][0]["quantity"], 10);
    // Another viewer has its own allowance.
    let other = server
        .data(Some(&guest("other")), query, json!({ "key": "k0" }))
        .await;
    assert!(codes(&other["addCartLines"]).is_empty(), "{other}");
    // Forgetting keys after their lifetime is tested in-process, on a clock
    // the test moves (src/graphql/tests/idempotency.rs).
}
