//! Helpers for the network tests: raw TCP sockets, and a server started with a
//! chosen log filter and open-file limit (whose log the test then reads).

use crate::helpers::{SECRET, binary};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// `127.0.0.1:PORT` of a server whose base URL is `http://127.0.0.1:PORT`.
pub fn address(base: &str) -> String {
    base.trim_start_matches("http://").to_string()
}

/// A plain TCP connection to the server.
pub async fn raw_socket(base: &str) -> TcpStream {
    TcpStream::connect(address(base)).await.unwrap()
}

/// Whether the server closes `socket` (end of stream or reset) within
/// `limit`; whatever it sends before that is read and dropped.
pub async fn closed_within(socket: &mut TcpStream, limit: Duration) -> bool {
    let mut buffer = [0u8; 4096];
    let read_until_closed = async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(limit, read_until_closed).await.is_ok()
}

/// Whether `GET /healthz` on a new connection answers 200 within `limit`
/// (retried: a slot the client gave up is freed once the server notices).
pub async fn answered_within(base: &str, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        let mut socket = raw_socket(base).await;
        let request = b"GET /healthz HTTP/1.1\r\nHost: cartql\r\nConnection: close\r\n\r\n";
        let _ = socket.write_all(request).await;
        let mut answer = Vec::new();
        let read = socket.read_to_end(&mut answer);
        let _ = tokio::time::timeout_at(deadline, read).await;
        if answer.starts_with(b"HTTP/1.1 200") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// A cartql process (demo catalog, temporary data directory) whose log is
/// kept in a file; started under `sh` when an open-file limit is asked for.
pub struct LoggedServer {
    _child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    log: PathBuf,
    _dir: TempDir,
    client: reqwest::Client,
}

impl LoggedServer {
    /// Starts a server with `CARTQL_LOG=log_filter` and extra flags; with
    /// `open_files`, under `ulimit -n open_files` (soft and hard limit).
    pub async fn spawn(args: &[&str], log_filter: &str, open_files: Option<u32>) -> LoggedServer {
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        let mut command = match open_files {
            Some(limit) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(binary());
                sh
            }
            None => Command::new(binary()),
        };
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--demo", "--data-dir"])
            .arg(&data)
            .args(args)
            .env("CARTQL_JWT_SECRET", SECRET)
            .env("CARTQL_LOG", log_filter)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .kill_on_drop(true)
            .spawn()
            .expect("the cartql binary starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the server prints its address within 30 s")
            .unwrap()
            .unwrap_or_else(|| {
                panic!(
                    "the server exited: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        let base = line
            .strip_prefix("cartql listening on ")
            .expect("address line")
            .to_string();
        LoggedServer {
            _child: child,
            base,
            log,
            _dir: dir,
            client: reqwest::Client::new(),
        }
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Runs a GraphQL operation that must succeed; returns its `data`.
    pub async fn data(&self, token: Option<&str>, query: &str) -> Value {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// `GET /healthz` answers 200 on a new connection.
    pub async fn healthy(&self) -> bool {
        let response = self
            .client
            .get(format!("{}/healthz", self.base))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        response.is_ok_and(|r| r.status() == 200)
    }
}
