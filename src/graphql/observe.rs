//! Metrics of GraphQL operations (see [`crate::metrics`]): how many, how
//! long, with what outcome, by kind and first root field; running
//! subscriptions. The root field is a label only when the schema has it, so
//! a client cannot create series by inventing names.

use super::document::OperationLabel;
use crate::metrics::Live;
use async_graphql::Response;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextSubscribe,
};
use async_graphql::parser::types::OperationType;
use async_graphql::registry::MetaType;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::sync::Arc;
use std::time::Instant;

/// The extension (one per request).
pub struct OperationMetrics;

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationMetricsExtension)
    }
}

struct OperationMetricsExtension;

#[async_trait::async_trait]
impl Extension for OperationMetricsExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if !crate::metrics::enabled() {
            return next.run(ctx, operation_name).await;
        }
        let started = Instant::now();
        let response = next.run(ctx, operation_name).await;
        let (kind, operation) = labels(ctx);
        let outcome = if response.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        let labels = [
            ("kind", kind),
            ("operation", operation),
            ("outcome", outcome.to_string()),
        ];
        metrics::counter!("cartql_graphql_requests_total", &labels).increment(1);
        metrics::histogram!("cartql_graphql_request_duration_seconds", &labels)
            .record(started.elapsed().as_secs_f64());
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        if !crate::metrics::enabled() {
            return next.run(ctx, stream);
        }
        let live = Live::new("cartql_subscriptions_active");
        next.run(ctx, stream)
            .map(move |response| {
                let _running = &live;
                response
            })
            .boxed()
    }
}

/// `(kind, operation)`: the operation's kind and its first root field if the
/// schema has that field, else `other`.
fn labels(ctx: &ExtensionContext<'_>) -> (String, String) {
    let Some(label) = ctx
        .query_data
        .and_then(|data| data.get(&std::any::TypeId::of::<OperationLabel>()))
        .and_then(|any| any.downcast_ref::<OperationLabel>())
    else {
        return ("unknown".into(), "other".into());
    };
    let registry = &ctx.schema_env.registry;
    let (kind, root) = match label.kind {
        OperationType::Query => ("query", Some(registry.query_type.as_str())),
        OperationType::Mutation => ("mutation", registry.mutation_type.as_deref()),
        OperationType::Subscription => ("subscription", registry.subscription_type.as_deref()),
    };
    let known = |field: &str| {
        root.and_then(|root| registry.types.get(root)).is_some_and(
            |ty| matches!(ty, MetaType::Object { fields, .. } if fields.contains_key(field)),
        )
    };
    let operation = match &label.field {
        Some(field) if field == "__typename" || known(field) => field.clone(),
        _ => "other".into(),
    };
    (kind.into(), operation)
}
