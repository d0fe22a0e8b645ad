//! `/graphql/ws`: GraphQL over WebSocket, graphql-transport-ws protocol.
//!
//! The connection's token arrives in the `connection_init` payload, as
//! `{"Authorization": "Bearer …"}` or `{"token": "…"}`, and is verified like
//! an HTTP bearer token. A bad token closes the socket with 4403, no
//! `connection_init` within 10 s with 4408, a message before it with 4401.
//! A viewer (token owner) may have `--max-ws-connections-per-viewer` sockets
//! open at once; one more is closed with 4429 at `connection_init`.
//! After that, [`session`] runs the protocol (operation ids and their limit,
//! keep-alive, shutdown); every operation on the socket sees the connection's
//! viewer, exactly as HTTP requests see theirs. [`limits`] counts operations
//! per socket and sockets per viewer. [`upgrade`] does the handshake and
//! [`outgoing`] bounds and frames what the server writes: answers up to
//! 16 MiB, in 16 KiB frames; a larger one is an `error` for its operation.

mod limits;
mod outgoing;
mod session;
mod upgrade;

use super::AppState;
use super::listener::{ConnectionSlot, Lifecycle, reached};
use crate::auth::ClientAddress;
use crate::auth::verifier::VerifyError;
use crate::auth::{TokenError, Viewer, token::bearer_token};
use crate::graphql::error::{Chain, RequestCode, with_code};
use async_graphql::{Data, Executor, Request, ServerError};
use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::stream::BoxStream;
use futures_util::{SinkExt, StreamExt};
use limits::OperationTicket;
pub(crate) use limits::SocketCounts;
use serde_json::Value;
use std::any::TypeId;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use upgrade::{Socket, Upgrade};

/// WebSocket limits and timeouts.
#[derive(Clone, Copy, Debug)]
pub(super) struct WsSettings {
    /// Time a client has to send `connection_init` (4408 after).
    pub init_timeout: Duration,
    /// The largest message accepted from a client (`--max-ws-message-bytes`).
    pub max_message: usize,
    /// Operations in progress at once on one socket.
    pub max_operations: usize,
    /// Sockets open at once per viewer.
    pub max_per_viewer: usize,
    /// Sockets open at once per client address.
    pub max_per_client: usize,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// Time without anything from the client before the socket is closed.
    pub idle_timeout: Duration,
}

/// Upgrades to a WebSocket speaking graphql-transport-ws.
pub(super) async fn graphql_ws(
    State(state): State<AppState>,
    slot: Option<Extension<ConnectionSlot>>,
    peer: Option<Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    upgrade: Upgrade,
) -> Response {
    let offered = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|list| list.split(',').any(|p| p.trim() == SUBPROTOCOL));
    if !offered {
        let message = format!("use the {SUBPROTOCOL} subprotocol");
        return super::error_response(StatusCode::BAD_REQUEST, RequestCode::BadUserInput, &message);
    }
    let client = peer.map(|Extension(info)| state.trusted_proxies.client(info.0.ip(), &headers));
    // Sockets per client address: guests are free, so the per-viewer cap
    // alone does not bound one client.
    let max = state.ws.max_per_client;
    let client_place = match client {
        Some(client) => match state.ws_clients.claim(client.throttle_key(), max) {
            Some(place) => Some(place),
            None => {
                let message = format!("too many WebSockets from this address (at most {max})");
                return super::error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    RequestCode::Throttled,
                    &message,
                );
            }
        },
        None => None,
    };
    let config = socket_config(state.ws.max_message);
    upgrade.on_upgrade(SUBPROTOCOL, config, move |socket| async move {
        // The socket keeps its connection's place under the cap until it closes.
        let _slot = slot;
        let _client_place = client_place;
        serve(socket, state, client).await
    })
}

/// Small buffers: every open socket holds its own. What a client sends is
/// bounded by `max_message` (tungstenite's size limits apply to reading
/// only). Each write is flushed before the next is queued, and answers go out
/// in frames of [`outgoing::FRAME_BYTES`], so the write buffer holds one
/// frame and perhaps a pong or close: a frame larger than the bound below
/// would fail the socket, which is why no message is ever written whole.
fn socket_config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(2 * outgoing::FRAME_BYTES)
}

/// Bytes read from the socket at a time (tungstenite's default is 128 KiB).
const READ_BUFFER: usize = 8 * 1024;

