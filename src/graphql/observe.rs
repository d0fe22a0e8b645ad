//! Metrics of GraphQL operations (see [`crate::metrics`]): how many, how
//! long, with what outcome, by kind and first root field; running
//! subscriptions. The root field is a label only when the schema has it, so
//! a client cannot create series by inventing names. [`super::engine`] calls
//! these once per operation.

use super::CartSchema;
use super::document::OperationLabel;
use crate::metrics::Live;
use async_graphql::Response;
use async_graphql::parser::types::{OperationType, TypeKind, TypeSystemDefinition};
use std::collections::HashSet;
use std::time::Instant;

/// The root fields of the schema, by operation kind: the only field names
/// that become labels.
#[derive(Debug, Default)]
pub struct RootFields {
    query: HashSet<String>,
    mutation: HashSet<String>,
    subscription: HashSet<String>,
}

impl RootFields {
    /// Read once from the schema's SDL.
    pub fn of(schema: &CartSchema) -> RootFields {
        let mut roots = RootFields::default();
        let Ok(document) = async_graphql::parser::parse_schema(schema.sdl()) else {
            return roots;
        };
        let mut names = [
            "Query".to_string(),
            "Mutation".into(),
            "Subscription".into(),
        ];
        for definition in &document.definitions {
            if let TypeSystemDefinition::Schema(root) = definition {
                let root = &root.node;
                let named = [&root.query, &root.mutation, &root.subscription];
                for (name, given) in names.iter_mut().zip(named) {
                    if let Some(given) = given {
                        *name = given.node.to_string();
                    }
                }
            }
        }
        for definition in document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let TypeKind::Object(object) = &ty.node.kind else {
                continue;
            };
            let Some(index) = names.iter().position(|n| *n == ty.node.name.node.as_str()) else {
                continue;
            };
            let set = [
                &mut roots.query,
                &mut roots.mutation,
                &mut roots.subscription,
            ]
            .into_iter()
            .nth(index);
            if let Some(set) = set {
                set.extend(object.fields.iter().map(|f| f.node.name.node.to_string()));
            }
        }
        roots
    }

    /// Starts measuring one operation (nothing when metrics are off).
    pub fn measure(&self, label: Option<&OperationLabel>) -> Measure {
        if !crate::metrics::enabled() {
            return Measure(None);
        }
        Measure(Some((Instant::now(), self.labels(label))))
    }

    /// Counts a running subscription while the value lives (nothing when
    /// metrics are off).
    pub fn live(&self) -> Option<Live> {
        crate::metrics::enabled().then(|| Live::new("cartql_subscriptions_active"))
    }

    /// `(kind, operation)`: the operation's kind and its first root field if
    /// the schema has that field, else `other`.
    fn labels(&self, label: Option<&OperationLabel>) -> (&'static str, String) {
        let Some(label) = label else {
            return ("unknown", "other".into());
        };
        let (kind, fields) = match label.kind {
            OperationType::Query => ("query", &self.query),
            OperationType::Mutation => ("mutation", &self.mutation),
            OperationType::Subscription => ("subscription", &self.subscription),
        };
        let operation = match &label.field {
            Some(field) if field == "__typename" || fields.contains(field) => field.clone(),
            _ => "other".into(),
        };
        (kind, operation)
    }
}

/// One operation being measured.
pub struct Measure(Option<(Instant, (&'static str, String))>);

impl Measure {
    /// Records the operation's count and duration by its outcome.
    pub fn finish(self, response: &Response) {
        let Some((started, (kind, operation))) = self.0 else {
            return;
        };
        let outcome = if response.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        let labels = [
            ("kind", kind.to_string()),
            ("operation", operation),
            ("outcome", outcome.to_string()),
        ];
        metrics::counter!("cartql_graphql_requests_total", &labels).increment(1);
        metrics::histogram!("cartql_graphql_request_duration_seconds", &labels)
            .record(started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graphql::{MutationRoot, QueryRoot, subscription::SubscriptionRoot};

    fn label(kind: OperationType, field: &str) -> OperationLabel {
        OperationLabel {
            kind,
            field: Some(field.into()),
            name: None,
        }
    }

    #[test]
    fn only_the_schemas_root_fields_of_the_operations_kind_become_labels() {
        let schema = CartSchema::build(
            QueryRoot::default(),
            MutationRoot::default(),
            SubscriptionRoot,
        )
        .finish();
        let roots = RootFields::of(&schema);
        let query = |f| roots.labels(Some(&label(OperationType::Query, f)));
        assert_eq!(query("cart"), ("query", "cart".to_string()));
        assert_eq!(query("__typename"), ("query", "__typename".to_string()));
        assert_eq!(query("invented"), ("query", "other".to_string()));
        assert_eq!(query("addCartLines"), ("query", "other".to_string()));
        let mutation = roots.labels(Some(&label(OperationType::Mutation, "addCartLines")));
        assert_eq!(mutation, ("mutation", "addCartLines".to_string()));
        let subscription = roots.labels(Some(&label(OperationType::Subscription, "cartUpdated")));
        assert_eq!(subscription, ("subscription", "cartUpdated".to_string()));
        assert_eq!(roots.labels(None), ("unknown", "other".to_string()));
    }
}
