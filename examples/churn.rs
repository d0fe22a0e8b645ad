//! An attack and churn harness: what ONE guest token can make the server
//! store, and what that costs another visitor. Prints numbers; asserts
//! nothing. `scripts/churn` builds the release binary, starts it on a fresh
//! store and runs this against it.
//!
//! - **(a) fill**: fills the guest's carts (`shop.limits.maxCartsPerViewer`)
//!   with as much as the server accepts: a note, cart attributes, and lines
//!   whose attributes are long values of 4-byte characters; reads each cart
//!   back and prints the bytes answered, and the store's size.
//! - **(b) churn**: from `--connections` connections for `--seconds`, small
//!   mutations on those carts as fast as the server takes them
//!   (`updateCartNote` changing one character, `addCartLines` of one unit);
//!   prints requests accepted, THROTTLED and refused, the store's growth
//!   (sampled every 5 s, extrapolated to GiB/hour; the churn stops early past
//!   20 GiB), and the latency another visitor sees meanwhile: `GET /healthz`
//!   and a small `{ cart { version } }` with its own token, every 100 ms.
//!   With `--database-url` the store is PostgreSQL (`scripts/churn` uses 16
//!   connections there: scenario (c)).
//! - **(d) orders**: `checkoutLines` of the largest order the server accepts,
//!   again and again until THROTTLED (or `--orders` attempts): bytes per
//!   order, and MiB/hour at that per-address rate.
//!
//! Refusals (THROTTLED, CART_LIMIT_EXCEEDED, HTTP 413 …) are counted, never fatal.
//!
//! ```sh
//! cargo run --release --example churn -- --base http://127.0.0.1:8080 --data-dir ./cartql-data
//! cargo run --release --example churn -- --base … --database-url postgres://… --connections 16
//! ```

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Two characters of four UTF-8 bytes (clefs), for the one that changes in notes.
const CLEFS: [char; 2] = ['𝄞', '𝄢'];
/// Requests are kept under this many bytes (the default body limit is 256 KiB).
const BODY_BUDGET: usize = 200_000;
/// The demo catalog's SKU with untracked stock: no order runs out.
const SKU: &str = "STICKER-PACK";
const PROBE_EVERY: Duration = Duration::from_millis(100);
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// The churn stops early when the store passes this (a shared disk).
const STORE_CAP: f64 = 20.0 * 1_073_741_824.0;

const LIMITS: &str = "{ shop { limits { maxCartsPerViewer maxLinesPerCart maxAttributes maxAttributeKeyChars maxAttributeValueChars maxNoteChars } } }";
const GUEST: &str = "mutation { startGuestSession { token } }";
const NOTE: &str = "mutation($cart: String!, $note: String) { updateCartNote(input: {cart: $cart, note: $note}) { cart { version } userErrors { code } } }";
const ATTRIBUTES: &str = "mutation($cart: String!, $a: [AttributeInput!]!) { updateCartAttributes(input: {cart: $cart, attributes: $a}) { cart { version } userErrors { code } } }";
const ADD: &str = "mutation($cart: String!, $lines: [CartLineInput!]!) { addCartLines(input: {cart: $cart, lines: $lines}) { cart { version } userErrors { code } } }";
const FIRST_LINE: &str = "mutation($cart: String!, $sku: String!) { addCartLines(input: {cart: $cart, lines: [{sku: $sku, quantity: 1}]}) { cart { lines { id } } userErrors { code } } }";
const RESET: &str = "mutation($cart: String!, $id: ID!) { updateCartLines(input: {cart: $cart, lines: [{id: $id, quantity: 1}]}) { cart { version } userErrors { code } } }";
const READ: &str = "query($cart: String!) { cart(name: $cart) { id name version totalQuantity note attributes { key value } lines { id sku quantity attributes { key value } } } }";
const CHECKOUT: &str = "mutation($input: CheckoutLinesInput!) { checkoutLines(input: $input) { order { id } userErrors { code message } } }";

