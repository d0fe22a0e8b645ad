//! Hostile documents and request shapes from anonymous clients: none may
//! crash the process, hold it, or run a mutation where it must not run.

use crate::helpers::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A comment ended by a bare CR, then objects nested 400 deep: enough to
/// overflow a worker's stack in the parser when the guard misses it.
fn hidden_nesting() -> String {
    format!(
        "# a comment ended by a carriage return\r{{ products(first: 1, after: {}1{}) {{ nodes {{ sku }} }} }}",
        "{a:".repeat(400),
        "}".repeat(400)
    )
}

async fn alive(server: &TestServer) {
    let body = server.data(None, "{ __typename }", json!({})).await;
    assert_eq!(body["__typename"], "QueryRoot");
}

async fn get_query(server: &TestServer, query: &str) -> (u16, Value) {
    let url =
        reqwest::Url::parse_with_params(&format!("{}/graphql", server.base), &[("query", query)])
            .unwrap();
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Runs `query` as a `subscribe` over graphql-transport-ws; returns the first
/// message for it (or the close frame as `{"close": code}`).
pub async fn over_websocket(server: &TestServer, query: &str) -> Value {
    let url = format!("{}/graphql/ws", server.base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    for message in [
        json!({ "type": "connection_init" }),
        json!({ "type": "subscribe", "id": "1", "payload": { "query": query } }),
    ] {
        socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("an answer within 20 s");
        match message {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] != "connection_ack" {
                    return value;
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return json!({ "close": frame.map(|f| u16::from(f.code)) });
            }
            Some(Ok(_)) => continue,
            other => return json!({ "ended": format!("{other:?}") }),
        }
    }
}

#[tokio::test]
async fn nesting_hidden_behind_a_carriage_return_comment_is_refused_over_every_transport() {
    let server = TestServer::spawn().await;
    let query = hidden_nesting();

    let body = server.gql(None, &query, json!({})).await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    alive(&server).await;

    let (status, body) = get_query(&server, &query).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    alive(&server).await;

    let answer = over_websocket(&server, &query).await;
    let errors = match answer["type"].as_str() {
        Some("error") => &answer["payload"],
        Some("next") => &answer["payload"]["errors"],
        _ => panic!("{answer}"),
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{answer}"
    );
    alive(&server).await;
}

#[tokio::test]
async fn every_kind_of_deep_nesting_is_refused_and_the_server_survives() {
    let server = TestServer::spawn().await;
    let deep = 3000;
    let documents = [
        format!("{{ a(x: {}1{}) }}", "[".repeat(deep), "]".repeat(deep)),
        format!("{{ a(x: {}1{}) }}", "{a:".repeat(deep), "}".repeat(deep)),
        format!(
            "query($v: {}Int{}) {{ a }}",
            "[".repeat(deep),
            "]".repeat(deep)
        ),
        format!("{}{}", "{ a ".repeat(deep), "}".repeat(deep)),
        format!(
            "{{ a(x: \"\"\" \\\"\"\" \"\"\" y: {}1{}) }}",
            "[".repeat(deep),
            "]".repeat(deep)
        ),
        format!(
            "{{ a(x: \"\\\"\" y: {}1{}) }}",
            "[".repeat(deep),
            "]".repeat(deep)
        ),
    ];
    for document in &documents {
        let body = server.gql(None, document, json!({})).await;
        assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    }
    alive(&server).await;
}

fn doubling_fragments(levels: usize) -> String {
    let mut document =
        format!("query {{ ...F{levels} }}\nfragment F0 on QueryRoot {{ __typename }}\n");
    for i in 1..=levels {
        document.push_str(&format!(
            "fragment F{i} on QueryRoot {{ ...F{} ...F{} }}\n",
            i - 1,
            i - 1
        ));
    }
    document
}

#[tokio::test]
async fn exponentially_expanding_fragments_are_refused_without_holding_the_server() {
    let server = TestServer::spawn().await;
    let document = doubling_fragments(24);
    assert!(document.len() < 2000);
    // Two at once, as in the report; each must be answered, not worked through.
    let (first, second) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(
            server.gql(None, &document, json!({})),
            server.gql(None, &document, json!({}))
        )
    })
    .await
    .expect("refused, not expanded");
    for body in [first, second] {
        assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("expands to more than"),
            "{body}"
        );
    }
    // A small use of fragments is fine.
    let body = server.data(None, &doubling_fragments(3), json!({})).await;
    assert_eq!(body["__typename"], "QueryRoot");
}