/// The one subprotocol served.
const SUBPROTOCOL: &str = "graphql-transport-ws";

async fn serve(socket: Socket, state: AppState, client: Option<ClientAddress>) {
    let (mut sink, mut incoming) = socket.split();
    let mut lifecycle = state.lifecycle.clone();
    let first = tokio::select! {
        first = tokio::time::timeout(state.ws.init_timeout, incoming.next()) => first,
        () = reached(&mut lifecycle, Lifecycle::Draining) => {
            return close(&mut sink, 1001, "The server is shutting down").await;
        }
    };
    let first = match first {
        Err(_) => return close(&mut sink, 4408, "Connection initialisation timeout").await,
        Ok(Some(Ok(message))) => message,
        Ok(Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(_)))) => {
            let (code, reason) = session::too_big(state.ws.max_message);
            return close(&mut sink, code, reason).await;
        }
        Ok(_) => return,
    };
    let viewer = match connection_init(&first) {
        Err((code, reason)) => return close(&mut sink, code, reason).await,
        Ok(None) => None,
        Ok(Some(token)) => match state.services.verifier.verify(&token).await {
            Ok(viewer) => Some(viewer),
            Err(VerifyError::Invalid(_)) => return close(&mut sink, 4403, "Forbidden").await,
            Err(VerifyError::Unavailable(e)) => {
                tracing::error!(error = %Chain(&e), "reading the revocation record failed");
                return close(&mut sink, 1011, "Internal error").await;
            }
        },
    };
    // A viewer's sockets are counted across the process; anonymous ones only
    // against the connection cap.
    let place = match &viewer {
        None => None,
        Some(viewer) => {
            let max = state.ws.max_per_viewer;
            match state.ws_viewers.claim(viewer.owner_key().to_string(), max) {
                Some(place) => Some(place),
                None => {
                    let reason = format!("Too many connections for this viewer (at most {max})");
                    return close(&mut sink, 4429, reason).await;
                }
            }
        }
    };
    // Operations on the socket (a logIn, say) are throttled by the client's
    // address like HTTP ones.
    let token_expires = viewer.as_ref().map(Viewer::valid_until);
    let mut data = viewer_data(viewer);
    if let Some(client) = client {
        data.insert(client);
    }
    // The engine answers the same connection_init with connection_ack.
    let open = crate::metrics::Live::new("cartql_websockets_open");
    session::run(
        sink,
        incoming,
        first.into_data().as_ref(),
        data,
        state,
        token_expires,
    )
    .await;
    drop(open);
    drop(place);
}

/// The schema as the socket runs it: before each operation the connection's
/// token is checked against `logOutEverywhere` again (it was verified once, at
/// `connection_init`), and every response's errors get a code, as over HTTP.
#[derive(Clone)]
struct Classified(AppState);

impl Executor for Classified {
    fn execute(&self, request: Request) -> impl Future<Output = async_graphql::Response> + Send {
        let state = self.0.clone();
        async move { state.engine.execute(request).await }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, async_graphql::Response> {
        let state = self.0.clone();
        let ticket = request
            .data
            .get(&TypeId::of::<TicketSlot>())
            .and_then(|any| any.downcast_ref::<TicketSlot>())
            .and_then(TicketSlot::take);
        let viewer = session_data
            .as_ref()
            .and_then(|data| data.get(&TypeId::of::<Viewer>()))
            .and_then(|any| any.downcast_ref::<Viewer>())
            .cloned();
        Box::pin(async_stream::stream! {
            // The operation's id stays taken while this stream lives.
            let _ticket = ticket;
            if let Some(viewer) = &viewer {
                let refused = match state.services.verifier.check_not_revoked(viewer).await {
                    Ok(()) => None,
                    Err(VerifyError::Invalid(e)) => Some((e.to_string(), RequestCode::Unauthenticated)),
                    Err(VerifyError::Unavailable(e)) => {
                        tracing::error!(error = %Chain(&e), "reading the revocation record failed");
                        Some(("internal error; the server log has the details".to_string(), RequestCode::Internal))
                    }
                };
                if let Some((message, code)) = refused {
                    let error = with_code(ServerError::new(message, None), code);
                    yield async_graphql::Response::from_errors(vec![error]);
                    return;
                }
            }
            let mut responses = state.engine.execute_stream(request, session_data);
            while let Some(response) = responses.next().await {
                yield response;
            }
        })
    }
}

/// Carries an operation's [`OperationTicket`] through async-graphql's
/// request data to [`Classified::execute_stream`], which keeps it in the
/// operation's stream.
struct TicketSlot(Mutex<Option<OperationTicket>>);

impl TicketSlot {
    fn new(ticket: OperationTicket) -> Self {
        TicketSlot(Mutex::new(Some(ticket)))
    }

