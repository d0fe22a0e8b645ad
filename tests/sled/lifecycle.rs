//! What a sled data directory is: its lock against a second process, its
//! files and their modes, a directory whose database vanished, and
//! import-catalog, which writes into one directly.

use crate::commands::{error_line, run};
use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn a_data_directory_in_use_is_refused_clearly() {
    let server = TestServer::spawn().await;
    let output = run(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            server.dir.to_str().unwrap(),
        ],
        &[("CARTQL_JWT_SECRET", SECRET)],
    );
    assert!(!output.status.success());
    let line = error_line(&output);
    assert!(
        line.contains("--data-dir") && line.contains("in use by another cartql process"),
        "{line}"
    );
}

#[tokio::test]
async fn import_catalog_loads_a_valid_file_and_refuses_a_bad_one_whole() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"[{"sku": "A-1", "title": "Apple", "price": "0.50", "stock": 100}, {"sku": "B-1", "title": "Bread", "price": "2"}]"#).unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"sku": "C-1", "title": "Cheese", "price": "3"}, {"sku": "D 1", "title": "Dates", "price": "4"}]"#).unwrap();

    let output = run(
        &[
            "import-catalog",
            good.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("imported 2 products"));

    let output = run(
        &[
            "import-catalog",
            bad.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!output.status.success());
    let line = error_line(&output);
    assert!(
        line.contains("bad.json") && line.contains("product #1"),
        "{line}"
    );

    for (name, content) in [
        ("empty.json", ""),
        ("binary.json", "\u{0}\u{1}\u{2}"),
        ("object.json", "{\"sku\": 1}"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let output = run(
            &[
                "import-catalog",
                path.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
            ],
            &[],
        );
        assert!(!output.status.success(), "{name}");
        assert!(error_line(&output).contains(name));
    }
    let missing = run(
        &[
            "import-catalog",
            "/nonexistent/catalog.json",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
    );
    assert!(error_line(&missing).contains("/nonexistent/catalog.json"));

    // A product with options; then a file that would move a SKU to another product.
    let variants = dir.path().join("variants.json");
    std::fs::write(&variants, r#"[{"handle": "cup", "title": "Cup", "options": [{"name": "Size", "values": ["S", "L"]}],
        "variants": [{"sku": "CUP-S", "price": "3", "selectedOptions": [{"name": "Size", "value": "S"}]},
                     {"sku": "CUP-L", "price": "4", "selectedOptions": [{"name": "Size", "value": "L"}]}]}]"#).unwrap();
    let import = |file: &std::path::Path| {
        run(
            &[
                "import-catalog",
                file.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
            ],
            &[],
        )
    };
    let output = import(&variants);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("imported 1 products (2 variants)"));
    // Importing the product again without CUP-L detaches it (not for sale).
    let fewer = dir.path().join("fewer.json");
    std::fs::write(&fewer, r#"[{"handle": "cup", "title": "Cup", "options": [{"name": "Size", "values": ["S", "L"]}],
        "variants": [{"sku": "CUP-S", "price": "3", "selectedOptions": [{"name": "Size", "value": "S"}]}]}]"#).unwrap();
    assert!(import(&fewer).status.success());
    let moving = dir.path().join("moving.json");
    std::fs::write(
        &moving,
        r#"[{"handle": "mug", "title": "Mug", "variants": [{"sku": "CUP-S", "price": "3"}]}]"#,
    )
    .unwrap();
    let output = import(&moving);
    assert!(!output.status.success());
    assert!(
        error_line(&output).contains("CUP-S is a variant of the product cup"),
        "{}",
        error_line(&output)
    );

    let server = TestServer::spawn_in(&data, &[]).await;
    let products = server
        .data(
            None,
            "{ products { nodes { handle variants { sku } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        products["products"]["nodes"],
        json!([
            {"handle": "a-1", "variants": [{"sku": "A-1"}]},
            {"handle": "b-1", "variants": [{"sku": "B-1"}]},
            {"handle": "cup", "variants": [{"sku": "CUP-S"}]}
        ]),
        "--demo skips a non-empty catalog; C-1 and mug were never written"
    );
    let dropped = server
        .data(
            None,
            "{ variant(sku: \"CUP-L\") { availableForSale product { handle } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        dropped["variant"],
        json!({"availableForSale": false, "product": null})
    );
}

#[tokio::test]
async fn a_database_that_vanished_is_refused_instead_of_starting_empty() {
    let server = TestServer::spawn().await;
    add(&server, &customer("ann"), "default", "MUG-LOGO", 1).await;
    let dir = server.dir.clone();
    let _keep = server.terminate().await;
    std::fs::remove_dir_all(dir.join("db")).unwrap();
    let output = run(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            dir.to_str().unwrap(),
        ],
        &[("CARTQL_JWT_SECRET", SECRET)],
    );
    assert!(!output.status.success());
    let line = error_line(&output);
    assert!(
        line.contains("--data-dir") && line.contains("lost its records"),
        "{line}"
    );
}

