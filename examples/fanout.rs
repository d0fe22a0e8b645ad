//! Scenario (g) of `scripts/bench`: `cartUpdated` fan-out. Opens one
//! subscription per viewer (10,000 by default) over graphql-transport-ws,
//! then has `--writers` of those viewers change their carts every second
//! over HTTP and measures the time from each mutation's answer to the push
//! that carries its version. Prints percentiles and how many pushes never
//! came. WebSocket load has no packaged generator, hence this small client;
//! HTTP scenarios use wrk.
//!
//! ```sh
//! cargo run --release --example fanout -- --base http://127.0.0.1:8080 --tokens tokens.txt
//! ```

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

struct Options {
    base: String,
    tokens: String,
    subscriptions: usize,
    writers: usize,
    seconds: u64,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        base: String::new(),
        tokens: String::new(),
        subscriptions: 10_000,
        writers: 1_000,
        seconds: 10,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{} takes a number", pair[0]))
        };
        match pair[0].as_str() {
            "--base" => options.base = value,
            "--tokens" => options.tokens = value,
            "--subscriptions" => options.subscriptions = number(&value)? as usize,
            "--writers" => options.writers = number(&value)? as usize,
            "--seconds" => options.seconds = number(&value)?,
            other => return Err(format!("unknown option {other}; see the doc comment")),
        }
    }
    if options.base.is_empty() || options.tokens.is_empty() {
        return Err("--base and --tokens are required".into());
    }
    Ok(options)
}

/// When each (viewer, version) was pushed.
type Pushes = Arc<Mutex<HashMap<(usize, u64), Instant>>>;

const SUBSCRIBE: &str = "subscription { cartUpdated { version } }";
const ADD: &str = "mutation { addCartLines(input: {lines: [{sku: \"SKU-1\", quantity: 1}]}) { cart { version } userErrors { code } } }";

async fn subscribe(base: &str, token: &str, viewer: usize, pushes: Pushes) -> Result<(), String> {
    let url = format!("{}/graphql/ws", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().expect("a header value"),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| e.to_string())?;
    let send = |v: Value| Message::Text(v.to_string().into());
    socket
        .send(send(
            json!({"type": "connection_init", "payload": {"token": token}}),
        ))
        .await
        .map_err(|e| e.to_string())?;
    socket
        .send(send(
            json!({"type": "subscribe", "id": "1", "payload": {"query": SUBSCRIBE}}),
        ))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            if let Some(version) = value["payload"]["data"]["cartUpdated"]["version"].as_u64() {
                pushes
                    .lock()
                    .expect("the push map")
                    .insert((viewer, version), Instant::now());
            }
        }
    });
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let options = options()?;
    let tokens: Vec<String> = std::fs::read_to_string(&options.tokens)
        .map_err(|e| format!("{}: {e}", options.tokens))?
        .lines()
        .map(str::to_string)
        .collect();
    let count = options.subscriptions.min(tokens.len());
    let pushes: Pushes = Arc::default();
    let opened = Instant::now();
    let mut failures = 0;
    for chunk in (0..count).collect::<Vec<_>>().chunks(256) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|&viewer| {
                let (base, token, pushes) =
                    (options.base.clone(), tokens[viewer].clone(), pushes.clone());
                tokio::spawn(async move { subscribe(&base, &token, viewer, pushes).await })
            })
            .collect();
        for task in tasks {
            if !matches!(task.await, Ok(Ok(()))) {
                failures += 1;
            }
        }
    }
    println!(
        "  (g) {count} subscriptions opened in {:.1} s ({failures} failed)",
        opened.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .map_err(|e| e.to_string())?;
    let answered: Arc<Mutex<Vec<(usize, u64, Instant)>>> = Arc::default();
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut next_viewer = 0;
    for _ in 0..options.seconds {
        let tick = Instant::now();
        let mut batch = Vec::with_capacity(options.writers);
        for _ in 0..options.writers {
            let viewer = next_viewer % count;
            next_viewer += 1;
            let (client, url, token) = (
                client.clone(),
                format!("{}/graphql", options.base),
                tokens[viewer].clone(),
            );
            let (answered, refused) = (answered.clone(), refused.clone());
            batch.push(tokio::spawn(async move {
                let response = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&json!({"query": ADD}))
                    .send()
                    .await;
                let body: Option<Value> = match response {
                    Ok(r) => r.json().await.ok(),
                    Err(_) => None,
                };
                let at = Instant::now();
                match body
                    .as_ref()
                    .and_then(|b| b["data"]["addCartLines"]["cart"]["version"].as_u64())
                {
                    Some(version) => answered
                        .lock()
                        .expect("answers")
                        .push((viewer, version, at)),
                    None => {
                        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }));
        }
        for task in batch {
            let _ = task.await;
        }
        if let Some(rest) = Duration::from_secs(1).checked_sub(tick.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pushes = pushes.lock().expect("the push map");
    let answered = answered.lock().expect("answers");
    let mut latencies = Vec::with_capacity(answered.len());
    let mut missed = 0;
    for (viewer, version, at) in answered.iter() {
        match pushes.get(&(*viewer, *version)) {
            Some(pushed) => latencies.push(pushed.saturating_duration_since(*at)),
            None => missed += 1,
        }
    }
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  (g) {} writes/s for {} s: answer→push p50 {:.2} ms  p99 {:.2} ms  max {:.1} ms  missed pushes {missed}  refused writes {}",
        options.writers,
        options.seconds,
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
        refused.load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}
