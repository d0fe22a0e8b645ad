//! HTTP: the axum router, its layers, and the application's life cycle.
//!
//! Routes: `POST|GET /graphql`, `GET /` (playground), `GET /healthz`.
//! [`Application::build`] opens the store and binds the listener;
//! [`Application::run_until_stopped`] serves until the caller's shutdown
//! future resolves, then flushes the store. Tests bind port 0 this way.

mod media;
pub mod playground;
mod ws;

use crate::auth::external::ExternalIssuer;
use crate::auth::password::Passwords;
use crate::auth::throttle::LoginThrottle;
use crate::auth::{self, AuthError, Authenticator, TokenKeys, Viewer, token::bearer_token};
use crate::config::{IdentityConfig, ServeConfig};
use crate::domain::account::ThrottleRule;
use crate::graphql::identity::{ClientAddress, IdentityContext};
use crate::graphql::{self, CartSchema, QueryLimits, ShopSettings, error::classify};
use crate::store::{IdentityStore, OrderStore, SledStore, Store};
use async_graphql::ParseRequestError;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql_axum::GraphQLRequest;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use media::MediaType;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

/// A start-up failure, as one line for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// Per-process state the handlers share. Cheap to clone.
#[derive(Clone)]
struct AppState {
    schema: CartSchema,
    auth: Arc<Authenticator>,
    identity: Arc<dyn IdentityStore>,
    /// How long a WebSocket client has to send `connection_init`.
    ws_init_timeout: std::time::Duration,
}

/// A built, bound, not yet serving application.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    store: Arc<dyn Store>,
    sweeper: Sweeper,
}

impl Application {
    /// Opens the data directory, loads the key, binds the listener.
    pub async fn build(config: &ServeConfig) -> Result<Application, StartError> {
        auth::install_crypto();
        let dir = &config.store.data_dir;
        let (secret, source) = auth::secret::resolve(config.store.jwt_secret.as_deref(), dir)
            .map_err(|e| StartError(format!("--data-dir / --jwt-secret: {e}")))?;
        tracing::info!(?source, "token signing key loaded");
        let auth = Arc::new(authenticator(&secret, &config.identity)?);
        let sled = Arc::new(
            SledStore::open(dir, config.durability)
                .map_err(|e| StartError(format!("--data-dir: {e}")))?,
        );
        let store: Arc<dyn Store> = sled.clone();
        let orders: Arc<dyn OrderStore> = sled.clone();
        let identity_store: Arc<dyn IdentityStore> = sled;
        store
            .pin_currency(config.currency.code())
            .await
            .map_err(|e| StartError(format!("--currency: {e}")))?;
        if config.demo {
            load_demo_catalog(store.as_ref(), config).await?;
        }
        let shop = ShopSettings {
            currency: config.currency,
            limits: config.limits(),
            guest_cart_lifetime: chrono_duration(config.guest_cart_ttl),
            customer_cart_lifetime: chrono_duration(config.customer_cart_ttl),
        };
        let limits = QueryLimits {
            max_depth: usize::from(config.max_query_depth),
            max_complexity: config.max_query_complexity as usize,
        };
        let identity = identity_context(&config.identity, identity_store.clone(), auth.clone())?;
        let state = AppState {
            schema: graphql::build_schema(
                store.clone(),
                orders.clone(),
                shop.clone(),
                limits,
                identity,
            ),
            auth,
            identity: identity_store,
            ws_init_timeout: config.ws_init_timeout,
        };
        let router = router(
            state,
            config.max_body_bytes as usize,
            cors(&config.cors_origins)?,
        );
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartError(format!("--listen {}: {e}", config.listen)))?;
        let sweeper = Sweeper {
            orders,
            guest_cart_lifetime: shop.guest_cart_lifetime,
            customer_cart_lifetime: shop.customer_cart_lifetime,
            idempotency_ttl: chrono_duration(config.idempotency_ttl),
            interval: config.sweep_interval,
        };
        Ok(Application {
            listener,
            router,
            store,
            sweeper,
        })
    }

    /// The address the listener is bound to (the real port when 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, lets requests in flight finish, then flushes the store.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let sweeper = tokio::spawn(self.sweeper.run());
        // Connect info gives resolvers the client address (log-in throttling).
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        sweeper.abort();
        served?;
        self.store.flush().await.map_err(std::io::Error::other)
    }
}

