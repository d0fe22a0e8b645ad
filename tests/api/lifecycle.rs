//! Start-up, configuration errors, restarts and crashes. What only a sled
//! data directory has (its lock, its files, import-catalog) is in tests/sled.

use crate::commands::{error_line, run};
use crate::helpers::*;
use serde_json::json;

#[test]
fn bad_settings_stop_the_start_with_one_line_naming_the_setting() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--data-dir", data],
            vec![("CARTQL_JWT_SECRET", "short")],
            "--jwt-secret",
        ),
        (
            vec!["--data-dir", data, "--currency", "ABC"],
            vec![],
            "--currency",
        ),
        (
            vec!["--data-dir", data],
            vec![("CARTQL_CURRENCY", "XAU")],
            "--currency",
        ),
        (
            vec!["--data-dir", file.to_str().unwrap()],
            vec![],
            "--data-dir",
        ),
        (
            vec!["--data-dir", data, "--max-quantity-per-line", "0"],
            vec![],
            "--max-quantity-per-line",
        ),
        (
            vec!["--data-dir", data],
            vec![("CARTQL_MAX_LINES_PER_CART", "lots")],
            "--max-lines-per-cart",
        ),
        (
            vec!["--data-dir", data, "--durability", "sometimes"],
            vec![],
            "--durability",
        ),
        (
            vec!["--data-dir", data, "--listen", "localhost"],
            vec![],
            "--listen",
        ),
        (
            vec!["--data-dir", data, "--guest-cart-ttl", "forever"],
            vec![],
            "--guest-cart-ttl",
        ),
        (
            vec!["--data-dir", data, "--listen", "203.0.113.1:1"],
            vec![],
            "--listen",
        ),
        (
            vec!["--data-dir", data, "--cors-origins", "shop.example"],
            vec![],
            "--cors-origins",
        ),
        (
            vec!["--data-dir", data],
            vec![(
                "CARTQL_CORS_ORIGINS",
                "https://a.example,https://b.example/x",
            )],
            "--cors-origins",
        ),
        (
            vec!["--data-dir", data, "--ws-init-timeout", "0s"],
            vec![],
            "--ws-init-timeout",
        ),
        (
            vec!["--data-dir", data],
            vec![("CARTQL_REQUEST_TIMEOUT", "soon")],
            "--request-timeout",
        ),
        (
            vec!["--data-dir", data, "--log-format", "xml"],
            vec![],
            "--log-format",
        ),
        (
            vec!["--data-dir", data],
            vec![("CARTQL_LOG_FORMAT", "JSON lines")],
            "--log-format",
        ),
    ];
    for (args, env, setting) in cases {
        let output = run(&args, &env);
        assert!(!output.status.success(), "{args:?} {env:?} should fail");
        let line = error_line(&output);
        assert!(line.contains(setting), "{args:?} {env:?}: {line}");
    }
}

#[tokio::test]
async fn a_data_directory_keeps_its_currency() {
    let server = TestServer::spawn().await;
    let dir = server.dir.clone();
    let url = server.database_url.clone();
    let _keep = server.terminate().await;
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.to_str().unwrap(),
        "--currency",
        "JPY",
    ];
    if let Some(url) = &url {
        args.extend(["--database-url", url]);
    }
    let output = run(&args, &[("CARTQL_JWT_SECRET", SECRET)]);
    assert!(!output.status.success());
    let line = error_line(&output);
    assert!(
        line.contains("--currency") && line.contains("USD"),
        "{line}"
    );
}

#[tokio::test]
async fn carts_and_products_survive_a_restart() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 2).await;
    add(&server, &token, "wishlist", "HOODIE-GRY-M", 1).await;
    server
        .data(
            Some(&admin()),
            "mutation { adjustStock(input: {sku: \"MUG-LOGO\", delta: -5}) { variant { stock } } }",
            json!({}),
        )
        .await;
    let dir = server.dir.clone();
    let temp = server.terminate().await;

    let again = TestServer::spawn_in(&dir, &[]).await;
    let data = again.data(Some(&token), "{ carts { name version lines { sku quantity } } variant(sku: \"MUG-LOGO\") { stock } }", json!({})).await;
    assert_eq!(
        data["carts"],
        json!([
            {"name": "default", "version": 1, "lines": [{"sku": "MUG-LOGO", "quantity": 2}]},
            {"name": "wishlist", "version": 1, "lines": [{"sku": "HOODIE-GRY-M", "quantity": 1}]}
        ])
    );
    assert_eq!(
        data["variant"]["stock"], 35,
        "--demo does not reload a catalog that has products"
    );
    drop(temp);
}

#[tokio::test]
async fn an_acknowledged_write_survives_kill_9_in_strict_mode() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    for _ in 0..5 {
        add(&server, &token, "default", "STICKER-PACK", 1).await;
    }
    let dir = server.dir.clone();
    let temp = server.kill().await;
    let again = TestServer::spawn_in(&dir, &[]).await;
    let data = again
        .data(
            Some(&token),
            "{ cart { version lines { quantity } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["cart"],
        json!({"version": 5, "lines": [{"quantity": 5}]})
    );
    drop(temp);
}
