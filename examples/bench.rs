//! Load benchmark: starts a cartql binary on a free port with a temporary data
//! directory and drives it over HTTP from many concurrent clients, then prints
//! throughput, latency percentiles and the server's memory. Numbers, not
//! assertions: run it on a quiet machine and compare runs.
//!
//! ```sh
//! cargo build --release && cargo run --release --example bench -- [--binary target/release/cartql] [--clients 64] [--requests 50] [--database-url postgres://postgres@127.0.0.1:5432/postgres]
//! ```
//!
//! With `--database-url` (a maintenance database such as `postgres`) the
//! server runs on PostgreSQL instead of sled: the harness creates a fresh
//! database beside it for the run and drops it afterwards.

use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};

const SECRET: &str = "bench-secret-that-is-at-least-32-bytes-long";

struct Options {
    binary: String,
    clients: usize,
    requests: usize,
    database_url: Option<String>,
}

fn options() -> Options {
    let mut options = Options {
        binary: "target/release/cartql".into(),
        clients: 64,
        requests: 50,
        database_url: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--binary" => options.binary = value,
            "--clients" => options.clients = value.parse().expect("--clients takes a number"),
            "--requests" => options.requests = value.parse().expect("--requests takes a number"),
            "--database-url" => options.database_url = Some(value),
            other => panic!("unknown option {other}; see the doc comment"),
        }
    }
    options
}

struct Server {
    child: tokio::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

/// A fresh database beside the maintenance database `admin` names.
async fn fresh_database(admin: &str) -> (String, String) {
    use sqlx::Connection;
    let name = format!("cartql_bench_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(admin)
        .await
        .expect("the --database-url server answers");
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut conn)
        .await
        .expect("drop an old bench database");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create the bench database");
    let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
    let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    (format!("{server}/{name}{query}"), name)
}

async fn drop_database(admin: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(admin).await {
        let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await;
    }
}

async fn start(binary: &str, durability: &str, database_url: Option<&str>) -> Server {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // cartql refuses a data directory other users can enter.
    let data = dir.path().join("data");
    let mut command = tokio::process::Command::new(binary);
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let mut child = command
        .args([
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "--durability",
            if durability == "relaxed" {
                "relaxed"
            } else {
                "strict"
            },
            "--data-dir",
        ])
        .arg(&data)
        .args(["--max-quantity-per-line", "10000"])
        // Every client is 127.0.0.1: per-address limits would stop the run.
        .args(["--max-checkouts-per-client", "1000000"])
        .env("CARTQL_JWT_SECRET", SECRET)
        .env("CARTQL_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start {binary}: {e} (build it with cargo build --release)")
        });
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let line = lines
        .next_line()
        .await
        .expect("read stdout")
        .expect("the address line");
    let base = line.replace("cartql listening on ", "");
    Server {
        child,
        base,
        _dir: dir,
    }
}

fn token(subject: &str, roles: &[&str]) -> String {
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "sub": subject, "iss": "cartql", "iat": now, "nbf": now, "exp": now + 3600, "kind": "customer", "roles": roles });
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).expect("a key");
    jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).expect("a token")
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    client
        .post(format!("{base}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("a JSON body")
}

const ADD: &str = "mutation($sku: String!) { addCartLines(input: {lines: [{sku: $sku, quantity: 1}]}) { cart { version } userErrors { code } } }";
const CHECKOUT: &str = "mutation($key: String!) { checkout(input: {idempotencyKey: $key}) { order { id } userErrors { code } } }";

/// Runs `clients` tasks of `requests` operations each; `op(client, i, j)` does one.
async fn measure<F, Fut>(clients: usize, requests: usize, op: F) -> (Duration, Vec<Duration>)
where
    F: Fn(reqwest::Client, usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut latencies = Vec::with_capacity(requests);
            for j in 0..requests {
                let t = Instant::now();
                op(client.clone(), i, j).await;
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("a client task"));
    }
    (started.elapsed(), all)
}

