//! Large answers over /graphql/ws: what the limits admit is delivered, and
//! what cannot be sent is said, never dropped with the socket.

use crate::helpers::*;
use crate::sockets::{Socket, connect, next, send};
use serde_json::{Value, json};

/// A note of 10,000 four-byte characters: 40,000 bytes.
fn long_note() -> String {
    "𝄞".repeat(10_000)
}

/// A `cartUpdated` subscription that asks for the note `copies` times.
fn notes_subscription(copies: usize) -> String {
    let aliases: Vec<String> = (0..copies).map(|i| format!("n{i}: note")).collect();
    format!(
        "subscription {{ cartUpdated {{ version {} }} }}",
        aliases.join(" ")
    )
}

async fn subscribe_to(socket: &mut Socket, id: &str, query: &str) {
    send(
        socket,
        json!({ "type": "subscribe", "id": id, "payload": { "query": query } }),
    )
    .await;
}

async fn write_note(server: &TestServer, token: &str, note: &str) {
    let data = server
        .data(
            Some(token),
            "mutation($note: String) { updateCartNote(input: {note: $note}) { userErrors { code } } }",
            json!({ "note": note }),
        )
        .await;
    assert_eq!(data["updateCartNote"]["userErrors"], json!([]), "{data}");
}

#[tokio::test]
async fn a_cart_answer_larger_than_the_old_256_kib_write_bound_reaches_the_subscriber_whole() {
    let server = TestServer::spawn_with(&["--max-note-bytes", "40000"]).await;
    let token = customer("ann");
    let mut socket = connect(&server, json!({ "token": token })).await;
    subscribe_to(&mut socket, "big", &notes_subscription(10)).await;
    let first = next(&mut socket).await;
    assert_eq!(
        first["payload"]["data"]["cartUpdated"]["version"], 0,
        "{first}"
    );

    let note = long_note();
    write_note(&server, &token, &note).await;
    // Ten copies of 40,000 bytes: about 400,000 bytes in one `next`.
    let update = next(&mut socket).await;
    assert_eq!(update["type"], "next", "the socket ended instead: {update}");
    let cart = &update["payload"]["data"]["cartUpdated"];
    assert_eq!(cart["version"], 1);
    for i in 0..10 {
        assert_eq!(cart[format!("n{i}")], Value::from(note.as_str()), "n{i}");
    }
    assert!(update.to_string().len() > 400_000);
}

#[tokio::test]
async fn an_answer_over_16_mib_is_an_error_for_its_operation_and_the_socket_stays_open() {
    let server = TestServer::spawn_with(&["--max-note-bytes", "40000"]).await;
    let token = customer("ann");
    write_note(&server, &token, &long_note()).await;
    let mut socket = connect(&server, json!({ "token": token })).await;
    // 430 copies of 40,000 bytes: 17.2 MB, over the 16 MiB bound.
    subscribe_to(&mut socket, "huge", &notes_subscription(430)).await;
    let refused = next(&mut socket).await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "huge");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "RESPONSE_TOO_LARGE"
    );
    let message = refused["payload"][0]["message"].as_str().unwrap();
    assert!(message.contains("16 MiB"), "{message}");

    // The operation is over: its id is free at once, and the socket serves on.
    subscribe_to(
        &mut socket,
        "huge",
        "subscription { cartUpdated { version } }",
    )
    .await;
    let small = next(&mut socket).await;
    assert_eq!(small["type"], "next", "{small}");
    assert_eq!(small["id"], "huge");
    assert_eq!(small["payload"]["data"]["cartUpdated"]["version"], 1);
    write_note(&server, &token, "short").await;
    let changed = next(&mut socket).await;
    assert_eq!(changed["id"], "huge", "{changed}");
    assert_eq!(changed["payload"]["data"]["cartUpdated"]["version"], 2);
}
