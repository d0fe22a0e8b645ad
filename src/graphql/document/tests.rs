//! The document guard: exact lexing, expansion counting, operation choice,
//! and a property test that whatever the guard admits parses without
//! overflowing a worker's stack.

use super::*;
use async_graphql::Request;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const LIMITS: DocumentLimits = DocumentLimits { max_nodes: 2000 };

fn code(error: &ServerError) -> String {
    let value = error
        .extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .cloned();
    match value {
        Some(async_graphql::Value::String(code)) => code,
        other => panic!("no code: {other:?}"),
    }
}

#[test]
fn counts_brackets_of_every_kind() {
    assert_eq!(nesting("{ a }"), 1);
    assert_eq!(nesting("{ a(x: [[1]]) { b } }"), 4);
    assert_eq!(nesting("query { a } query { b { c } }"), 2);
    assert_eq!(nesting("query($v: [[Int!]!]) { a }"), 3);
    assert_eq!(nesting(""), 0);
}

#[test]
fn ignores_brackets_in_strings_and_comments() {
    assert_eq!(nesting("{ a(x: \"[[[[{{{{\") }"), 2);
    assert_eq!(nesting("{ a(x: \"esc \\\" [[[\") }"), 2);
    assert_eq!(nesting("# [[[[[[\n{ a }"), 1);
    assert_eq!(nesting("{ a(x: \"\"\" [[[[ \\\"\"\" [[[ \"\"\") }"), 2);
    assert_eq!(nesting("{ a(x: \"\\u005B[[\") }"), 2);
}

#[test]
fn a_comment_ends_at_every_line_terminator_the_lexer_knows() {
    // The bug this guards against: a comment ended by a bare CR hid the rest.
    assert_eq!(nesting("# c\r[[[["), 4);
    assert_eq!(nesting("# c\r\n[[[["), 4);
    assert_eq!(nesting("# c\n[[[["), 4);
}

#[test]
fn a_string_cannot_hide_what_follows_a_line_break_or_a_bad_escape() {
    // The lexer refuses these strings; whatever follows is counted.
    assert_eq!(nesting("{ a(x: \"open\r[[[["), 6);
    assert_eq!(nesting("{ a(x: \"open\n[[[["), 6);
    assert_eq!(nesting("{ a(x: \"bad \\q [[[[\") }"), 6);
    assert_eq!(nesting("{ a(x: \"bad \\u12 [[[[\") }"), 6);
    assert_eq!(nesting("{ a(x: \"end \\"), 2);
}

#[test]
fn an_unclosed_block_string_is_read_as_the_parser_falls_back_to_reading_it() {
    // No `"""` closes it, so the parser reads `""` (an empty string) and
    // goes on: the brackets after it are parsed and must be counted.
    let sneaky = format!(
        "{{ a(b: [\"\"\" x \" {}1{} ]) }}",
        "[".repeat(100),
        "]".repeat(100)
    );
    assert_eq!(nesting(&sneaky), 103);
    assert_eq!(code(&parse(&sneaky).unwrap_err()), "QUERY_TOO_COMPLEX");
    let fine = format!(
        "{{ a(b: [\"\"\" x \" {}1{} ]) }}",
        "[".repeat(3),
        "]".repeat(3)
    );
    let document = parse(&fine).unwrap();
    assert_eq!(ast_nesting(&document), nesting(&fine));
}

#[test]
fn a_document_with_too_many_brackets_is_refused_whatever_they_are() {
    let commented = format!("{{ a }} # {}", "(".repeat(MAX_BRACKETS + 1));
    let error = parse(&commented).unwrap_err();
    assert_eq!(code(&error), "QUERY_TOO_COMPLEX");
    assert!(
        error.message.contains("opening brackets"),
        "{}",
        error.message
    );
}

#[test]
fn survives_unbalanced_and_unterminated_input() {
    assert_eq!(nesting("]]]]{"), 1);
    assert_eq!(nesting("{ \"unterminated"), 1);
    assert_eq!(nesting("\"\"\" never closed [[["), 0);
    assert_eq!(nesting(&"[".repeat(100_000)), 100_000);
}

