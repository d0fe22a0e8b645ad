//! A real cartql process per test: port 0, a temporary data directory, HTTP.
//! Shared by the test targets `api`, `sled` and `postgres`.
//!
//! On PostgreSQL (see [`Backend`]) each data directory gets its own fresh
//! database (created on the server `CARTQL_TEST_DATABASE_URL` names, dropped
//! with the directory), so restarts on the same directory find their data
//! again.

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

/// Where a test target's servers keep their data: each target's `main.rs`
/// names its own (`const BACKEND`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `CARTQL_TEST_BACKEND`: sled unless it says `postgres` (`tests/api`,
    /// whose tests hold on both and run on each).
    FromEnvironment,
    /// Always sled (`tests/sled`).
    Sled,
    /// Always PostgreSQL (`tests/postgres`), on the server
    /// `CARTQL_TEST_DATABASE_URL` names, else the one on 127.0.0.1:5432.
    Postgres,
}

/// Whether this test target's servers run on PostgreSQL.
pub fn on_postgres() -> bool {
    match crate::BACKEND {
        Backend::Sled => false,
        Backend::Postgres => true,
        Backend::FromEnvironment => match std::env::var("CARTQL_TEST_BACKEND").as_deref() {
            Ok("postgres") => true,
            Ok("sled") | Err(_) => false,
            Ok(other) => panic!("CARTQL_TEST_BACKEND={other}: use sled or postgres"),
        },
    }
}

/// The URL of a database on the test PostgreSQL server.
pub fn database_url(name: &str) -> String {
    let admin = std::env::var("CARTQL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base.to_string(), format!("?{query}")),
        None => (admin.clone(), String::new()),
    };
    let server = base
        .rsplit_once('/')
        .map_or(base.as_str(), |(server, _)| server);
    format!("{server}/{name}{query}")
}

/// The database a data directory stands for on PostgreSQL: named after
/// this test process, so a later run can tell a left-over one.
fn database_name(dir: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(dir.as_os_str().as_encoded_bytes());
    format!(
        "cartql_t_{}_{}",
        std::process::id(),
        &hex::encode(digest)[..16]
    )
}

/// Drops the test databases of test processes that are gone (killed runs,
/// databases of directories a test made itself); once per process.
async fn sweep_stale_databases(conn: &mut sqlx::PgConnection) {
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT datname FROM pg_database WHERE datname LIKE 'cartql\\_t\\_%'",
            )
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
            for name in names {
                let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
                let alive = pid.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                if !alive {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(&sql).execute(&mut *conn).await;
                }
            }
        })
        .await;
}

/// Runs `sql` on the test server's maintenance database.
pub async fn admin_sql(sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&database_url("postgres"))
        .await
        .expect("the test PostgreSQL server answers (CARTQL_TEST_DATABASE_URL)");
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    let _ = conn.close().await;
}

/// A fresh database, dropped with this value.
pub struct TestDatabase {
    /// Its name.
    pub name: String,
}

impl TestDatabase {
    /// Creates the database of `dir` unless it exists.
    pub async fn of(dir: &Path) -> TestDatabase {
        let name = database_name(dir);
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&database_url("postgres"))
            .await
            .expect("the test PostgreSQL server answers (CARTQL_TEST_DATABASE_URL)");
        sweep_stale_databases(&mut conn).await;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                .bind(&name)
                .fetch_optional(&mut conn)
                .await
                .unwrap();
        if exists.is_none() {
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        let _ = conn.close().await;
        TestDatabase { name }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        database_url(&self.name)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop may run inside a test's runtime: a thread of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(admin_sql(&sql));
        })
        .join();
    }
}

/// A test's data: the temporary directory and, on PostgreSQL, its database.
pub struct TestData {
    _temp: TempDir,
    _database: Option<TestDatabase>,
}

/// A running server. Killed when dropped.
pub struct TestServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// The data directory (kept until the server value is dropped).
    pub dir: PathBuf,
    /// On PostgreSQL, the database URL the server uses.
    pub database_url: Option<String>,
    _temp: Option<TestData>,
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
        let database = match on_postgres() {
            true => Some(TestDatabase::of(&dir).await),
            false => None,
        };
        let mut server = Self::spawn_in(&dir, args).await;
        server._temp = Some(TestData {
            _temp: temp,
            _database: database,
        });
        server
    }

    /// A server on an existing data directory (for restarts).
    pub async fn spawn_in(dir: &Path, args: &[&str]) -> TestServer {
        // On PostgreSQL the directory stands for its database (made by
        // `spawn_with`, or here for a directory a test made itself).
        let database_url = match on_postgres() {
            true => Some(database_url(&database_name(dir))),
            false => None,
        };
        if on_postgres() {
            // Exists already unless the test made the directory itself; then
            // it is left for the next run's sweep (see `TestDatabase::of`).
            std::mem::forget(TestDatabase::of(dir).await);
        }
        Self::spawn_process(dir, database_url, args).await
    }

    /// A server on the PostgreSQL database at `url` (several may share it).
    pub async fn spawn_on(url: &str, args: &[&str]) -> TestServer {
        let temp = private_tempdir();
        let mut server = Self::spawn_process(temp.path(), Some(url.to_string()), args).await;
        server._temp = Some(TestData {
            _temp: temp,
            _database: None,
        });
        server
    }

    /// A sled server in `dir`, whatever the test backend (exports from sled).
    pub async fn spawn_process_sled(dir: &Path) -> TestServer {
        Self::spawn_process(dir, None, &[]).await
    }

    /// Wraps another process that answers HTTP at `base` (a load balancer).
    pub fn attach(child: Child, base: String) -> TestServer {
        TestServer {
            child,
            base,
            dir: PathBuf::new(),
            database_url: None,
            _temp: None,
            client: reqwest::Client::new(),
        }
    }

    async fn spawn_process(dir: &Path, database_url: Option<String>, args: &[&str]) -> TestServer {
        Self::spawn_reading(dir, database_url, args, 0).await.0
    }

    /// A server with extra flags, and the `extra` stdout lines it prints
    /// after its address (e.g. the metrics address).
    pub async fn spawn_with_lines(args: &[&str], extra: usize) -> (TestServer, Vec<String>) {
        let temp = private_tempdir();
        let dir = temp.path().to_path_buf();
        let database = match on_postgres() {
            true => Some(TestDatabase::of(&dir).await),
            false => None,
        };
        let database_url = database
            .is_some()
            .then(|| database_url(&database_name(&dir)));
        let (mut server, lines) = Self::spawn_reading(&dir, database_url, args, extra).await;
        server._temp = Some(TestData {
            _temp: temp,
            _database: database,
        });
        (server, lines)
    }

    async fn spawn_reading(
        dir: &Path,
        database_url: Option<String>,
        args: &[&str],
        extra: usize,
    ) -> (TestServer, Vec<String>) {
        crypto();
        let log = std::fs::File::create(dir.with_extension("log")).unwrap();
        let mut command = Command::new(binary());
        command
            .args(["--listen", "127.0.0.1:0", "--demo", "--data-dir"])
            .arg(dir);
        if let Some(url) = &database_url {
            command.args(["--database-url", url]);
        }
        let mut child = command
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
            database_url,
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
    pub async fn kill(mut self) -> Option<TestData> {
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
    pub async fn terminate(mut self) -> Option<TestData> {
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
