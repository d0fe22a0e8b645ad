//! Per-client limits that bound what free guests can take, and error
//! answers that always carry a code.

use crate::helpers::*;
use serde_json::{Value, json};

const START: &str = "mutation { startGuestSession { token userErrors { code message } } }";

#[tokio::test]
async fn guest_sessions_are_limited_per_client_address() {
    let server = TestServer::spawn_with(&["--max-guest-sessions-per-client", "3"]).await;
    for _ in 0..3 {
        let body = server.data(None, START, json!({})).await;
        assert!(body["startGuestSession"]["token"].is_string(), "{body}");
    }
    let body = server.data(None, START, json!({})).await;
    assert_eq!(codes(&body["startGuestSession"]), ["THROTTLED"]);
    assert!(body["startGuestSession"]["token"].is_null());
}

#[tokio::test]
async fn checkouts_are_limited_per_client_address_and_refused_ones_do_not_count() {
    let server = TestServer::spawn_with(&["--max-checkouts-per-client", "2"]).await;
    let query = "mutation($key: String!, $q: Int!) { checkoutLines(input: {lines: [{sku: \"STICKER-PACK\", quantity: $q}], idempotencyKey: $key, buyerIdentity: {email: \"g@example.com\"}}) { order { id } userErrors { code } } }";
    let buy = |key: &'static str, quantity: i64| {
        let (server, token) = (&server, guest(key));
        async move {
            server
                .data(Some(&token), query, json!({ "key": key, "q": quantity }))
                .await["checkoutLines"]
                .clone()
        }
    };
    // A refused checkout (quantity 0) gives its count back.
    assert_eq!(codes(&buy("bad", 0).await), ["INVALID_QUANTITY"]);
    assert!(buy("one", 1).await["order"]["id"].is_string());
    assert!(buy("two", 1).await["order"]["id"].is_string());
    assert_eq!(codes(&buy("three", 1).await), ["THROTTLED"]);
}

#[tokio::test]
async fn checkout_lines_holds_no_more_lines_than_a_cart() {
    let server = TestServer::spawn_with(&["--max-lines-per-cart", "2"]).await;
    let query = "mutation { checkoutLines(input: {lines: [{sku: \"STICKER-PACK\", quantity: 1}, {sku: \"MUG-LOGO\", quantity: 1}, {sku: \"TEE-BLK-M\", quantity: 1}], idempotencyKey: \"k\"}) { order { id } userErrors { code field } } }";
    let body = server.data(Some(&guest("wide")), query, json!({})).await;
    assert_eq!(codes(&body["checkoutLines"]), ["CART_LIMIT_EXCEEDED"]);
    assert!(body["checkoutLines"]["order"].is_null());
}

#[tokio::test]
async fn websockets_are_limited_per_client_address_before_the_upgrade() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::spawn_with(&["--max-ws-connections-per-client", "2"]).await;
    let url = format!("{}/graphql/ws", server.base.replace("http://", "ws://"));
    let open = || {
        let mut request = url.clone().into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request)
    };
    let _first = open().await.unwrap();
    let _second = open().await.unwrap();
    match open().await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(error_code(&body), "THROTTLED");
        }
        other => panic!("a third socket from one address: {other:?}"),
    }
    drop(_first);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(open().await.is_ok(), "a place frees when a socket closes");
}

#[tokio::test]
async fn every_error_answer_is_json_with_a_code() {
    let server = TestServer::spawn_with(&["--max-body-bytes", "2048"]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/graphql", server.base);
    let answers = [
        client
            .post(&url)
            .header("content-type", "application/json")
            .body("x".repeat(10_000))
            .send()
            .await
            .unwrap(),
        client.put(&url).send().await.unwrap(),
        client
            .get(format!("{}/no/such/path", server.base))
            .send()
            .await
            .unwrap(),
        client
            .get(format!("{}/graphql/ws", server.base))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .unwrap(),
    ];
    let mut statuses = Vec::new();
    for answer in answers {
        statuses.push(answer.status().as_u16());
        let body: Value = answer.json().await.expect("a JSON body");
        assert!(error_code(&body).len() > 1, "{body}");
    }
    assert_eq!(statuses, [413, 405, 404, 400]);
}