struct Options {
    base: String,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    seconds: u64,
    connections: usize,
    orders: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        base: String::new(),
        data_dir: None,
        database_url: None,
        seconds: 60,
        connections: 4,
        orders: 250,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{} takes a number", pair[0]))
        };
        match pair[0].as_str() {
            "--base" => o.base = value,
            "--data-dir" => o.data_dir = Some(value.into()),
            "--database-url" => o.database_url = Some(value),
            "--seconds" => o.seconds = number(&value)?,
            "--connections" => o.connections = number(&value)?.max(1) as usize,
            "--orders" => o.orders = number(&value)? as usize,
            other => return Err(format!("unknown option {other}; see the doc comment")),
        }
    }
    if o.base.is_empty() || o.data_dir.is_none() == o.database_url.is_none() {
        return Err("--base and one of --data-dir or --database-url are required".into());
    }
    Ok(o)
}

/// What one request came to.
#[derive(Debug, PartialEq)]
enum Outcome {
    Accepted,
    Throttled,
    /// With the code: a userError's, a top-level error's, `HTTP 413`, `network`.
    Refused(String),
}

/// GraphQL over HTTP as one visitor (one connection, its token if any).
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<Arc<str>>,
}

impl Api {
    fn new(base: &str) -> Api {
        let http = reqwest::Client::builder().pool_max_idle_per_host(1);
        let (http, base) = (http.build().expect("an HTTP client"), base.to_string());
        Api {
            http,
            base,
            token: None,
        }
    }

    /// A new visitor (a connection of its own) with a guest session.
    async fn guest(&self) -> Api {
        let (_, body, _) = self.post(GUEST, json!({})).await;
        let token = body["data"]["startGuestSession"]["token"].as_str();
        Api {
            token: Some(token.expect("a guest token").into()),
            ..Api::new(&self.base)
        }
    }

    /// The outcome, the answer, and its size in bytes.
    async fn post(&self, query: &str, variables: Value) -> (Outcome, Value, usize) {
        let mut request = self.http.post(format!("{}/graphql", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let body = json!({ "query": query, "variables": variables });
        let Ok(answer) = request.json(&body).send().await else {
            return (Outcome::Refused("network".into()), Value::Null, 0);
        };
        let status = answer.status().as_u16();
        let bytes = answer.bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (classify(status, &body), body, bytes.len())
    }

    async fn send(&self, query: &str, variables: Value) -> Outcome {
        self.post(query, variables).await.0
    }
}

fn classify(status: u16, body: &Value) -> Outcome {
    let payload = body["data"].as_object().and_then(|d| d.values().next());
    let code = match (&body["errors"][0]["extensions"]["code"], payload) {
        (Value::Null, Some(payload)) if status == 200 => &payload["userErrors"][0]["code"],
        (code, _) => code,
    };
    match (status, code.as_str()) {
        (429, _) | (_, Some("THROTTLED")) => Outcome::Throttled,
        (200, None) => Outcome::Accepted,
        (200, Some(code)) => Outcome::Refused(code.into()),
        (status, _) => Outcome::Refused(format!("HTTP {status}")),
    }
}

#[derive(Default)]
struct Counts {
    accepted: u64,
    throttled: u64,
    refused: BTreeMap<String, u64>,
}

impl Counts {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Accepted => self.accepted += 1,
            Outcome::Throttled => self.throttled += 1,
            Outcome::Refused(code) => *self.refused.entry(code).or_default() += 1,
        }
    }
}

/// How much data the server keeps: `du` of the data directory, or the database's size.
enum Storage {
    Dir(PathBuf),
    Postgres(sqlx::PgPool),
}

impl Storage {
    async fn bytes(&self) -> f64 {
        let size = "SELECT pg_database_size(current_database())";
        match self {
            Storage::Dir(dir) => disk_usage(dir) as f64,
            Storage::Postgres(pool) => sqlx::query_scalar(size)
                .fetch_one(pool)
                .await
                .map_or(0.0, |n: i64| n as f64),
        }
    }
}

