//! Reading a GraphQL document safely: every request's document passes
//! [`prepare`] before async-graphql sees it, over HTTP and WebSocket alike.
//!
//! Three hazards are stopped here, before anything recurses over the text:
//!
//! 1. **Nesting.** async-graphql's parser recurses once per `{`, `[` or `(`
//!    (selection sets, list and object values, list types). [`nesting`] measures
//!    the bracket nesting in one pass that follows the lexer's own rules
//!    (`graphql.pest` in async-graphql-parser: comments end at `\r`, `\n` or
//!    `\r\n`; strings end at `"` and cannot hold a line terminator; block
//!    strings end at `"""` and escape it as `\"""`), so no bracket the parser
//!    will read is hidden from it. A document nested deeper than
//!    [`MAX_NESTING`] is refused. Independently of the lexer's rules, [`parse`]
//!    runs with stack enough for one level per opening bracket in the text,
//!    and measures the parsed tree's nesting before letting it out: a
//!    document cannot overflow a stack, whether or not the guard is right.
//! 2. **Fragment expansion.** Fragments that each spread the previous one
//!    twice make a 1 KB document expand to millions of selections, and
//!    async-graphql's checks, validation and execution expand them without
//!    memoisation. [`expanded_size`] counts every selection as it would be
//!    expanded, visiting each fragment once (memoised over the fragment graph),
//!    and refuses a document over the limit, a fragment cycle, or a chain of
//!    fragments deeper than [`MAX_NESTING`] (validation follows those chains
//!    recursively). Every field counts, `__typename` included.
//! 3. **Choosing the operation.** [`operation_type`] picks the operation
//!    exactly as the executor will, so a GET cannot run a mutation.
//!
//! The checks cost one linear pass over the text and one over the parsed
//! document; a refusal carries its code (`QUERY_TOO_COMPLEX` or
//! `BAD_USER_INPUT`) in `extensions.code`.

use super::error::{RequestCode, with_code};
use async_graphql::parser::types::{
    BaseType, Directive, DocumentOperations, ExecutableDocument, OperationDefinition,
    OperationType, Selection, SelectionSet, Type,
};
use async_graphql::{Name, Positioned, Request, ServerError, ServerResult};
// The parser's values (which may hold variables), not the resolved ones.
use async_graphql_value::{ConstValue, Value};
use std::collections::HashMap;

/// The deepest nesting of `{`, `[` and `(` a document may have, and the
/// longest chain of fragments spreading each other. GraphiQL's introspection
/// query needs 13; the depth limit (default 16) refuses real queries earlier.
pub const MAX_NESTING: usize = 64;

/// Limits on the shape of a query.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    /// Maximum selection depth.
    pub max_depth: usize,
    /// Maximum complexity (roughly, fields resolved).
    pub max_complexity: usize,
    /// Limits checked on the document before it is parsed and validated.
    pub document: DocumentLimits,
}

/// Limits on a document, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct DocumentLimits {
    /// The most selections a document may expand to (fields, inline fragments
    /// and fragment spreads, with every spread counted as its fragment's size).
    pub max_nodes: usize,
}

/// Marks a request whose document [`prepare`] has checked and parsed.
struct Prepared;

/// Checks and parses the request's document, and attaches the parsed
/// document to the request so it is not parsed again.
pub fn prepare(request: &mut Request, limits: &DocumentLimits) -> ServerResult<()> {
    if request
        .data
        .contains_key(&std::any::TypeId::of::<Prepared>())
    {
        return Ok(());
    }
    let document = match parsed::get(&request.query) {
        Some(document) => document,
        None => {
            let document = parse(&request.query)?;
            parsed::put(&request.query, &document);
            document
        }
    };
    check_expanded_size(&document, limits)?;
    if let Some(label) = label(&document, request.operation_name.as_deref()) {
        request.data.insert(label);
    }
    request.set_parsed_query(document);
    request.data.insert(Prepared);
    Ok(())
}

