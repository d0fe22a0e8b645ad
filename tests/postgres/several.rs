//! Several instances on one PostgreSQL database, behind a real load balancer
//! (nginx, round-robin, WebSocket upgrade passed through), and what happens
//! when the listening connection or the network path to the database is
//! lost.

use crate::helpers::*;
use crate::shop::{PASSWORD, checkout, log_in, sign_up, stock, token_of};
use crate::sockets::{Socket, cart_of, connect_at, next, subscribe};
use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

/// Three instances on one database and nginx in front of them.
struct Cluster {
    instances: Vec<TestServer>,
    balancer: TestServer,
    _database: TestDatabase,
    _nginx_dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(args: &[&str]) -> Cluster {
        let dir = private_tempdir();
        let database = TestDatabase::of(dir.path()).await;
        let url = database.url();
        let mut all = vec!["--trusted-proxies", "127.0.0.1"];
        all.extend_from_slice(args);
        // Started at once on a new database: they migrate it together
        // (under sqlx's advisory lock) and load the demo catalog together.
        let instances =
            futures_util::future::join_all((0..3).map(|_| TestServer::spawn_on(&url, &all))).await;
        let (balancer, nginx_dir) = nginx(&instances).await;
        Cluster {
            instances,
            balancer,
            _database: database,
            _nginx_dir: nginx_dir,
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// nginx, round-robin over `instances`, WebSocket upgrade passed through,
/// the client address forwarded.
async fn nginx(instances: &[TestServer]) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let servers: String = instances
        .iter()
        .map(|i| format!("    server {};\n", i.base.trim_start_matches("http://")))
        .collect();
    let port = free_port();
    // The shipped site configuration, with these instances and this port.
    let site =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx.conf")).unwrap();
    let shipped_servers: String = site
        .lines()
        .filter(|l| l.trim_start().starts_with("server 127.0.0.1:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        !shipped_servers.is_empty(),
        "deploy/nginx.conf names its instances"
    );
    let site = site
        .replace(&shipped_servers, &servers)
        .replace("    listen 80;", &format!("    listen 127.0.0.1:{port};"));
    assert!(
        site.contains(&format!("listen 127.0.0.1:{port};")),
        "{site}"
    );
    std::fs::write(dir.path().join("site.conf"), &site).unwrap();
    let user = if rustix::process::geteuid().is_root() {
        "user root;"
    } else {
        ""
    };
    let config = format!(
        "{user}
master_process off;
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/site.conf;
}}
"
    );
    let path = dir.path().join("nginx.conf");
    std::fs::write(&path, config).unwrap();
    let binary = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("-v").output().is_ok())
        .expect("nginx is installed (scripts/test installs it)");
    let child = tokio::process::Command::new(binary)
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // One process (master_process off), so SIGKILL at drop leaves no worker.
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (TestServer::attach(child, base), dir);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    panic!("nginx did not start: {log}");
}

#[tokio::test]
async fn three_instances_behind_nginx_keep_every_guarantee() {
    let cluster = Cluster::start(&["--login-max-failures", "3"]).await;
    thirty_buyers_for_ten_units_make_ten_orders(&cluster).await;
    one_key_fifteen_times_makes_one_order(&cluster).await;
    one_expected_version_from_two_instances_conflicts_once(&cluster).await;
    a_subscription_through_the_balancer_sees_every_instance(&cluster).await;
    log_out_everywhere_on_one_ends_the_others_subscriptions(&cluster).await;
    failed_log_ins_count_across_instances(&cluster).await;
    killing_one_instance_during_checkouts_leaves_orders_whole(cluster).await;
}