/// The built-in issuer (current and previous secrets) and the external one, if configured.
fn authenticator(secret: &[u8], config: &IdentityConfig) -> Result<Authenticator, StartError> {
    let previous: Vec<Vec<u8>> = config
        .jwt_previous_secrets
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    let keys = TokenKeys::with_previous(secret, &previous)
        .map_err(|e| StartError(format!("--jwt-secret / --jwt-previous-secrets: {e}")))?;
    tracing::info!(
        kid = keys.current_kid(),
        previous = previous.len(),
        "built-in token keys"
    );
    let external = match config.external() {
        Some(settings) => {
            let issuer = ExternalIssuer::load(&settings).map_err(StartError)?;
            tracing::info!(
                issuer = issuer.issuer(),
                keys = issuer.key_count(),
                "external issuer"
            );
            Some(issuer)
        }
        None => None,
    };
    Ok(Authenticator { keys, external })
}

fn identity_context(
    config: &IdentityConfig,
    store: Arc<dyn IdentityStore>,
    auth: Arc<Authenticator>,
) -> Result<IdentityContext, StartError> {
    let window = chrono_duration(config.login_failure_window);
    let rule = |max_failures| ThrottleRule {
        max_failures,
        window,
    };
    let passwords = Passwords::new(usize::from(config.password_hash_concurrency))
        .map_err(|e| StartError(format!("--password-hash-concurrency: {e}")))?;
    Ok(IdentityContext {
        store,
        auth,
        passwords,
        throttle: Arc::new(LoginThrottle::new(
            rule(config.login_max_failures),
            rule(config.login_max_failures_per_client),
        )),
        guest_token_ttl: chrono_duration(config.guest_token_ttl),
        customer_token_ttl: chrono_duration(config.customer_token_ttl),
    })
}

async fn load_demo_catalog(store: &dyn Store, config: &ServeConfig) -> Result<(), StartError> {
    let fail = |e: String| StartError(format!("--demo: {e}"));
    if !store
        .catalog_is_empty()
        .await
        .map_err(|e| fail(e.to_string()))?
    {
        return Ok(());
    }
    let products =
        crate::catalog_file::parse(crate::catalog_file::DEMO, &config.currency).map_err(fail)?;
    store
        .import_products(&products)
        .await
        .map_err(|e| fail(e.to_string()))?;
    tracing::info!(count = products.len(), "demo catalog loaded");
    Ok(())
}

/// Deletes expired carts and idempotency records in the background. Each
/// deletion is its own small compare-and-swap, so requests are never blocked
/// behind a sweep.
struct Sweeper {
    orders: Arc<dyn OrderStore>,
    guest_cart_lifetime: chrono::Duration,
    customer_cart_lifetime: chrono::Duration,
    idempotency_ttl: chrono::Duration,
    interval: std::time::Duration,
}

impl Sweeper {
    async fn run(self) {
        let mut ticks = tokio::time::interval(self.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.sweep_once().await;
        }
    }

    async fn sweep_once(&self) {
        let now = chrono::Utc::now();
        let (guest, customer) = (self.guest_cart_lifetime, self.customer_cart_lifetime);
        let lifetime = move |owner: &crate::store::OwnerKey| {
            if auth::is_guest_owner(owner) {
                guest
            } else {
                customer
            }
        };
        match self.orders.sweep_carts(now, &lifetime).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(carts = n, "swept expired carts"),
            Err(e) => tracing::error!(error = %e, "sweeping carts failed"),
        }
        match self
            .orders
            .sweep_idempotency(now - self.idempotency_ttl)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(records = n, "swept idempotency records"),
            Err(e) => tracing::error!(error = %e, "sweeping idempotency records failed"),
        }
    }
}

fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
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

fn router(state: AppState, max_body_bytes: usize, cors: CorsLayer) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/healthz", get(healthz))
        .route("/", get(playground::page))
        .route("/playground/{asset}", get(playground::asset))
        // async-graphql-axum reads the body itself and ignores axum's default limit.
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(cors)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn graphql_post(State(state): State<AppState>, request: Request) -> Response {
    let viewer = match authenticate(&state, request.headers()).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    let media = MediaType::negotiate(request.headers());
    let client = client_address(&request);
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.to_ascii_lowercase().starts_with("multipart/") {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "multipart requests are not accepted; send application/json",
        );
    }
    match GraphQLRequest::<BodyRejection>::from_request(request, &()).await {
        Ok(gql) => execute(&state, gql.into_inner(), viewer, client, media).await,
        Err(rejection) => rejection.into_response(),
    }
}