/// Documents already parsed, by their text: a storefront sends the same few
/// queries over and over, and parsing is a fifth of a cart read's work
/// (measured with `scripts/instructions`). Only documents that parsed are
/// kept (the guard and the parser decide by the text alone; the size limit,
/// which depends on settings, is checked on every request), only short ones,
/// and only a few hundred: the worst case is a few MiB, and a client sending
/// a new document each time pays a parse, as without the cache.
mod parsed {
    use async_graphql::parser::types::ExecutableDocument;
    use std::num::NonZeroUsize;
    use std::sync::{LazyLock, Mutex};

    /// Documents kept.
    const ENTRIES: usize = 256;
    /// Longest document text kept, in bytes.
    const MAX_TEXT: usize = 4096;

    static CACHE: LazyLock<Mutex<lru::LruCache<Box<str>, ExecutableDocument>>> =
        LazyLock::new(|| {
            let entries = NonZeroUsize::new(ENTRIES).unwrap_or(NonZeroUsize::MIN);
            Mutex::new(lru::LruCache::new(entries))
        });

    pub fn get(text: &str) -> Option<ExecutableDocument> {
        if text.len() > MAX_TEXT {
            return None;
        }
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(text).cloned()
    }

    pub fn put(text: &str, document: &ExecutableDocument) {
        if text.len() > MAX_TEXT {
            return;
        }
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        cache.put(text.into(), document.clone());
    }
}

/// Parses a document after the nesting guard, on a stack deep enough for it.
///
/// Two checks that do not depend on each other keep the parser's recursion
/// from overflowing a stack. The guard ([`nesting`]) refuses what nests
/// deeper than [`MAX_NESTING`] by the lexer's rules. Independently of those
/// rules, the parser cannot nest deeper than the number of opening brackets in
/// the text, so the parse runs with [`STACK_PER_BRACKET`] bytes of stack per
/// opening bracket (measured: about 6.8 KiB per level in debug builds, 1.7 KiB
/// in release) on a stack grown for it when the worker's is too small, and the
/// parsed document's own nesting is measured there before it is let out
/// (a refused document is also dropped there). A document with more than
/// [`MAX_BRACKETS`] opening brackets is refused first, so that stack is at
/// most 64 MiB (reserved, and only touched as deep as the parse goes).
pub fn parse(query: &str) -> ServerResult<ExecutableDocument> {
    let depth = nesting(query);
    if depth > MAX_NESTING {
        return Err(nested_too_deep(depth));
    }
    let brackets = query
        .bytes()
        .filter(|b| matches!(b, b'{' | b'[' | b'('))
        .count();
    if brackets > MAX_BRACKETS {
        return Err(too_complex(format!(
            "Query is too complex: it has {brackets} opening brackets, at most {MAX_BRACKETS} are accepted (send large values as variables)"
        )));
    }
    let stack = STACK_BASE.saturating_add(brackets.saturating_mul(STACK_PER_BRACKET));
    stacker::maybe_grow(stack, stack, || {
        let document = async_graphql::parser::parse_query(query).map_err(|e| {
            let error: ServerError = e.into();
            with_code(error, RequestCode::BadUserInput)
        })?;
        match ast_nesting(&document) {
            depth if depth > MAX_NESTING => Err(nested_too_deep(depth)),
            _ => Ok(document),
        }
    })
}

/// The most opening brackets (`{`, `[`, `(`, anywhere in the text) a
/// document may have: bounds the stack a parse is given to 64 MiB, whatever
/// the text. Real documents have a few dozen; large values belong in variables.
pub const MAX_BRACKETS: usize = 8192;

/// Stack a parse always has (the parser's own frames and its stack probe's
/// 64 KiB margin).
const STACK_BASE: usize = 256 * 1024;

/// Stack a parse is given per opening bracket in the document.
pub const STACK_PER_BRACKET: usize = 8 * 1024;