#[tokio::test]
async fn a_data_directory_a_newer_cartql_wrote_is_refused_with_one_line_and_left_as_it_is() {
    let server = TestServer::spawn().await;
    add(&server, &customer("ann"), "default", "MUG-LOGO", 1).await;
    let dir = server.dir.clone();
    let _keep = server.terminate().await;
    // This release marked the directory with its layout (2); a newer one
    // would have written a higher mark (the codec: format byte 2, then
    // MessagePack).
    {
        let db = sled::open(dir.join("db")).unwrap();
        let meta = db.open_tree("meta").unwrap();
        assert_eq!(meta.get("layout").unwrap().as_deref(), Some(&[2u8, 2][..]));
        meta.insert("layout", &[2u8, 99][..]).unwrap();
        db.flush().unwrap();
    }
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.to_str().unwrap(),
    ];
    let output = run(&args, &[("CARTQL_JWT_SECRET", SECRET)]);
    assert!(!output.status.success());
    let line = error_line(&output);
    assert!(
        line.contains("newer cartql") && line.contains("layout 99"),
        "{line}"
    );
    // The export refuses alike, and the directory is as it was.
    let output = run(&["export", "--data-dir", dir.to_str().unwrap()], &[]);
    assert!(!output.status.success());
    assert!(error_line(&output).contains("newer cartql"));
    let db = sled::open(dir.join("db")).unwrap();
    let meta = db.open_tree("meta").unwrap();
    assert_eq!(meta.get("layout").unwrap().as_deref(), Some(&[2u8, 99][..]));
}

#[tokio::test]
async fn verify_names_an_owner_the_sweep_index_lost_and_passes_when_every_write_kept_it() {
    let server = TestServer::spawn().await;
    let (ann, guest) = (customer("due-ann"), guest("due-guest"));
    add(&server, &ann, "default", "MUG-LOGO", 2).await;
    add(&server, &ann, "wishlist", "STICKER-PACK", 1).await;
    add(&server, &guest, "default", "MUG-LOGO", 1).await;
    let checkout = "mutation { checkout(input: {idempotencyKey: \"due-1\"}) { order { id } userErrors { code } } }";
    let placed = server.data(Some(&ann), checkout, json!({})).await;
    assert_eq!(placed["checkout"]["userErrors"], json!([]), "{placed}");
    let dir = server.dir.clone();
    let _keep = server.terminate().await;
    let data_dir = dir.to_str().unwrap();
    let verified = run(&["verify", "--data-dir", data_dir], &[]);
    assert!(verified.status.success(), "{}", error_line(&verified));
    // The sweep's index as a bug (or a hand) would leave it: no keys.
    {
        let db = sled::open(dir.join("db")).unwrap();
        let due = db.open_tree("cart_due").unwrap();
        assert_eq!(due.len(), 2, "ann and the guest, one key each");
        due.clear().unwrap();
        db.flush().unwrap();
    }
    let output = run(&["verify", "--data-dir", data_dir], &[]);
    assert!(!output.status.success());
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report.contains("the sweep's index lacks customer:") && report.contains("guest:"),
        "{report}"
    );
    assert!(error_line(&output).contains("2 broken invariants"));
}

/// Every file and directory under `dir` with a mode that others can use.
fn open_to_others(dir: &std::path::Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut open = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            open.push(format!("{} {mode:o}", path.display()));
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        }
    }
    open
}

#[tokio::test]
async fn the_data_directory_and_everything_in_it_is_private() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("fresh");
    // No configured secret: the key file is generated into the directory too.
    let mut child = std::process::Command::new(binary())
        .args(["--listen", "127.0.0.1:0", "--demo", "--data-dir"])
        .arg(&dir)
        .env_remove("CARTQL_JWT_SECRET")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.starts_with("cartql listening on"), "{line}");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    assert!(dir.join("jwt-secret").exists());
    assert!(dir.join("db").exists());
    assert_eq!(open_to_others(&dir), Vec::<String>::new());
}

#[test]
fn a_data_directory_others_can_read_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let shown = dir.to_str().unwrap();
    for args in [
        vec!["--listen", "127.0.0.1:0", "--data-dir", shown],
        vec!["token", "--subject", "x", "--data-dir", shown],
        vec!["revoke", "--subject", "x", "--data-dir", shown],
    ] {
        let output = run(&args, &[]);
        assert!(!output.status.success(), "{args:?}");
        let line = error_line(&output);
        assert!(line.contains(&format!("chmod 700 {shown}")), "{line}");
    }
    // Nothing was written into it.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[tokio::test]
async fn shop_record_batches_are_whole_and_one_racer_takes_them() {
    use cartql::store::sled::{Durability, SledStore};
    let dir = private_tempdir();
    let store = SledStore::open(dir.path(), Durability::Strict).unwrap();
    crate::shop_batches::a_batch_is_written_whole_or_not_at_all_and_one_racer_takes_it(vec![
        std::sync::Arc::new(store),
    ])
    .await;
}
