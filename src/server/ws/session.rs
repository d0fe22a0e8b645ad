//! One WebSocket after its `connection_init` was accepted: the messages
//! between the client and async-graphql's protocol engine
//! ([`async_graphql::http::WebSocket`]), and what the server adds to it.
//!
//! - **Operation ids.** Every `subscribe` is admitted by [`OperationIds`]: an
//!   id still in progress closes the socket with 4409 (`Subscriber for <id>
//!   already exists`, as graphql-transport-ws says; async-graphql would
//!   silently replace the operation); over `--max-subscriptions-per-connection`
//!   the client gets an `error` message for that id, code
//!   `TOO_MANY_SUBSCRIPTIONS`. An id is free again once its operation
//!   completes, either way.
//!   A message that is not one of the protocol's closes the socket with 4400.
//! - **Keep-alive.** A ping frame every `--ws-ping-interval`; a socket from
//!   which nothing (message, ping or pong) arrived for `--ws-idle-timeout` is
//!   closed with 3008. A send the client does not take within that time ends
//!   the socket too.
//! - **Shutdown.** When the server drains, the socket is closed with 1001.
//! - **Token expiry.** When the connection's token expires (its `exp` plus
//!   the clock-skew leeway, the instant HTTP starts answering 401), the
//!   socket is closed with 4403 and its operations with it, *not* completed
//!   first: a `graphql-ws` client retries after 4403 and subscribes again to
//!   what was running (had its operations completed, it would have nothing
//!   left to run and close the socket itself with 1000, reconnecting never).
//! - **What is written** passes [`Answers`]: an answer over 16 MiB becomes
//!   an `error` for its operation (`RESPONSE_TOO_LARGE`), which is then
//!   stopped in the engine by a `complete` of our own; long messages are
//!   written in frames ([`outgoing`](super::outgoing)).
//!
//! One task runs it all with `select!`: reading the socket, feeding admitted
//! messages to the engine (one at a time, so a client that floods is read no
//! faster than the engine takes), and writing what the engine answers.

use super::limits::{OperationIds, Refused};
use super::outgoing::{self, Answers, Outgoing};
use super::upgrade::Socket;
use super::{Classified, TicketSlot, close};
use crate::clock::until;
use crate::graphql::error::RequestCode;
use crate::server::AppState;
use crate::server::listener::{Lifecycle, reached};
use async_graphql::Data;
use async_graphql::http::{ClientMessage, WebSocketProtocols, WsMessage};
use chrono::{DateTime, Utc};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt, stream};
use serde_json::json;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Close code when the connection's token expires: 4403, as for a token
/// refused at `connection_init` (the `graphql-ws` client retries after it,
/// so a `connectionParams` function that returns a renewed token reconnects
/// and subscribes again).
const EXPIRED_CLOSE: u16 = 4403;
/// Close code for a socket that went quiet (IANA-registered "Timeout").
const IDLE_CLOSE: u16 = 3008;
/// How long a close frame may take to send before the socket is dropped.
const CLOSE_SEND_LIMIT: Duration = Duration::from_secs(1);
/// Close code for a message too big, either way (RFC 6455 "Message Too Big").
const TOO_BIG_CLOSE: u16 = 1009;

