//! Top-level GraphQL errors: request problems, each with `extensions.code`.
//!
//! Business failures are never here; they are `userErrors` in payloads.
//!
//! **Internal errors cannot reach a client by type.** Resolvers return
//! [`ApiResult`], whose error is [`ApiError`]; the only way from a store or
//! hashing failure to `ApiError` is a `From` impl that logs the detail and
//! answers `INTERNAL` with a generic message. async-graphql is built with its
//! `custom-error-conversion` feature, which removes its blanket
//! `From<impl Display> for Error`, so a bare `?` on an `AppError` in a
//! resolver returning async-graphql's own `Result` does not compile either:
//!
//! ```compile_fail
//! fn resolver() -> async_graphql::Result<()> {
//!     let failure: Result<(), cartql::app::AppError> =
//!         Err(cartql::app::AppError::Broken("disk on fire".into()));
//!     failure?; // error: no conversion from AppError to async_graphql::Error
//!     Ok(())
//! }
//! ```
//!
//! As a last line, [`classify_response`] gives every error a code: a resolver error that
//! somehow carries none answers `INTERNAL` with a generic message and a
//! request id that the log line of the original message carries too.

use async_graphql::{Error, ErrorExtensions, Response, ServerError};

/// The codes of top-level errors (`extensions.code`), spelled here only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestCode {
    /// No token where one is needed, or one that is not (or no longer) valid.
    Unauthenticated,
    /// A valid token without the role the operation needs.
    Forbidden,
    /// The request itself is wrong: syntax, validation, arguments, media type.
    BadUserInput,
    /// The document is too deep, too large or too expensive.
    QueryTooComplex,
    /// A WebSocket already runs as many operations as it may.
    TooManySubscriptions,
    /// Too many requests of this kind from this client.
    Throttled,
    /// Something failed inside the server; the detail is in the log.
    Internal,
    /// The database connection broke while a write committed: it may or may
    /// not have been made.
    OutcomeUnknown,
}

impl RequestCode {
    /// The code as clients see it.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestCode::Unauthenticated => "UNAUTHENTICATED",
            RequestCode::Forbidden => "FORBIDDEN",
            RequestCode::BadUserInput => "BAD_USER_INPUT",
            RequestCode::QueryTooComplex => "QUERY_TOO_COMPLEX",
            RequestCode::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            RequestCode::Throttled => "THROTTLED",
            RequestCode::Internal => "INTERNAL",
            RequestCode::OutcomeUnknown => "OUTCOME_UNKNOWN",
        }
    }
}

/// `error` with `code` in its extensions.
pub fn with_code(mut error: ServerError, code: RequestCode) -> ServerError {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code.as_str());
    error
}

/// A request-level failure, mapped once to a stable `extensions.code`.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ApiError {
    /// The operation needs a token and the request has none. Code `UNAUTHENTICATED`.
    #[error("this operation needs a bearer token; start a guest session or log in")]
    Unauthenticated,
    /// The token expired during a long-lived connection (WebSocket). Code `UNAUTHENTICATED`.
    #[error("the token has expired; renew it and connect again")]
    TokenExpired,
    /// `logOutEverywhere` revoked the token. Code `UNAUTHENTICATED`.
    #[error("the token was revoked by logOutEverywhere; log in again")]
    TokenRevoked,
    /// `renewToken` past the session's maximum age. Code `UNAUTHENTICATED`.
    #[error("the session is too old to renew; log in again")]
    SessionTooOld,
    /// A token given to `renewToken` as data cannot be renewed. Code `UNAUTHENTICATED`.
    #[error("the token cannot be renewed: {0}")]
    NotRenewable(crate::auth::TokenError),
    /// The token is valid but lacks a role. Code `FORBIDDEN`.
    #[error("this operation needs the '{0}' role")]
    Forbidden(&'static str),
    /// An argument is unacceptable in a way the schema cannot express. Code `BAD_USER_INPUT`.
    #[error("{0}")]
    BadUserInput(String),
    /// Something failed inside the server. Code `INTERNAL`; the detail is logged, not sent.
    #[error("internal error; the server log has the details (request id in extensions.requestId)")]
    Internal,
    /// The database connection broke while the change committed. Code
    /// `OUTCOME_UNKNOWN`; the detail is logged.
    #[error(
        "the database connection broke while this change was being committed: it may or may not have been made. Retry with the same idempotencyKey (it is applied at most once), or read it back; a retry without a key may apply it twice"
    )]
    OutcomeUnknown,
}

