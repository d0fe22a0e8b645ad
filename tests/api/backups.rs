//! Backups while serving, black-box on both backends: `createBackup` under
//! 16 writers holds every change acknowledged before it began, verifies
//! and imports into an empty store; scheduled backups rotate; what a crash
//! leaves is never a file that looks complete.

use crate::commands::{cartql, ok, path};
use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BACKUP: &str = "mutation { createBackup { backup { file bytes records startedAt finishedAt } userErrors { code message } } }";

/// An export's lines as JSON.
fn lines_of(file: &str) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The backup files in `dir`, by name.
fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What one writer had acknowledged: its orders and its carts' versions.
#[derive(Clone, Default)]
struct Acknowledged {
    orders: Vec<String>,
    version: u64,
}

#[tokio::test]
async fn a_backup_under_sixteen_writers_holds_every_acknowledged_change_and_restores() {
    let backups = private_tempdir();
    let dir = backups.path().join("backups");
    // Sixteen writers on one address: its write limits lifted.
    let args = [
        "--backup-dir",
        path(&dir),
        "--viewer-write-rate",
        "60000",
        "--client-write-rate",
        "600000",
        "--client-write-burst",
        "100000",
        "--max-checkouts-per-client",
        "100000",
    ];
    let server = Arc::new(TestServer::spawn_with(&args).await);
    // Without the role: refused before anything is written.
    let refused = server
        .gql(Some(&customer("backup-nobody")), BACKUP, json!({}))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<HashMap<String, Acknowledged>>> = Arc::default();
    let add = "mutation { addCartLines(input: {lines: [{sku: \"STICKER-PACK\", quantity: 1}]}) { cart { version } userErrors { code } } }";
    let checkout = "mutation($key: String!) { checkout(input: {idempotencyKey: $key}) { order { id } cart { version } userErrors { code } } }";
    let writers: Vec<_> = (0..16)
        .map(|n| {
            let (server, stop, acknowledged) = (server.clone(), stop.clone(), acknowledged.clone());
            tokio::spawn(async move {
                let sub = format!("backup-writer-{n}");
                let token = customer(&sub);
                let mut round = 0;
                while !stop.load(Ordering::SeqCst) && round < 160 {
                    round += 1;
                    let added = server.data(Some(&token), add, json!({})).await;
                    assert_eq!(added["addCartLines"]["userErrors"], json!([]), "{added}");
                    let version = added["addCartLines"]["cart"]["version"].as_u64().unwrap();
                    let mut order = None;
                    let mut version_after = version;
                    if round % 4 == 0 {
                        let key = format!("{sub}-{round}");
                        let done = server
                            .data(Some(&token), checkout, json!({ "key": key }))
                            .await;
                        assert_eq!(done["checkout"]["userErrors"], json!([]), "{done}");
                        // The file keeps the bare id (`gid://cartql/Order/<id>`).
                        order = done["checkout"]["order"]["id"]
                            .as_str()
                            .and_then(|gid| gid.rsplit('/').next())
                            .map(str::to_string);
                        version_after = done["checkout"]["cart"]["version"].as_u64().unwrap();
                    }
                    let mut all = acknowledged.lock().unwrap();
                    let mine = all.entry(sub.clone()).or_default();
                    mine.version = version_after;
                    mine.orders.extend(order);
                }
            })
        })
        .collect();

    // Once the writers are busy: what they had acknowledged, then a backup.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = acknowledged.lock().unwrap().clone();
    let made = server.data(Some(&admin()), BACKUP, json!({})).await["createBackup"].clone();
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(made["userErrors"], json!([]), "{made}");
    let backup = &made["backup"];
    let file = backup["file"].as_str().unwrap().to_string();
    assert!(file.starts_with(path(&dir)), "{file}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        backup["bytes"].as_u64().unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private");
    assert!(backup["startedAt"].as_str() <= backup["finishedAt"].as_str());

    // Every change acknowledged before the backup is in it.
    let lines = lines_of(&file);
    assert_eq!(lines.last().unwrap()["records"], backup["records"]);
    let orders: HashSet<&str> = lines
        .iter()
        .filter(|l| l["type"] == "order")
        .map(|l| l["order"]["id"].as_str().unwrap())
        .collect();
    let versions: HashMap<String, u64> = lines
        .iter()
        .filter(|l| l["type"] == "carts")
        .map(|l| {
            let owner = l["owner"].as_str().unwrap();
            let sub = owner.split_once(':').unwrap().1.to_string();
            let highest = l["carts"]["carts"]
                .as_object()
                .unwrap()
                .values()
                .map(|c| c["version"].as_u64().unwrap())
                .max()
                .unwrap_or(0);
            (sub, highest)
        })
        .collect();
    assert_eq!(before.len(), 16, "every writer had written");
    let mut acknowledged_orders = 0;
    for (sub, mine) in &before {
        for order in &mine.orders {
            assert!(
                orders.contains(order.as_str()),
                "{sub}'s order {order} is missing"
            );
            acknowledged_orders += 1;
        }
        let kept = versions.get(sub).copied().unwrap_or(0);
        assert!(
            kept >= mine.version,
            "{sub}: version {kept} < {}",
            mine.version
        );
    }
    assert!(
        acknowledged_orders > 0,
        "some orders were placed before the backup"
    );

    // It verifies, and restores into an empty store, which verifies too.
    ok(&cartql(&["verify", "--input", &file]));
    let restore = private_tempdir();
    let target: Vec<String> = match on_postgres() {
        true => {
            let database = TestDatabase::of(restore.path()).await;
            let url = database.url();
            std::mem::forget(database);
            vec!["--database-url".into(), url]
        }
        false => vec![
            "--data-dir".into(),
            path(&restore.path().join("data")).into(),
        ],
    };
    let with_target = |first: &[&str]| {
        let mut args: Vec<String> = first.iter().map(|s| s.to_string()).collect();
        args.extend(target.iter().cloned());
        args
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cartql(&args)
    };
    ok(&run(with_target(&["import", &file])));
    let verified = run(with_target(&["verify"]));
    ok(&verified);
    let report = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(report.contains("every invariant holds"), "{report}");
    assert!(
        report.contains(&format!("orders: {}", orders.len())),
        "{report}"
    );
}