async fn thirty_buyers_for_ten_units_make_ten_orders(cluster: &Cluster) {
    let lb = &cluster.balancer;
    assert_eq!(stock(lb, "HOODIE-GRY-M").await, 10);
    let buyers = (0..30).map(|i| async move {
        let token = customer(&format!("buyer{i}"));
        add(lb, &token, "default", "HOODIE-GRY-M", 1).await;
        checkout(lb, &token, &format!("k{i}")).await
    });
    let results = futures_util::future::join_all(buyers).await;
    let placed = results.iter().filter(|r| !r["order"].is_null()).count();
    let refused: Vec<Vec<String>> = results
        .iter()
        .filter(|r| r["order"].is_null())
        .map(codes)
        .collect();
    assert_eq!(placed, 10, "{results:?}");
    assert!(
        refused.iter().all(|c| c == &["OUT_OF_STOCK"]),
        "{refused:?}"
    );
    for instance in &cluster.instances {
        assert_eq!(stock(instance, "HOODIE-GRY-M").await, 0);
    }
}

async fn one_key_fifteen_times_makes_one_order(cluster: &Cluster) {
    let token = customer("dup");
    add(&cluster.balancer, &token, "default", "MUG-LOGO", 2).await;
    let tries = (0..15).map(|i| {
        let server = match i % 4 {
            3 => &cluster.balancer,
            n => &cluster.instances[n],
        };
        let token = token.clone();
        async move { checkout(server, &token, "the-one-key").await }
    });
    let results = futures_util::future::join_all(tries).await;
    let ids: Vec<&Value> = results.iter().map(|r| &r["order"]["id"]).collect();
    assert!(ids[0].is_string(), "{results:?}");
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert!(
        results.iter().all(|r| r["order"] == results[0]["order"]),
        "identical answers"
    );
    let orders = cluster.instances[2]
        .data(
            Some(&token),
            "{ orders(first: 10) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(orders["orders"]["nodes"].as_array().unwrap().len(), 1);
}

async fn one_expected_version_from_two_instances_conflicts_once(cluster: &Cluster) {
    let token = customer("versions");
    let query = "mutation($v: Int) { addCartLines(input: {cart: \"default\", lines: [{sku: \"MUG-LOGO\", quantity: 1}], expectedVersion: $v}) { cart { version } userErrors { code } } }";
    for round in 0..5 {
        let version = round;
        let (a, b) = tokio::join!(
            cluster.instances[0].data(Some(&token), query, json!({ "v": version })),
            cluster.instances[1].data(Some(&token), query, json!({ "v": version })),
        );
        let conflicts = [&a, &b]
            .iter()
            .filter(|r| codes(&r["addCartLines"]) == ["VERSION_CONFLICT"])
            .count();
        assert_eq!(conflicts, 1, "round {round}: {a} {b}");
    }
}

/// A subscribed socket for `token` at `base`, its first payload read.
async fn subscribed(base: &str, token: &str) -> (Socket, u64) {
    let mut socket = connect_at(base, json!({ "token": token })).await;
    subscribe(&mut socket, "live", json!({})).await;
    let version = cart_of(&next(&mut socket).await)["version"]
        .as_u64()
        .unwrap();
    (socket, version)
}

async fn a_subscription_through_the_balancer_sees_every_instance(cluster: &Cluster) {
    let token = customer("watcher");
    let (mut socket, _) = subscribed(&cluster.balancer.base, &token).await;
    for (i, instance) in cluster.instances.iter().enumerate() {
        add(instance, &token, "default", "MUG-LOGO", 1).await;
        let cart = cart_of(&next(&mut socket).await).clone();
        assert_eq!(cart["version"], i as u64 + 1, "{cart}");
        assert_eq!(cart["totalQuantity"], i as u64 + 1);
    }
}

async fn log_out_everywhere_on_one_ends_the_others_subscriptions(cluster: &Cluster) {
    let account = sign_up(&cluster.balancer, "leaver@example.com", PASSWORD, None).await;
    let token = token_of(&account);
    let (mut on_b, _) = subscribed(&cluster.instances[1].base, &token).await;
    let (mut on_c, _) = subscribed(&cluster.instances[2].base, &token).await;
    let out = cluster.instances[0]
        .data(Some(&token), "mutation { logOutEverywhere }", json!({}))
        .await;
    assert_eq!(out["logOutEverywhere"], true);
    for socket in [&mut on_b, &mut on_c] {
        let ended = next(socket).await;
        assert_eq!(
            ended["payload"]["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{ended}"
        );
    }
    // The very next request, on any instance, refuses the token.
    for instance in &cluster.instances {
        let refused = instance
            .post(Some(&token), json!({ "query": "{ cart { version } }" }))
            .await;
        assert_eq!(refused.status(), 401);
    }
}

async fn failed_log_ins_count_across_instances(cluster: &Cluster) {
    let email = "target@example.com";
    sign_up(&cluster.instances[0], email, PASSWORD, None).await;
    // --login-max-failures 3: three failures, one on each instance…
    for instance in &cluster.instances {
        let payload = log_in(instance, email, "wrong password!", None, None).await;
        assert_eq!(codes(&payload), ["INVALID_CREDENTIALS"], "{payload}");
    }
    // …and the fourth attempt is refused, whichever instance gets it.
    for instance in &cluster.instances {
        let payload = log_in(instance, email, PASSWORD, None, None).await;
        assert_eq!(codes(&payload), ["THROTTLED"], "{payload}");
    }
}

async fn killing_one_instance_during_checkouts_leaves_orders_whole(cluster: Cluster) {
    let Cluster {
        mut instances,
        balancer,
        ..
    } = cluster;
    let before = stock(&instances[0], "MUG-LOGO").await.as_i64().unwrap();
    let victim = Arc::new(instances.pop().unwrap());
    let tokens: Vec<String> = (0..20).map(|i| customer(&format!("crash{i}"))).collect();
    for token in &tokens {
        add(&victim, token, "default", "MUG-LOGO", 1).await;
    }
    let first_answer = Arc::new(tokio::sync::Notify::new());
    let checkouts: Vec<_> = tokens
        .iter()
        .map(|token| {
            let (victim, token) = (victim.clone(), token.clone());
            let answered = first_answer.clone();
            tokio::spawn(async move {
                let body = json!({ "query": "mutation { checkout(input: {cart: \"default\", idempotencyKey: \"crash\"}) { order { id } } }" });
                let _ = victim.try_post(Some(&token), body).await;
                answered.notify_one();
            })
        })
        .collect();
    // Killed once the first checkout has answered: the others are in flight.
    let _ = tokio::time::timeout(Duration::from_secs(10), first_answer.notified()).await;
    victim.send_kill();
    for task in checkouts {
        let _ = task.await;
    }
    // Every order is whole (cart cleared, stock taken) or absent.
    let mut orders = 0;
    for token in &tokens {
        let data = instances[0]
            .data(
                Some(token),
                "{ cart { lines { quantity } } orders(first: 5) { nodes { id } } }",
                json!({}),
            )
            .await;
        let placed = data["orders"]["nodes"].as_array().unwrap().len();
        let lines = data["cart"]["lines"].as_array().unwrap().len();
        assert_eq!(placed + lines, 1, "whole or absent: {data}");
        orders += placed;
    }
    assert_eq!(
        stock(&instances[1], "MUG-LOGO").await.as_i64().unwrap(),
        before - orders as i64
    );
    // The others keep serving, also through the balancer.
    for _ in 0..6 {
        balancer
            .data(None, "{ shop { currencyCode } }", json!({}))
            .await;
    }
}

#[tokio::test]
async fn a_subscription_still_hears_of_changes_after_its_listener_connection_is_killed() {
    let dir = private_tempdir();
    let Listening {
        database,
        a,
        b,
        token,
        mut socket,
    } = listening(&dir, "listener").await;

    // Terminate every listening connection from the database side.
    admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'cartql-listener' AND datname = '{}'",
        database.name
    ))
    .await;
    add(&a, &token, "default", "MUG-LOGO", 1).await;
    // Delivered by the notice, or by the re-read every subscription does
    // once the listener is back: either way it arrives.
    assert_eq!(version_after(&mut socket, 1).await, 2);
    // And the listener is back: the next change arrives as a notice.
    add(&a, &token, "default", "MUG-LOGO", 1).await;
    assert_eq!(version_after(&mut socket, 2).await, 3);
    assert_eq!(b.get("/readyz").await.status(), 200);
}

