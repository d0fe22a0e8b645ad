//! Live cart sync over graphql-transport-ws at /graphql/ws.

use crate::helpers::*;
use crate::net::LoggedServer;
use crate::sockets::*;
use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::Algorithm;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

async fn open(server: &TestServer) -> Socket {
    open_at(&server.base).await
}

/// Nothing arrives within `wait`.
async fn silent(socket: &mut Socket, wait: Duration) {
    if let Ok(message) = tokio::time::timeout(wait, socket.next()).await {
        panic!("expected silence, got {message:?}");
    }
}

#[tokio::test]
async fn a_change_from_one_tab_reaches_the_other_and_no_one_else() {
    let server = TestServer::spawn().await;
    let ann = customer("ann");
    let mut tab = connect(&server, json!({ "Authorization": format!("Bearer {ann}") })).await;
    subscribe(&mut tab, "1", json!({})).await;
    assert_eq!(
        cart_of(&next(&mut tab).await)["version"],
        0,
        "the current cart comes first"
    );
    let mut bob = connect(&server, json!({ "token": customer("bob") })).await;
    subscribe(&mut bob, "1", json!({})).await;
    assert_eq!(cart_of(&next(&mut bob).await)["version"], 0);

    add(&server, &ann, "default", "MUG-LOGO", 2).await;
    let update = next(&mut tab).await;
    assert_eq!(update["id"], "1");
    assert_eq!(
        cart_of(&update),
        &json!({"name": "default", "version": 1, "totalQuantity": 2, "lines": [{"sku": "MUG-LOGO", "quantity": 2}]})
    );
    add(&server, &ann, "wishlist", "MUG-LOGO", 1).await; // another cart of ann's
    add(&server, &ann, "default", "MUG-LOGO", 1).await;
    assert_eq!(
        cart_of(&next(&mut tab).await)["version"],
        2,
        "only the subscribed cart is pushed"
    );
    silent(&mut bob, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn mutations_over_the_socket_are_authorized_and_pushed_to_the_other_connection() {
    let server = TestServer::spawn().await;
    let ann = customer("ann");
    let mut watcher = connect(&server, json!({ "token": ann })).await;
    subscribe(&mut watcher, "w", json!({ "cart": "wishlist" })).await;
    next(&mut watcher).await;

    let mut actor = connect(&server, json!({ "Authorization": format!("Bearer {ann}") })).await;
    let mutation = "mutation { addCartLines(input: {cart: \"wishlist\", lines: [{sku: \"HOODIE-GRY-M\", quantity: 1}]}) { cart { version } userErrors { code } } }";
    send(
        &mut actor,
        json!({ "type": "subscribe", "id": "m", "payload": { "query": mutation } }),
    )
    .await;
    let result = next(&mut actor).await;
    assert_eq!(
        result["payload"]["data"]["addCartLines"]["cart"]["version"],
        1
    );
    assert_eq!(next(&mut actor).await["type"], "complete");
    assert_eq!(cart_of(&next(&mut watcher).await)["version"], 1);

    // A checkout empties the cart: that is a change too.
    add(&server, &ann, "default", "MUG-LOGO", 1).await;
    let q = "mutation { checkout(input: {cart: \"wishlist\", idempotencyKey: \"ws-1\"}) { userErrors { code } } }";
    server.data(Some(&ann), q, json!({})).await;
    let emptied = next(&mut watcher).await;
    assert_eq!(cart_of(&emptied)["lines"], json!([]));
    assert_eq!(cart_of(&emptied)["version"], 2);

    let mut anonymous = connect(&server, json!({})).await;
    subscribe(&mut anonymous, "a", json!({})).await;
    let refused = next(&mut anonymous).await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );
    assert_eq!(next(&mut anonymous).await["type"], "complete");
    let catalog = json!({ "type": "subscribe", "id": "q", "payload": { "query": "{ shop { currencyCode } }" } });
    send(&mut anonymous, catalog).await;
    assert_eq!(
        next(&mut anonymous).await["payload"]["data"]["shop"]["currencyCode"],
        "USD"
    );
}

#[tokio::test]
async fn a_bad_token_closes_with_4403() {
    let server = TestServer::spawn().await;
    let forged = sign(
        claims("ann", "customer", &[]),
        Algorithm::HS256,
        b"another-secret-that-is-32-bytes-long!!",
    );
    for payload in [
        json!({ "token": "a.b.c" }),
        json!({ "Authorization": format!("Bearer {forged}") }),
        json!({ "Authorization": "Basic abc" }),
    ] {
        let mut socket = open(&server).await;
        send(
            &mut socket,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await;
        assert_eq!(
            next(&mut socket).await,
            json!({ "close": 4403 }),
            "{payload}"
        );
    }
}

#[tokio::test]
async fn no_connection_init_closes_with_4408_and_a_subscribe_first_with_4401() {
    let server = TestServer::spawn_with(&["--ws-init-timeout", "1s"]).await;
    let mut idle = open(&server).await;
    assert_eq!(next(&mut idle).await, json!({ "close": 4408 }));
    let mut eager = open(&server).await;
    subscribe(&mut eager, "1", json!({})).await;
    assert_eq!(next(&mut eager).await, json!({ "close": 4401 }));
}

#[tokio::test]
async fn at_token_expiry_the_socket_closes_with_4403_without_completing_its_operations() {
    let server = TestServer::spawn().await;
    let mut short = claims("ann", "customer", &[]);
    short["exp"] = json!(now() + 2);
    let token = sign(short, Algorithm::HS256, SECRET.as_bytes());
    let mut socket = connect(&server, json!({ "token": token })).await;
    subscribe(&mut socket, "1", json!({})).await;
    assert_eq!(cart_of(&next(&mut socket).await)["version"], 0);
    // The socket ends with the code a graphql-ws client retries after, and
    // nothing before it: had the subscription completed first, the client
    // would have no operation left, close with 1000 and never reconnect.
    assert_eq!(next(&mut socket).await, json!({ "close": 4403 }));
}

#[tokio::test]
async fn a_plain_websocket_without_the_subprotocol_is_refused() {
    let server = TestServer::spawn().await;
    let url = format!("{}/graphql/ws", server.base.replace("http://", "ws://"));
    let error = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(error.to_string().contains("400"), "{error}");
}

#[tokio::test]
async fn a_merge_at_log_in_is_pushed_too() {
    // Expiry and the sweep are tested in-process, on a clock the test moves
    // (src/graphql/tests/expiry.rs).
    let server = TestServer::spawn().await;
    let customer = crate::shop::customer_account(&server, "live@example.com").await;
    let mut watcher = connect(&server, json!({ "token": customer })).await;
    subscribe(&mut watcher, "c", json!({})).await;
    assert_eq!(cart_of(&next(&mut watcher).await)["version"], 0);

    let guest = crate::identity::start_guest(&server).await;
    let mut guest_watch = connect(&server, json!({ "token": guest })).await;
    subscribe(&mut guest_watch, "g", json!({})).await;
    assert_eq!(cart_of(&next(&mut guest_watch).await)["version"], 0);
    add(&server, &guest, "default", "MUG-LOGO", 2).await;
    let added = next(&mut guest_watch).await;
    assert_eq!(
        cart_of(&added)["lines"],
        json!([{"sku": "MUG-LOGO", "quantity": 2}])
    );

    let fresh_guest = crate::identity::start_guest(&server).await;
    add(&server, &fresh_guest, "default", "TEE-BLK-M", 1).await;
    let payload = crate::shop::log_in(
        &server,
        "live@example.com",
        crate::shop::PASSWORD,
        Some(&fresh_guest),
        None,
    )
    .await;
    assert_eq!(codes(&payload), Vec::<String>::new(), "{payload}");
    let merged = next(&mut watcher).await;
    assert_eq!(
        cart_of(&merged)["lines"],
        json!([{"sku": "TEE-BLK-M", "quantity": 1}])
    );
}

#[tokio::test]
async fn a_deeply_nested_document_over_the_socket_is_refused_and_the_server_lives_on() {
    let server = TestServer::spawn().await;
    let mut socket = connect(&server, json!({})).await;
    let query = format!(
        "subscription {{ cartUpdated(cart: {}\"x\"{}) {{ version }} }}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "deep", "payload": { "query": query } }),
    )
    .await;
    let refused = next(&mut socket).await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{refused}"
    );
    assert!(
        refused["payload"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{refused}"
    );
    assert_eq!(
        next(&mut socket).await,
        json!({"id": "deep", "type": "complete"})
    );
    send(
        &mut socket,
        json!({ "type": "subscribe", "id": "bad", "payload": { "query": "{ shop { nope } }" } }),
    )
    .await;
    let invalid = next(&mut socket).await;
    let errors = if invalid["type"] == "error" {
        invalid["payload"].clone()
    } else {
        invalid["payload"]["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "BAD_USER_INPUT",
        "{invalid}"
    );
    assert_eq!(server.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_client_that_closes_gets_the_closing_handshake_back() {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let server = TestServer::spawn().await;
    let mut socket = connect(&server, json!({})).await;
    let bye = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    socket.send(Message::Close(Some(bye))).await.unwrap();
    // Not a dropped connection (1006 to a browser): the close is answered.
    assert_eq!(next(&mut socket).await, json!({ "close": 1000 }));
}

#[tokio::test]
async fn a_message_over_the_message_limit_closes_the_socket_with_1009() {
    let server = TestServer::spawn_with(&["--max-ws-message-bytes", "4096"]).await;
    let mut socket = connect(&server, json!({})).await;
    let padding = "x".repeat(10_000);
    send(&mut socket, json!({ "type": "subscribe", "id": "1", "payload": { "query": "{ shop { currencyCode } }", "variables": { "pad": padding } } })).await;
    // 1009 Message Too Big: a graphql-ws client does not retry (and send it again).
    assert_eq!(next(&mut socket).await, json!({ "close": 1009 }));
    assert_eq!(server.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn log_out_everywhere_ends_live_subscriptions_and_refuses_the_socket() {
    let server = TestServer::spawn().await;
    let token = crate::shop::customer_account(&server, "socket@example.com").await;
    let mut socket = connect(&server, json!({ "token": token })).await;
    subscribe(&mut socket, "live", json!({})).await;
    assert_eq!(cart_of(&next(&mut socket).await)["version"], 0);
    // Watching every order: it sends nothing until an order changes, so only
    // the log-out itself can end it now.
    let watch = json!({ "type": "subscribe", "id": "orders", "payload": { "query": "subscription { orderUpdated { id } }" } });
    send(&mut socket, watch).await;
    // Answered after the subscriptions before it started (one socket, in order).
    let ping =
        json!({ "type": "subscribe", "id": "ping", "payload": { "query": "{ viewer { id } }" } });
    send(&mut socket, ping).await;
    assert_eq!(next(&mut socket).await["id"], "ping");
    assert_eq!(next(&mut socket).await["type"], "complete");

    // Logged out from another device: every token issued so far is revoked.
    let logged_out = server
        .data(Some(&token), "mutation { logOutEverywhere }", json!({}))
        .await;
    assert_eq!(logged_out["logOutEverywhere"], true);
    // Both end at once, the cart's and the orders' (in either order).
    // Each is an error then a complete; the two may interleave.
    let mut ended = std::collections::BTreeMap::new();
    let mut completed = std::collections::BTreeSet::new();
    while ended.len() < 2 || completed.len() < 2 {
        let message = next(&mut socket).await;
        let id = message["id"].as_str().unwrap().to_string();
        if message["type"] == "complete" {
            assert!(
                ended.contains_key(&id),
                "completed before its error: {message}"
            );
            assert!(completed.insert(id), "completed twice: {message}");
            continue;
        }
        assert_eq!(
            message["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{message}"
        );
        assert!(
            message["payload"]["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("revoked"),
            "{message}"
        );
        ended.insert(id, message);
    }
    assert_eq!(ended.keys().collect::<Vec<_>>(), ["live", "orders"]);

    let query =
        json!({ "type": "subscribe", "id": "q", "payload": { "query": "{ cart { version } }" } });
    send(&mut socket, query).await;
    let refused = next(&mut socket).await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{refused}"
    );
    assert_eq!(refused["payload"]["data"], json!(null));
}

#[tokio::test]
async fn another_viewers_changes_do_not_wake_a_viewers_subscriptions() {
    // Every wake-up of a subscription by a change notice is a trace line.
    let server = LoggedServer::spawn(
        &[
            "--max-subscriptions-per-connection",
            "50",
            "--max-ws-connections-per-viewer",
            "4",
        ],
        "warn,cartql::graphql::subscription=trace",
        None,
    )
    .await;
    let (ann, bob) = (customer("ann"), customer("bob"));
    let mut sockets = Vec::new();
    for _ in 0..4 {
        let mut socket = connect_at(&server.base, json!({ "token": ann })).await;
        for id in 0..50 {
            subscribe(&mut socket, &id.to_string(), json!({})).await;
        }
        for _ in 0..50 {
            assert_eq!(cart_of(&next(&mut socket).await)["version"], 0);
        }
        sockets.push(socket);
    }
    let add = |cart: &str| {
        format!(
            "mutation {{ addCartLines(input: {{cart: \"{cart}\", lines: [{{sku: \"MUG-LOGO\", quantity: 1}}]}}) {{ userErrors {{ code }} }} }}"
        )
    };
    for _ in 0..20 {
        server.data(Some(&bob), &add("default")).await;
    }
    // Ann's own change reaches all 200: every subscription has done its work.
    server.data(Some(&ann), &add("default")).await;
    for socket in &mut sockets {
        for _ in 0..50 {
            assert_eq!(cart_of(&next(socket).await)["version"], 1);
        }
    }
    let wakes = server
        .log()
        .lines()
        .filter(|line| line.contains("cart subscription woken by a change"))
        .count();
    assert_eq!(
        wakes, 200,
        "one wake per subscription, for ann's one change"
    );
}

#[tokio::test]
async fn a_subscribe_with_an_id_in_progress_closes_the_socket_with_4409() {
    let server = TestServer::spawn().await;
    let mut socket = connect(&server, json!({ "token": customer("ann") })).await;
    subscribe(&mut socket, "same", json!({})).await;
    assert_eq!(cart_of(&next(&mut socket).await)["version"], 0);
    subscribe(&mut socket, "same", json!({ "cart": "wishlist" })).await;
    assert_eq!(next(&mut socket).await, json!({ "close": 4409 }));
}

#[tokio::test]
async fn a_long_reused_id_and_an_unknown_message_close_with_their_codes() {
    let server = TestServer::spawn().await;
    let mut socket = connect(&server, json!({ "token": customer("ann") })).await;
    let id = "x".repeat(500);
    subscribe(&mut socket, &id, json!({})).await;
    next(&mut socket).await;
    subscribe(&mut socket, &id, json!({})).await;
    assert_eq!(next(&mut socket).await, json!({ "close": 4409 }));

    let mut socket = connect(&server, json!({})).await;
    send(&mut socket, json!({ "type": "nonsense", "id": "1" })).await;
    assert_eq!(next(&mut socket).await, json!({ "close": 4400 }));
}

#[tokio::test]
async fn the_operations_of_one_socket_are_limited_and_a_completed_one_frees_its_place() {
    let server = TestServer::spawn_with(&["--max-subscriptions-per-connection", "2"]).await;
    let mut socket = connect(&server, json!({ "token": customer("ann") })).await;
    subscribe(&mut socket, "a", json!({})).await;
    subscribe(&mut socket, "b", json!({ "cart": "wishlist" })).await;
    next(&mut socket).await;
    next(&mut socket).await;
    subscribe(&mut socket, "c", json!({})).await;
    let refused = next(&mut socket).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "c");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "TOO_MANY_SUBSCRIPTIONS"
    );
    assert!(
        refused["payload"][0]["message"]
            .as_str()
            .unwrap()
            .contains("2 operations in progress"),
        "{refused}"
    );

    // The client completes "b": its place (and its id) is free again.
    send(&mut socket, json!({ "type": "complete", "id": "b" })).await;
    subscribe(&mut socket, "b", json!({})).await;
    let mut types = Vec::new();
    for _ in 0..2 {
        let message = next(&mut socket).await;
        types.push((message["type"].clone(), message["id"].clone()));
    }
    assert!(types.contains(&(json!("next"), json!("b"))), "{types:?}");

    // A query completes by itself and gives its place back too.
    send(&mut socket, json!({ "type": "complete", "id": "b" })).await;
    let query = json!({ "type": "subscribe", "id": "q", "payload": { "query": "{ shop { currencyCode } }" } });
    for _ in 0..3 {
        send(&mut socket, query.clone()).await;
        let mut answer = next(&mut socket).await;
        while answer["id"] != "q" {
            answer = next(&mut socket).await;
        }
        assert_eq!(answer["type"], "next", "{answer}");
        assert_eq!(
            next(&mut socket).await,
            json!({ "id": "q", "type": "complete" })
        );
    }
}

#[tokio::test]
async fn a_viewer_may_open_a_limited_number_of_sockets() {
    let server = TestServer::spawn_with(&["--max-ws-connections-per-viewer", "2"]).await;
    let ann = customer("ann");
    let first = connect(&server, json!({ "token": ann })).await;
    let _second = connect(&server, json!({ "token": ann })).await;
    let mut third = open(&server).await;
    send(
        &mut third,
        json!({ "type": "connection_init", "payload": { "token": ann } }),
    )
    .await;
    assert_eq!(next(&mut third).await, json!({ "close": 4429 }));
    // Another viewer and anonymous sockets are not counted against ann.
    let _bob = connect(&server, json!({ "token": customer("bob") })).await;
    let _anonymous: Vec<Socket> =
        futures_util::future::join_all((0..3).map(|_| connect(&server, json!({})))).await;

    drop(first);
    let mut reopened = None;
    for _ in 0..50 {
        let mut socket = open(&server).await;
        send(
            &mut socket,
            json!({ "type": "connection_init", "payload": { "token": ann } }),
        )
        .await;
        if next(&mut socket).await["type"] == "connection_ack" {
            reopened = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "a closed socket gives its place back");
}

/// Reads until `want` pings arrived (or `wait` passed), skipping pong
/// frames; panics on anything else.
async fn only_pings(socket: &mut Socket, want: usize, wait: Duration) -> usize {
    let mut pings = 0;
    let deadline = tokio::time::Instant::now() + wait;
    while pings < want
        && let Ok(message) = tokio::time::timeout_at(deadline, socket.next()).await
    {
        match message {
            Some(Ok(Message::Ping(_))) => pings += 1,
            Some(Ok(Message::Pong(_))) => {}
            other => panic!("expected only pings, got {other:?}"),
        }
    }
    pings
}

#[tokio::test]
async fn a_socket_that_answers_no_ping_is_closed_and_one_that_does_stays_open() {
    let server =
        TestServer::spawn_with(&["--ws-ping-interval", "1s", "--ws-idle-timeout", "3s"]).await;
    let mut silent = connect(&server, json!({ "token": customer("ann") })).await;
    let mut lively = connect(&server, json!({ "token": customer("bob") })).await;
    // tokio-tungstenite answers pings while it reads; `silent` is not read
    // until more than its idle timeout has passed (4 pings a second apart).
    let pings = only_pings(&mut lively, 4, Duration::from_secs(10)).await;
    assert!(pings >= 4, "the server pings: {pings}");
    // Closed with 3008; reading the pings queued before it makes tungstenite
    // answer them, which may fail first on the closed connection.
    let closed = next(&mut silent).await;
    assert!(
        closed == json!({ "close": 3008 }) || closed.get("error").is_some(),
        "nothing came back within the idle timeout: {closed}"
    );
    subscribe(&mut lively, "1", json!({})).await;
    assert_eq!(cart_of(&next(&mut lively).await)["version"], 0);
}
