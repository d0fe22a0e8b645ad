//! The WebSocket handshake (RFC 6455 §4.2), done here rather than by axum's
//! `WebSocketUpgrade` so that the socket is tungstenite's own stream: axum's
//! `WebSocket` cannot send a message as several frames, and tungstenite keeps
//! its write buffer as large as the largest frame it ever sent, for the
//! socket's whole life. [`super::outgoing`] sends large answers in small
//! frames instead.
//!
//! The checks are axum's: `GET` over HTTP/1.1, `Connection: upgrade`,
//! `Upgrade: websocket`, `Sec-WebSocket-Version: 13`, a key, and a connection
//! hyper can upgrade. A request that fails one gets a JSON error with a code.

use crate::graphql::error::RequestCode;
use crate::server::error_response;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::future::Future;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// An upgraded connection speaking WebSocket.
pub(crate) type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// A request to open a WebSocket, checked.
pub(crate) struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// Why a request cannot be upgraded: its status and message.
pub(crate) struct Refused(StatusCode, &'static str);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        error_response(self.0, RequestCode::BadUserInput, self.1)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Refused> {
        if parts.method != Method::GET {
            let message = "a WebSocket opens with GET";
            return Err(Refused(StatusCode::METHOD_NOT_ALLOWED, message));
        }
        if !header_has_token(&parts.headers, header::CONNECTION, "upgrade")
            || !header_is(&parts.headers, header::UPGRADE, "websocket")
        {
            let message = "not a WebSocket upgrade request";
            return Err(Refused(StatusCode::BAD_REQUEST, message));
        }
        if !header_is(&parts.headers, header::SEC_WEBSOCKET_VERSION, "13") {
            let message = "Sec-WebSocket-Version must be 13";
            return Err(Refused(StatusCode::BAD_REQUEST, message));
        }
        let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
            let message = "Sec-WebSocket-Key is missing";
            return Err(Refused(StatusCode::BAD_REQUEST, message));
        };
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            let message = "this connection cannot be upgraded";
            return Err(Refused(StatusCode::UPGRADE_REQUIRED, message));
        };
        Ok(Upgrade { key, on_upgrade })
    }
}

impl Upgrade {
    /// Answers 101 with `protocol` and runs `serve` on the socket once hyper
    /// hands the connection over (in a task of its own, as axum does).
    pub(crate) fn on_upgrade<F, Fut>(
        self,
        protocol: &'static str,
        config: WebSocketConfig,
        serve: F,
    ) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            // The client went away before the 101 reached it: nothing to serve.
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let socket = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            serve(socket).await;
        });
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(self.key.as_bytes())) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol),
        );
        response
    }
}

/// The header's value is `value`, in any case.
fn header_is(headers: &HeaderMap, name: HeaderName, value: &str) -> bool {
    headers
        .get(name)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(value.as_bytes()))
}

/// The comma-separated header lists `token`, in any case (`keep-alive, Upgrade`).
fn header_has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str().is_ok_and(|list| {
            list.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_lists_are_read_token_by_token_in_any_case() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, "keep-alive, Upgrade".parse().unwrap());
        headers.insert(header::UPGRADE, "WebSocket".parse().unwrap());
        assert!(header_has_token(&headers, header::CONNECTION, "upgrade"));
        assert!(header_is(&headers, header::UPGRADE, "websocket"));
        headers.insert(header::CONNECTION, "upgrades".parse().unwrap());
        assert!(!header_has_token(&headers, header::CONNECTION, "upgrade"));
    }
}
