//! Webhooks, black-box: an endpoint served by the test hears of an order's
//! life in order, signed (Standard Webhooks); failures are retried on the
//! schedule without holding back other orders; refused and replayed
//! checkouts announce nothing; internal addresses are refused. On both
//! backends.

use crate::helpers::*;
use crate::hook::{Hook, Received, verifies};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use std::time::Duration;

const CREATE: &str = "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id url events active } secret userErrors { code field message } } }";
const DELIVERIES: &str = "query($endpoint: ID, $status: WebhookDeliveryStatus) { webhookDeliveries(endpointId: $endpoint, status: $status, first: 100) { edges { node { id eventId event resourceId sequence status attempts { responseStatus error durationMs } nextAttemptAt } } } }";
const ALL_ORDER_EVENTS: [&str; 4] = [
    "ORDER_PLACED",
    "ORDER_PAID",
    "ORDER_FULFILLED",
    "ORDER_CANCELLED",
];

/// Registers `url`; its id and secret.
pub(crate) async fn endpoint(server: &TestServer, url: &str, events: &[&str]) -> (String, String) {
    let done = server
        .data(
            Some(&admin()),
            CREATE,
            json!({"input": {"url": url, "events": events}}),
        )
        .await["createWebhookEndpoint"]
        .clone();
    assert_eq!(done["userErrors"], json!([]), "{done}");
    (
        done["endpoint"]["id"].as_str().unwrap().to_string(),
        done["secret"].as_str().unwrap().to_string(),
    )
}

async fn place(server: &TestServer, token: &str, sku: &str, key: &str) -> Value {
    add(server, token, "default", sku, 1).await;
    let query = "mutation($key: String!) { checkout(input: {idempotencyKey: $key}) { order { id } userErrors { code } } }";
    server.data(Some(token), query, json!({ "key": key })).await["checkout"].clone()
}

async fn placed(server: &TestServer, token: &str, sku: &str, key: &str) -> String {
    let payload = place(server, token, sku, key).await;
    assert_eq!(codes(&payload), Vec::<String>::new(), "{payload}");
    payload["order"]["id"].as_str().unwrap().to_string()
}

async fn admin_move(server: &TestServer, field: &str, input: Value) {
    let input_type = format!("{}{}Input!", field[..1].to_uppercase(), &field[1..]);
    let query = format!(
        "mutation($input: {input_type}) {{ {field}(input: $input) {{ userErrors {{ code }} }} }}"
    );
    let done = server
        .data(Some(&admin()), &query, json!({ "input": input }))
        .await;
    assert_eq!(done[field]["userErrors"], json!([]), "{done}");
}

