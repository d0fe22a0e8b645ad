//! `cartql export` and `cartql import`: the whole store as JSON lines, from
//! and into either backend; hostile input to them and to `--database-url`.

use crate::commands::{cartql, error_line, ok, path};
use crate::helpers::*;
use crate::shop::{checkout, customer_account};
use serde_json::json;

/// A store with something of every kind in it; returns a token that a
/// log-out everywhere revoked.
async fn fill(server: &TestServer) -> String {
    let ann = customer_account(server, "ann@example.com").await;
    add(server, &ann, "default", "MUG-LOGO", 2).await;
    checkout(server, &ann, "ann-1").await;
    add(server, &ann, "wishlist", "HOODIE-GRY-M", 1).await;
    let guest = guest("g1");
    add(server, &guest, "default", "STICKER-PACK", 3).await;
    let bob = customer("bob");
    add(server, &bob, "default", "MUG-LOGO", 1).await;
    server
        .data(Some(&bob), "mutation { logOutEverywhere }", json!({}))
        .await;
    bob
}

#[tokio::test]
async fn sled_to_postgres_to_sled_round_trips_with_nothing_lost() {
    if !on_postgres() {
        return;
    }
    // A sled store with data, stopped.
    let sled_dir = private_tempdir();
    let server = TestServer::spawn_process_sled(sled_dir.path()).await;
    let revoked = fill(&server).await;
    let token = customer("bob2");
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    drop(server.terminate().await);

    let files = tempfile::tempdir().unwrap();
    let first = files.path().join("first.jsonl");
    ok(&cartql(&[
        "export",
        "--data-dir",
        path(sled_dir.path()),
        "--output",
        path(&first),
    ]));

    let database = TestDatabase::of(files.path()).await;
    let url = database.url();
    ok(&cartql(&["import", path(&first), "--database-url", &url]));
    let second = files.path().join("second.jsonl");
    ok(&cartql(&[
        "export",
        "--database-url",
        &url,
        "--output",
        path(&second),
    ]));

    let back = private_tempdir();
    ok(&cartql(&[
        "import",
        path(&second),
        "--data-dir",
        path(back.path()),
    ]));
    let third = files.path().join("third.jsonl");
    ok(&cartql(&[
        "export",
        "--data-dir",
        path(back.path()),
        "--output",
        path(&third),
    ]));

    let (first, second, third) = (
        std::fs::read_to_string(first).unwrap(),
        std::fs::read_to_string(second).unwrap(),
        std::fs::read_to_string(third).unwrap(),
    );
    for kind in [
        "product",
        "carts",
        "order",
        "account",
        "valid_after",
        "idempotency",
        "currency",
    ] {
        assert!(
            first.contains(&format!("\"type\":\"{kind}\"")),
            "{kind} exported"
        );
    }
    assert_eq!(first, second, "sled → PostgreSQL loses nothing");
    assert_eq!(first, third, "PostgreSQL → sled loses nothing");

    // The imported database serves what the sled store held.
    let server = TestServer::spawn_on(&url, &[]).await;
    let data = server
        .data(
            Some(&token),
            "{ cart { version lines { sku quantity } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["cart"],
        json!({"version": 1, "lines": [{"sku": "MUG-LOGO", "quantity": 1}]})
    );
    // The revocation came along: bob's old tokens stay refused.
    let refused = server
        .post(Some(&revoked), json!({ "query": "{ cart { version } }" }))
        .await;
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn export_from_a_serving_postgres_store_is_one_snapshot_and_import_refuses_a_store_with_data()
{
    if !on_postgres() {
        return;
    }
    let server = TestServer::spawn().await;
    fill(&server).await;
    let url = server.database_url.clone().unwrap();
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("live.jsonl");
    ok(&cartql(&[
        "export",
        "--database-url",
        &url,
        "--output",
        path(&file),
    ]));
    let line = error_line(&cartql(&["import", path(&file), "--database-url", &url]));
    assert!(line.contains("not empty"), "{line}");
}

#[tokio::test]
async fn hostile_input_to_export_and_import_gets_one_clear_line() {
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = files.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let target = private_tempdir();
    let data = path(target.path());
    let header = "{\"type\":\"header\",\"format\":\"cartql-export\",\"version\":1}\n";
    for (file, expected) in [
        (write("empty", ""), "not a cartql export"),
        (write("text", "hello\n"), "line 1"),
        (write("cut", header), "incomplete"),
        (
            write(
                "bad-record",
                &format!("{header}{{\"type\":\"product\",\"product\":{{\"sku\":\"bad sku!\"}}}}\n"),
            ),
            "line 2",
        ),
        (
            write(
                "count",
                &format!("{header}{{\"type\":\"end\",\"records\":3}}\n"),
            ),
            "counts 3",
        ),
        (files.path().join("missing"), "No such file"),
    ] {
        let line = error_line(&cartql(&["import", path(&file), "--data-dir", data]));
        assert!(line.contains(expected), "{}: {line}", file.display());
    }
    // Nothing was written by the refused imports: a good file still loads.
    let good = write(
        "good",
        &format!(
            "{header}{{\"type\":\"currency\",\"code\":\"USD\"}}\n{{\"type\":\"end\",\"records\":1}}\n"
        ),
    );
    ok(&cartql(&["import", path(&good), "--data-dir", data]));

    // A store with data is refused whole.
    let server = TestServer::spawn_process_sled(target.path()).await;
    add(&server, &customer("x"), "default", "MUG-LOGO", 1).await;
    drop(server.terminate().await);
    let line = error_line(&cartql(&["import", path(&good), "--data-dir", data]));
    assert!(line.contains("not empty"), "{line}");

    // Bad database URLs and unreachable databases.
    for (url, expected) in [
        ("mysql://u:secret@h/db", "not a PostgreSQL URL"),
        (
            "postgres://u@127.0.0.1:1/db",
            "cannot connect to PostgreSQL at 127.0.0.1:1/db",
        ),
        ("postgres://u@h/db?sslmode=sometimes", "--database-url"),
    ] {
        for args in [
            vec!["export", "--database-url", url],
            vec!["import", path(&good), "--database-url", url],
            vec!["--listen", "127.0.0.1:0", "--database-url", url],
        ] {
            let line = error_line(&cartql(&args));
            assert!(line.contains(expected), "{args:?}: {line}");
            assert!(!line.contains("secret"), "{line}");
        }
    }
    let output = std::process::Command::new(binary())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "postgres://u@127.0.0.1:1/db",
        ])
        .env_remove("CARTQL_JWT_SECRET")
        .output()
        .unwrap();
    assert!(error_line(&output).contains("CARTQL_JWT_SECRET"));
    let output = std::process::Command::new(binary())
        .args([
            "token",
            "--subject",
            "ann",
            "--database-url",
            "postgres://u@h/db",
        ])
        .env_remove("CARTQL_JWT_SECRET")
        .output()
        .unwrap();
    assert!(error_line(&output).contains("CARTQL_JWT_SECRET"));
    let line = error_line(&cartql(&[
        "export",
        "--output",
        "/nonexistent/dir/file",
        "--data-dir",
        data,
    ]));
    assert!(line.contains("--output"), "{line}");
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_cartql_is_refused_with_one_line() {
    if !on_postgres() {
        return;
    }
    let server = TestServer::spawn().await;
    let url = server.database_url.clone().unwrap();
    let _database = server.terminate().await;
    let name = url.rsplit('/').next().unwrap().to_string();
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'from the future', true, '\\x00', 0)")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let line = error_line(&cartql(&[
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &url,
    ]));
    assert!(
        line.contains("newer cartql") && line.contains("9999"),
        "{name}: {line}"
    );
}
