//! GraphQL over HTTP media types: `application/graphql-response+json` when the
//! client accepts it (request errors then answer 400 without `data`), else
//! `application/json` (always 200 with the errors in the body), as the
//! GraphQL-over-HTTP specification describes.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The response media type negotiated from `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MediaType {
    /// `application/graphql-response+json`.
    GraphQLResponse,
    /// `application/json` (also for a missing or `*/*` Accept).
    Json,
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

impl MediaType {
    /// Picks the media type: graphql-response+json only when the client lists it
    /// (with a non-zero q) and does not prefer application/json over it.
    pub(super) fn negotiate(headers: &HeaderMap) -> MediaType {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut graphql_q = None;
        let mut json_q = None;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                GRAPHQL_RESPONSE => graphql_q = Some(q),
                "application/json" => json_q = Some(q),
                _ => {}
            }
        }
        match (graphql_q, json_q) {
            (Some(g), Some(j)) if g > 0.0 && g >= j => MediaType::GraphQLResponse,
            (Some(g), None) if g > 0.0 => MediaType::GraphQLResponse,
            _ => MediaType::Json,
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphQLResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }

    /// Encodes an execution result. A request error (the document did not
    /// parse or validate, or variables did not coerce: no data and no error
    /// with a path) is a 400 without `data` in graphql-response+json.
    pub(super) fn respond(self, response: async_graphql::Response) -> Response {
        let request_error = response.data == async_graphql::Value::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty());
        let without_data = self == MediaType::GraphQLResponse && request_error;
        // Serialised straight from the response so fields keep the order of
        // the selection set (a JSON map in between would sort them).
        let encoded = if without_data {
            serde_json::to_string(&ErrorsOnly {
                errors: &response.errors,
            })
        } else {
            serde_json::to_string(&response)
        };
        let body = match encoded {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(error = %e, "encoding a response failed");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        let status = if without_data {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        let mut http = (status, body).into_response();
        http.headers_mut()
            .insert(header::CONTENT_TYPE, self.content_type());
        http
    }
}

/// A request-error body: `errors` and no `data` entry.
#[derive(serde::Serialize)]
struct ErrorsOnly<'a> {
    errors: &'a [async_graphql::ServerError],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> MediaType {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        MediaType::negotiate(&headers)
    }

    #[test]
    fn graphql_response_json_only_when_asked_for_and_preferred() {
        assert_eq!(MediaType::negotiate(&HeaderMap::new()), MediaType::Json);
        assert_eq!(accept("*/*"), MediaType::Json);
        assert_eq!(accept("application/json"), MediaType::Json);
        assert_eq!(
            accept("application/graphql-response+json"),
            MediaType::GraphQLResponse
        );
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            MediaType::GraphQLResponse
        );
        assert_eq!(
            accept("application/graphql-response+json;q=0.5, application/json"),
            MediaType::Json
        );
        assert_eq!(
            accept("application/graphql-response+json;q=0"),
            MediaType::Json
        );
    }
}
