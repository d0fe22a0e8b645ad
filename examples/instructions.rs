//! The hot paths, in-process, for instruction counts (`scripts/instructions`
//! runs this under `valgrind --tool=callgrind`). Builds the real application
//! (router, auth, schema, sled store) on a temporary data directory, then
//! sends one kind of request N times straight to the router: no sockets, so
//! what is counted is cartql and its stack.
//!
//! ```sh
//! cargo run --release --example instructions -- cart 1000
//! ```
//!
//! Paths: `floor` (`{ __typename }`, no token), `verify` (the same with a
//! bearer token: the floor plus token verification and the revocation
//! read), `cart` (the cart query, 3 lines priced), `add` (`addCartLines`),
//! `checkout` (`checkoutLines`, one line, a new key each time, passed as a variable),
//! `cost` (the cart query of `scripts/bench`'s scenario h: the cart's cost and
//! each line's, with two automatic discounts that stack, as
//! `scripts/bench.d/pricing.py` sets them).

use axum::body::Body;
use axum::extract::ConnectInfo;
use cartql::auth::token::Grant;
use cartql::auth::{TokenKeys, ViewerKind};
use cartql::config::ServeConfig;
use cartql::server::Application;
use clap::Parser;
use std::net::SocketAddr;
use tower::ServiceExt;

const SECRET: &str = "instructions-secret-that-is-at-least-32-bytes";

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeConfig,
}

fn token(subject: &str, roles: &[String]) -> Result<String, String> {
    let keys = TokenKeys::from_secret(SECRET.as_bytes())?;
    let now = chrono::Utc::now().timestamp();
    let grant = Grant {
        subject,
        kind: ViewerKind::Customer,
        roles,
        issued_at: now,
        now,
        expires_at: now + 3600,
        auth_time: now,
        email: None,
    };
    keys.sign(&grant)
        .map(|(token, _)| token)
        .map_err(|e| e.to_string())
}

async fn post(
    router: &axum::Router,
    token: Option<&str>,
    query: &str,
    variables: serde_json::Value,
) -> Result<String, String> {
    let body = serde_json::json!({ "query": query, "variables": variables }).to_string();
    let mut request = axum::http::Request::post("/graphql")
        .header("content-type", "application/json")
        .header("accept", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let mut request = request.body(Body::from(body)).map_err(|e| e.to_string())?;
    let peer: SocketAddr = "127.0.0.1:40000".parse().map_err(|e| format!("{e}"))?;
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    if text.contains("\"errors\"")
        || (text.contains("userErrors") && !text.contains("\"userErrors\":[]"))
    {
        return Err(format!("refused: {text}"));
    }
    Ok(text)
}

fn none() -> serde_json::Value {
    serde_json::Value::Null
}

fn main() -> Result<(), String> {
    // Logs as `cartql serve` sets them up by default (CARTQL_LOG=info), into
    // a sink: spans a request opens cost what they cost in the server. No
    // colours: the server colours its lines only on a terminal, not into a
    // file or the journal (colouring a span's fields was 3 % of the floor).
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_ansi(false)
        .with_writer(std::io::sink)
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (router, buyer, path, count, _dir) = runtime.block_on(set_up())?;
    measured(&runtime, &router, &buyer, &path, count)
}

/// The application on a temporary data directory, and the buyer's token.
async fn set_up() -> Result<(axum::Router, String, String, usize, tempfile::TempDir), String> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).cloned().unwrap_or_else(|| "floor".into());
    let count: usize = args
        .get(2)
        .map(|n| n.parse().map_err(|_| "the count is a number".to_string()))
        .transpose()?
        .unwrap_or(100);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = dir.path().join("data");
    let cli = Cli::try_parse_from([
        "cartql",
        "--listen",
        "127.0.0.1:0",
        "--demo",
        "--durability",
        "relaxed",
        "--checkout-email",
        "optional",
        "--max-checkouts-per-client",
        "1000000",
        "--max-idempotency-keys-per-viewer",
        "1000000",
        // One buyer writes every request: no write rate.
        "--viewer-write-rate",
        "60000",
        "--viewer-write-burst",
        "10000",
        "--client-write-rate",
        "600000",
        "--client-write-burst",
        "100000",
        "--jwt-secret",
        SECRET,
        "--data-dir",
        data.to_str().ok_or("a UTF-8 temporary path")?,
    ])
    .map_err(|e| e.to_string())?;
    let app = Application::build(&cli.serve).await.map_err(|e| e.0)?;
    let router = app.router();
    let buyer = token("bench-buyer", &[])?;
    // Set-up: three lines in the buyer's cart.
    for sku in ["MUG-LOGO", "TEE-BLK-M", "STICKER-PACK"] {
        let q = format!(
            "mutation {{ addCartLines(input: {{lines: [{{sku: \"{sku}\", quantity: 1}}]}}) {{ userErrors {{ code }} }} }}"
        );
        post(&router, Some(&buyer), &q, serde_json::Value::Null).await?;
    }
    if path == "cost" {
        let admin = token("bench-admin", &["admin".to_string()])?;
        let upsert = "mutation($input: DiscountInput!) { upsertDiscount(input: $input) { discount { id } userErrors { code } } }";
        let every = serde_json::json!({"lineDiscounts": true, "orderDiscounts": true, "shippingDiscounts": true});
        for (title, target, percentage) in [
            ("5 % off the order", "ORDER", "5"),
            ("10 % off lines", "LINES", "10"),
        ] {
            let input = serde_json::json!({"title": title, "target": target, "percentage": percentage, "combinesWith": every});
            post(
                &router,
                Some(&admin),
                upsert,
                serde_json::json!({ "input": input }),
            )
            .await?;
        }
    }
    // One request of the path first, so what is cached after the first
    // request (the parsed document) is warm, as in a running shop.
    one(&router, &buyer, &path, usize::MAX).await?;
    Ok((router, buyer, path, count, dir))
}

