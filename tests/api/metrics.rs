//! GET /metrics: off by default, on its own listener when configured, in
//! Prometheus text format with bounded labels.

use crate::helpers::*;
use serde_json::json;
use std::collections::HashMap;

/// Parses the text exposition format strictly enough to catch a broken
/// scrape: every line is a comment or `name{labels} value`; returns the
/// samples by `name{labels}`.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line}"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(
                labels.starts_with('{') && labels.ends_with('}'),
                "bad labels in {line}"
            );
            for pair in labels[1..labels.len() - 1]
                .split("\",")
                .filter(|p| !p.is_empty())
            {
                let (key, value) = pair
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("bad label {pair} in {line}"));
                assert!(
                    key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "bad label name in {line}"
                );
                assert!(!value.contains('\n'), "{line}");
            }
        }
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        samples.insert(series.to_string(), value);
    }
    samples
}

async fn scrape(url: &str) -> HashMap<String, f64> {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    parse(&response.text().await.unwrap())
}

/// A server with metrics on, and the address of its `/metrics`.
async fn metered() -> (TestServer, String) {
    let (server, lines) =
        TestServer::spawn_with_lines(&["--metrics-listen", "127.0.0.1:0"], 1).await;
    let url = lines[0]
        .strip_prefix("cartql metrics on ")
        .unwrap()
        .to_string();
    (server, url)
}

#[tokio::test]
async fn metrics_are_off_by_default_and_never_on_the_public_port() {
    let server = TestServer::spawn().await;
    assert_eq!(server.get("/metrics").await.status(), 404);
    let (server, lines) =
        TestServer::spawn_with_lines(&["--metrics-listen", "127.0.0.1:0"], 1).await;
    assert!(
        lines[0].starts_with("cartql metrics on http://127.0.0.1:"),
        "{}",
        lines[0]
    );
    assert_eq!(server.get("/metrics").await.status(), 404);
}

#[tokio::test]
async fn a_scrape_counts_operations_user_errors_checkouts_store_work_and_sockets() {
    let (server, url) = metered().await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    add(&server, &token, "default", "MUG-LOGO", 0).await; // INVALID_QUANTITY
    let checkout = "mutation { checkout(input: {idempotencyKey: \"k-1\"}) { order { id } userErrors { code } } }";
    server.data(Some(&token), checkout, json!({})).await;
    server.data(Some(&token), checkout, json!({})).await; // replayed
    // Invented root fields never become labels.
    for name in ["made_up_1", "made_up_2"] {
        server.gql(None, &format!("{{ {name} }}"), json!({})).await;
    }
    let socket = crate::sockets::live_subscription(&server, &customer("bob")).await;
    let samples = scrape(&url).await;
    let get = |series: &str| {
        samples
            .get(series)
            .copied()
            .unwrap_or_else(|| panic!("{series} missing from {samples:?}"))
    };
    assert_eq!(
        get(
            r#"cartql_graphql_requests_total{kind="mutation",operation="addCartLines",outcome="ok"}"#
        ),
        2.0
    );
    assert_eq!(
        get(r#"cartql_user_errors_total{code="INVALID_QUANTITY"}"#),
        1.0
    );
    assert_eq!(get(r#"cartql_checkouts_total{outcome="placed"}"#), 1.0);
    assert_eq!(get(r#"cartql_checkouts_total{outcome="replayed"}"#), 1.0);
    assert_eq!(get("cartql_websockets_open"), 1.0);
    assert_eq!(get("cartql_subscriptions_active"), 1.0);
    assert!(get(r#"cartql_store_operation_duration_seconds_count{op="store.checkout"}"#) >= 1.0);
    if !on_postgres() {
        assert!(
            get("cartql_store_flush_duration_seconds_count") >= 1.0,
            "strict durability flushes (sled)"
        );
    } else {
        assert!(
            get("cartql_store_commit_duration_seconds_count") >= 2.0,
            "PostgreSQL commits (an add and a checkout)"
        );
    }
    assert!(
        samples.keys().all(|series| !series.contains("made_up")),
        "a client's names are not labels"
    );
    drop(socket);
    // The socket's close is counted down.
    let mut open = 1.0;
    for _ in 0..50 {
        open = scrape(&url)
            .await
            .get("cartql_websockets_open")
            .copied()
            .unwrap_or(0.0);
        if open == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(open, 0.0);
}

/// One wake per change: a subscription reads the cart once for each change
/// it is told of (PostgreSQL: the database's notice is the one wake of the
/// writer's own subscriptions too; waking them at the commit as well made
/// each read the cart twice).
#[tokio::test]
async fn a_subscription_reads_the_cart_once_per_change() {
    let (server, url) = metered().await;
    let token = customer("ann");
    let mut socket = crate::sockets::live_subscription(&server, &token).await;
    let changes = 10;
    for version in 1..=changes {
        add(&server, &token, "default", "MUG-LOGO", 1).await;
        let pushed = crate::sockets::next(&mut socket).await;
        assert_eq!(crate::sockets::cart_of(&pushed)["version"], version);
    }
    // A second wake would come within milliseconds of the first.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let reads = scrape(&url)
        .await
        .get(r#"cartql_store_operation_duration_seconds_count{op="store.valid_after_cart_and_variants"}"#)
        .copied()
        .unwrap_or(0.0);
    // The first push, then one per change (the adds' own answers read the
    // catalog, not the cart).
    assert_eq!(reads, (1 + changes) as f64);
}