impl ApiError {
    /// The stable code clients switch on.
    pub fn code(&self) -> RequestCode {
        match self {
            ApiError::Unauthenticated
            | ApiError::TokenExpired
            | ApiError::TokenRevoked
            | ApiError::SessionTooOld
            | ApiError::NotRenewable(_) => RequestCode::Unauthenticated,
            ApiError::Forbidden(_) => RequestCode::Forbidden,
            ApiError::BadUserInput(_) => RequestCode::BadUserInput,
            ApiError::Internal => RequestCode::Internal,
            ApiError::OutcomeUnknown => RequestCode::OutcomeUnknown,
        }
    }

    /// Logs `cause` (inside the request's span, so with its request id) and
    /// returns the generic internal error.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "request failed");
        ApiError::Internal
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> Error {
        Error::new(self.to_string()).extend_with(|_, e| e.set("code", self.code().as_str()))
    }
}

/// The one way from an [`ApiError`] to what the client sees.
impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        e.extend()
    }
}

/// A server failure is logged here, once, with its whole chain of causes
/// (inside the request's span, so with its request id).
impl From<crate::app::AppError> for ApiError {
    fn from(e: crate::app::AppError) -> Self {
        if let crate::app::AppError::Store(store) = &e
            && store.is_outcome_unknown()
        {
            tracing::error!(error = %Chain(&e), "a write's outcome is unknown");
            return ApiError::OutcomeUnknown;
        }
        ApiError::internal(Chain(&e))
    }
}

/// An error and its causes on one line: `the store failed: store.checkout:
/// postgres: pool timed out`.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut said = self.0.to_string();
        let mut next = self.0.source();
        while let Some(cause) = next {
            // A message that already ends with its cause's (a store error
            // says its library's) is not repeated.
            let text = cause.to_string();
            if !said.ends_with(&text) {
                said.push_str(": ");
                said.push_str(&text);
            }
            next = cause.source();
        }
        f.write_str(&said.replace('\n', " "))
    }
}

/// `Result` for resolvers.
pub type ApiResult<T> = Result<T, ApiError>;

/// The generic message of an `INTERNAL` error.
const INTERNAL_MESSAGE: &str = "internal error; the server log has the details";

/// Gives every top-level error in a response a code: async-graphql's own
/// parse and validation errors come without one, and a resolver error without
/// one is treated as internal (its message may hold anything). Every
/// `INTERNAL` error gets `extensions.requestId`. Idempotent.
pub fn classify_response(response: &mut Response, request_id: &str) {
    bound_errors(response);
    for error in &mut response.errors {
        let internal = match error_code(error) {
            Some(code) => {
                code == RequestCode::Internal.as_str()
                    || code == RequestCode::OutcomeUnknown.as_str()
            }
            None => {
                let code = code_for_uncoded(error);
                if code == RequestCode::Internal {
                    tracing::error!(request_id, error = %error.message, path = ?error.path, "a resolver error had no code; answered INTERNAL");
                    error.message = INTERNAL_MESSAGE.to_string();
                }
                *error = with_code(std::mem::replace(error, ServerError::new("", None)), code);
                code == RequestCode::Internal
            }
        };
        if internal {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("requestId", request_id);
        }
    }
}

/// The most top-level errors one response carries; the rest are summed up in
/// one more. Without a bound, 60,000 repeated arguments made 17 MB of errors
/// out of 240 KB.
pub const MAX_ERRORS: usize = 50;

/// The longest error message sent (parse errors quote the offending line,
/// which can be the whole document); longer ones are cut.
pub const MAX_MESSAGE_CHARS: usize = 500;

/// The most source locations one error lists.
const MAX_LOCATIONS: usize = 10;

/// Bounds the number of errors, their messages and their locations.
fn bound_errors(response: &mut Response) {
    if response.errors.len() > MAX_ERRORS {
        let left_out = response.errors.len() - (MAX_ERRORS - 1);
        let code = error_code(&response.errors[MAX_ERRORS - 1]);
        response.errors.truncate(MAX_ERRORS - 1);
        let mut summary = ServerError::new(format!("{left_out} more errors left out"), None);
        if let Some(code) = code {
            summary
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", code);
        }
        response.errors.push(summary);
    }
    for error in &mut response.errors {
        if let Some((cut, _)) = error.message.char_indices().nth(MAX_MESSAGE_CHARS) {
            error.message.truncate(cut);
            error.message.push_str(" …");
        }
        error.locations.truncate(MAX_LOCATIONS);
    }
}

