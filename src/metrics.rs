//! Prometheus metrics, served at `GET /metrics` on a listener of their own
//! (`--metrics-listen`; off by default, since they must not be public by
//! accident). What is measured:
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `cartql_graphql_requests_total` | `kind`, `operation`, `outcome` | GraphQL operations (HTTP and WebSocket) |
//! | `cartql_graphql_request_duration_seconds` | `kind`, `operation`, `outcome` | their execution time (histogram) |
//! | `cartql_user_errors_total` | `code` | userErrors returned |
//! | `cartql_checkouts_total` | `outcome` (`placed`, `replayed`, `refused`) | checkouts |
//! | `cartql_store_operation_duration_seconds` | `op` | each store operation (`store.*` spans) |
//! | `cartql_store_flush_duration_seconds` | | sled group-commit flushes (strict durability) |
//! | `cartql_store_commit_duration_seconds` | | PostgreSQL COMMITs, sent to answered (the WAL flush a write waits for) |
//! | `cartql_websockets_open` | | WebSockets past `connection_init` |
//! | `cartql_subscriptions_active` | | subscriptions running |
//!
//! Labels come from bounded sets only: `operation` is the first root field
//! of the operation (a schema field, never the client's operation name),
//! `code` a `UserErrorCode`, `op` a store span name.

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Instant;
use tracing::Subscriber;
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds: 0.1 ms to 10 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Whether metrics are recorded (`--metrics-listen` is set): without them,
/// hot paths skip building labels.
pub fn enabled() -> bool {
    HANDLE.get().is_some()
}

/// Installs the process-wide recorder (once) and returns the `/metrics` router.
pub fn router() -> Result<Router, String> {
    let handle = match HANDLE.get() {
        Some(handle) => handle.clone(),
        None => {
            let handle = PrometheusBuilder::new()
                .set_buckets(BUCKETS)
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())?;
            HANDLE.get_or_init(|| handle).clone()
        }
    };
    describe();
    Ok(Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    ))
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "cartql_graphql_requests_total",
        "GraphQL operations by kind, first root field and outcome"
    );
    describe_histogram!(
        "cartql_graphql_request_duration_seconds",
        metrics::Unit::Seconds,
        "GraphQL execution time"
    );
    describe_counter!("cartql_user_errors_total", "userErrors returned, by code");
    describe_counter!("cartql_checkouts_total", "checkouts by outcome");
    describe_histogram!(
        "cartql_store_operation_duration_seconds",
        metrics::Unit::Seconds,
        "store operations"
    );
    describe_histogram!(
        "cartql_store_flush_duration_seconds",
        metrics::Unit::Seconds,
        "sled flushes (group commit)"
    );
    describe_histogram!(
        "cartql_store_commit_duration_seconds",
        metrics::Unit::Seconds,
        "PostgreSQL COMMITs, sent to answered"
    );
    describe_gauge!("cartql_websockets_open", "WebSockets past connection_init");
    describe_gauge!("cartql_subscriptions_active", "subscriptions running");
    describe_counter!(
        "cartql_webhook_deliveries_total",
        "webhook attempts by event and what followed (succeeded, retrying, failed)"
    );
    describe_histogram!(
        "cartql_webhook_attempt_duration_seconds",
        metrics::Unit::Seconds,
        "webhook attempts, request to response"
    );
    describe_gauge!("cartql_webhook_queue_depth", "webhook deliveries pending");
    describe_gauge!(
        "cartql_webhook_outbox_depth",
        "orders with events not yet handed to the endpoints"
    );
    describe_gauge!(
        "cartql_webhook_oldest_pending_seconds",
        "age of the oldest pending webhook delivery"
    );
}

/// Times every `store.*` span, from creation to close (awaits included).
pub struct StoreTimings;

impl StoreTimings {
    /// The layer with its own filter: store spans only, whatever `CARTQL_LOG` says.
    pub fn layer<S>() -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        StoreTimings.with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
            metadata.is_span() && metadata.name().starts_with("store.")
        }))
    }
}

struct Started(Instant);

impl<S> Layer<S> for StoreTimings
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        if let Some(Started(at)) = span.extensions().get::<Started>() {
            metrics::histogram!("cartql_store_operation_duration_seconds", "op" => span.name())
                .record(at.elapsed().as_secs_f64());
        }
    }
}

/// Counts a gauge up while it lives (an open WebSocket, a running subscription).
pub struct Live(&'static str);

impl Live {
    /// Counts `gauge` up now and down when dropped.
    pub fn new(gauge: &'static str) -> Live {
        metrics::gauge!(gauge).increment(1.0);
        Live(gauge)
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}