fn nested_too_deep(depth: usize) -> ServerError {
    too_complex(format!(
        "Query is nested too deep: brackets nest {depth} levels, at most {MAX_NESTING} are accepted"
    ))
}

/// The bracket nesting of a parsed document, measured on its tree: selection
/// sets, argument and variable lists, list and object values, list types.
/// For a document that parses it equals [`nesting`] of its text.
pub fn ast_nesting(document: &ExecutableDocument) -> usize {
    let operations = document.operations.iter().map(|(_, op)| {
        let op = &op.node;
        let variables = op
            .variable_definitions
            .iter()
            .map(|v| {
                let v = &v.node;
                let default = v
                    .default_value
                    .as_ref()
                    .map_or(0, |d| const_value_nesting(&d.node));
                type_nesting(&v.var_type.node)
                    .max(default)
                    .max(directives_nesting(&v.directives))
            })
            .max()
            .map_or(0, |deepest| deepest + 1);
        variables
            .max(directives_nesting(&op.directives))
            .max(selection_set_nesting(&op.selection_set.node))
    });
    let fragments = document.fragments.values().map(|f| {
        directives_nesting(&f.node.directives)
            .max(selection_set_nesting(&f.node.selection_set.node))
    });
    operations.chain(fragments).max().unwrap_or(0)
}

fn selection_set_nesting(set: &SelectionSet) -> usize {
    let inner = set.items.iter().map(|selection| match &selection.node {
        Selection::Field(field) => {
            let field = &field.node;
            let arguments = arguments_nesting(&field.arguments);
            let nested = if field.selection_set.node.items.is_empty() {
                0
            } else {
                selection_set_nesting(&field.selection_set.node)
            };
            arguments
                .max(directives_nesting(&field.directives))
                .max(nested)
        }
        Selection::InlineFragment(inline) => directives_nesting(&inline.node.directives)
            .max(selection_set_nesting(&inline.node.selection_set.node)),
        Selection::FragmentSpread(spread) => directives_nesting(&spread.node.directives),
    });
    1 + inner.max().unwrap_or(0)
}

fn arguments_nesting(arguments: &[(Positioned<Name>, Positioned<Value>)]) -> usize {
    arguments
        .iter()
        .map(|(_, value)| value_nesting(&value.node))
        .max()
        .map_or(0, |deepest| deepest + 1)
}

fn directives_nesting(directives: &[Positioned<Directive>]) -> usize {
    directives
        .iter()
        .map(|d| arguments_nesting(&d.node.arguments))
        .max()
        .unwrap_or(0)
}

fn value_nesting(value: &Value) -> usize {
    match value {
        Value::List(items) => 1 + items.iter().map(value_nesting).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.values().map(value_nesting).max().unwrap_or(0),
        _ => 0,
    }
}

fn const_value_nesting(value: &ConstValue) -> usize {
    match value {
        ConstValue::List(items) => 1 + items.iter().map(const_value_nesting).max().unwrap_or(0),
        ConstValue::Object(fields) => {
            1 + fields.values().map(const_value_nesting).max().unwrap_or(0)
        }
        _ => 0,
    }
}

fn type_nesting(ty: &Type) -> usize {
    match &ty.base {
        BaseType::List(inner) => 1 + type_nesting(inner),
        BaseType::Named(_) => 0,
    }
}