/// [`classify_response`] outside a schema request (its errors have codes
/// already, so this is a cheap second pass); a new request id if one is needed.
pub fn classify(response: &mut Response) {
    bound_errors(response);
    if response.errors.iter().any(|e| error_code(e).is_none()) {
        classify_response(response, &ulid::Ulid::new().to_string());
    }
}

fn error_code(error: &ServerError) -> Option<String> {
    match error.extensions.as_ref()?.get("code")? {
        async_graphql::Value::String(code) => Some(code.clone()),
        _ => None,
    }
}

/// The code of an error that has none. Without a path it is a request error
/// from async-graphql (parse, validation, the shape limits set in
/// `Engine::new`); with a path it came from executing a field, where only an
/// argument that fails to coerce is the client's doing.
fn code_for_uncoded(error: &ServerError) -> RequestCode {
    // The beginnings of async-graphql 7.2's messages for the limits set in
    // `Engine::new` (depth, complexity, directives, recursion) and its parser's.
    const LIMIT_MESSAGES: [&str; 5] = [
        "Query is too complex",
        "Query is nested too deep",
        "The number of directives on the field",
        "The recursion depth of the query",
        "recursion limit exceeded",
    ];
    // An argument that does not coerce: async-graphql's `InputValueError`
    // (`custom` and `expected_type`; a variable left out whose place needs a
    // value, say, reaches a resolver as null).
    const ARGUMENT_MESSAGES: [&str; 2] = ["Failed to parse \"", "Expected input type \""];
    if error.path.is_empty() {
        if LIMIT_MESSAGES.iter().any(|m| error.message.starts_with(m)) {
            RequestCode::QueryTooComplex
        } else {
            RequestCode::BadUserInput
        }
    } else if ARGUMENT_MESSAGES
        .iter()
        .any(|m| error.message.starts_with(m))
    {
        RequestCode::BadUserInput
    } else {
        RequestCode::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{PathSegment, Pos};

    fn classified(mut error: ServerError) -> ServerError {
        let mut response = Response::from_errors(vec![error.clone()]);
        classify_response(&mut response, "REQ1");
        error = response.errors.remove(0);
        error
    }

    fn code_of(error: &ServerError) -> String {
        error_code(error).expect("a code")
    }

    #[test]
    fn a_server_failure_is_logged_with_every_cause_on_one_line() {
        let disk = std::io::Error::other("disk on fire\nsector 7");
        let failure = crate::app::AppError::Store(
            crate::store::StoreError::caused("sled", disk).at("store.checkout"),
        );
        assert_eq!(
            Chain(&failure).to_string(),
            "the store failed: store.checkout: sled: disk on fire sector 7"
        );
        // Alone (an operator's message), a store error says its cause too.
        let alone = crate::store::StoreError::caused("postgres", std::io::Error::other("gone"));
        assert_eq!(alone.to_string(), "postgres: gone");
        assert_eq!(Chain(&alone).to_string(), "postgres: gone", "not twice");
        // The client sees none of it.
        assert_eq!(
            ApiError::from(failure).to_string(),
            ApiError::Internal.to_string()
        );
    }

    #[test]
    fn a_commit_whose_answer_was_lost_is_outcome_unknown_and_a_lost_read_internal() {
        use crate::store::StoreError;
        let gone = || StoreError::caused("postgres", std::io::Error::other("connection reset"));
        let commit = StoreError::OutcomeUnknown(Box::new(gone())).at("store.checkout");
        let api = ApiError::from(crate::app::AppError::Store(commit));
        assert_eq!(api.code(), RequestCode::OutcomeUnknown);
        assert!(api.to_string().contains("same idempotencyKey"), "{api}");
        assert!(
            !api.to_string().contains("reset"),
            "the detail stays in the log"
        );
        // A write's lost connection (a statement that commits by itself)
        // becomes unknown; a read's stays a failure (INTERNAL).
        let write = StoreError::Lost(Box::new(gone()))
            .unknown_if_lost()
            .at("store.put");
        assert!(write.is_outcome_unknown() && !write.is_lost());
        let read = StoreError::Lost(Box::new(gone())).at("store.cart");
        assert!(read.is_lost() && !read.is_outcome_unknown());
        let api = ApiError::from(crate::app::AppError::Store(read));
        assert_eq!(api.code(), RequestCode::Internal);
        // Either carries the request id, so the log line can be found.
        let mut response = async_graphql::Response::from_errors(vec![
            ApiError::OutcomeUnknown
                .extend()
                .into_server_error(Pos::default()),
        ]);
        classify_response(&mut response, "req-1");
        let error = &response.errors[0];
        assert_eq!(code_of(error), "OUTCOME_UNKNOWN");
        let extensions = error.extensions.as_ref().unwrap();
        assert_eq!(
            extensions.get("requestId"),
            Some(&async_graphql::Value::from("req-1"))
        );
    }

    #[test]
    fn a_resolver_error_without_a_code_is_internal_and_says_nothing() {
        let mut leak = ServerError::new("IO error: /var/lib/cartql/db: disk full", None);
        leak.path = vec![PathSegment::Field("addCartLines".into())];
        let error = classified(leak);
        assert_eq!(code_of(&error), "INTERNAL");
        assert!(!error.message.contains("disk"), "{}", error.message);
        let id = error.extensions.as_ref().unwrap().get("requestId").cloned();
        assert_eq!(id, Some(async_graphql::Value::String("REQ1".into())));
    }

    #[test]
    fn parse_validation_and_argument_errors_are_bad_user_input() {
        let parse = ServerError::new(" --> 1:3 expected selection", Some(Pos::default()));
        assert_eq!(code_of(&classified(parse)), "BAD_USER_INPUT");
        let validation = ServerError::new("Unknown field \"x\" on type \"Query\".", None);
        assert_eq!(code_of(&classified(validation)), "BAD_USER_INPUT");
        let mut argument = ServerError::new("Failed to parse \"Int\": out of range", None);
        argument.path = vec![PathSegment::Field("cart".into())];
        assert_eq!(code_of(&classified(argument)), "BAD_USER_INPUT");
        let message = "Expected input type \"String\", found null. (occurred while parsing \"AddCartLinesInput\")";
        let mut null = ServerError::new(message, None);
        null.path = vec![PathSegment::Field("addCartLines".into())];
        assert_eq!(code_of(&classified(null)), "BAD_USER_INPUT");
    }

    #[test]
    fn each_limit_message_of_the_library_is_query_too_complex() {
        for message in [
            "Query is too complex.",
            "Query is nested too deep.",
            "The number of directives on the field `a` cannot be greater than `8`",
            "The recursion depth of the query cannot be greater than `32`",
            "recursion limit exceeded.",
        ] {
            let error = classified(ServerError::new(message, None));
            assert_eq!(code_of(&error), "QUERY_TOO_COMPLEX", "{message}");
        }
    }

    #[test]
    fn a_flood_of_errors_and_a_long_message_are_cut_down() {
        let mut errors: Vec<ServerError> = (0..60_000)
            .map(|i| ServerError::new(format!("Duplicate argument {i}"), None))
            .collect();
        errors[0].message = "x".repeat(100_000);
        let mut response = Response::from_errors(errors);
        classify_response(&mut response, "REQ1");
        assert_eq!(response.errors.len(), MAX_ERRORS);
        assert!(response.errors[0].message.chars().count() <= MAX_MESSAGE_CHARS + 2);
        let last = response.errors.last().unwrap();
        assert_eq!(
            last.message,
            format!("{} more errors left out", 60_000 - 49)
        );
        assert_eq!(code_of(last), "BAD_USER_INPUT");
    }

    #[test]
    fn coded_errors_keep_their_code_and_internal_ones_get_the_request_id() {
        let error: Error = ApiError::Forbidden("admin").into();
        let forbidden = classified(error.into_server_error(Pos::default()));
        assert_eq!(code_of(&forbidden), "FORBIDDEN");
        let error: Error = ApiError::Internal.into();
        let internal = classified(error.into_server_error(Pos::default()));
        assert_eq!(code_of(&internal), "INTERNAL");
        assert!(internal.extensions.unwrap().get("requestId").is_some());
    }
}