#[test]
fn a_document_nested_too_deep_is_refused_before_parsing() {
    let deep = format!("# c\r{{ a(x: {}1{}) }}", "[".repeat(4000), "]".repeat(4000));
    let error = parse(&deep).unwrap_err();
    assert_eq!(code(&error), "QUERY_TOO_COMPLEX");
    assert!(
        error.message.contains("nested too deep"),
        "{}",
        error.message
    );
    let fine = format!("{{ a(x: {}1{}) }}", "[".repeat(60), "]".repeat(60));
    assert!(parse(&fine).is_ok());
}

#[test]
fn a_syntax_error_is_bad_user_input() {
    assert_eq!(code(&parse("{ a(").unwrap_err()), "BAD_USER_INPUT");
}

fn doubling_fragments(levels: usize) -> String {
    let mut doc = String::from("query { ...F0 }\nfragment F0 on Query { __typename }\n");
    for i in 1..=levels {
        doc.push_str(&format!(
            "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
            i - 1,
            i - 1
        ));
    }
    doc.replace("query { ...F0 }", &format!("query {{ ...F{levels} }}"))
}

#[test]
fn exponential_fragments_are_refused_after_counting_each_fragment_once() {
    let doc = async_graphql::parser::parse_query(doubling_fragments(24)).unwrap();
    assert_eq!(expanded_size(&doc, 2000), Err(ExpansionError::TooLarge));
    // Small enough, and counted exactly: F0 is one field; Fi is two spreads
    // of F(i-1); the operation is one spread of F5; every definition counts once.
    let doc = async_graphql::parser::parse_query(doubling_fragments(5)).unwrap();
    let mut sizes = vec![1usize];
    for i in 1..=5 {
        sizes.push(2 * (1 + sizes[i - 1]));
    }
    let expected = (1 + sizes[5]) + sizes.iter().sum::<usize>();
    assert_eq!(expanded_size(&doc, usize::MAX), Ok(expected));
}

#[test]
fn typename_costs_like_any_field() {
    let aliases: String = (0..12_000).map(|i| format!("t{i}: __typename ")).collect();
    let mut request = Request::new(format!("{{ {aliases} }}"));
    let error = prepare(&mut request, &LIMITS).unwrap_err();
    assert_eq!(code(&error), "QUERY_TOO_COMPLEX");
}

#[test]
fn fragment_cycles_and_long_chains_are_refused_before_validation() {
    let cycle =
        "query { ...A } fragment A on Query { ...B ...B } fragment B on Query { ...A ...A }";
    let doc = async_graphql::parser::parse_query(cycle).unwrap();
    assert!(matches!(
        expanded_size(&doc, usize::MAX),
        Err(ExpansionError::Cycle(_))
    ));
    let mut chain = String::from("query { ...F0 } ");
    for i in 0..5000 {
        chain.push_str(&format!("fragment F{i} on Query {{ ...F{} }} ", i + 1));
    }
    chain.push_str("fragment F5000 on Query { __typename }");
    let doc = async_graphql::parser::parse_query(&chain).unwrap();
    assert_eq!(
        expanded_size(&doc, usize::MAX),
        Err(ExpansionError::TooDeep)
    );
}

#[test]
fn graphiqls_introspection_query_fits_the_default_limits() {
    let query = include_str!("../../../tests/fixtures/introspection.graphql");
    assert!(nesting(query) <= MAX_NESTING);
    let doc = parse(query).unwrap();
    let size = expanded_size(&doc, usize::MAX).unwrap();
    assert!(size < LIMITS.max_nodes / 2, "{size}");
}

#[test]
fn the_operation_is_chosen_as_the_executor_chooses_it() {
    let doc = |q: &str| async_graphql::parser::parse_query(q).unwrap();
    let named = doc("mutation M { a }");
    assert_eq!(operation_type(&named, None), Some(OperationType::Mutation));
    assert_eq!(
        operation_type(&named, Some("M")),
        Some(OperationType::Mutation)
    );
    assert_eq!(operation_type(&named, Some("N")), None);
    let anonymous = doc("mutation { a }");
    assert_eq!(
        operation_type(&anonymous, None),
        Some(OperationType::Mutation)
    );
    assert_eq!(operation_type(&anonymous, Some("x")), None);
    let two = doc("query Q { a } mutation M { a }");
    assert_eq!(operation_type(&two, None), None);
    assert_eq!(operation_type(&two, Some("Q")), Some(OperationType::Query));
}

