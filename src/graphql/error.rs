//! Top-level GraphQL errors: request problems, each with `extensions.code`.
//!
//! Business failures are never here; they are `userErrors` in payloads.

use async_graphql::{Error, ErrorExtensions};

/// A request-level failure, mapped once to a stable `extensions.code`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The operation needs a token and the request has none. Code `UNAUTHENTICATED`.
    #[error("this operation needs a bearer token; start a guest session or log in")]
    Unauthenticated,
    /// The token expired during a long-lived connection (WebSocket). Code `UNAUTHENTICATED`.
    #[error("the token has expired; renew it and connect again")]
    TokenExpired,
    /// `logOutEverywhere` revoked the token of a long-lived connection. Code `UNAUTHENTICATED`.
    #[error("the token was revoked by logOutEverywhere; log in again")]
    TokenRevoked,
    /// The token is valid but lacks a role. Code `FORBIDDEN`.
    #[error("this operation needs the '{0}' role")]
    Forbidden(&'static str),
    /// An argument is unacceptable in a way the schema cannot express. Code `BAD_USER_INPUT`.
    #[error("{0}")]
    BadUserInput(String),
    /// Something failed inside the server. Code `INTERNAL`; the detail is logged, not sent.
    #[error("internal error; the server log has the details")]
    Internal,
}

impl ApiError {
    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated | ApiError::TokenExpired | ApiError::TokenRevoked => {
                "UNAUTHENTICATED"
            }
            ApiError::Forbidden(_) => "FORBIDDEN",
            ApiError::BadUserInput(_) => "BAD_USER_INPUT",
            ApiError::Internal => "INTERNAL",
        }
    }

    /// Logs `cause` and returns the generic internal error.
    pub fn internal(cause: impl std::fmt::Display) -> Error {
        tracing::error!(error = %cause, "request failed");
        ApiError::Internal.extend()
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> Error {
        Error::new(self.to_string()).extend_with(|_, e| e.set("code", self.code()))
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "store failed");
        ApiError::Internal
    }
}

/// `Result` for resolvers.
pub type ApiResult<T> = Result<T, Error>;

/// Store failures in resolvers: logged, then `INTERNAL` for the client.
pub trait OrInternal<T> {
    /// Maps a store error to the generic `INTERNAL` error (after logging it).
    fn or_internal(self) -> ApiResult<T>;
}

impl<T> OrInternal<T> for Result<T, crate::store::StoreError> {
    fn or_internal(self) -> ApiResult<T> {
        self.map_err(|e| ApiError::from(e).extend())
    }
}

/// Gives every top-level error in a response a code: async-graphql's own
/// parse and validation errors come without one.
pub fn classify(response: &mut async_graphql::Response) {
    // The beginnings of async-graphql 7.2's (and its parser's) messages for the
    // shape limits set in `build_schema`.
    const LIMIT_MESSAGES: [&str; 5] = [
        "Query is too complex",
        "Query is nested too deep",
        "The number of directives on the field",
        "The recursion depth of the query",
        "recursion limit exceeded",
    ];
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if has_code {
            continue;
        }
        let code = if LIMIT_MESSAGES.iter().any(|m| error.message.starts_with(m)) {
            "QUERY_TOO_COMPLEX"
        } else {
            "BAD_USER_INPUT"
        };
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
}