/// The log once `n` deliveries of `endpoint` are no longer pending (the
/// relay records an attempt just after the endpoint answers it).
async fn settled(server: &TestServer, endpoint: &str, n: usize) -> Vec<Value> {
    let mut log = Vec::new();
    for _ in 0..300 {
        log = deliveries(server, endpoint).await;
        if log.iter().filter(|d| d["status"] != "PENDING").count() >= n {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{n} deliveries did not settle: {log:#?}");
}

pub(crate) async fn deliveries(server: &TestServer, endpoint: &str) -> Vec<Value> {
    let read = server
        .data(Some(&admin()), DELIVERIES, json!({"endpoint": endpoint}))
        .await;
    read["webhookDeliveries"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn types_of(got: &[Received], order: &str) -> Vec<String> {
    got.iter()
        .filter(|r| r.body["data"]["order"]["id"] == order)
        .map(|r| r.body["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn an_order_is_heard_of_placed_paid_fulfilled_in_order_each_signed() {
    let hook = Hook::default();
    let url = hook.serve().await;
    let server = TestServer::spawn_with(&["--webhook-allow-insecure"]).await;
    let (id, secret) = endpoint(&server, &url, &ALL_ORDER_EVENTS).await;
    assert!(secret.starts_with("whsec_") && STANDARD.decode(&secret[6..]).unwrap().len() == 32);

    let buyer = customer("webhook-ann");
    let order = placed(&server, &buyer, "MUG-LOGO", "wh-1").await;
    admin_move(
        &server,
        "markOrderPaid",
        json!({"orderId": order, "paymentReference": "pi_1"}),
    )
    .await;
    admin_move(
        &server,
        "markOrderFulfilled",
        json!({"orderId": order, "trackingNumber": "1Z"}),
    )
    .await;
    let got = hook.until("three events", |got| got.len() >= 3).await;
    assert_eq!(
        types_of(&got, &order),
        ["order.placed", "order.paid", "order.fulfilled"]
    );
    for received in &got {
        assert!(verifies(&secret, received), "signature of {received:?}");
        assert!(received.id.starts_with("evt_"), "{}", received.id);
        let at: i64 = received.timestamp.parse().unwrap();
        assert!((at - now()).abs() < 120, "timestamp {at}");
    }
    // The body is the order as adminOrder shows it, at that moment.
    let paid = &got[1].body;
    assert_eq!(paid["data"]["order"]["status"], "PAID");
    assert_eq!(paid["data"]["order"]["paymentReference"], "pi_1");
    assert_eq!(paid["data"]["order"]["lines"][0]["sku"], "MUG-LOGO");
    assert_eq!(
        paid["data"]["order"]["cost"]["total"]["currencyCode"],
        "USD"
    );
    assert!(paid["timestamp"].as_str().unwrap().ends_with('Z'));
    let ids: std::collections::HashSet<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "one id per event");

    // The log: three succeeded deliveries, one attempt each, numbered 1, 2, 3.
    let log = settled(&server, &id, 3).await;
    assert_eq!(log.len(), 3, "{log:#?}");
    let mut sequences: Vec<i64> = log
        .iter()
        .map(|d| d["sequence"].as_i64().unwrap())
        .collect();
    sequences.sort();
    assert_eq!(sequences, [1, 2, 3]);
    for d in &log {
        assert_eq!(d["status"], "SUCCEEDED", "{d}");
        assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
        assert_eq!(d["attempts"][0]["responseStatus"], 200);
        assert_eq!(d["resourceId"], order.as_str());
    }

    // Pages: two, then the third after the cursor, newest first.
    let page = "query($endpoint: ID, $after: String) { webhookDeliveries(endpointId: $endpoint, first: 2, after: $after) { edges { cursor node { sequence } } pageInfo { hasNextPage } } }";
    let first = server
        .data(Some(&admin()), page, json!({"endpoint": id}))
        .await["webhookDeliveries"]
        .clone();
    assert_eq!(first["pageInfo"]["hasNextPage"], true, "{first}");
    let cursor = first["edges"][1]["cursor"].clone();
    let rest = server
        .data(
            Some(&admin()),
            page,
            json!({"endpoint": id, "after": cursor}),
        )
        .await["webhookDeliveries"]
        .clone();
    assert_eq!(rest["pageInfo"]["hasNextPage"], false, "{rest}");
    let sequences: Vec<i64> = first["edges"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["edges"].as_array().unwrap())
        .map(|e| e["node"]["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(sequences, [3, 2, 1]);

    // A cancel of another order is heard of too.
    let other = placed(&server, &buyer, "MUG-LOGO", "wh-2").await;
    admin_move(
        &server,
        "cancelOrder",
        json!({"orderId": other, "reason": "asked"}),
    )
    .await;
    let got = hook.until("the cancel", |got| got.len() >= 5).await;
    assert_eq!(types_of(&got, &other), ["order.placed", "order.cancelled"]);
}

#[tokio::test]
async fn a_failing_event_is_retried_and_holds_back_only_its_own_order() {
    let hook = Hook::default();
    let url = hook.serve().await;
    let (server, lines) = TestServer::spawn_with_lines(
        &[
            "--webhook-allow-insecure",
            "--webhook-retry-schedule",
            "1s,1s,1s,1s",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        1,
    )
    .await;
    let metrics = lines[0]
        .strip_prefix("cartql metrics on ")
        .unwrap()
        .to_string();
    let (id, _) = endpoint(&server, &url, &ALL_ORDER_EVENTS).await;
    let buyer = customer("webhook-bob");
    hook.fail("MUG-LOGO", &[500, 500, 500]);
    let failing = placed(&server, &buyer, "MUG-LOGO", "wh-fail").await;
    admin_move(&server, "markOrderPaid", json!({"orderId": failing})).await;
    let fine = placed(&server, &buyer, "STICKER-PACK", "wh-fine").await;
    admin_move(&server, "markOrderPaid", json!({"orderId": fine})).await;

    let got = hook
        .until("both orders' events delivered", |got| {
            got.iter().filter(|r| r.answered == 200).count() >= 4
        })
        .await;
    // The failing order: placed three times refused, then accepted, and only then paid.
    assert_eq!(
        types_of(&got, &failing),
        [
            "order.placed",
            "order.placed",
            "order.placed",
            "order.placed",
            "order.paid"
        ]
    );
    let statuses: Vec<u16> = got
        .iter()
        .filter(|r| r.body["data"]["order"]["id"] == failing.as_str())
        .map(|r| r.answered)
        .collect();
    assert_eq!(statuses, [500, 500, 500, 200, 200]);
    // The same event id on every attempt.
    let placed_ids: Vec<&str> = got
        .iter()
        .filter(|r| {
            r.body["data"]["order"]["id"] == failing.as_str() && r.body["type"] == "order.placed"
        })
        .map(|r| r.id.as_str())
        .collect();
    assert!(
        placed_ids.windows(2).all(|w| w[0] == w[1]),
        "{placed_ids:?}"
    );
    // The other order was not held back: both its events came before the
    // failing order's retries were done.
    let fine_paid = got
        .iter()
        .position(|r| {
            r.body["data"]["order"]["id"] == fine.as_str() && r.body["type"] == "order.paid"
        })
        .unwrap();
    let failing_accepted = got
        .iter()
        .position(|r| r.body["data"]["order"]["id"] == failing.as_str() && r.answered == 200)
        .unwrap();
    assert!(fine_paid < failing_accepted, "{got:#?}");

    let log = settled(&server, &id, 4).await;
    let placed_log = log
        .iter()
        .find(|d| d["resourceId"] == failing.as_str() && d["event"] == "ORDER_PLACED")
        .unwrap();
    assert_eq!(placed_log["status"], "SUCCEEDED");
    let attempts: Vec<Value> = placed_log["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["responseStatus"].clone())
        .collect();
    assert_eq!(attempts, [json!(500), json!(500), json!(500), json!(200)]);

    // /metrics counts each attempt by what followed it.
    let scrape = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    let value = |series: &str| -> f64 {
        scrape
            .lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in {scrape}"))
    };
    let retrying = r#"cartql_webhook_deliveries_total{event="order.placed",outcome="retrying"}"#;
    assert_eq!(value(retrying), 3.0);
    let succeeded = r#"cartql_webhook_deliveries_total{event="order.placed",outcome="succeeded"}"#;
    assert_eq!(value(succeeded), 2.0);
    assert!(value("cartql_webhook_attempt_duration_seconds_count") >= 7.0);
    assert!(scrape.contains("cartql_webhook_queue_depth"), "{scrape}");
}

#[tokio::test]
async fn a_refused_or_replayed_checkout_announces_nothing_and_a_spent_schedule_fails() {
    let hook = Hook::default();
    let url = hook.serve().await;
    let server =
        TestServer::spawn_with(&["--webhook-allow-insecure", "--webhook-retry-schedule", "1s"])
            .await;
    let (id, _) = endpoint(&server, &url, &["ORDER_PLACED"]).await;
    let buyer = customer("webhook-cy");
    // Refused: an empty cart.
    let query =
        "mutation { checkout(input: {idempotencyKey: \"wh-empty\"}) { userErrors { code } } }";
    let refused = server.data(Some(&buyer), query, json!({})).await;
    assert_eq!(codes(&refused["checkout"]), ["CART_EMPTY"]);
    let order = placed(&server, &buyer, "MUG-LOGO", "wh-once").await;
    // The same key again: the same order, no new event.
    let query = "mutation { checkout(input: {idempotencyKey: \"wh-once\"}) { order { id } userErrors { code } } }";
    let again = server.data(Some(&buyer), query, json!({})).await["checkout"].clone();
    assert_eq!(again["order"]["id"], order.as_str());
    hook.until("the one event", |got| !got.is_empty()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(hook.got().len(), 1, "{:#?}", hook.got());
    assert_eq!(settled(&server, &id, 1).await.len(), 1);

    // An endpoint that always fails: two attempts (one wait), then FAILED.
    let bad = Hook::default();
    let bad_url = bad.serve().await;
    let (bad_id, _) = endpoint(&server, &bad_url, &["ORDER_PLACED"]).await;
    bad.fail("STICKER-PACK", &[503, 503, 503]);
    placed(&server, &buyer, "STICKER-PACK", "wh-next").await;
    bad.until("two attempts", |got| got.len() >= 2).await;
    let mut failed = Vec::new();
    for _ in 0..100 {
        failed = deliveries(&server, &bad_id).await;
        if failed.first().is_some_and(|d| d["status"] == "FAILED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(failed[0]["status"], "FAILED", "{failed:#?}");
    assert_eq!(failed[0]["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(failed[0]["nextAttemptAt"], Value::Null);

    // A retry sends it again, with the same event id, and now it succeeds.
    let retry = "mutation($id: ID!) { retryWebhookDelivery(input: {id: $id}) { delivery { status } userErrors { code } } }";
    let done = server
        .data(Some(&admin()), retry, json!({"id": failed[0]["id"]}))
        .await;
    assert_eq!(
        done["retryWebhookDelivery"]["delivery"]["status"], "PENDING",
        "{done}"
    );
    let got = bad
        .until("the retried event", |got| {
            got.iter().any(|r| r.answered == 200)
        })
        .await;
    assert!(got.windows(2).all(|w| w[0].id == w[1].id));
    let unknown = server
        .data(Some(&admin()), retry, json!({"id": "nope"}))
        .await;
    assert_eq!(codes(&unknown["retryWebhookDelivery"]), ["NOT_FOUND"]);

    // A replay re-sends the kept event with its original id.
    let replay = "mutation($id: ID!, $since: DateTime!) { replayWebhookEvents(input: {endpointId: $id, since: $since}) { count userErrors { code } } }";
    let since = "2000-01-01T00:00:00Z";
    let done = server
        .data(Some(&admin()), replay, json!({"id": id, "since": since}))
        .await;
    assert_eq!(done["replayWebhookEvents"]["count"], 2, "{done}");
    let got = hook.until("the replays", |got| got.len() >= 3).await;
    let first_id = got[0].id.clone();
    assert!(got[1..].iter().any(|r| r.id == first_id), "{got:#?}");
}

#[tokio::test]
async fn a_410_turns_the_endpoint_off_and_a_rotation_signs_with_both_secrets() {
    let hook = Hook::default();
    let url = hook.serve().await;
    let server = TestServer::spawn_with(&["--webhook-allow-insecure"]).await;
    let (id, old) = endpoint(&server, &url, &["ORDER_PLACED"]).await;
    let rotate = "mutation($id: ID!, $keep: Int) { rotateWebhookSecret(input: {id: $id, keepOldForSeconds: $keep}) { secret userErrors { code field } } }";
    let rotated = server
        .data(Some(&admin()), rotate, json!({"id": id, "keep": 86400}))
        .await;
    let new = rotated["rotateWebhookSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    let buyer = customer("webhook-dee");
    let first = placed(&server, &buyer, "MUG-LOGO", "wh-r1").await;
    let got = hook.until("the event", |got| !got.is_empty()).await;
    assert_eq!(
        got[0].signature.split(' ').count(),
        2,
        "{}",
        got[0].signature
    );
    assert!(verifies(&old, &got[0]) && verifies(&new, &got[0]));
    assert_eq!(got[0].body["data"]["order"]["id"], first.as_str());
    let negative = server
        .data(Some(&admin()), rotate, json!({"id": id, "keep": -1}))
        .await;
    assert_eq!(
        codes(&negative["rotateWebhookSecret"]),
        ["INVALID_WEBHOOK_ENDPOINT"]
    );
    let missing = server
        .data(Some(&admin()), rotate, json!({"id": "whep_none"}))
        .await;
    assert_eq!(codes(&missing["rotateWebhookSecret"]), ["NOT_FOUND"]);

    // 410 Gone: the endpoint is turned off, with the reason.
    hook.fail("STICKER-PACK", &[410]);
    placed(&server, &buyer, "STICKER-PACK", "wh-r2").await;
    hook.until("the 410", |got| got.len() >= 2).await;
    let list = "{ webhookEndpoints { id active disabledReason } }";
    let mut endpoints = Value::Null;
    for _ in 0..100 {
        endpoints = server.data(Some(&admin()), list, json!({})).await["webhookEndpoints"].clone();
        if endpoints[0]["active"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(endpoints[0]["active"], false, "{endpoints}");
    assert!(
        endpoints[0]["disabledReason"]
            .as_str()
            .unwrap()
            .contains("410")
    );
    // Nothing more is sent to it.
    placed(&server, &buyer, "MUG-LOGO", "wh-r3").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(hook.got().len(), 2);
}

#[tokio::test]
async fn endpoints_are_checked_bounded_and_for_admins_only() {
    let server = TestServer::spawn_with(&["--max-webhook-endpoints", "2"]).await;
    let try_create = |input: Value| {
        let server = &server;
        async move {
            server
                .data(Some(&admin()), CREATE, json!({"input": input}))
                .await["createWebhookEndpoint"]
                .clone()
        }
    };
    for (url, why) in [
        ("http://example.com/hook", "https"),
        ("https://127.0.0.1/hook", "internal"),
        ("https://[::ffff:169.254.169.254]/", "internal"),
        ("https://user:pw@example.com/", "password"),
        ("not a url", "absolute"),
        ("file:///etc/passwd", "https"),
    ] {
        let refused = try_create(json!({"url": url, "events": ["ORDER_PLACED"]})).await;
        assert_eq!(codes(&refused), ["INVALID_WEBHOOK_URL"], "{url}: {refused}");
        let message = refused["userErrors"][0]["message"].as_str().unwrap();
        assert!(message.contains(why), "{url}: {message}");
    }
    let long = format!("https://example.com/{}", "é".repeat(1100));
    assert_eq!(
        codes(&try_create(json!({"url": long, "events": ["ORDER_PAID"]})).await),
        ["INVALID_WEBHOOK_URL"]
    );
    let none = try_create(json!({"url": "https://example.com/", "events": []})).await;
    assert_eq!(codes(&none), ["INVALID_WEBHOOK_ENDPOINT"]);
    let wordy = try_create(json!({"url": "https://example.com/", "events": ["ORDER_PAID"], "description": "𝄞".repeat(64)})).await;
    assert_eq!(codes(&wordy), ["INVALID_WEBHOOK_ENDPOINT"]);
    for _ in 0..2 {
        let made =
            try_create(json!({"url": "https://example.com/", "events": ["ORDER_PAID"]})).await;
        assert_eq!(codes(&made), Vec::<String>::new(), "{made}");
    }
    let third = try_create(json!({"url": "https://example.com/", "events": ["ORDER_PAID"]})).await;
    assert_eq!(codes(&third), ["INVALID_WEBHOOK_ENDPOINT"]);
    assert!(
        third["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--max-webhook-endpoints")
    );

    // Not for buyers, nor for no one; the secret is never listed.
    let buyer = customer("webhook-eve");
    for token in [Some(buyer.as_str()), None] {
        let body = server
            .gql(
                token,
                CREATE,
                json!({"input": {"url": "https://example.com/", "events": ["ORDER_PAID"]}}),
            )
            .await;
        assert!(
            ["FORBIDDEN", "UNAUTHENTICATED"].contains(&error_code(&body)),
            "{body}"
        );
        let body = server
            .gql(token, "{ webhookEndpoints { id } }", json!({}))
            .await;
        assert!(
            ["FORBIDDEN", "UNAUTHENTICATED"].contains(&error_code(&body)),
            "{body}"
        );
    }
    let listed = server
        .gql(
            Some(&admin()),
            "{ webhookEndpoints { id url secret } }",
            json!({}),
        )
        .await;
    assert!(
        listed["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("secret"),
        "{listed}"
    );

    // Update and delete: checked the same way; unknown ids say so.
    let list = server
        .data(Some(&admin()), "{ webhookEndpoints { id } }", json!({}))
        .await;
    let id = list["webhookEndpoints"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let update = "mutation($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) { endpoint { url events description } userErrors { code field } } }";
    let bad = server
        .data(
            Some(&admin()),
            update,
            json!({"input": {"id": id, "url": "https://10.0.0.1/"}}),
        )
        .await;
    assert_eq!(
        codes(&bad["updateWebhookEndpoint"]),
        ["INVALID_WEBHOOK_URL"]
    );
    let good = server
        .data(Some(&admin()), update, json!({"input": {"id": id, "events": ["ORDER_CANCELLED", "ORDER_PLACED"], "description": "ERP"}}))
        .await;
    assert_eq!(
        good["updateWebhookEndpoint"]["endpoint"]["events"],
        json!(["ORDER_PLACED", "ORDER_CANCELLED"])
    );
    assert_eq!(
        good["updateWebhookEndpoint"]["endpoint"]["description"],
        "ERP"
    );
    let unknown = server
        .data(
            Some(&admin()),
            update,
            json!({"input": {"id": "whep_x", "active": false}}),
        )
        .await;
    assert_eq!(codes(&unknown["updateWebhookEndpoint"]), ["NOT_FOUND"]);
    let delete = "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { deleted } }";
    let deleted = server.data(Some(&admin()), delete, json!({"id": id})).await;
    assert_eq!(deleted["deleteWebhookEndpoint"]["deleted"], true);
    let again = server.data(Some(&admin()), delete, json!({"id": id})).await;
    assert_eq!(again["deleteWebhookEndpoint"]["deleted"], false);
}

#[tokio::test]
async fn a_name_that_resolves_inside_the_network_is_refused_at_the_attempt() {
    // Without --webhook-allow-insecure: localhost is a name, accepted when
    // registered; every attempt resolves it and refuses the loopback address.
    let server = TestServer::spawn_with(&["--webhook-retry-schedule", "1s"]).await;
    let (id, _) = endpoint(&server, "https://localhost:9/hook", &["ORDER_PLACED"]).await;
    placed(&server, &customer("webhook-fay"), "MUG-LOGO", "wh-local").await;
    let mut log = Vec::new();
    for _ in 0..100 {
        log = deliveries(&server, &id).await;
        if log
            .first()
            .is_some_and(|d| !d["attempts"].as_array().unwrap().is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let attempt = &log[0]["attempts"][0];
    assert_eq!(attempt["responseStatus"], Value::Null, "{log:#?}");
    assert!(
        attempt["error"].as_str().unwrap().contains("internal"),
        "{attempt}"
    );

    // A test send says the same, at once.
    let test = "mutation($id: ID!) { sendTestWebhook(input: {id: $id}) { attempt { responseStatus error } userErrors { code } } }";
    let sent = server.data(Some(&admin()), test, json!({"id": id})).await;
    assert!(
        sent["sendTestWebhook"]["attempt"]["error"]
            .as_str()
            .unwrap()
            .contains("internal"),
        "{sent}"
    );
}

#[tokio::test]
async fn acknowledged_orders_are_announced_after_a_kill_while_the_endpoint_was_down() {
    let hook = Hook::default();
    hook.set_down(true);
    let url = hook.serve().await;
    // Retries every second (long enough to outlast the restart), and a short
    // claim, so what the killed server had claimed is taken over soon.
    let schedule = vec!["1s"; 20].join(",");
    let args = [
        "--webhook-allow-insecure",
        "--webhook-retry-schedule",
        schedule.as_str(),
        "--webhook-lease",
        "3s",
    ];
    let server = TestServer::spawn_with(&args).await;
    endpoint(&server, &url, &["ORDER_PLACED"]).await;

    // 50 checkouts, ten at a time, every one acknowledged: the first 30
    // until their deliveries are being retried (the endpoint refuses them),
    // the last 20 right before a kill -9 (their events still in the outbox).
    let checkout = "mutation($input: CheckoutLinesInput!) { checkoutLines(input: $input) { order { id } userErrors { code } } }";
    let mut orders = Vec::new();
    for batch in 0..5 {
        if batch == 3 {
            hook.until("30 refused attempts", |got| got.len() >= 30)
                .await;
        }
        let placed = (0..10).map(|n| {
            let server = &server;
            async move {
                let n = batch * 10 + n;
                let input = json!({"lines": [{"sku": "STICKER-PACK", "quantity": 1}], "idempotencyKey": format!("kill-{n}")});
                let done = server
                    .data(Some(&customer(&format!("kill{n}"))), checkout, json!({ "input": input }))
                    .await;
                done["checkoutLines"]["order"]["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{done}"))
                    .to_string()
            }
        });
        orders.extend(futures_util::future::join_all(placed).await);
    }
    let dir = server.dir.clone();
    let _data = server.kill().await;
    let refused_before = hook.got().len();

    hook.set_down(false);
    let again = TestServer::spawn_in(&dir, &args).await;
    let delivered = |got: &[Received]| {
        let mut ids = std::collections::HashMap::<String, String>::new();
        for r in got.iter().filter(|r| r.answered == 200) {
            let order = r.body["data"]["order"]["id"].as_str().unwrap().to_string();
            ids.insert(order, r.id.clone());
        }
        ids
    };
    let got = hook
        .until("every acknowledged order's order.placed", |got| {
            delivered(got).len() >= orders.len()
        })
        .await;
    let delivered = delivered(&got);
    for order in &orders {
        assert!(delivered.contains_key(order), "{order} was lost");
    }
    // Every attempt at one order's event carries the event's one id, and
    // every event has its own.
    for received in &got {
        let order = received.body["data"]["order"]["id"].as_str().unwrap();
        assert_eq!(received.body["type"], "order.placed");
        assert_eq!(delivered[order], received.id, "one id per event");
    }
    let ids: std::collections::HashSet<&String> = delivered.values().collect();
    assert_eq!(ids.len(), orders.len());
    eprintln!(
        "{} attempts refused while down before the kill, {} in all, {} events",
        refused_before,
        got.len(),
        orders.len()
    );
    drop(again);
}

#[tokio::test]
async fn a_long_run_of_outbox_records_this_release_cannot_read_does_not_stop_the_events_behind_it()
{
    use cartql::store::backend::{Backend, Location};
    use cartql::store::shop::WEBHOOK_OUTBOX;
    let temp = private_tempdir();
    let dir = temp.path().to_path_buf();
    let _database = match on_postgres() {
        true => Some(TestDatabase::of(&dir).await),
        false => None,
    };
    let args = ["--webhook-allow-insecure"];
    // The store made by a first start, then stopped to write into.
    let server = TestServer::spawn_in(&dir, &args).await;
    let location = match &server.database_url {
        Some(url) => Location::Postgres(cartql::store::postgres::PgSettings {
            url: url.clone(),
            max_connections: 2,
            notice_secret: SECRET.as_bytes().to_vec(),
        }),
        None => Location::Sled {
            dir: dir.clone(),
            durability: cartql::store::sled::Durability::Strict,
            cache_bytes: 8 << 20,
        },
    };
    server.terminate().await;
    // Three pages' worth of events (256 a page) of a kind a newer release
    // writes, older than anything the server will write.
    let backend = Backend::open(&location).await.unwrap();
    let store = backend.store();
    for i in 0..700u64 {
        let id = ulid::Ulid::from_parts(1_600_000_000_000 + i, u128::from(i)).to_string();
        let value = json!({"id": id, "type": "order.refunded.v9", "resourceId": format!("gid://cartql/Order/old-{i}"), "sequence": 1});
        store
            .put_shop_record(WEBHOOK_OUTBOX, &id, &value)
            .await
            .unwrap();
    }
    backend.close().await.unwrap();
    drop(store);
    drop(backend);

    let hook = Hook::default();
    let url = hook.serve().await;
    let server = TestServer::spawn_in(&dir, &args).await;
    endpoint(&server, &url, &ALL_ORDER_EVENTS).await;
    let buyer = customer("webhook-behind");
    let order = placed(&server, &buyer, "MUG-LOGO", "wh-behind").await;
    let got = hook.until("the order's event", |got| !got.is_empty()).await;
    assert_eq!(types_of(&got, &order), ["order.placed"]);
}