#[tokio::test]
async fn a_fragment_that_spreads_itself_is_refused_before_it_is_expanded() {
    let server = TestServer::spawn().await;
    let document = "query { ...A } fragment A on QueryRoot { ...B ...B } fragment B on QueryRoot { ...A ...A }";
    let body = tokio::time::timeout(
        Duration::from_secs(20),
        server.gql(None, document, json!({})),
    )
    .await
    .expect("refused at once");
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn typename_aliases_are_counted_like_any_field() {
    let server = TestServer::spawn().await;
    let aliases: String = (0..12_000).map(|i| format!("t{i}:__typename ")).collect();
    let body = server
        .gql(None, &format!("{{ {aliases} }}"), json!({}))
        .await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    let few: String = (0..100).map(|i| format!("t{i}:__typename ")).collect();
    let body = server.data(None, &format!("{{ {few} }}"), json!({})).await;
    assert_eq!(body["t99"], "QueryRoot");
}

#[tokio::test]
async fn a_mutation_cannot_run_over_get_however_the_operation_is_named() {
    let server = TestServer::spawn().await;
    let sign_up = |email: &str| {
        format!(
            "mutation SignUp {{ signUp(input: {{email: \"{email}\", password: \"correct horse battery\"}}) {{ token }} }}"
        )
    };
    // One named operation and no operationName: the executor runs it.
    let (status, body) = get_query(&server, &sign_up("get@example.com")).await;
    assert_eq!(status, 405, "{body}");
    let url = reqwest::Url::parse_with_params(
        &format!("{}/graphql", server.base),
        &[
            ("query", sign_up("named@example.com").as_str()),
            ("operationName", "SignUp"),
        ],
    )
    .unwrap();
    assert_eq!(reqwest::get(url).await.unwrap().status(), 405);
    let (status, _) = get_query(&server, "subscription { cartUpdated { version } }").await;
    assert_eq!(status, 405);
    // Neither created an account: logging in with them fails.
    for email in ["get@example.com", "named@example.com"] {
        let body = server
            .data(
                None,
                "mutation($e: String!) { logIn(input: {email: $e, password: \"correct horse battery\"}) { token userErrors { code } } }",
                json!({ "e": email }),
            )
            .await;
        assert_eq!(codes(&body["logIn"]), ["INVALID_CREDENTIALS"], "{email}");
    }
    // A query over GET still works.
    let (status, body) = get_query(&server, "query Q { __typename }").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_post_body_that_is_not_json_is_refused_unexecuted() {
    let server = TestServer::spawn().await;
    let client = reqwest::Client::new();
    let url = format!("{}/graphql", server.base);
    let body = json!({ "query": "mutation { signUp(input: {email: \"form@example.com\", password: \"correct horse battery\"}) { token } }" }).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/json; charset=latin1"),
        Some("application/jsonx"),
        None,
    ] {
        let mut request = client.post(&url).body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{content_type:?}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(error_code(&answer), "BAD_USER_INPUT");
    }
    let answer = server
        .data(
            None,
            "mutation { logIn(input: {email: \"form@example.com\", password: \"correct horse battery\"}) { userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(codes(&answer["logIn"]), ["INVALID_CREDENTIALS"]);
    // JSON with a charset parameter is fine.
    let response = client
        .post(&url)
        .header("content-type", "Application/JSON; charset=UTF-8")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn lists_count_once_per_item_they_may_hold_in_a_querys_complexity() {
    let server = TestServer::spawn().await;
    let token = guest("lister");
    // One page of orders with their lines is fine…
    let one = "{ orders(first: 20) { nodes { id lines { title quantity } } } carts { name lines { sku quantity unitPrice { amount } } } }";
    let body = server.data(Some(&token), one, json!({})).await;
    assert!(body["orders"]["nodes"].is_array(), "{body}");
    // …250 aliases of the largest page are not (they cost 20 s and 1.5 GB).
    let many: String = (0..250)
        .map(|i| format!("a{i}: orders(first: 100) {{ nodes {{ lines {{ title }} }} }} "))
        .collect();
    let body = server
        .gql(Some(&token), &format!("{{ {many} }}"), json!({}))
        .await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
}

#[tokio::test]
async fn a_block_string_that_never_closes_cannot_hide_nesting() {
    let server = TestServer::spawn().await;
    // The parser reads `"""` without a closing one as `""`, then goes on.
    let query = format!(
        "{{ products(first: 1, after: [\"\"\" x \" {}1{} ]) {{ nodes {{ sku }} }} }}",
        "[".repeat(3000),
        "]".repeat(3000)
    );
    let body = server.gql(None, &query, json!({})).await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    let brackets = format!("{{ __typename }} # {}", "(".repeat(10_000));
    let body = server.gql(None, &brackets, json!({})).await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    alive(&server).await;
}

#[tokio::test]
async fn a_flood_of_errors_is_cut_to_a_bounded_answer() {
    let server = TestServer::spawn().await;
    let arguments = vec!["first: 1"; 20_000].join(", ");
    let query = format!("{{ products({arguments}) {{ nodes {{ sku }} }} }}");
    let response = server.post(None, json!({ "query": query })).await;
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let errors = body["errors"].as_array().unwrap();
    assert!(errors.len() <= 50, "{} errors", errors.len());
    assert!(text.len() < 64 * 1024, "{} bytes", text.len());
    assert!(errors.iter().all(|e| e["extensions"]["code"].is_string()));
}

#[tokio::test]
async fn a_query_over_the_complexity_limit_says_its_cost_over_http_and_the_websocket() {
    let server = TestServer::spawn().await;
    // 100 products × 100 variants × 18 fields: over the default 100,000.
    let grid = "{ products(first: 100) { nodes { title variants { sku title price { amount currencyCode } compareAtPrice { amount currencyCode } selectedOptions { name value } stock availableForSale image { url altText width height } } } } }";
    let body = server.gql(None, grid, json!({})).await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    let error = &body["errors"][0];
    let cost = error["extensions"]["cost"].as_u64().expect("the cost");
    let limit = error["extensions"]["limit"].as_u64().expect("the limit");
    assert!(cost > limit, "{body}");

    let answer = over_websocket(&server, grid).await;
    assert_eq!(answer["type"], "next", "{answer}");
    let error = &answer["payload"]["errors"][0];
    assert_eq!(error["extensions"]["code"], "QUERY_TOO_COMPLEX", "{answer}");
    assert_eq!(error["extensions"]["cost"], cost, "{answer}");
    assert_eq!(error["extensions"]["limit"], limit, "{answer}");
    alive(&server).await;
}

#[tokio::test]
async fn reading_carts_is_charged_for_pricing_every_cart_however_little_is_selected() {
    let server = TestServer::spawn().await;
    let token = guest("g");
    // Each cart read prices the whole cart: 990 aliases of `carts { id }`
    // over ten 100-line carts once counted 19,800 and took seconds.
    for (field, aliases) in [("carts { id }", 50), ("cart { id }", 1000)] {
        let query = format!(
            "{{ {} }}",
            (0..aliases)
                .map(|n| format!("a{n}: {field}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let body = server.gql(Some(&token), &query, json!({})).await;
        assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{field}");
    }
    let fine = server
        .data(Some(&token), "{ carts { id } cart { id } }", json!({}))
        .await;
    assert!(fine["carts"].is_array());
}