/// Two instances on one fresh database, and a customer subscribed on the
/// second who has seen a change made on the first (version 1).
struct Listening {
    database: TestDatabase,
    a: TestServer,
    b: TestServer,
    token: String,
    socket: Socket,
}

async fn listening(dir: &tempfile::TempDir, who: &str) -> Listening {
    let database = TestDatabase::of(dir.path()).await;
    let a = TestServer::spawn_on(&database.url(), &[]).await;
    let b = TestServer::spawn_on(&database.url(), &[]).await;
    let token = customer(who);
    let (mut socket, _) = subscribed(&b.base, &token).await;
    add(&a, &token, "default", "MUG-LOGO", 1).await;
    assert_eq!(cart_of(&next(&mut socket).await)["version"], 1);
    Listening {
        database,
        a,
        b,
        token,
        socket,
    }
}

/// The next pushed cart version that is not `seen` (a change may be pushed
/// twice: by its notice and by the re-read after the listener reconnects).
async fn version_after(socket: &mut Socket, seen: u64) -> Value {
    let mut version = cart_of(&next(socket).await)["version"].clone();
    if version == seen {
        version = cart_of(&next(socket).await)["version"].clone();
    }
    version
}

/// Polls `/readyz` until it answers `status` (10 s at most).
async fn readiness_becomes(server: &TestServer, status: u16) {
    for _ in 0..200 {
        if server.get("/readyz").await.status() == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/readyz did not answer {status} within 10 s");
}

#[tokio::test]
async fn while_the_listener_cannot_reconnect_the_instance_is_not_ready_and_then_catches_up() {
    let dir = private_tempdir();
    let Listening {
        database,
        a,
        b,
        token,
        mut socket,
    } = listening(&dir, "outage").await;

    // No new connections (superusers included), then the listeners go.
    let name = &database.name;
    admin_sql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await;
    admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'cartql-listener' AND datname = '{name}'"
    ))
    .await;
    readiness_becomes(&b, 503).await;
    // A change B cannot be told about (A writes on a pooled connection).
    add(&a, &token, "default", "MUG-LOGO", 1).await;
    admin_sql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await;
    // Once B listens again, every subscription re-reads: the change arrives.
    assert_eq!(cart_of(&next(&mut socket).await)["version"], 2);
    readiness_becomes(&b, 200).await;
}

