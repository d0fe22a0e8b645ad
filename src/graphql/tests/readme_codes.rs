//! README's list of userError codes is the schema's: generated from the
//! `UserErrorCode` enum of the SDL, so it cannot miss a code. When they
//! differ the test fails and prints the block to paste;
//! `CARTQL_UPDATE_README=1 cargo test --lib readme` writes it.

use crate::graphql::sdl;

const BEGIN: &str = "<!-- user-error-codes: generated from the schema by `CARTQL_UPDATE_README=1 cargo test --lib readme`; do not edit -->";
const END: &str = "<!-- end of user-error-codes -->";

/// `(code, description)` of every value of the enum `name` in `sdl`, in order.
fn enum_values(sdl: &str, name: &str) -> Vec<(String, String)> {
    let start = sdl
        .find(&format!("enum {name} {{"))
        .unwrap_or_else(|| panic!("no enum {name} in the SDL"));
    let body = &sdl[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
    let mut values = Vec::new();
    let mut description = String::new();
    let mut in_description = false;
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line == "\"\"\"" {
            in_description = !in_description;
        } else if in_description {
            if !description.is_empty() {
                description.push(' ');
            }
            description.push_str(line);
        } else {
            values.push((line.to_string(), std::mem::take(&mut description)));
        }
    }
    values
}

/// The README block for the codes.
fn block() -> String {
    let mut text = format!("{BEGIN}\n\n| code | when |\n|---|---|\n");
    for (code, description) in enum_values(&sdl(), "UserErrorCode") {
        text.push_str(&format!(
            "| `{code}` | {} |\n",
            description.replace('|', "\\|")
        ));
    }
    text.push('\n');
    text.push_str(END);
    text
}

#[test]
fn readme_lists_every_user_error_code_the_schema_has() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (Some(begin), Some(end)) = (readme.find(BEGIN), readme.find(END)) else {
        panic!("README.md has no user-error-codes block; add the markers:\n{BEGIN}\n{END}");
    };
    let current = &readme[begin..end + END.len()];
    let wanted = block();
    if current == wanted {
        return;
    }
    if std::env::var_os("CARTQL_UPDATE_README").is_some() {
        let updated = format!("{}{wanted}{}", &readme[..begin], &readme[end + END.len()..]);
        std::fs::write(path, updated).unwrap();
        return;
    }
    panic!(
        "README.md's userError codes differ from the schema's; \
         run CARTQL_UPDATE_README=1 cargo test --lib readme, or paste:\n{wanted}"
    );
}

#[test]
fn the_sdl_reader_takes_multi_line_descriptions() {
    let sdl = "enum E {\n\t\"\"\"\n\tOne,\n\tand two.\n\t\"\"\"\n\tA\n\tB\n}\n";
    assert_eq!(
        enum_values(sdl, "E"),
        [
            ("A".to_string(), "One, and two.".to_string()),
            ("B".to_string(), String::new())
        ]
    );
}
