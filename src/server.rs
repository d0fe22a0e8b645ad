//! HTTP: the axum router, its layers, and the application's life cycle.
//!
//! Routes: `POST|GET /graphql` ([`graphql_http`]), `GET /graphql/ws`
//! ([`ws`]), `GET /` and `/playground/*` ([`playground`]), `GET /healthz`,
//! `GET /readyz`.
//! [`media`] negotiates response types. [`Application::build`] opens the
//! store and binds the listener; [`Application::run_until_stopped`] serves
//! until the caller's shutdown future resolves, then closes the store. Tests
//! bind port 0 this way.
//! [`listener`] accepts connections: the connection cap, header-read and idle
//! timeouts, and the graceful shutdown with its deadline.

pub mod client_address;
mod graphql_http;
mod listener;
mod media;
pub mod playground;
mod ws;

use crate::clock::SystemClock;
use crate::config::ServeConfig;
use crate::graphql::engine::Engine;
use crate::graphql::error::RequestCode;
use crate::services::Services;
use crate::start::{StartError, Started};
use crate::store::backend::{Background, Running};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use listener::{Lifecycle, ListenerSettings};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// Per-process state the handlers share: one allocation, so the clone
/// axum makes for every request is one reference count, not a copy of the
/// services' and settings' fields.
#[derive(Clone)]
struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
struct Shared {
    /// Runs GraphQL requests.
    engine: Engine,
    /// What resolvers use: the store (readiness), the token verifier.
    services: Services,
    /// Whose `X-Forwarded-For` names the client.
    trusted_proxies: Arc<client_address::TrustedProxies>,
    /// WebSocket limits and timeouts.
    ws: ws::WsSettings,
    /// Open WebSockets per viewer, across the process.
    ws_viewers: Arc<ws::SocketCounts>,
    /// Open WebSockets per client address, across the process.
    ws_clients: Arc<ws::SocketCounts>,
    /// Serving, draining or closing: long-lived handlers (WebSockets) watch it.
    lifecycle: watch::Receiver<Lifecycle>,
}

/// A built, bound, not yet serving application.
pub struct Application {
    listener: tokio::net::TcpListener,
    /// `/metrics`, on its own listener when `--metrics-listen` is set.
    metrics: Option<(tokio::net::TcpListener, Router)>,
    router: Router,
    store: Running,
    connections: ListenerSettings,
    lifecycle: watch::Sender<Lifecycle>,
    /// Sends the webhook outbox while the server runs.
    relay: crate::app::webhooks::Relay,
    /// Makes backups on `--backup-every`, when set.
    backups: Option<(crate::services::Services, std::time::Duration)>,
}

impl Application {
    /// Opens the data directory and the store, loads the keys, binds the
    /// listener: wiring only; every setting converts itself (see [`config`](crate::config)).
    pub async fn build(config: &ServeConfig) -> Result<Application, StartError> {
        let ws = ws_settings(config)?;
        let Started { services, running } =
            Services::build(config, Arc::new(SystemClock), Background::Run).await?;
        let limits = config.query_limits();
        let relay = crate::app::webhooks::Relay::new(
            services.clone(),
            crate::graphql::webhooks::render(&services),
        )
        .map_err(StartError)?;
        let backups = config.backup_every.map(|every| (services.clone(), every));
        let (lifecycle, watching) = watch::channel(Lifecycle::Serving);
        let state = AppState(Arc::new(Shared {
            engine: Engine::new(services.clone(), limits),
            services,
            trusted_proxies: Arc::new(client_address::TrustedProxies::new(
                config.trusted_proxies.clone(),
            )),
            ws,
            ws_viewers: Arc::default(),
            ws_clients: Arc::default(),
            lifecycle: watching,
        }));
        let router = router(state, config, cors(&config.cors_origins)?);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartError(format!("--listen {}: {e}", config.listen)))?;
        let metrics = match config.metrics_listen {
            None => None,
            Some(addr) => {
                let router = crate::metrics::router()
                    .map_err(|e| StartError(format!("--metrics-listen: {e}")))?;
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| StartError(format!("--metrics-listen {addr}: {e}")))?;
                Some((listener, router))
            }
        };
        let connections = ListenerSettings {
            max_connections: listener::fit_open_file_limit(config.max_connections as usize),
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
            shutdown_grace: config.shutdown_grace,
        };
        Ok(Application {
            listener,
            metrics,
            router,
            store: running,
            connections,
            lifecycle,
            relay,
            backups,
        })
    }

    /// The HTTP service without the listener, to drive in-process (the
    /// instruction-count benchmark sends requests straight to it).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The address `/metrics` is served on, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    /// The address the listener is bound to (the real port when 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, lets requests in flight finish (for
    /// at most `--shutdown-grace`), then closes the store (its background work
    /// stops and every acknowledged write is on disk).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // A scrape is one small GET from the operator's network; the main
        // listener's limits are for the internet.
        let metrics = self.metrics.map(|(listener, router)| {
            tokio::spawn(async move { axum::serve(listener, router).await })
        });
        let (stop_relay, relay_stops) = watch::channel(false);
        let relay = tokio::spawn(self.relay.run(relay_stops.clone()));
        let backups = self.backups.map(|(services, every)| {
            tokio::spawn(crate::app::backups::every(services, every, relay_stops))
        });
        listener::serve(
            self.listener,
            self.router,
            self.connections,
            self.lifecycle,
            shutdown,
        )
        .await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        // The relay finishes the attempts it is making (each at most 10 s;
        // one cut short is sent again after its claim runs out).
        let _ = stop_relay.send(true);
        let _ = relay.await;
        // A backup under way is finished first (its file is whole or absent).
        if let Some(backups) = backups {
            let _ = backups.await;
        }
        self.store
            .backend
            .close()
            .await
            .map_err(std::io::Error::other)
    }
}

