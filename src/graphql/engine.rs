//! How every GraphQL request runs, over HTTP, over the WebSocket and in the
//! in-process tests: [`Engine::execute`] and [`Engine::execute_stream`].
//!
//! Around the schema's own execution it
//!
//! 1. gives the request an id and one tracing span,
//!    `graphql{request_id operation}`, so a failure a resolver or a store call
//!    logs names both (one span, not two: a span costs a few thousand
//!    instructions to open and close under the default `info` logs);
//! 2. checks and parses the document ([`document::prepare`]) before
//!    async-graphql sees it, and checks the variables' values against their
//!    declared types ([`variables`](super::variables));
//! 3. validates each document in full only the first time it is seen (see
//!    [`Validated`]);
//! 4. gives every error of the response its code ([`classify_response`]),
//!    subscriptions' responses included;
//! 5. counts the operation in the metrics ([`observe`]).
//!
//! These used to be three schema extensions. async-graphql resolves every
//! field through the extension chain as soon as a schema has one extension
//! (a registry lookup, a `ResolveInfo` and a boxed future per field and per
//! list item), even when no extension looks at fields: measured with
//! `scripts/instructions`, that chain was a third of a cart read. None of
//! the four needs to see a field, so they run here, once per request, and
//! the schema has no extension.

pub use super::document::QueryLimits;
use super::document::{self, DocumentLimits, OperationLabel};
use super::error::classify_response;
use super::measure::{Measurer, Sent};
use super::observe::RootFields;
use super::schema::{CartSchema, MutationRoot, QueryRoot};
use super::subscription;
use super::variables::InputTypes;
use crate::services::Services;
use async_graphql::{
    Data, Executor, Request, Response, Schema, ServerResult, ValidationMode, Variables,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use tracing::Instrument;

/// The schema and what runs around it. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    /// Validates every document in full (async-graphql's strict mode).
    strict: CartSchema,
    /// The same schema, validating only the limits: for documents the strict
    /// one has validated before.
    fast: CartSchema,
    limits: DocumentLimits,
    roots: Arc<RootFields>,
    inputs: Arc<InputTypes>,
    validated: Arc<Validated>,
    /// Says by how much a refused document is over the shape limits.
    measurer: Measurer,
}

impl Engine {
    /// Builds the schema over the services resolvers use.
    pub fn new(services: Services, limits: QueryLimits) -> Engine {
        let schema = |mode| {
            Schema::build(
                QueryRoot::default(),
                MutationRoot::default(),
                subscription::SubscriptionRoot,
            )
            .data(services.clone())
            .validation_mode(mode)
            .limit_depth(limits.max_depth)
            .limit_complexity(limits.max_complexity)
            .limit_recursive_depth(32)
            .limit_directives(8)
            .finish()
        };
        let strict = schema(ValidationMode::Strict);
        let roots = Arc::new(RootFields::of(&strict));
        Engine {
            fast: schema(ValidationMode::Fast),
            strict,
            limits: limits.document,
            roots,
            inputs: Arc::new(InputTypes::of_schema()),
            validated: Arc::default(),
            measurer: Measurer::new(limits),
        }
    }

    /// The limits documents are checked against.
    pub fn document_limits(&self) -> &DocumentLimits {
        &self.limits
    }

    /// Runs a query or a mutation.
    pub async fn execute(&self, mut request: Request) -> Response {
        let request_id = ulid::Ulid::new().to_string();
        let (schema, learn) = match self.prepare(&mut request) {
            Ok(chosen) => chosen,
            Err(error) => {
                let mut response = Response::from_errors(vec![error]);
                classify_response(&mut response, &request_id);
                return response;
            }
        };
        let label = label_of(&request);
        let span = tracing::info_span!(
            "graphql",
            request_id = %request_id,
            operation = operation_name(&request, label.as_ref())
        );
        let measure = self.roots.measure(label.as_ref());
        // Kept to remember a document that passes, and to measure one
        // refused for its shape.
        let sent = Sent::of(&request);
        let mut response = schema.execute(request).instrument(span).await;
        if learn && passed_validation(&response) {
            self.validated.insert(sent.query(), sent.operation_name());
        }
        if Measurer::refused_for_shape(&response) {
            self.measurer.explain(sent, &mut response).await;
        }
        measure.finish(&response);
        classify_response(&mut response, &request_id);
        response
    }