#[test]
fn prepare_attaches_the_parsed_document_once() {
    let mut request = Request::new("{ a }");
    prepare(&mut request, &LIMITS).unwrap();
    // A second pass (the schema extension after the GET handler) is free.
    request.query = "{ broken".into();
    assert!(prepare(&mut request, &LIMITS).is_ok());
}

// ---- property tests -------------------------------------------------------

/// How many random documents each property test tries; raise it to fuzz
/// longer: `CARTQL_FUZZ_CASES=100000 cargo test --lib document`.
fn cases() -> u64 {
    std::env::var("CARTQL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// Generates syntactically valid documents whose bracket nesting is known,
/// with comments and strings full of brackets, quotes and line terminators.
struct ValidDocuments {
    rng: StdRng,
    deepest: usize,
}

impl ValidDocuments {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.random_range(0..items.len())]
    }

    /// Ignored tokens: whitespace, commas, comments ended by any terminator.
    fn ignored(&mut self, out: &mut String) {
        for _ in 0..self.rng.random_range(0..3) {
            match self.rng.random_range(0..4) {
                0 => out.push_str(self.pick(&[" ", "\t", ",", "\u{feff}"])),
                1 => out.push_str(self.pick(&["\n", "\r", "\r\n"])),
                _ => {
                    out.push('#');
                    for _ in 0..self.rng.random_range(0..12) {
                        out.push_str(
                            self.pick(&["[", "{", "(", "\"", "\"\"\"", "\\", "#", "a", " "]),
                        );
                    }
                    out.push_str(self.pick(&["\n", "\r", "\r\n"]));
                }
            }
        }
    }

    fn string(&mut self, out: &mut String) {
        if self.rng.random_bool(0.5) {
            out.push('"');
            for _ in 0..self.rng.random_range(0..12) {
                let piece = self.pick(&[
                    "[", "{", "(", "]", "#", "a", " ", "\\\"", "\\\\", "\\n", "\\r", "\\u005B",
                    "\\/", "'",
                ]);
                out.push_str(piece);
            }
            out.push('"');
        } else {
            out.push_str("\"\"\"");
            let mut last_quote = false;
            for _ in 0..self.rng.random_range(0..12) {
                let piece = self.pick(&[
                    "[", "{", "(", "#", "a", " ", "\r", "\n", "\r\n", "\"", "\\\"\"\"", "\\a",
                ]);
                if piece == "\"" && last_quote {
                    continue;
                }
                last_quote = piece == "\"";
                out.push_str(piece);
            }
            if last_quote {
                out.push('a');
            }
            out.push_str("\"\"\"");
        }
    }

    fn value(&mut self, out: &mut String, depth: usize) {
        self.ignored(out);
        let choice = if depth >= 12 {
            self.rng.random_range(0..3)
        } else {
            self.rng.random_range(0..5)
        };
        match choice {
            0 => out.push_str(self.pick(&["1", "-2.5e3", "true", "null", "RED", "$v"])),
            1 | 2 => self.string(out),
            3 => {
                self.deepest = self.deepest.max(depth + 1);
                out.push('[');
                for _ in 0..self.rng.random_range(0..3) {
                    self.value(out, depth + 1);
                    out.push(' ');
                }
                self.ignored(out);
                out.push(']');
            }
            _ => {
                self.deepest = self.deepest.max(depth + 1);
                out.push('{');
                for i in 0..self.rng.random_range(0..3) {
                    self.ignored(out);
                    out.push_str(&format!("k{i}:"));
                    self.value(out, depth + 1);
                    out.push(' ');
                }
                out.push('}');
            }
        }
    }

    fn selection_set(&mut self, out: &mut String, depth: usize) {
        self.deepest = self.deepest.max(depth + 1);
        out.push('{');
        for i in 0..self.rng.random_range(1..4) {
            self.ignored(out);
            out.push_str(&format!("f{i}"));
            if self.rng.random_bool(0.5) {
                self.deepest = self.deepest.max(depth + 2);
                out.push_str("(a: ");
                self.value(out, depth + 2);
                self.ignored(out);
                out.push(')');
            }
            if depth < 10 && self.rng.random_bool(0.4) {
                self.ignored(out);
                self.selection_set(out, depth + 1);
            }
            out.push(' ');
        }
        self.ignored(out);
        out.push('}');
    }

    fn document(&mut self) -> (String, usize) {
        self.deepest = 0;
        let mut out = String::new();
        self.ignored(&mut out);
        out.push_str("query Q($v: [Int!] = [1]) ");
        self.deepest = 2;
        self.selection_set(&mut out, 0);
        self.ignored(&mut out);
        (out, self.deepest)
    }
}

