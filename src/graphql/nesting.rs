//! A guard against deeply nested documents, checked before they are parsed.
//!
//! async-graphql's parser recurses on nested lists, objects and selection
//! sets; a request with a few hundred nested `[` overflows a worker thread's
//! stack and aborts the whole process (found by a test). The depth limit and
//! the parser's own recursion limit only apply after or beside parsing, so
//! this extension measures the bracket nesting of the raw text first — one
//! pass, skipping strings and comments — and refuses a document nested deeper
//! than [`MAX_NESTING`]. It runs for HTTP and WebSocket operations alike.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, ServerResult, Variables};
use std::sync::Arc;

/// The deepest nesting of `{`, `[` and `(` a document may have. GraphiQL's
/// introspection query needs 13; the depth limit (default 16) refuses real
/// queries much earlier.
pub const MAX_NESTING: usize = 64;

/// The deepest nesting of brackets in a GraphQL document, outside strings,
/// block strings and comments.
pub fn nesting(document: &str) -> usize {
    let bytes = document.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// The extension factory to register on the schema.
pub struct NestingGuard;

impl ExtensionFactory for NestingGuard {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(NestingGuardExtension)
    }
}

struct NestingGuardExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for NestingGuardExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let depth = nesting(query);
        if depth > MAX_NESTING {
            // The wording starts like async-graphql's own depth error, so
            // `classify` gives it the QUERY_TOO_COMPLEX code.
            return Err(ServerError::new(
                format!(
                    "Query is nested too deep: brackets nest {depth} levels, at most {MAX_NESTING} are accepted"
                ),
                None,
            ));
        }
        next.run(ctx, query, variables).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_brackets_of_every_kind() {
        assert_eq!(nesting("{ a }"), 1);
        assert_eq!(nesting("{ a(x: [[1]]) { b } }"), 4);
        assert_eq!(nesting("query { a } query { b { c } }"), 2);
        assert_eq!(nesting(""), 0);
    }

    #[test]
    fn ignores_brackets_in_strings_and_comments() {
        assert_eq!(nesting("{ a(x: \"[[[[{{{{\") }"), 2);
        assert_eq!(nesting("{ a(x: \"esc \\\" [[[\") }"), 2);
        assert_eq!(nesting("# [[[[[[\n{ a }"), 1);
        assert_eq!(nesting("{ a(x: \"\"\" [[[[ \\\"\"\" [[[ \"\"\") }"), 2);
    }

    #[test]
    fn survives_unbalanced_and_unterminated_input() {
        assert_eq!(nesting("]]]]{"), 1);
        assert_eq!(nesting("{ \"unterminated"), 1);
        assert_eq!(nesting("\"\"\" never closed [[["), 0);
        assert_eq!(nesting(&"[".repeat(100_000)), 100_000);
    }
}