/// Every client sends `query` `requests` times as the viewer `subject(client)`;
/// any top-level error stops the benchmark.
async fn each(
    base: &Arc<String>,
    clients: usize,
    requests: usize,
    subject: fn(usize) -> String,
    query: &'static str,
    variables: Value,
) -> (Duration, Vec<Duration>) {
    let base = base.clone();
    measure(clients, requests, move |client, i, _| {
        let (base, variables) = (base.clone(), variables.clone());
        async move {
            let body = post(&client, &base, &token(&subject(i), &[]), query, variables).await;
            assert!(body["errors"].is_null(), "{body}");
        }
    })
    .await
}

fn report(name: &str, elapsed: Duration, mut latencies: Vec<Duration>) {
    latencies.sort();
    let pct =
        |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1000.0;
    println!(
        "{name:<44} {:>8} ops {:>9.0} ops/s   p50 {:>7.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}

fn memory(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "server RSS {} kB, peak {} kB",
        field("VmRSS:"),
        field("VmHWM:")
    )
}

#[tokio::main]
async fn main() {
    let options = options();
    let (clients, requests) = (options.clients, options.requests);
    println!(
        "cartql load benchmark: {clients} concurrent clients x {requests} requests, binary {}",
        options.binary
    );
    let database = match &options.database_url {
        Some(admin) => Some(fresh_database(admin).await),
        None => None,
    };
    let modes: &[&str] = match database {
        Some(_) => &["postgres"],
        None => &["strict", "relaxed"],
    };
    for &durability in modes {
        let url = database.as_ref().map(|(url, _)| url.as_str());
        let server = start(&options.binary, durability, url).await;
        let base = Arc::new(server.base.clone());

        let own_cart = |i: usize| format!("own-{i}");
        let stickers = json!({"sku": "STICKER-PACK"});
        let (elapsed, latencies) =
            each(&base, clients, requests, own_cart, ADD, stickers.clone()).await;
        report(
            &format!("[{durability}] addCartLines, a cart per client"),
            elapsed,
            latencies,
        );

        let shared_cart = |_| "shared".to_string();
        let (elapsed, latencies) = each(&base, clients, requests, shared_cart, ADD, stickers).await;
        report(
            &format!("[{durability}] addCartLines, all on one cart"),
            elapsed,
            latencies,
        );
        let shared = post(
            &reqwest::Client::new(),
            &base,
            &token("shared", &[]),
            "{ cart { version totalQuantity } }",
            json!({}),
        )
        .await;
        assert_eq!(
            shared["data"]["cart"]["totalQuantity"],
            json!(clients * requests),
            "no update was lost"
        );

        let b = base.clone();
        let (elapsed, latencies) = measure(clients, requests.min(20), move |client, i, j| {
            let b = b.clone();
            async move {
                let t = token(&format!("buyer-{i}"), &[]);
                post(&client, &b, &t, ADD, json!({"sku": "STICKER-PACK"})).await;
                let body = post(&client, &b, &t, CHECKOUT, json!({"key": format!("k-{j}")})).await;
                assert!(
                    body["data"]["checkout"]["order"]["id"].is_string(),
                    "{body}"
                );
            }
        })
        .await;
        report(
            &format!("[{durability}] add + checkout (pairs)"),
            elapsed,
            latencies,
        );

        let reader = |_| "reader".to_string();
        let products =
            "{ products(first: 20) { nodes { handle variants { sku price { amount } } } } }";
        let (elapsed, latencies) =
            each(&base, clients, requests, reader, products, json!({})).await;
        report(
            &format!("[{durability}] products(first: 20) read"),
            elapsed,
            latencies,
        );
        println!(
            "[{durability}] {}",
            memory(server.child.id().expect("running"))
        );
    }
    if let (Some(admin), Some((_, name))) = (&options.database_url, &database) {
        drop_database(admin, name).await;
    }
}
