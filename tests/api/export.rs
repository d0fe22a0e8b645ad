//! `cartql export` and `cartql import`: hostile input to them and to
//! `--database-url`. Round trips through PostgreSQL are in tests/postgres.

use crate::commands::{cartql, error_line, ok, path};
use crate::helpers::*;

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