async fn graphql_get(State(state): State<AppState>, request: Request) -> Response {
    let viewer = match authenticate(&state, request.headers()).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    let media = MediaType::negotiate(request.headers());
    let client = client_address(&request);
    let gql = match GraphQLRequest::<BodyRejection>::from_request(request, &()).await {
        Ok(gql) => gql.into_inner(),
        Err(rejection) => return rejection.into_response(),
    };
    if is_mutation(&gql) {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_USER_INPUT",
            "mutations must be sent with POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, gql, viewer, client, media).await
}

fn is_mutation(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    match &document.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => match &request.operation_name {
            Some(name) => ops
                .get(name.as_str())
                .is_some_and(|op| op.node.ty == OperationType::Mutation),
            None => false,
        },
    }
}

async fn execute(
    state: &AppState,
    mut request: async_graphql::Request,
    viewer: Option<Viewer>,
    client: Option<ClientAddress>,
    media: MediaType,
) -> Response {
    if request.query.trim().is_empty() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "the request has no query",
        );
    }
    if let Some(viewer) = viewer {
        request = request.data(viewer);
    }
    if let Some(client) = client {
        request = request.data(client);
    }
    let mut response = state.schema.execute(request).await;
    classify(&mut response);
    media.respond(response)
}

/// Why a token was not accepted.
pub(crate) enum Refusal {
    /// The token is not valid (or was revoked): 401 / WebSocket close 4403.
    Invalid(AuthError),
    /// The revocation record could not be read: 500 / close 1011.
    Internal,
}

impl AppState {
    /// Verifies a bearer token (HTTP header or WebSocket `connection_init`):
    /// signature and claims, then the owner's "valid after" record.
    pub(crate) async fn verify(&self, token: &str) -> Result<Viewer, Refusal> {
        let viewer = self.auth.verify(token).map_err(Refusal::Invalid)?;
        match self.identity.valid_after(&viewer.owner_key()).await {
            Ok(Some(after)) if viewer.is_revoked_by(after) => {
                Err(Refusal::Invalid(AuthError::Revoked))
            }
            Ok(_) => Ok(viewer),
            Err(e) => {
                tracing::error!(error = %e, "reading the revocation record failed");
                Err(Refusal::Internal)
            }
        }
    }
}

/// No `Authorization` header: anonymous. A header that does not verify, or a
/// token issued before its owner's last "log out everywhere", is a 401, never
/// anonymous. The revocation check is one store read.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Option<Viewer>, Response> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .map_err(|_| AuthError::BadHeader)
        .and_then(bearer_token)
        .map_err(unauthorized)?;
    match state.verify(token).await {
        Ok(viewer) => Ok(Some(viewer)),
        Err(Refusal::Invalid(e)) => Err(unauthorized(e)),
        Err(Refusal::Internal) => Err(error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error; the server log has the details",
        )),
    }
}

/// The peer address axum's connect info recorded (absent in unit tests).
fn client_address(request: &Request) -> Option<ClientAddress> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| ClientAddress(addr.ip()))
}

/// HTTP 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3).
fn unauthorized(error: AuthError) -> Response {
    let mut response = error_response(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        &error.to_string(),
    );
    let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{error}\"");
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// A GraphQL-shaped error body with one error and its code.
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, Json(body)).into_response()
}

/// Why a request body could not be read as GraphQL.
struct BodyRejection(ParseRequestError);

impl From<ParseRequestError> for BodyRejection {
    fn from(e: ParseRequestError) -> Self {
        BodyRejection(e)
    }
}

impl IntoResponse for BodyRejection {
    fn into_response(self) -> Response {
        let text = self.0.to_string();
        let too_large =
            matches!(self.0, ParseRequestError::PayloadTooLarge) || text.contains("length limit");
        if too_large {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BAD_USER_INPUT",
                "the request body is larger than the server accepts",
            );
        }
        let message = match self.0 {
            ParseRequestError::UnsupportedBatch => {
                "batched requests are not accepted; send one operation".to_string()
            }
            _ => format!("the request is not a GraphQL request: {text}"),
        };
        error_response(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", &message)
    }
}