/// The type of the operation the executor will run for `operation_name`
/// (async-graphql's `prepare_request` rules): `None` when it will refuse.
pub fn operation_type(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<OperationType> {
    chosen_operation(document, operation_name).map(|op| op.ty)
}

/// The operation the executor will run, chosen as it chooses.
pub(crate) fn chosen_operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(_), Some(_)) => None,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Single(op), None) => Some(&op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// What an operation is, for metrics: its kind and its first root field as
/// written (checked against the schema before it is used as a label).
#[derive(Clone, Debug)]
pub struct OperationLabel {
    /// Query, mutation or subscription.
    pub kind: OperationType,
    /// The first root field selected, if the selection starts with a field.
    pub field: Option<String>,
    /// The operation's name, if it has one.
    pub name: Option<String>,
}

fn label(document: &ExecutableDocument, operation_name: Option<&str>) -> Option<OperationLabel> {
    let operation = chosen_operation(document, operation_name)?;
    let field = operation
        .selection_set
        .node
        .items
        .first()
        .and_then(|item| match &item.node {
            Selection::Field(field) => Some(field.node.name.node.to_string()),
            _ => None,
        });
    let name = match (&document.operations, operation_name) {
        (DocumentOperations::Multiple(_), Some(name)) => Some(name.to_string()),
        (DocumentOperations::Multiple(ops), None) => ops.keys().next().map(|n| n.to_string()),
        (DocumentOperations::Single(_), _) => None,
    };
    Some(OperationLabel {
        kind: operation.ty,
        field,
        name,
    })
}

/// The deepest nesting of brackets in a GraphQL document, outside comments
/// and strings, by the lexer's rules. Where the text stops being lexically
/// valid (a bad escape, a line break in a string) the string is taken to end
/// there, so the count never falls below what the parser can see.
pub fn nesting(document: &str) -> usize {
    let bytes = document.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => i = comment_end(bytes, i + 1),
            // `"""` opens a block string only if one closes it; otherwise the
            // parser falls back to `""` (an empty string) and reads on.
            b'"' if bytes[i..].starts_with(b"\"\"\"") => match block_string_end(bytes, i + 3) {
                Some(end) => i = end,
                None => i = string_end(bytes, i + 1),
            },
            b'"' => i = string_end(bytes, i + 1),
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
                i += 1;
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    deepest
}

/// `COMMENT = "#" ~ (!line_terminator ~ ANY)*`: ends before `\r` or `\n`.
fn comment_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
        i += 1;
    }
    i
}

/// Block string content: anything but `"""`, with `\"""` as an escape.
/// Returns the index after the closing `"""`, or `None` when nothing closes
/// it (then the text is not a block string at all).
fn block_string_end(bytes: &[u8], mut i: usize) -> Option<usize> {
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if bytes[i..].starts_with(b"\"\"\"") {
            return Some(i + 3);
        } else {
            i += 1;
        }
    }
    None
}

/// String content: no `"`, `\` or line terminator except the escapes
/// `\" \\ \/ \b \f \n \r \t` and `\uXXXX`. Returns the index after the closing
/// quote; where the string is not valid (a line terminator, a bad escape, the
/// end of the text) the index of the offending byte, so scanning resumes there.
fn string_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return i + 1,
            b'\n' | b'\r' => return i,
            b'\\' => match bytes.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                Some(b'u')
                    if bytes.len() >= i + 6
                        && bytes[i + 2..i + 6].iter().all(u8::is_ascii_hexdigit) =>
                {
                    i += 6
                }
                _ => return i,
            },
            _ => i += 1,
        }
    }
    i
}

/// Size and depth of a fragment, once computed.
#[derive(Clone, Copy)]
enum FragmentInfo {
    /// Being computed: meeting it again is a cycle.
    Visiting,
    /// Expanded size and nesting depth (selection sets and spreads).
    Done { size: usize, depth: usize },
}

/// Why the expanded document is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum ExpansionError {
    /// More selections than the limit.
    TooLarge,
    /// A chain of fragments (or selections) deeper than [`MAX_NESTING`].
    TooDeep,
    /// A fragment that spreads itself, directly or not.
    Cycle(String),
}

struct Expansion<'a> {
    document: &'a ExecutableDocument,
    fragments: HashMap<&'a Name, FragmentInfo>,
    limit: usize,
}