/// Runs the protocol on an initialised socket until either side ends it.
/// `init` is the client's `connection_init`, which the engine acknowledges.
pub(super) async fn run(
    mut sink: SplitSink<Socket, Message>,
    mut incoming: SplitStream<Socket>,
    init: &[u8],
    data: Data,
    state: AppState,
    token_expires: Option<DateTime<Utc>>,
) {
    let settings = state.ws;
    // The token's expiry ends the socket, operations and all (their own
    // expiry check in the subscription resolvers comes a second later, a
    // backstop for other executors).
    let expiry = tokio::time::sleep(match token_expires {
        Some(at) => until(state.services.clock.now(), at),
        None => Duration::ZERO,
    });
    tokio::pin!(expiry);
    let ids = OperationIds::new(settings.max_operations);
    let mut answers = Answers::new(outgoing::MAX_ANSWER_BYTES);
    let mut lifecycle = state.lifecycle.clone();
    let (to_engine, mut engine_input) = mpsc::channel(1);
    let engine = async_graphql::http::WebSocket::from_message_stream(
        Classified(state),
        stream::poll_fn(move |cx| engine_input.poll_recv(cx)),
        WebSocketProtocols::GraphQLWS,
    )
    .on_connection_init(move |_| async move { Ok(data) });
    tokio::pin!(engine);
    // Messages for the engine, in order: the client's (one at a time: the
    // socket is not read while one waits) and our `complete`s for operations
    // stopped for an answer too large.
    let mut pending = VecDeque::from([ClientMessage::from_bytes(init)]);
    let mut ping = tokio::time::interval_at(
        Instant::now() + settings.ping_interval,
        settings.ping_interval,
    );
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let idle = tokio::time::sleep(settings.idle_timeout);
    tokio::pin!(idle);
    let send_limit = settings.idle_timeout;

    let end: Option<(u16, Cow<'static, str>)> = loop {
        tokio::select! {
            () = reached(&mut lifecycle, Lifecycle::Draining) => {
                break Some((1001, "The server is shutting down".into()));
            }
            () = &mut idle => {
                break Some((IDLE_CLOSE, "No message or pong within the idle timeout".into()));
            }
            () = &mut expiry, if token_expires.is_some() => {
                break Some((EXPIRED_CLOSE, "The token has expired; renew it and connect again".into()));
            }
            answer = engine.next() => match answer {
                Some(WsMessage::Text(text)) => match answers.check(text) {
                    Outgoing::Send(text) => {
                        if !send_text(&mut sink, text, send_limit).await {
                            break None;
                        }
                    }
                    Outgoing::Drop => {}
                    Outgoing::Refuse { id, error } => {
                        // The client may use the id again at once; the
                        // engine sees our `complete` before its `subscribe`.
                        ids.complete(&id);
                        pending.push_back(Ok(ClientMessage::Stop { id }));
                        if !send_text(&mut sink, error, send_limit).await {
                            break None;
                        }
                    }
                    Outgoing::Close(reason) => break Some((TOO_BIG_CLOSE, reason.into())),
                },
                Some(WsMessage::Close(code, reason)) => break Some((code, reason.into())),
                None => break None,
            },
            permit = to_engine.reserve(), if !pending.is_empty() => match (permit, pending.pop_front()) {
                (Ok(permit), Some(message)) => permit.send(message),
                _ => break None,
            },
            frame = incoming.next(), if pending.is_empty() => {
                idle.as_mut().reset(Instant::now() + settings.idle_timeout);
                let message = match frame {
                    Some(Ok(Message::Text(text))) => admit(&ids, text.as_bytes()),
                    Some(Ok(Message::Binary(bytes))) => admit(&ids, &bytes),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                    Some(Ok(Message::Close(_))) => {
                        // tungstenite has queued the answering close frame;
                        // it leaves with a flush, not by itself.
                        let _ = tokio::time::timeout(CLOSE_SEND_LIMIT, sink.flush()).await;
                        break None;
                    }
                    Some(Err(WsError::Capacity(_))) => break Some(too_big(settings.max_message)),
                    Some(Err(_)) | None => break None,
                };
                match message {
                    Admission::Forward(message) => pending.push_back(message),
                    Admission::Reply(text) => {
                        if !send_text(&mut sink, text, send_limit).await {
                            break None;
                        }
                    }
                    Admission::Close(code, reason) => break Some((code, reason)),
                }
            }
            _ = ping.tick() => {
                if !send(&mut sink, Message::Ping(Default::default()), send_limit).await {
                    break None;
                }
            }
        }
    };
    if let Some((code, reason)) = end {
        let _ = tokio::time::timeout(CLOSE_SEND_LIMIT, close(&mut sink, code, reason)).await;
    }
}