/// `du -sk` of `dir`, in bytes.
fn disk_usage(dir: &Path) -> u64 {
    let du = std::process::Command::new("du")
        .arg("-sk")
        .arg(dir)
        .output();
    let out = du
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.split_whitespace()
        .next()
        .and_then(|k| k.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / 1_048_576.0)
}

fn gib(bytes: f64) -> f64 {
    bytes / 1_073_741_824.0
}

/// The limits the server reports in `shop.limits`, and what is built from them.
struct Limits {
    carts: usize,
    lines: usize,
    attributes: usize,
    key_chars: usize,
    value_chars: usize,
    /// All of a note but its first character.
    note_tail: String,
}

impl Limits {
    async fn of(api: &Api) -> Limits {
        let (_, body, _) = api.post(LIMITS, json!({})).await;
        let n = |f: &str| body["data"]["shop"]["limits"][f].as_u64().unwrap_or(1) as usize;
        // Servers that count bytes say so with `maxAttributeValueBytes` (and
        // their `…Chars` fields then hold bytes): four per padding character.
        let (_, bytes, _) = api
            .post("{ shop { limits { maxAttributeValueBytes } } }", json!({}))
            .await;
        let per_char = match bytes["data"]["shop"]["limits"]["maxAttributeValueBytes"].is_u64() {
            true => 4,
            false => 1,
        };
        let chars = |f: &str| (n(f) / per_char).max(1);
        Limits {
            carts: n("maxCartsPerViewer"),
            lines: n("maxLinesPerCart"),
            attributes: n("maxAttributes"),
            key_chars: chars("maxAttributeKeyChars"),
            value_chars: chars("maxAttributeValueChars"),
            note_tail: pad("", chars("maxNoteChars").saturating_sub(1)),
        }
    }

    /// A note as long as allowed; `turn` 1 differs from 0 in one character.
    fn note(&self, turn: usize) -> String {
        format!("{}{}", CLEFS[turn % 2], self.note_tail)
    }

    /// As many attributes as allowed, as long as allowed, told apart by `tag`.
    fn attributes(&self, tag: &str) -> Vec<Value> {
        let one = |i| json!({"key": pad(&format!("k{i}"), self.key_chars), "value": pad(tag, self.value_chars)});
        (0..self.attributes).map(one).collect()
    }

    /// Lines for `range`, each with full attributes told apart by `tag` and its index.
    fn lines(&self, tag: &str, range: std::ops::Range<usize>) -> Vec<Value> {
        let line = |i| json!({"sku": SKU, "quantity": 1, "attributes": self.attributes(&format!("{tag}{i}-"))});
        range.map(line).collect()
    }
}

/// `prefix` padded to `chars` characters with 4-byte ones, varied so that
/// no store can compress them (CJK Extension B, U+20000 to U+2A6DF).
fn pad(prefix: &str, chars: usize) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let wide = (prefix.chars().count()..chars).map(|_| {
        let x = NEXT
            .fetch_add(1, Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        char::from_u32(0x20000 + ((x >> 33) % 0xA6E0) as u32).unwrap_or(CLEFS[0])
    });
    prefix.chars().chain(wide).collect()
}

/// A filled cart: its name and the id of its line without attributes.
struct Cart {
    name: String,
    plain_line: Option<String>,
}

/// What the scenarios share.
struct Run {
    options: Options,
    storage: Storage,
    limits: Arc<Limits>,
    /// The one guest whose carts and orders these are.
    guest: Api,
}

