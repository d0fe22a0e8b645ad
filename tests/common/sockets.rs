//! A graphql-transport-ws client for /graphql/ws, used by the tests of more
//! than one test target.

use crate::helpers::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A WebSocket client connection.
pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// `cartUpdated` of `$cart` (default 'default').
const SUBSCRIBE: &str = "subscription($cart: String! = \"default\") { cartUpdated(cart: $cart) { name version totalQuantity lines { sku quantity } } }";

/// A WebSocket to the server at `base` (`http://…`), graphql-transport-ws offered.
pub async fn open_at(base: &str) -> Socket {
    let url = format!("{}/graphql/ws", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    socket
}

/// Sends one protocol message.
pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next protocol message, or the close frame as `{"close": code}`.
pub async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s");
        match message {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Close(frame))) => {
                return json!({ "close": frame.map(|f| u16::from(f.code)) });
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return json!({ "error": e.to_string() }),
            None => return json!({ "close": null }),
        }
    }
}

/// A socket to `server`, `connection_init` with `payload` sent and acknowledged.
pub async fn connect(server: &TestServer, payload: Value) -> Socket {
    connect_at(&server.base, payload).await
}

/// Like [`connect`], to the server at `base`.
pub async fn connect_at(base: &str, payload: Value) -> Socket {
    let mut socket = open_at(base).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    socket
}

/// Subscribes to `cartUpdated` as `id`.
pub async fn subscribe(socket: &mut Socket, id: &str, variables: Value) {
    send(socket, json!({ "type": "subscribe", "id": id, "payload": { "query": SUBSCRIBE, "variables": variables } })).await;
}

/// A socket with `token`'s default cart subscribed (id "live") and its first payload read.
pub async fn live_subscription(server: &TestServer, token: &str) -> Socket {
    let mut socket = connect(server, json!({ "token": token })).await;
    subscribe(&mut socket, "live", json!({})).await;
    assert_eq!(cart_of(&next(&mut socket).await)["version"], 0);
    socket
}

/// Runs `query` as a subscription for `token` and returns its first payload.
pub async fn first_payload(server: &TestServer, token: &str, query: &str) -> Value {
    let mut socket = connect(server, json!({ "token": token })).await;
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "1", "payload": { "query": query } }),
    )
    .await;
    let message = next(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    message["payload"].clone()
}

/// The cart of a `next` message.
pub fn cart_of(message: &Value) -> &Value {
    assert_eq!(message["type"], "next", "{message}");
    &message["payload"]["data"]["cartUpdated"]
}
