//! `POST /graphql` and `GET /graphql`: authentication from the bearer token,
//! request parsing with its limits, execution, and the HTTP shape of errors.

use super::media::MediaType;
use super::{AppState, error_response};
use crate::auth::verifier::VerifyError;
use crate::auth::{ClientAddress, TokenError, Viewer, token::bearer_token};
use crate::graphql::document;
use crate::graphql::error::{Chain, RequestCode};
use async_graphql::ParseRequestError;
use async_graphql::parser::types::OperationType;
use async_graphql_axum::GraphQLRequest;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// What every GraphQL request over HTTP starts with, for GET and POST alike:
/// who is asking (the bearer token, verified), the response media type, and
/// the client's address. Refused with the finished response (401, 500).
pub(super) struct Preamble {
    viewer: Option<Viewer>,
    media: MediaType,
    client: Option<ClientAddress>,
}

impl FromRequestParts<AppState> for Preamble {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let viewer = authenticate(state, &parts.headers).await?;
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| state.trusted_proxies.client(peer.ip(), &parts.headers));
        Ok(Preamble {
            viewer,
            media: MediaType::negotiate(&parts.headers),
            client,
        })
    }
}

pub(super) async fn graphql_post(
    State(state): State<AppState>,
    preamble: Preamble,
    request: Request,
) -> Response {
    // Only JSON: a form or text/plain body is what a cross-site page can send
    // without a CORS preflight, so executing it would allow forged mutations.
    if let Err(message) = check_json_content_type(request.headers()) {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RequestCode::BadUserInput,
            &message,
        );
    }
    match GraphQLRequest::<BodyRejection>::from_request(request, &()).await {
        Ok(gql) => execute(&state, gql.into_inner(), preamble).await,
        Err(rejection) => rejection.into_response(),
    }
}

/// `Content-Type: application/json`, with no charset but UTF-8.
fn check_json_content_type(headers: &HeaderMap) -> Result<(), String> {
    let refuse = || "send the request as Content-Type: application/json".to_string();
    let value = headers
        .get(header::CONTENT_TYPE)
        .ok_or_else(refuse)?
        .to_str()
        .map_err(|_| refuse())?;
    let mut parts = value.split(';');
    let essence = parts.next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(refuse());
    }
    for parameter in parts {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        let value = value.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset") && !value.eq_ignore_ascii_case("utf-8") {
            return Err("the request body must be UTF-8 (charset=utf-8)".into());
        }
    }
    Ok(())
}

pub(super) async fn graphql_get(
    State(state): State<AppState>,
    preamble: Preamble,
    request: Request,
) -> Response {
    let mut gql = match GraphQLRequest::<BodyRejection>::from_request(request, &()).await {
        Ok(gql) => gql.into_inner(),
        Err(rejection) => return rejection.into_response(),
    };
    // The document is checked and parsed here, once, as the schema would
    // (which then uses this parse), and the operation chosen exactly as the
    // executor will choose it.
    if !gql.query.trim().is_empty()
        && let Err(error) = document::prepare(&mut gql, state.engine.document_limits())
    {
        let mut response = async_graphql::Response::from_errors(vec![error]);
        crate::graphql::error::classify(&mut response);
        return preamble.media.respond(response);
    }
    if let Some(message) = refused_over_get(&mut gql) {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            RequestCode::BadUserInput,
            message,
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, gql, preamble).await
}

/// Why GET cannot carry the operation the executor would run: only queries
/// may (a GET must not change anything).
fn refused_over_get(request: &mut async_graphql::Request) -> Option<&'static str> {
    let operation_name = request.operation_name.clone();
    let parsed = request.parsed_query().ok()?;
    match document::operation_type(parsed, operation_name.as_deref())? {
        OperationType::Query => None,
        OperationType::Mutation => Some("mutations must be sent with POST"),
        OperationType::Subscription => Some("subscriptions run over the WebSocket at /graphql/ws"),
    }
}

async fn execute(
    state: &AppState,
    mut request: async_graphql::Request,
    preamble: Preamble,
) -> Response {
    let Preamble {
        viewer,
        media,
        client,
    } = preamble;
    if request.query.trim().is_empty() {
        return error_response(
            StatusCode::BAD_REQUEST,
            RequestCode::BadUserInput,
            "the request has no query",
        );
    }
    if let Some(viewer) = viewer {
        request = request.data(viewer);
    }
    if let Some(client) = client {
        request = request.data(client);
    }
    // The engine has given every error its code.
    let response = state.engine.execute(request).await;
    media.respond(response)
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
        .map_err(|_| TokenError::BadHeader)
        .and_then(bearer_token)
        .map_err(unauthorized)?;
    match state.services.verifier.verify(token).await {
        Ok(viewer) => Ok(Some(viewer)),
        Err(VerifyError::Invalid(e)) => Err(unauthorized(e)),
        Err(VerifyError::Unavailable(e)) => {
            tracing::error!(error = %Chain(&e), "reading the revocation record failed");
            Err(error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                RequestCode::Internal,
                "internal error; the server log has the details",
            ))
        }
    }
}

/// HTTP 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3).
fn unauthorized(error: TokenError) -> Response {
    let mut response = error_response(
        StatusCode::UNAUTHORIZED,
        RequestCode::Unauthenticated,
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
                RequestCode::BadUserInput,
                "the request body is larger than the server accepts",
            );
        }
        let message = match self.0 {
            ParseRequestError::UnsupportedBatch => {
                "batched requests are not accepted; send one operation".to_string()
            }
            _ => format!("the request is not a GraphQL request: {text}"),
        };
        error_response(StatusCode::BAD_REQUEST, RequestCode::BadUserInput, &message)
    }
}