    fn take(&self) -> Option<OperationTicket> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

fn viewer_data(viewer: Option<Viewer>) -> Data {
    let mut data = Data::default();
    if let Some(viewer) = viewer {
        data.insert(viewer);
    }
    data
}

/// Reads the first message: `Ok(token)` if it is a `connection_init`
/// (the token may be absent: an anonymous connection), else the close code.
fn connection_init(message: &Message) -> Result<Option<String>, (u16, &'static str)> {
    let text = match message {
        Message::Text(text) => text.as_str(),
        _ => return Err((4400, "Expected a connection_init text message")),
    };
    let value: Value = serde_json::from_str(text).map_err(|_| (4400, "Invalid message"))?;
    if value.get("type").and_then(Value::as_str) != Some("connection_init") {
        return Err((4401, "Unauthorized"));
    }
    token_from_payload(value.get("payload")).map_err(|_| (4403, "Forbidden"))
}

/// `{"Authorization": "Bearer …"}` (any case) or `{"token": "…"}`.
fn token_from_payload(payload: Option<&Value>) -> Result<Option<String>, TokenError> {
    let Some(Value::Object(fields)) = payload else {
        return Ok(None);
    };
    for (key, value) in fields {
        let Some(text) = value.as_str() else { continue };
        if key.eq_ignore_ascii_case("authorization") {
            return bearer_token(text).map(|t| Some(t.to_string()));
        }
        if key == "token" {
            return Ok(Some(text.to_string()));
        }
    }
    Ok(None)
}

/// Sends a close frame; a reason too long for one is shortened.
async fn close<S>(sink: &mut S, code: u16, reason: impl Into<String>)
where
    S: futures_util::Sink<Message> + Unpin,
{
    let frame = CloseFrame {
        code: code.into(),
        reason: fit_close_reason(reason.into()).into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

/// A close frame's reason holds at most 123 bytes (a longer one would make
/// the frame unsendable). Ids in 4409 reasons and async-graphql's parse
/// errors can be longer.
fn fit_close_reason(mut reason: String) -> String {
    const MAX: usize = 123;
    if reason.len() > MAX {
        let mut end = MAX - '…'.len_utf8();
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn init(payload: Value) -> Message {
        Message::Text(
            json!({"type": "connection_init", "payload": payload})
                .to_string()
                .into(),
        )
    }

    #[test]
    fn the_token_comes_from_either_payload_shape() {
        assert_eq!(
            connection_init(&init(json!({"Authorization": "Bearer abc"}))),
            Ok(Some("abc".into()))
        );
        assert_eq!(
            connection_init(&init(json!({"authorization": "bearer abc"}))),
            Ok(Some("abc".into()))
        );
        assert_eq!(
            connection_init(&init(json!({"token": "abc"}))),
            Ok(Some("abc".into()))
        );
        assert_eq!(connection_init(&init(json!({}))), Ok(None));
        assert_eq!(connection_init(&init(json!(null))), Ok(None));
    }

    #[test]
    fn a_long_reason_is_shortened_to_fit_a_close_frame() {
        let reason = fit_close_reason(format!("Subscriber for {} already exists", "é".repeat(200)));
        assert!(reason.len() <= 123 && reason.ends_with('…'), "{reason}");
        assert_eq!(fit_close_reason("Forbidden".into()), "Forbidden");
    }

    #[test]
    fn anything_but_a_good_connection_init_is_a_close_code() {
        assert_eq!(
            connection_init(&init(json!({"Authorization": "Basic abc"}))),
            Err((4403, "Forbidden"))
        );
        let subscribe = Message::Text(
            json!({"type": "subscribe", "id": "1", "payload": {}})
                .to_string()
                .into(),
        );
        assert_eq!(connection_init(&subscribe), Err((4401, "Unauthorized")));
        assert_eq!(
            connection_init(&Message::Text("nope".into()))
                .unwrap_err()
                .0,
            4400
        );
        assert_eq!(
            connection_init(&Message::Binary(vec![1].into()))
                .unwrap_err()
                .0,
            4400
        );
    }
}