async fn fill(run: &Run) -> Vec<Cart> {
    let (api, limits) = (&run.guest, &run.limits);
    println!("(a) fill: one guest fills its carts with what the server accepts");
    let (mut carts, mut last_refusals) = (Vec::new(), Counts::default());
    for c in 0..limits.carts {
        let name = if c == 0 {
            "default".into()
        } else {
            format!("cart-{c}")
        };
        // Past the carts a viewer may hold, the first write is refused.
        let first = api
            .send(NOTE, json!({"cart": name, "note": limits.note(0)}))
            .await;
        if first != Outcome::Accepted {
            last_refusals.count(first);
            break;
        }
        let attributes = limits.attributes("cart-");
        api.send(ATTRIBUTES, json!({"cart": name, "a": attributes}))
            .await;
        let (_, body, _) = api
            .post(FIRST_LINE, json!({"cart": name, "sku": SKU}))
            .await;
        let plain_line = body["data"]["addCartLines"]["cart"]["lines"][0]["id"].as_str();
        let plain_line = plain_line.map(String::from);
        let per_line = limits.attributes * (limits.key_chars + limits.value_chars) * 4 + 100;
        let (mut batch, mut n) = ((BODY_BUDGET / per_line).clamp(1, limits.lines), 0);
        loop {
            let lines = limits.lines(&format!("{c}-"), n..n + batch);
            match api.send(ADD, json!({"cart": name, "lines": lines})).await {
                Outcome::Accepted => n += batch,
                Outcome::Throttled => tokio::time::sleep(Duration::from_millis(100)).await,
                // Too many lines or bytes at once: fewer, down to one.
                Outcome::Refused(_) if batch > 1 => batch /= 2,
                refused => {
                    last_refusals.count(refused);
                    break;
                }
            }
        }
        carts.push(Cart { name, plain_line });
    }
    let mut total = 0;
    for cart in &carts {
        let (_, _, bytes) = api.post(READ, json!({"cart": cart.name})).await;
        println!("  cart {:<8} read: {bytes:>9} bytes answered", cart.name);
        total += bytes;
    }
    let (count, total, stopped_by) = (carts.len(), mib(total as f64), last_refusals.refused);
    println!("  {count} carts, {total} answered in all; filling stopped at {stopped_by:?}");
    println!("  store after the fill: {}", mib(run.storage.bytes().await));
    carts
}

/// What the churning connections share.
#[derive(Clone)]
struct Churn {
    carts: Arc<Vec<Cart>>,
    limits: Arc<Limits>,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
}

/// One connection's small mutations, cart after cart, until told to stop.
async fn churner(api: Api, churn: Churn, k: usize) -> Counts {
    let mut counts = Counts::default();
    for i in (0usize..).take_while(|_| !churn.stop.load(Relaxed)) {
        let cart = &churn.carts[(k + i) % churn.carts.len()];
        let outcome = if i.is_multiple_of(2) {
            let note = churn.limits.note(i / 2 + 1);
            api.send(NOTE, json!({"cart": cart.name, "note": note}))
                .await
        } else {
            let line = json!([{"sku": SKU, "quantity": 1}]);
            let added = api
                .send(ADD, json!({"cart": cart.name, "lines": line}))
                .await;
            // The line is full (maxQuantityPerLine): back to one unit.
            if let (Outcome::Refused(_), Some(id)) = (&added, &cart.plain_line) {
                counts.count(api.send(RESET, json!({"cart": cart.name, "id": id})).await);
            }
            added
        };
        let accepted = u64::from(outcome == Outcome::Accepted);
        churn.accepted.fetch_add(accepted, Relaxed);
        counts.count(outcome);
    }
    counts
}

/// Another visitor, every 100 ms until `stop`: `GET /healthz` and a small
/// cart read with its own token, each sample started on time whether or not
/// the one before has its answer. Latencies in ms and failures, of each.
async fn probe(api: Api, stop: Arc<AtomicBool>) -> [(Vec<f64>, u64); 2] {
    let mut samples = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    while !stop.load(Relaxed) {
        tick.tick().await;
        let api = api.clone();
        samples.spawn(async move {
            let started = Instant::now();
            let health = api.http.get(format!("{}/healthz", api.base)).send().await;
            let health = (
                started.elapsed(),
                health.is_ok_and(|r| r.status().is_success()),
            );
            let started = Instant::now();
            let read = api.send("{ cart { version } }", json!({})).await;
            [health, (started.elapsed(), read == Outcome::Accepted)]
        });
    }
    let mut seen = [(Vec::new(), 0), (Vec::new(), 0)];
    while let Some(Ok(sample)) = samples.join_next().await {
        for ((ms, errors), (took, ok)) in seen.iter_mut().zip(sample) {
            ms.push(took.as_secs_f64() * 1000.0);
            *errors += u64::from(!ok);
        }
    }
    seen
}