/// What to do with one client message.
// One per message, moved straight on; async-graphql's `ClientMessage` is as
// large itself (it allows the same lint).
#[allow(clippy::large_enum_variant)]
enum Admission {
    /// Hand it to the engine.
    Forward(serde_json::Result<ClientMessage>),
    /// Answer it here (and drop it).
    Reply(String),
    /// Close the socket.
    Close(u16, Cow<'static, str>),
}

/// Checks a `subscribe` against the socket's operation ids; notes a
/// `complete`; closes on a message that is not one of the protocol's (4400,
/// as graphql-transport-ws says); forwards everything else.
fn admit(ids: &OperationIds, bytes: &[u8]) -> Admission {
    match ClientMessage::from_bytes(bytes) {
        Ok(ClientMessage::Start { id, payload }) => match ids.admit(&id) {
            Ok(ticket) => Admission::Forward(Ok(ClientMessage::Start {
                payload: payload.data(TicketSlot::new(ticket)),
                id,
            })),
            Err(Refused::Duplicate) => {
                Admission::Close(4409, format!("Subscriber for {id} already exists").into())
            }
            Err(Refused::Full) => Admission::Reply(too_many(&id, ids.max())),
        },
        Ok(ClientMessage::Stop { id }) => {
            ids.complete(&id);
            Admission::Forward(Ok(ClientMessage::Stop { id }))
        }
        Ok(other) => Admission::Forward(Ok(other)),
        Err(_) => Admission::Close(4400, "Invalid message received".into()),
    }
}

/// The `error` message for a `subscribe` over the per-socket limit.
fn too_many(id: &str, max: usize) -> String {
    json!({
        "id": id,
        "type": "error",
        "payload": [{
            "message": format!("this connection already has {max} operations in progress (the limit); complete one first or open another connection"),
            "extensions": { "code": RequestCode::TooManySubscriptions.as_str() },
        }],
    })
    .to_string()
}

/// The close for a client message over `--max-ws-message-bytes` (1009,
/// Message Too Big): a client that is told does not send it again.
pub(super) fn too_big(max: usize) -> (u16, Cow<'static, str>) {
    let reason = format!("A message over {max} bytes (--max-ws-message-bytes)");
    (TOO_BIG_CLOSE, reason.into())
}

/// Sends one message, giving up after `limit` (a client that does not read).
async fn send(sink: &mut SplitSink<Socket, Message>, message: Message, limit: Duration) -> bool {
    matches!(
        tokio::time::timeout(limit, sink.send(message)).await,
        Ok(Ok(()))
    )
}

/// Sends a text message in frames of at most [`outgoing::FRAME_BYTES`], each
/// flushed before the next; the whole message within `limit`.
async fn send_text(sink: &mut SplitSink<Socket, Message>, text: String, limit: Duration) -> bool {
    let frames = outgoing::frames(text, outgoing::FRAME_BYTES);
    let all = async {
        for frame in frames {
            sink.send(Message::Frame(frame)).await?;
        }
        Ok::<(), tokio_tungstenite::tungstenite::Error>(())
    };
    matches!(tokio::time::timeout(limit, all).await, Ok(Ok(())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn subscribe(id: &str) -> Vec<u8> {
        json!({"type": "subscribe", "id": id, "payload": {"query": "{ shop { currencyCode } }"}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn a_second_subscribe_with_an_id_in_progress_closes_with_4409() {
        let ids = OperationIds::new(10);
        let Admission::Forward(Ok(first)) = admit(&ids, &subscribe("a")) else {
            panic!("the first is forwarded");
        };
        match admit(&ids, &subscribe("a")) {
            Admission::Close(4409, reason) => assert_eq!(reason, "Subscriber for a already exists"),
            _ => panic!("a duplicate closes the socket"),
        }
        drop(first);
        assert!(matches!(
            admit(&ids, &subscribe("a")),
            Admission::Forward(Ok(_))
        ));
    }

    #[test]
    fn over_the_limit_a_subscribe_gets_an_error_message_for_its_id() {
        let ids = OperationIds::new(1);
        let _first = admit(&ids, &subscribe("a"));
        let Admission::Reply(text) = admit(&ids, &subscribe("b")) else {
            panic!("refused with a reply");
        };
        let reply: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(reply["id"], "b");
        assert_eq!(reply["type"], "error");
        assert_eq!(
            reply["payload"][0]["extensions"]["code"],
            "TOO_MANY_SUBSCRIPTIONS"
        );
        let complete = json!({"type": "complete", "id": "a"}).to_string();
        assert!(matches!(
            admit(&ids, complete.as_bytes()),
            Admission::Forward(Ok(_))
        ));
        assert!(matches!(
            admit(&ids, &subscribe("b")),
            Admission::Forward(Ok(_))
        ));
    }
}