#[tokio::test]
async fn without_a_backup_dir_a_backup_is_refused_saying_how_to_have_one() {
    let server = TestServer::spawn().await;
    let made = server.data(Some(&admin()), BACKUP, json!({})).await["createBackup"].clone();
    assert_eq!(made["backup"], Value::Null);
    assert_eq!(
        made["userErrors"][0]["code"], "BACKUP_UNAVAILABLE",
        "{made}"
    );
    let message = made["userErrors"][0]["message"].as_str().unwrap();
    assert!(message.contains("--backup-dir"), "{message}");
}

#[tokio::test]
async fn scheduled_backups_rotate_and_a_crash_leaves_no_file_that_looks_complete() {
    let backups = private_tempdir();
    let dir = backups.path().join("backups");
    let args = [
        "--backup-dir",
        path(&dir),
        "--backup-every",
        "1s",
        "--backup-keep",
        "2",
    ];
    let server = TestServer::spawn_with(&args).await;
    // A leftover of a crash: deleted by the next backup.
    std::fs::write(
        dir.join("cartql-backup-20200101T000000.000Z.jsonl.partial"),
        b"{\"type\":\"header\"",
    )
    .unwrap();
    let buyer = customer("backup-rotation");
    for _ in 0..3 {
        add(&server, &buyer, "default", "STICKER-PACK", 1).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let names = files_in(&dir);
    assert_eq!(names.len(), 2, "the newest two: {names:?}");
    for name in &names {
        assert!(
            name.starts_with("cartql-backup-") && name.ends_with(".jsonl"),
            "{name}"
        );
    }

    // Killed at some point of its schedule, while it writes: every file
    // with a final name is whole.
    for _ in 0..20 {
        add(&server, &buyer, "default", "STICKER-PACK", 1).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let data_dir = server.dir.clone();
    let _data = server.kill().await;
    for name in files_in(&dir) {
        if name.ends_with(".jsonl") {
            ok(&cartql(&["verify", "--input", path(&dir.join(&name))]));
        }
    }
    // After a restart, the next backup clears what the kill left.
    let again = TestServer::spawn_in(&data_dir, &args).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let names = files_in(&dir);
    assert!(names.iter().all(|n| n.ends_with(".jsonl")), "{names:?}");
    assert_eq!(names.len(), 2, "{names:?}");
    drop(again);
}
