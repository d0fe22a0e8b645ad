//! Embeds the playground's browser assets (GraphiQL and the React, ReactDOM
//! and graphql-ws UMD builds) from `playground/node_modules` into the binary,
//! so the playground loads nothing from the internet. They come from the npm
//! registry through `playground/package-lock.json` (`npm ci --prefix
//! playground`, which `scripts/test` and `scripts/run-demo` run) and are never
//! committed. Without them the binary still builds and serves the basic
//! playground, and says so.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// (path under node_modules, name served under /playground/, content type)
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "graphiql/graphiql.min.js",
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "graphiql/graphiql.min.css",
        "graphiql.min.css",
        "text/css; charset=utf-8",
    ),
    (
        "react/umd/react.production.min.js",
        "react.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "react-dom/umd/react-dom.production.min.js",
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
    ),
    (
        "graphql-ws/umd/graphql-ws.min.js",
        "graphql-ws.min.js",
        "text/javascript; charset=utf-8",
    ),
];

fn main() {
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let modules = root.join("playground/node_modules");
    println!("cargo:rerun-if-changed=playground/package-lock.json");
    println!("cargo:rerun-if-changed=playground/node_modules/.package-lock.json");
    let paths: Vec<PathBuf> = ASSETS
        .iter()
        .map(|(path, _, _)| modules.join(path))
        .collect();
    for path in &paths {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let missing: Vec<&Path> = paths
        .iter()
        .filter(|p| !p.is_file())
        .map(PathBuf::as_path)
        .collect();
    let mut code = String::from(
        "/// Browser assets embedded at build time: (name, content type, bytes).\npub static ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    if missing.is_empty() {
        for ((_, name, content_type), path) in ASSETS.iter().zip(&paths) {
            writeln!(
                code,
                "    ({name:?}, {content_type:?}, include_bytes!({:?})),",
                path.display().to_string()
            )
            .unwrap();
        }
    } else {
        println!(
            "cargo:warning=GraphiQL is not embedded ({} missing): run `npm ci --prefix playground`; serving the basic playground",
            missing[0].display()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("playground_assets.rs");
    fs::write(out, code).expect("OUT_DIR is writable");
}
