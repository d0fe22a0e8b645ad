//! Says by how much a document is over the shape limits. async-graphql
//! refuses a document that is too complex or nested too deep with a bare
//! "Query is too complex." and no numbers; a developer then has nothing to
//! trim by. After such a refusal the engine validates the same request
//! again on a twin schema without those two limits, whose one extension
//! reads the complexity and depth validation computed and stops the request
//! there (nothing runs), and the refusal gets `extensions { cost, limit }`
//! or `extensions { depth, limit }`.
//!
//! Only refused requests pay for it; the schemas that execute have no
//! extension (see [`engine`](super::engine)).

use super::document::QueryLimits;
use super::schema::{CartSchema, MutationRoot, QueryRoot};
use super::subscription;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{Request, Response, Schema, ServerError, ValidationMode, ValidationResult};
use std::sync::{Arc, Mutex};

/// The message async-graphql refuses a too complex document with.
const TOO_COMPLEX: &str = "Query is too complex";
/// The message async-graphql refuses a too deep document with.
const TOO_DEEP: &str = "Query is nested too deep";

/// The twin schema that measures.
#[derive(Clone)]
pub struct Measurer {
    schema: CartSchema,
    limits: QueryLimits,
}

/// What one validation measured.
#[derive(Clone, Default)]
struct Measured(Arc<Mutex<Option<(usize, usize)>>>);

struct Measure;

impl ExtensionFactory for Measure {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Measure)
    }
}

#[async_trait::async_trait]
impl Extension for Measure {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        if let Some(slot) = ctx.data_opt::<Measured>() {
            let mut slot = slot.0.lock().unwrap_or_else(|e| e.into_inner());
            *slot = Some((result.complexity, result.depth));
        }
        // Measured: nothing is to run.
        Err(vec![ServerError::new("measured only", None)])
    }
}

/// A request as it was sent, kept to measure it if it is refused.
pub struct Sent {
    query: String,
    operation_name: Option<String>,
    variables: async_graphql::Variables,
}

impl Sent {
    /// What `request` says (before it is executed and consumed).
    pub fn of(request: &Request) -> Sent {
        Sent {
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            variables: request.variables.clone(),
        }
    }

    /// The document's text.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The operation asked for, if named.
    pub fn operation_name(&self) -> Option<&str> {
        self.operation_name.as_deref()
    }
}

impl Measurer {
    /// The twin of the executing schemas, without the complexity and depth
    /// limits (the others stay: a document refused for those has no cost).
    pub fn new(limits: QueryLimits) -> Measurer {
        let schema = Schema::build(
            QueryRoot::default(),
            MutationRoot::default(),
            subscription::SubscriptionRoot,
        )
        .validation_mode(ValidationMode::Strict)
        .limit_recursive_depth(32)
        .limit_directives(8)
        .extension(Measure)
        .finish();
        Measurer { schema, limits }
    }

    /// Whether `response` refused its document for complexity or depth.
    pub fn refused_for_shape(response: &Response) -> bool {
        response.errors.iter().any(|e| {
            e.path.is_empty()
                && (e.message.starts_with(TOO_COMPLEX) || e.message.starts_with(TOO_DEEP))
        })
    }

    /// Adds to each shape refusal in `response` what `sent` measures and
    /// the limit it is over.
    pub async fn explain(&self, sent: Sent, response: &mut Response) {
        let measured = Measured::default();
        let mut request = Request::new(sent.query)
            .variables(sent.variables)
            .data(measured.clone());
        if let Some(name) = sent.operation_name {
            request = request.operation_name(name);
        }
        self.schema.execute(request).await;
        let Some((cost, depth)) = *measured.0.lock().unwrap_or_else(|e| e.into_inner()) else {
            return;
        };
        for error in response.errors.iter_mut().filter(|e| e.path.is_empty()) {
            let (what, value, limit) = if error.message.starts_with(TOO_COMPLEX) {
                ("cost", cost, self.limits.max_complexity)
            } else if error.message.starts_with(TOO_DEEP) {
                ("depth", depth, self.limits.max_depth)
            } else {
                continue;
            };
            error.message = match what {
                "cost" => format!(
                    "Query is too complex: it costs {value}, the limit is {limit} (a list counts each field once per item it may hold; ask for fewer items with first: or fewer fields)"
                ),
                _ => format!("Query is nested too deep: {value} levels, the limit is {limit}"),
            };
            let extensions = error.extensions.get_or_insert_with(Default::default);
            extensions.set(what, value as u64);
            extensions.set("limit", limit as u64);
        }
    }
}