#[tokio::test]
async fn sslmode_require_works_against_a_server_with_a_self_signed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cluster_dir = dir.path().join("cluster");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg-throwaway");
    let out = std::process::Command::new(script)
        .arg(&cluster_dir)
        .arg(port.to_string())
        .arg("--ssl")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stop = StopCluster(cluster_dir.clone());
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=require");
    let server = TestServer::spawn_on(&url, &[]).await;
    assert_eq!(stock(&server, "MUG-LOGO").await, 40);
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let encrypted: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
         WHERE ssl AND application_name LIKE 'cartql%'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(
        encrypted >= 2,
        "the pool and the listener use TLS: {encrypted}"
    );
    drop(conn);
    assert_eq!(server.get("/readyz").await.status(), 200);
    // The database goes away: the instance says it is not ready.
    drop(stop);
    let status = tokio::time::timeout(Duration::from_secs(20), server.get("/readyz"))
        .await
        .expect("readiness answers while the database is down")
        .status();
    assert_eq!(status, 503);
    drop(server);
}

/// Stops a throw-away cluster when dropped.
struct StopCluster(std::path::PathBuf);

impl Drop for StopCluster {
    fn drop(&mut self) {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|dirs| dirs.filter_map(Result::ok).map(|d| d.path()).max())
            .map(|p| p.join("bin/pg_ctl"));
        if let Some(pg_ctl) = bin {
            let data = self.0.join("data");
            let mut command = if rustix::process::geteuid().is_root() {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
                c
            } else {
                std::process::Command::new(&pg_ctl)
            };
            let _ = command
                .arg("-D")
                .arg(data)
                .args(["stop", "-m", "immediate"])
                .output();
        }
    }
}
