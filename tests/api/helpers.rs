//! A real cartql process per test: port 0, a temporary data directory, HTTP.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The HMAC secret every test server is started with.
pub const SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

/// The path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_cartql")
}

/// A temporary directory only its user may use, as cartql requires of its
/// data directory (`tempfile` makes them 0755 under a 022 umask).
pub fn private_tempdir() -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// A running server. Killed when dropped.
pub struct TestServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The data directory (kept until the server value is dropped).
    pub dir: PathBuf,
    _temp: Option<TempDir>,
    client: reqwest::Client,
}

impl TestServer {
    /// A server with the demo catalog and default settings.
    pub async fn spawn() -> TestServer {
        Self::spawn_with(&[]).await
    }

    /// A server with the demo catalog and extra flags.
    pub async fn spawn_with(args: &[&str]) -> TestServer {
        let temp = private_tempdir();
        let dir = temp.path().to_path_buf();
        let mut server = Self::spawn_in(&dir, args).await;
        server._temp = Some(temp);
        server
    }

    /// A server on an existing data directory (for restarts).
    pub async fn spawn_in(dir: &Path, args: &[&str]) -> TestServer {
        Self::spawn_reading(dir, args, 0).await.0
    }

    /// A server with extra flags, and the `extra` stdout lines it prints
    /// after its address (e.g. the metrics address).
    pub async fn spawn_with_lines(args: &[&str], extra: usize) -> (TestServer, Vec<String>) {
        let temp = private_tempdir();
        let dir = temp.path().to_path_buf();
        let (mut server, lines) = Self::spawn_reading(&dir, args, extra).await;
        server._temp = Some(temp);
        (server, lines)
    }

    async fn spawn_reading(dir: &Path, args: &[&str], extra: usize) -> (TestServer, Vec<String>) {
        crypto();
        let log = std::fs::File::create(dir.with_extension("log")).unwrap();
        let mut child = Command::new(binary())
            .args(["--listen", "127.0.0.1:0", "--demo", "--data-dir"])
            .arg(dir)
            .args(args)
            .env("CARTQL_JWT_SECRET", SECRET)
            .env("CARTQL_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("the cartql binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the server prints its address within 30 s")
            .unwrap();
        let Some(line) = line else {
            let log = std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default();
            panic!("the server exited before listening: {log}");
        };
        let base = line
            .strip_prefix("cartql listening on ")
            .expect("address line")
            .to_string();
        let mut more = Vec::with_capacity(extra);
        for _ in 0..extra {
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .expect("the server prints its lines within 10 s")
                .unwrap()
                .expect("one more line");
            more.push(line);
        }
        let server = TestServer {
            child,
            base,
            dir: dir.to_path_buf(),
            _temp: None,
            client: reqwest::Client::new(),
        };
        (server, more)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// Stops the server with SIGKILL and waits for it; keeps the data directory.
    pub async fn kill(mut self) -> Option<TempDir> {
        // It may be dead already (see `send_kill`).
        let _ = self.child.start_kill();
        self.child.wait().await.unwrap();
        self._temp.take()
    }

    /// Sends SIGKILL without waiting, while requests may be in flight.
    pub fn send_kill(&self) {
        let pid = self.child.id().expect("the server is running");
        std::process::Command::new("kill")
            .arg("-KILL")
            .arg(pid.to_string())
            .status()
            .unwrap();
    }

    /// Stops the server with SIGTERM (graceful) and waits for it to exit.
    pub async fn terminate(mut self) -> Option<TempDir> {
        let pid = self.child.id().unwrap();
        std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "graceful shutdown exits 0, got {status}");
        self._temp.take()
    }

    /// POSTs a GraphQL request and returns the raw response.
    pub async fn post(&self, token: Option<&str>, body: Value) -> reqwest::Response {
        self.try_post(token, body).await.unwrap()
    }

    /// POSTs a GraphQL request; a connection failure is an `Err` (the server may be gone).
    pub async fn try_post(
        &self,
        token: Option<&str>,
        body: Value,
    ) -> reqwest::Result<reqwest::Response> {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await
    }

    /// Runs an operation that must answer HTTP 200; returns the JSON body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let response = self
            .post(token, json!({ "query": query, "variables": variables }))
            .await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Like [`gql`](Self::gql) but fails the test on any top-level error.
    pub async fn data(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// A GET to a path of the server.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }
}

fn crypto() {
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// Current time in seconds.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Signs arbitrary claims with the test secret and `alg`.
pub fn sign(claims: Value, alg: Algorithm, secret: &[u8]) -> String {
    crypto();
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

/// Standard claims for `sub`, valid for an hour.
pub fn claims(sub: &str, kind: &str, roles: &[&str]) -> Value {
    json!({ "sub": sub, "iss": "cartql", "iat": now(), "nbf": now(), "exp": now() + 3600, "kind": kind, "roles": roles })
}

/// A customer token for `sub`.
pub fn customer(sub: &str) -> String {
    sign(
        claims(sub, "customer", &[]),
        Algorithm::HS256,
        SECRET.as_bytes(),
    )
}

/// A guest token for `sub`.
pub fn guest(sub: &str) -> String {
    sign(
        claims(sub, "guest", &[]),
        Algorithm::HS256,
        SECRET.as_bytes(),
    )
}

/// An admin token.
pub fn admin() -> String {
    sign(
        claims("root", "customer", &["admin"]),
        Algorithm::HS256,
        SECRET.as_bytes(),
    )
}

/// The codes of a payload's userErrors.
pub fn codes(payload: &Value) -> Vec<String> {
    payload["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect()
}

/// The code of the first top-level error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// The cart fields most tests look at.
pub const CART: &str = "name version totalQuantity subtotal { amount currencyCode } lines { sku quantity unitPrice { amount } lineTotal { amount } }";

/// `addCartLines` on `cart` with one line.
pub async fn add(server: &TestServer, token: &str, cart: &str, sku: &str, quantity: i64) -> Value {
    let query = format!(
        "mutation($cart: String!, $sku: String!, $q: Int!) {{ addCartLines(input: {{cart: $cart, lines: [{{sku: $sku, quantity: $q}}]}}) {{ cart {{ {CART} }} userErrors {{ code field message }} }} }}"
    );
    server
        .data(
            Some(token),
            &query,
            json!({ "cart": cart, "sku": sku, "q": quantity }),
        )
        .await["addCartLines"]
        .clone()
}
