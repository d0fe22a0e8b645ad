//! `cartql verify`: a store's invariants and counts, on either backend, and
//! an export file's; a tampered backup fails it naming what is broken, and
//! hostile files get one clear line.

use crate::commands::{cartql, error_line, ok, path};
use crate::helpers::*;
use serde_json::{Value, json};

/// An export's lines as JSON (header and end included).
fn lines_of(file: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Writes `lines` back as an export, with the end line recounted.
fn write_lines(file: &std::path::Path, mut lines: Vec<Value>) {
    lines.retain(|l| l["type"] != "end");
    let records = lines.len() - 1;
    lines.push(json!({"type": "end", "records": records}));
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(file, text).unwrap();
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_store_and_its_export_verify_and_a_tampered_export_does_not() {
    let dir = private_tempdir();
    let data_dir = dir.path().join("data");
    let database = match on_postgres() {
        true => Some(TestDatabase::of(dir.path()).await),
        false => None,
    };
    let url = database.as_ref().map(|d| d.url());
    let server = match &url {
        Some(url) => TestServer::spawn_on(url, &[]).await,
        None => TestServer::spawn_process_sled(&data_dir).await,
    };
    let buyer = customer("verify-ann");
    add(&server, &buyer, "default", "MUG-LOGO", 2).await;
    let checkout = "mutation { checkout(input: {idempotencyKey: \"v-1\"}) { order { id } userErrors { code } } }";
    let placed = server.data(Some(&buyer), checkout, json!({})).await;
    assert_eq!(placed["checkout"]["userErrors"], json!([]), "{placed}");
    add(&server, &buyer, "wishlist", "STICKER-PACK", 3).await;
    let store_args: Vec<String> = match &url {
        // PostgreSQL is verified while it serves; sled once it stopped.
        Some(url) => vec!["--database-url".into(), url.clone()],
        None => {
            drop(server.terminate().await);
            vec!["--data-dir".into(), path(&data_dir).into()]
        }
    };
    let args = |first: &[&str]| -> Vec<String> {
        first
            .iter()
            .map(|s| s.to_string())
            .chain(store_args.iter().cloned())
            .collect()
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cartql(&args)
    };
    let verified = run(args(&["verify"]));
    ok(&verified);
    let report = stdout(&verified);
    for expected in [
        "orders: 1",
        "carts: 2",
        "cart lines: 1",
        "idempotency records: 1",
        "every invariant holds",
    ] {
        assert!(report.contains(expected), "{expected}: {report}");
    }

    let files = tempfile::tempdir().unwrap();
    let backup = files.path().join("backup.jsonl");
    ok(&run(args(&["export", "--output", path(&backup)])));
    let from_file = cartql(&["verify", "--input", path(&backup)]);
    ok(&from_file);
    assert_eq!(
        stdout(&from_file),
        report,
        "the file says what the store says"
    );

    // Tampered copies: each broken invariant is named, and the exit is non-zero.
    let original = lines_of(&backup);
    let tamper = |name: &str, change: &dyn Fn(&mut Vec<Value>)| {
        let mut lines = original.clone();
        change(&mut lines);
        let file = files.path().join(name);
        write_lines(&file, lines);
        let output = cartql(&["verify", "--input", path(&file)]);
        let line = error_line(&output);
        assert!(line.contains("broken invariants"), "{line}");
        stdout(&output)
    };
    let negative = tamper("negative", &|lines| {
        let variant = lines.iter_mut().find(|l| l["type"] == "variant").unwrap();
        variant["product"]["stock"] = json!(-4);
    });
    assert!(negative.contains("below zero"), "{negative}");
    let total = tamper("total", &|lines| {
        let order = lines.iter_mut().find(|l| l["type"] == "order").unwrap();
        order["order"]["total"] = json!(1);
    });
    assert!(total.contains("cost"), "{total}");
    let line_total = tamper("line", &|lines| {
        let order = lines.iter_mut().find(|l| l["type"] == "order").unwrap();
        order["order"]["lines"][0]["quantity"] = json!(3);
    });
    assert!(line_total.contains("not"), "{line_total}");
    let dangling = tamper("dangling", &|lines| {
        lines.retain(|l| l["type"] != "order");
    });
    assert!(dangling.contains("points at order"), "{dangling}");

    // A cart line of a SKU the catalog lost is flagged, not broken.
    let mut lines = original.clone();
    lines.retain(|l| !(l["type"] == "variant" && l["product"]["sku"] == "STICKER-PACK"));
    for product in lines.iter_mut().filter(|l| l["type"] == "product") {
        if let Some(variants) = product["record"]["variants"].as_array_mut() {
            variants.retain(|s| s != "STICKER-PACK");
        }
    }
    let lost = files.path().join("lost");
    write_lines(&lost, lines);
    let output = cartql(&["verify", "--input", path(&lost)]);
    ok(&output);
    let report = stdout(&output);
    assert!(report.contains("(flagged, allowed): 1"), "{report}");
    assert!(report.contains("every invariant holds"), "{report}");

    // Hostile files: one clear line each.
    std::fs::write(files.path().join("text"), "hello\n").unwrap();
    let line = error_line(&cartql(&[
        "verify",
        "--input",
        path(&files.path().join("text")),
    ]));
    assert!(line.contains("line 1"), "{line}");
    let line = error_line(&cartql(&[
        "verify",
        "--input",
        path(&files.path().join("none")),
    ]));
    assert!(line.contains("No such file"), "{line}");
}