#[test]
fn the_guard_measures_exactly_the_nesting_the_parser_reads() {
    let mut documents = ValidDocuments {
        rng: StdRng::seed_from_u64(0x5eed),
        deepest: 0,
    };
    for _ in 0..cases() * 10 {
        let (document, deepest) = documents.document();
        assert!(
            async_graphql::parser::parse_query(&document).is_ok(),
            "the generator made an invalid document: {document:?}"
        );
        assert_eq!(nesting(&document), deepest, "{document:?}");
        let parsed = parse(&document).unwrap();
        assert_eq!(ast_nesting(&parsed), deepest, "{document:?}");
    }
}

/// Tokens an attacker would mix: brackets (often in long runs), comment and
/// string delimiters, every line terminator, escapes and fragments.
fn hostile_document(rng: &mut StdRng, size: usize) -> String {
    const TOKENS: &[&str] = &[
        "[",
        "{",
        "(",
        "]",
        "}",
        ")",
        "#",
        "\r",
        "\n",
        "\r\n",
        "\"",
        "\"\"\"",
        "\\",
        "\\\"\"\"",
        "\\u12",
        "a",
        " ",
        "...",
        "$v",
        ":",
        "@skip",
        "query",
        "fragment F on Query",
        "on",
        "1",
        "\u{feff}",
        "é",
    ];
    let mut out = String::with_capacity(size);
    while out.len() < size {
        if rng.random_ratio(1, 8) {
            let run = rng.random_range(1..20_000);
            let open = ["[", "{", "(", "{a:", "[{a:"][rng.random_range(0..5)];
            for _ in 0..run {
                out.push_str(open);
            }
        } else {
            out.push_str(TOKENS[rng.random_range(0..TOKENS.len())]);
        }
    }
    out
}

#[test]
fn whatever_the_guard_admits_parses_on_a_workers_stack() {
    // tokio's worker threads have 2 MiB stacks; a stack overflow here aborts
    // the test binary, which is the failure this test exists to catch.
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let mut rng = StdRng::seed_from_u64(0xbad_c0de);
            let (mut refused, mut parsed) = (0, 0);
            for case in 0..cases() {
                let size = if case % 10 == 0 {
                    256 * 1024
                } else {
                    rng.random_range(1..16 * 1024)
                };
                let mut request = Request::new(hostile_document(&mut rng, size));
                match prepare(&mut request, &LIMITS) {
                    Ok(()) => parsed += 1,
                    Err(_) => refused += 1,
                }
            }
            (refused, parsed)
        })
        .unwrap();
    let (refused, _parsed) = handle.join().expect("no document crashes the parser");
    assert!(refused > 0);
}

#[test]
fn a_deep_document_that_slips_past_the_guard_still_cannot_overflow_the_stack() {
    // Pretend the lexer guard were wrong: call the parser path that does not
    // trust it, on a worker-sized stack, with a document thousands deep.
    let deep = format!("{{ a(x: {}1{}) }}", "[".repeat(5000), "]".repeat(5000));
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let brackets = deep
                .bytes()
                .filter(|b| *b == b'[' || *b == b'{' || *b == b'(')
                .count();
            let stack = STACK_BASE + brackets * STACK_PER_BRACKET;
            stacker::maybe_grow(stack, stack, || {
                let document = async_graphql::parser::parse_query(&deep).unwrap();
                ast_nesting(&document)
            })
        })
        .unwrap();
    assert_eq!(handle.join().unwrap(), 5002);
}