/// The WebSocket settings; the idle timeout must leave room for a pong.
fn ws_settings(config: &ServeConfig) -> Result<ws::WsSettings, StartError> {
    if config.ws_idle_timeout <= config.ws_ping_interval {
        return Err(StartError(format!(
            "--ws-idle-timeout ({}) must be longer than --ws-ping-interval ({}): a client answers pings",
            humantime::format_duration(config.ws_idle_timeout),
            humantime::format_duration(config.ws_ping_interval),
        )));
    }
    Ok(ws::WsSettings {
        init_timeout: config.ws_init_timeout,
        max_message: config.max_ws_message_bytes as usize,
        max_operations: usize::from(config.max_subscriptions_per_connection),
        max_per_viewer: usize::from(config.max_ws_connections_per_viewer),
        max_per_client: usize::from(config.max_ws_connections_per_client),
        ping_interval: config.ws_ping_interval,
        idle_timeout: config.ws_idle_timeout,
    })
}

/// CORS for browser clients on other origins: only those configured; the
/// `Authorization` header is allowed, cookies are not used.
fn cors(origins: &[String]) -> Result<CorsLayer, StartError> {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o).map_err(|_| {
                    StartError(format!("--cors-origins: '{o}' is not a valid header value"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(values)
    };
    Ok(CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .max_age(std::time::Duration::from_secs(3600)))
}

fn router(state: AppState, config: &ServeConfig, cors: CorsLayer) -> Router {
    Router::new()
        .route(
            "/graphql",
            get(graphql_http::graphql_get).post(graphql_http::graphql_post),
        )
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/", get(playground::page))
        .route("/playground/{asset}", get(playground::asset))
        // async-graphql-axum reads the body itself and ignores axum's default limit.
        .layer(RequestBodyLimitLayer::new(config.max_body_bytes as usize))
        // A slow client (or a slow body upload) cannot hold a request open forever.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(cors)
        // Outermost but tracing: every error answer carries a code, also
        // those the layers above write themselves (413, 408, 405, 404).
        .layer(axum::middleware::map_response(coded_errors))
        // A span per HTTP request (method, path) at the default log level, so
        // an error logged while serving it says which request it was; a line
        // per response only at debug.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::DEBUG))
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        )
        .with_state(state)
}

/// Gives an error answer that is not JSON (from a layer or the router) a
/// GraphQL-shaped body with a code.
async fn coded_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            RequestCode::BadUserInput,
            "the request body is larger than the server accepts",
        ),
        StatusCode::REQUEST_TIMEOUT => (
            RequestCode::BadUserInput,
            "the request took longer than the server allows",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            RequestCode::BadUserInput,
            "this path does not take that method",
        ),
        StatusCode::NOT_FOUND => (RequestCode::BadUserInput, "nothing is served at this path"),
        s if s.is_server_error() => (
            RequestCode::Internal,
            "internal error; the server log has the details",
        ),
        _ => (RequestCode::BadUserInput, "the request was refused"),
    };
    let (mut parts, _) = response.into_parts();
    let coded = error_response(status, code, message);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, coded.into_body())
}

/// A GraphQL-shaped error body with one error and its code.
pub(crate) fn error_response(status: StatusCode, code: RequestCode, message: &str) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    (status, Json(body)).into_response()
}

/// Liveness: the process answers.
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Readiness: the store answers a read (503 when it does not).
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match state.services.store.ready().await {
        Ok(()) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "readiness check failed");
            let body = Json(serde_json::json!({ "status": "unavailable" }));
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
        }
    }
}