/// The counted part: `scripts/instructions` has callgrind collect only while
/// this function runs (`--toggle-collect`), so start-up and set-up are left
/// out, and so are background threads (sled's, the hashing pool).
#[inline(never)]
fn measured(
    runtime: &tokio::runtime::Runtime,
    router: &axum::Router,
    buyer: &str,
    path: &str,
    count: usize,
) -> Result<(), String> {
    runtime.block_on(async {
        for n in 0..count {
            one(router, buyer, path, n).await?;
        }
        Ok(())
    })
}

/// One request of `path` (`n` makes the checkout's key).
async fn one(router: &axum::Router, buyer: &str, path: &str, n: usize) -> Result<String, String> {
    let add = "mutation { addCartLines(input: {lines: [{sku: \"MUG-LOGO\", quantity: 1}]}) { cart { version } userErrors { code } } }";
    match path {
        "floor" => post(router, None, "{ __typename }", none()).await,
        "verify" => post(router, Some(buyer), "{ __typename }", none()).await,
        "cart" => post(router, Some(buyer), "{ cart { version totalQuantity subtotal { amount } lines { id sku quantity unitPrice { amount } lineTotal { amount } } warnings { code } } }", none()).await,
        "cost" => post(router, Some(buyer), "{ cart { version cost { subtotal { amount } discountTotal { amount } taxTotal { amount } total { amount } estimated } discountCodes { code applicable } lines { sku quantity cost { discountTotal { amount } total { amount } } } } }", none()).await,
        "add" => post(router, Some(buyer), add, none()).await,
        "checkout" => {
            let q = "mutation($key: String!) { checkoutLines(input: {lines: [{sku: \"STICKER-PACK\", quantity: 1}], idempotencyKey: $key}) { order { id } userErrors { code } } }";
            post(router, Some(buyer), q, serde_json::json!({ "key": format!("k-{n}") })).await
        }
        other => Err(format!("unknown path {other}: floor, verify, cart, cost, add, checkout")),
    }
}
