//! HTTP: the axum router, its layers, and the application's life cycle.
//!
//! Routes: `POST|GET /graphql`, `GET /` (playground), `GET /healthz`.
//! [`Application::build`] opens the store and binds the listener;
//! [`Application::run_until_stopped`] serves until the caller's shutdown
//! future resolves, then flushes the store. Tests bind port 0 this way.

use crate::auth::external::ExternalIssuer;
use crate::auth::password::Passwords;
use crate::auth::throttle::LoginThrottle;
use crate::auth::{self, AuthError, Authenticator, TokenKeys, Viewer, token::bearer_token};
use crate::config::{IdentityConfig, ServeConfig};
use crate::domain::account::ThrottleRule;
use crate::graphql::identity::{ClientAddress, IdentityContext};
use crate::graphql::{self, CartSchema, QueryLimits, ShopSettings, error::classify};
use crate::store::{IdentityStore, SledStore, Store};
use async_graphql::ParseRequestError;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock};
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
}

/// A built, bound, not yet serving application.
pub struct Application {
    listener: tokio::net::TcpListener,
    router: Router,
    store: Arc<dyn Store>,
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
            schema: graphql::build_schema(store.clone(), shop, limits, identity),
            auth,
            identity: identity_store,
        };
        let router = router(state, config.max_body_bytes as usize);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartError(format!("--listen {}: {e}", config.listen)))?;
        Ok(Application {
            listener,
            router,
            store,
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
        // Connect info gives resolvers the client address (log-in throttling).
        let service = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await?;
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

fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/healthz", get(healthz))
        .route("/", get(playground))
        // async-graphql-axum reads the body itself and ignores axum's default limit.
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The example operations shown in the playground, in storefront order.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "01-browse-products",
        include_str!("../playground/01-browse-products.graphql"),
    ),
    (
        "02-add-to-cart",
        include_str!("../playground/02-add-to-cart.graphql"),
    ),
    (
        "03-update-quantity",
        include_str!("../playground/03-update-quantity.graphql"),
    ),
    (
        "04-remove-line",
        include_str!("../playground/04-remove-line.graphql"),
    ),
    (
        "05-my-carts",
        include_str!("../playground/05-my-carts.graphql"),
    ),
];

/// The playground page with the examples inlined: it loads nothing from elsewhere.
static PLAYGROUND: LazyLock<String> = LazyLock::new(|| {
    let examples: Vec<_> = EXAMPLES
        .iter()
        .map(|(name, source)| serde_json::json!({ "name": name, "source": source }))
        .collect();
    // `<` escaped so no example can close the <script> element.
    let json = serde_json::Value::from(examples)
        .to_string()
        .replace('<', "\\u003c");
    include_str!("../playground/index.html").replace("/*EXAMPLES*/[]", &json)
});

async fn playground() -> Html<&'static str> {
    Html(PLAYGROUND.as_str())
}

async fn graphql_post(State(state): State<AppState>, request: Request) -> Response {
    let viewer = match authenticate(&state, request.headers()).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
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
        Ok(gql) => execute(&state, gql.into_inner(), viewer, client).await,
        Err(rejection) => rejection.into_response(),
    }
}

async fn graphql_get(State(state): State<AppState>, request: Request) -> Response {
    let viewer = match authenticate(&state, request.headers()).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
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
    execute(&state, gql, viewer, client).await
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
) -> Response {
    if let Some(viewer) = viewer {
        request = request.data(viewer);
    }
    if let Some(client) = client {
        request = request.data(client);
    }
    let mut response = state.schema.execute(request).await;
    classify(&mut response);
    GraphQLResponse::from(response).into_response()
}

/// No `Authorization` header: anonymous. A header that does not verify, or a
/// token issued before its owner's last "log out everywhere", is a 401, never
/// anonymous. The revocation check is one store read.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Option<Viewer>, Response> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let viewer = value
        .to_str()
        .map_err(|_| AuthError::BadHeader)
        .and_then(bearer_token)
        .and_then(|token| state.auth.verify(token))
        .map_err(unauthorized)?;
    match state.identity.valid_after(&viewer.owner_key()).await {
        Ok(Some(after)) if viewer.is_revoked_by(after) => Err(unauthorized(AuthError::Revoked)),
        Ok(_) => Ok(Some(viewer)),
        Err(e) => {
            tracing::error!(error = %e, "reading the revocation record failed");
            Err(error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error; the server log has the details",
            ))
        }
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