impl<'a> Expansion<'a> {
    /// Size and depth of a selection set met `level` sets deep.
    fn selection_set(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        level: usize,
    ) -> Result<(usize, usize), ExpansionError> {
        if level > MAX_NESTING {
            return Err(ExpansionError::TooDeep);
        }
        let (mut size, mut depth) = (0usize, 0usize);
        for selection in &set.node.items {
            let (own, nested) = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let inner = if field.selection_set.node.items.is_empty() {
                        (0, 0)
                    } else {
                        self.selection_set(&field.selection_set, level + 1)?
                    };
                    (1 + field.directives.len() + inner.0, inner.1)
                }
                Selection::InlineFragment(inline) => {
                    let inner = self.selection_set(&inline.node.selection_set, level + 1)?;
                    (1 + inline.node.directives.len() + inner.0, inner.1)
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    let inner = self.fragment(name, level + 1)?;
                    (1 + spread.node.directives.len() + inner.0, inner.1)
                }
            };
            size = size.saturating_add(own);
            depth = depth.max(nested + 1);
            if size > self.limit {
                return Err(ExpansionError::TooLarge);
            }
        }
        Ok((size, depth))
    }

    /// Size and depth of the fragment `name`, computed once.
    fn fragment(&mut self, name: &'a Name, level: usize) -> Result<(usize, usize), ExpansionError> {
        match self.fragments.get(name) {
            Some(FragmentInfo::Done { size, depth }) => {
                return if level + depth > MAX_NESTING + 1 {
                    Err(ExpansionError::TooDeep)
                } else {
                    Ok((*size, *depth))
                };
            }
            Some(FragmentInfo::Visiting) => return Err(ExpansionError::Cycle(name.to_string())),
            None => {}
        }
        // An unknown fragment costs nothing here; validation refuses it.
        let Some(fragment) = self.document.fragments.get(name) else {
            return Ok((0, 0));
        };
        self.fragments.insert(name, FragmentInfo::Visiting);
        let (size, depth) = self.selection_set(&fragment.node.selection_set, level)?;
        self.fragments
            .insert(name, FragmentInfo::Done { size, depth });
        Ok((size, depth))
    }
}

/// The number of selections `document` expands to: its operations and its
/// fragment definitions, each spread counted as the size of its fragment.
/// Stops counting (with an error) at `limit`.
pub fn expanded_size(document: &ExecutableDocument, limit: usize) -> Result<usize, ExpansionError> {
    let mut expansion = Expansion {
        document,
        fragments: HashMap::new(),
        limit,
    };
    let mut total = 0usize;
    for (_, operation) in document.operations.iter() {
        let (size, _) = expansion.selection_set(&operation.node.selection_set, 1)?;
        total = total.saturating_add(size);
        if total > limit {
            return Err(ExpansionError::TooLarge);
        }
    }
    for name in document.fragments.keys() {
        let (size, _) = expansion.fragment(name, 1)?;
        total = total.saturating_add(size);
        if total > limit {
            return Err(ExpansionError::TooLarge);
        }
    }
    Ok(total)
}

fn check_expanded_size(document: &ExecutableDocument, limits: &DocumentLimits) -> ServerResult<()> {
    match expanded_size(document, limits.max_nodes) {
        Ok(_) => Ok(()),
        Err(ExpansionError::TooLarge) => Err(too_complex(format!(
            "Query is too complex: it expands to more than {} selections (fragments counted at their full size)",
            limits.max_nodes
        ))),
        Err(ExpansionError::TooDeep) => Err(too_complex(format!(
            "Query is nested too deep: selections and fragment spreads nest more than {MAX_NESTING} levels"
        ))),
        Err(ExpansionError::Cycle(name)) => Err(with_code(
            ServerError::new(
                format!("Cannot spread fragment \"{name}\" within itself"),
                None,
            ),
            RequestCode::BadUserInput,
        )),
    }
}

fn too_complex(message: String) -> ServerError {
    with_code(
        ServerError::new(message, None),
        RequestCode::QueryTooComplex,
    )
}

#[cfg(test)]
mod tests;