fn print_latency(label: &str, (mut ms, errors): (Vec<f64>, u64)) {
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    let at = |q: f64| {
        ms.get(((n as f64 * q) as usize).min(n.saturating_sub(1)))
            .map_or(0.0, |v| *v)
    };
    let (p50, p99, max) = (at(0.5), at(0.99), at(1.0));
    println!(
        "  other visitor, {label:<20}  p50 {p50:>7.2} ms  p99 {p99:>8.2} ms  max {max:>8.1} ms  errors {errors} of {n}"
    );
}

async fn churn(run: &Run, carts: Vec<Cart>) {
    let Options {
        connections,
        seconds,
        ..
    } = run.options;
    println!("(b) churn: {connections} connections, {seconds} s of small mutations on those carts");
    if carts.is_empty() {
        return println!("  no cart was filled; nothing to churn");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let probe = tokio::spawn(probe(run.guest.guest().await, stop.clone()));
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let shared = Churn {
        carts: Arc::new(carts),
        limits: run.limits.clone(),
        stop: stop.clone(),
        accepted: Arc::new(AtomicU64::new(0)),
    };
    let accepted = shared.accepted.clone();
    // The guest's token, each on a connection of its own.
    let api = |_| Api {
        http: Api::new(&run.guest.base).http,
        ..run.guest.clone()
    };
    let workers: Vec<_> = (0..connections)
        .map(|k| tokio::spawn(churner(api(k), shared.clone(), k)))
        .collect();
    let first = run.storage.bytes().await;
    let (mut last, mut sampled) = (first, 0.0);
    while Instant::now() < end && last - first < STORE_CAP {
        tokio::time::sleep(SAMPLE_EVERY.min(end - Instant::now())).await;
        (last, sampled) = (run.storage.bytes().await, start.elapsed().as_secs_f64());
        let (t, size, grown) = (sampled, mib(last), mib(last - first));
        println!(
            "  t={t:>4.0} s  store {size:>11}  (+{grown})  accepted so far {}",
            accepted.load(Relaxed)
        );
    }
    stop.store(true, Relaxed);
    let mut all = Counts::default();
    for worker in workers {
        let counts = worker.await.expect("a churning connection");
        (all.accepted, all.throttled) = (
            all.accepted + counts.accepted,
            all.throttled + counts.throttled,
        );
        counts
            .refused
            .into_iter()
            .for_each(|(code, n)| *all.refused.entry(code).or_default() += n);
    }
    let [health, read] = probe.await.expect("the other visitor");
    let secs = start.elapsed().as_secs_f64();
    let Counts {
        accepted,
        throttled,
        refused,
    } = all;
    let rate = accepted as f64 / secs;
    println!(
        "  requests: {accepted} accepted ({rate:.0}/s), {throttled} THROTTLED, refused {refused:?}"
    );
    let (grown, per_second) = (mib(last - first), (last - first) / sampled);
    let (per_second, per_hour) = (mib(per_second), gib(per_second * 3600.0));
    println!(
        "  store growth: {grown} in {sampled:.0} s = {per_second}/s, {per_hour:.1} GiB/hour extrapolated"
    );
    print_latency("GET /healthz", health);
    print_latency("{ cart { version } }", read);
}

async fn orders(run: &Run) {
    let (tries, limits) = (run.options.orders, &run.limits);
    println!(
        "(d) orders: checkoutLines of the largest order accepted, until THROTTLED (at most {tries} tries)"
    );
    let started = std::time::UNIX_EPOCH.elapsed().map_or(0, |d| d.as_millis());
    let (mut lines, mut placed, mut sent, mut answered) = (limits.lines, 0u64, 0, 0);
    let mut counts = Counts::default();
    let before = run.storage.bytes().await;
    // A guest of its own: the churn's guest has used up its write rate.
    let buyer = run.guest.guest().await;
    let mut waited = 0.0;
    for n in 0..tries {
        let input = json!({"input": {"lines": limits.lines("o", 0..lines), "note": limits.note(0),
            "attributes": limits.attributes("order-"), "buyerIdentity": {"email": "churn@example.com"},
            "idempotencyKey": format!("churn-{started}-{n}")}});
        let size = input.to_string().len();
        let (outcome, body, bytes) = buyer.post(CHECKOUT, input).await;
        match &outcome {
            Outcome::Accepted => (placed, sent, answered) = (placed + 1, size, bytes),
            // Too large a body, too many lines or bytes: a smaller order next.
            Outcome::Refused(_) if placed == 0 && lines > 1 => lines = lines * 3 / 4,
            _ => {}
        }
        // A write rate (a wait in seconds) is waited out; the per-address
        // checkout limit ends the scenario.
        if let Some(wait) = write_rate_wait(&body) {
            waited += wait;
            tokio::time::sleep(std::time::Duration::from_secs_f64(wait)).await;
            continue;
        }
        let throttled = outcome == Outcome::Throttled;
        counts.count(outcome);
        if throttled {
            let payload = body["data"].as_object().and_then(|d| d.values().next());
            let why = payload.map_or(&Value::Null, |p| &p["userErrors"][0]["message"]);
            println!("  THROTTLED: {why}");
            break;
        }
    }
    if waited > 0.0 {
        println!("  waited {waited:.0} s in all for the write rate");
    }
    let grown = run.storage.bytes().await - before;
    let Counts {
        throttled, refused, ..
    } = counts;
    println!(
        "  {placed} orders of {lines} lines placed ({sent} bytes sent, {answered} answered, each), {throttled} THROTTLED, refused {refused:?}"
    );
    if placed > 0 {
        let per_order = grown / placed as f64;
        let (grown, per_hour) = (mib(grown), mib(per_order * placed as f64));
        println!("  store growth {grown} = {per_order:.0} bytes per order");
        match throttled {
            0 => println!(
                "  not THROTTLED within {tries} tries: at least {per_hour} per hour from one address"
            ),
            _ => println!(
                "  {placed} orders, then THROTTLED (--max-checkouts-per-client per --per-client-window, 1 h by default): {per_hour} per hour from one address"
            ),
        }
    }
}

/// The wait a write-rate `THROTTLED` names ("… try again in 3 s"), if it is one.
fn write_rate_wait(body: &Value) -> Option<f64> {
    let payload = body["data"].as_object().and_then(|d| d.values().next())?;
    let message = payload["userErrors"][0]["message"].as_str()?;
    let wait = message.strip_prefix("too many changes in a short time; try again in ")?;
    let (number, unit) = wait.split_once(' ')?;
    let number: f64 = number.parse().ok()?;
    Some(if unit.starts_with("min") {
        number * 60.0
    } else {
        number
    })
}

#[tokio::main]
async fn main() {
    let options = options().unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let storage = match (&options.data_dir, &options.database_url) {
        (Some(dir), _) => Storage::Dir(dir.clone()),
        (_, url) => {
            let pool = sqlx::PgPool::connect(url.as_deref().unwrap_or_default()).await;
            Storage::Postgres(pool.expect("the database"))
        }
    };
    let anonymous = Api::new(&options.base);
    let (limits, guest) = (
        Arc::new(Limits::of(&anonymous).await),
        anonymous.guest().await,
    );
    let run = Run {
        options,
        storage,
        limits,
        guest,
    };
    let carts = fill(&run).await;
    churn(&run, carts).await;
    orders(&run).await;
}