    /// Runs a subscription (or, over the WebSocket, any operation) as a
    /// stream of responses.
    pub fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let request_id = ulid::Ulid::new().to_string();
        // A subscription runs on until its client ends it: its document is
        // validated in full each time (no learning from its first response).
        if let Err(error) = self.prepare(&mut request) {
            let mut response = Response::from_errors(vec![error]);
            classify_response(&mut response, &request_id);
            return futures_util::stream::once(async move { response }).boxed();
        }
        let live = self.roots.live();
        // Kept to measure the request if its shape is refused (that is its
        // only response then).
        let mut sent = Some(Sent::of(&request));
        let measurer = self.measurer.clone();
        let responses = Executor::execute_stream(&self.strict, request, session_data);
        responses
            .then(move |mut response| {
                let _running = &live;
                let sent = sent.take();
                let measurer = measurer.clone();
                let request_id = request_id.clone();
                async move {
                    if let Some(sent) = sent.filter(|_| Measurer::refused_for_shape(&response)) {
                        measurer.explain(sent, &mut response).await;
                    }
                    classify_response(&mut response, &request_id);
                    response
                }
            })
            .boxed()
    }

    /// Checks and parses the document and checks the variables. Chooses the
    /// schema: the fast one for a document validated before, else the strict
    /// one, and whether to remember the document if it passes (only a short
    /// one, and only when every variable was given, so validation judged
    /// every argument).
    fn prepare(&self, request: &mut Request) -> ServerResult<(&CartSchema, bool)> {
        document::prepare(request, &self.limits)?;
        let variables = std::mem::take(&mut request.variables);
        let checked = self.check_variables(request, &variables);
        request.variables = variables;
        let Some(all_given) = checked? else {
            // No such operation: the schema says so.
            return Ok((&self.strict, false));
        };
        let operation = request.operation_name.as_deref();
        if self.validated.contains(&request.query, operation) {
            return Ok((&self.fast, false));
        }
        let learn = all_given && request.query.len() <= Validated::MAX_TEXT;
        Ok((&self.strict, learn))
    }

    /// The variables checked against the chosen operation's declarations;
    /// whether every one was given. `None` when no operation is chosen.
    fn check_variables(
        &self,
        request: &mut Request,
        variables: &Variables,
    ) -> ServerResult<Option<bool>> {
        let operation_name = request.operation_name.clone();
        let Ok(parsed) = request.parsed_query() else {
            return Ok(None);
        };
        let Some(operation) = document::chosen_operation(parsed, operation_name.as_deref()) else {
            return Ok(None);
        };
        self.inputs.check(operation, variables)?;
        Ok(Some(InputTypes::all_given(operation, variables)))
    }
}

/// Whether a response's request passed validation: every error it has, if
/// any, is a field's (request errors, validation's among them, have no path).
fn passed_validation(response: &Response) -> bool {
    response.errors.iter().all(|error| !error.path.is_empty())
}

/// Documents (with the operation chosen) that passed async-graphql's full
/// validation. Validation was a quarter of a cart read's instructions
/// (`scripts/instructions`, callgrind), and all of it but the variables'
/// values and the limits depends on the text alone: a storefront sends the
/// same few documents over and over. For a document here the engine checks
/// the variables itself ([`InputTypes::check`], on every request) and the
/// fast schema checks the limits. Bounded like the parsed-document cache: a
/// few hundred short documents.
///
/// Keyed by the text (looked up without copying it), with the names of the
/// operations validated in it (`None`: the document's only one).
struct Validated(Mutex<lru::LruCache<Box<str>, Operations>>);

/// The operations of one document that passed (`None`: its only one).
type Operations = Vec<Option<Box<str>>>;

impl Validated {
    const ENTRIES: usize = 256;
    const MAX_TEXT: usize = 4096;

    fn contains(&self, text: &str, operation: Option<&str>) -> bool {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(text)
            .is_some_and(|operations| operations.iter().any(|o| o.as_deref() == operation))
    }

    fn insert(&self, text: &str, operation: Option<&str>) {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let operations = cache.get_or_insert_mut(text.into(), Vec::new);
        if !operations.iter().any(|o| o.as_deref() == operation) {
            operations.push(operation.map(Into::into));
        }
    }
}

impl Default for Validated {
    fn default() -> Validated {
        let entries = NonZeroUsize::new(Validated::ENTRIES).unwrap_or(NonZeroUsize::MIN);
        Validated(Mutex::new(lru::LruCache::new(entries)))
    }
}

fn label_of(request: &Request) -> Option<OperationLabel> {
    request
        .data
        .get(&std::any::TypeId::of::<OperationLabel>())
        .and_then(|any| any.downcast_ref::<OperationLabel>())
        .cloned()
}

/// The name tracing shows: the operation's own name, else the requested one.
fn operation_name<'a>(request: &'a Request, label: Option<&'a OperationLabel>) -> &'a str {
    label
        .and_then(|label| label.name.as_deref())
        .or(request.operation_name.as_deref())
        .unwrap_or("(anonymous)")
}
