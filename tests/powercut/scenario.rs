//! The power-cut machinery: a scenario (durability, how the machine stops,
//! rounds, writers), run against cartql on the [`lazyfs`](crate::lazyfs)
//! filesystem, and the [`Report`] of what survived. Shared by the tests
//! (tests/powercut/main.rs) and the measurement behind the README's
//! Durability table (examples/powercut.rs, `scripts/powercut`).

use crate::lazyfs::{DirEntries, LazyFs};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How the machine stops.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Crash {
    /// SIGKILL, then everything not fsynced is dropped.
    PowerCut(DirEntries),
    /// SIGKILL alone: what the kernel was handed survives. (Only the
    /// measurement, examples/powercut.rs, crashes this way.)
    #[allow(dead_code)]
    ProcessOnly,
}

pub(crate) struct Scenario {
    pub(crate) durability: &'static str,
    pub(crate) crash: Crash,
    /// Rounds of writing and crashing, after a first crash right after the first start.
    pub(crate) rounds: usize,
    /// Writers at once.
    pub(crate) writers: usize,
    /// Whether one of the writers fills its cart with lines large enough
    /// that sled keeps the cart in blob files (over ~128 KiB).
    pub(crate) large_values: bool,
    /// How long the writers write before each crash.
    pub(crate) writing: Duration,
}

/// What a scenario saw, over all its rounds.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) rounds: usize,
    pub(crate) acknowledged: usize,
    /// Acknowledged adds missing after a restart.
    pub(crate) lost: usize,
    /// How long before the crash the lost adds were acknowledged (least, most).
    pub(crate) lost_ages: Option<(Duration, Duration)>,
    /// Versions acknowledged before a crash and again after it, for other contents.
    pub(crate) reissued: usize,
    /// Restarts refused (each with the server's words).
    pub(crate) refused: Vec<String>,
    /// Guest tokens refused after a restart: the signing key was lost.
    pub(crate) tokens_refused: usize,
    /// Whether the blob directory held a file at a crash (the large cart).
    pub(crate) blobs_seen: bool,
    /// fsyncs of files and of directories the filesystem answered.
    pub(crate) fsyncs: (u64, u64),
    /// What `cartql verify` said of the directory after the last round,
    /// when an invariant was broken (a record, or the sweep's index).
    pub(crate) unverified: Option<String>,
}

impl Report {
    pub(crate) fn line(&self, scenario: &Scenario) -> String {
        let ages = match self.lost_ages {
            Some((least, most)) => format!(
                ", acknowledged {}-{} ms before the crash",
                least.as_millis(),
                most.as_millis()
            ),
            None => String::new(),
        };
        format!(
            "{} / {:?}{}: {} rounds, {} acknowledged, {} lost ({:.2} %){ages}, {} versions reissued, {} restarts refused, {} tokens refused, blob files {}, fsyncs {:?}",
            scenario.durability,
            scenario.crash,
            if scenario.large_values {
                ""
            } else {
                " / small values only"
            },
            self.rounds,
            self.acknowledged,
            self.lost,
            100.0 * self.lost as f64 / self.acknowledged.max(1) as f64,
            self.reissued,
            self.refused.len(),
            self.tokens_refused,
            if self.blobs_seen { "seen" } else { "not seen" },
            self.fsyncs,
        )
    }
}

/// One acknowledged add: when, and the cart it returned.
#[derive(Clone, Copy, Debug)]
struct Ack {
    at: Instant,
    version: u64,
    quantity: u64,
}

/// A guest adding to its default cart.
struct Viewer {
    token: String,
    /// Adds lines of ten 4,000-character attributes (a new line each time).
    large: bool,
    /// Acknowledged since the last restart.
    acks: Vec<Ack>,
    /// Every version acknowledged, with the total quantity it stood for.
    versions: HashMap<u64, u64>,
    added: u64,
}

/// What one round did: the acknowledgements, the crash, what survived.
struct Round {
    crashed_at: Instant,
    /// Per viewer: its acknowledgements before the crash, and `(version,
    /// total quantity)` of its cart after the restart.
    carts: Vec<(Vec<Ack>, (u64, u64))>,
    /// Adds after the restart that got a version acknowledged before the
    /// crash for other contents.
    reissued: usize,
    /// Tokens refused after the restart (the signing key was lost).
    tokens_refused: usize,
}

/// Runs a scenario; `None` when FUSE tests are skipped.
pub(crate) async fn run(scenario: &Scenario) -> Option<Report> {
    let temp = tempfile::tempdir().unwrap();
    let mountpoint = temp.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    let log = temp.path().join("cartql.log");
    let mut fs = match scenario.crash {
        Crash::PowerCut(entries) => match LazyFs::mount(&mountpoint, entries) {
            Ok(fs) => Some(fs),
            Err(e) if std::env::var_os("CARTQL_SKIP_FUSE_TESTS").is_some() => {
                eprintln!(
                    "SKIPPED: cannot mount the test filesystem ({e}); CARTQL_SKIP_FUSE_TESTS is set"
                );
                return None;
            }
            Err(e) => panic!(
                "cannot mount the test filesystem: {e}. It needs /dev/fuse and root; set CARTQL_SKIP_FUSE_TESTS=1 to skip"
            ),
        },
        Crash::ProcessOnly => None,
    };
    let data = mountpoint.join("data");
    let mut report = Report::default();
    let mut viewers: Vec<Viewer> = Vec::new();

    // A crash right after the first start: the directory must start again.
    let server = start(&data, scenario.durability, &log).await.unwrap();
    crash(server, &mut fs, scenario.crash).await;
    let mut server = match start(&data, scenario.durability, &log).await {
        Ok(server) => server,
        Err(e) => {
            // Recorded; then, as the operator would, start afresh.
            report.refused.push(e);
            std::fs::remove_dir_all(&data).unwrap();
            start(&data, scenario.durability, &log).await.unwrap()
        }
    };

    for _ in 0..scenario.rounds {
        for i in 0..scenario.writers {
            viewers.push(Viewer {
                token: guest(&server).await,
                large: i == 0 && scenario.large_values,
                acks: Vec::new(),
                versions: HashMap::new(),
                added: 0,
            });
        }
        let writing = viewers.len() - scenario.writers..viewers.len();
        let crashing = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = viewers
            .drain(writing)
            .map(|viewer| tokio::spawn(write(server.base.clone(), viewer, crashing.clone())))
            .collect();
        tokio::time::sleep(scenario.writing).await;
        crashing.store(true, Ordering::SeqCst);
        let crashed_at = Instant::now();
        report.blobs_seen |= std::fs::read_dir(data.join("db/blobs"))
            .map(|mut files| files.next().is_some())
            .unwrap_or(false);
        crash(server, &mut fs, scenario.crash).await;
        for task in tasks {
            viewers.push(task.await.unwrap());
        }
        server = match start(&data, scenario.durability, &log).await {
            Ok(server) => server,
            Err(e) => {
                report.refused.push(e);
                return Some(report);
            }
        };
        let round = check(&server, &mut viewers, crashed_at).await;
        report.add(&round);
    }
    if let Some(fs) = &fs {
        report.fsyncs = fs.fsyncs();
    }
    server.stop().await;
    let verified = std::process::Command::new(binary())
        .args(["verify", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    if !verified.status.success() {
        report.unverified = Some(format!(
            "{}{}",
            String::from_utf8_lossy(&verified.stdout),
            String::from_utf8_lossy(&verified.stderr)
        ));
    }
    Some(report)
}

impl Report {
    fn add(&mut self, round: &Round) {
        self.rounds += 1;
        self.reissued += round.reissued;
        self.tokens_refused += round.tokens_refused;
        for (acks, (_, quantity)) in &round.carts {
            self.acknowledged += acks.len();
            for ack in acks.iter().filter(|a| a.quantity > *quantity) {
                self.lost += 1;
                let age = round.crashed_at.duration_since(ack.at);
                self.lost_ages = Some(match self.lost_ages {
                    None => (age, age),
                    Some((least, most)) => (least.min(age), most.max(age)),
                });
            }
        }
    }
}

/// Reads every viewer's cart after a restart, then adds once more to each
/// (two units: other contents than any add before the crash) to see
/// whether a version acknowledged before the crash is handed out again.
async fn check(server: &Server, viewers: &mut [Viewer], crashed_at: Instant) -> Round {
    let mut carts = Vec::new();
    let mut tokens_refused = 0;
    for viewer in viewers.iter_mut() {
        let query = "{ cart { version totalQuantity } }";
        let restored = match server.try_data(&viewer.token, query, json!({})).await {
            Ok(data) => (
                number(&data["cart"]["version"]),
                number(&data["cart"]["totalQuantity"]),
            ),
            // The signing key did not survive: the cart is out of reach.
            Err(e) if e.status() == Some(reqwest::StatusCode::UNAUTHORIZED) => {
                tokens_refused += 1;
                viewer.token = guest(server).await;
                viewer.versions.clear();
                (0, 0)
            }
            Err(e) => panic!("reading a cart after the restart: {e}"),
        };
        carts.push((std::mem::take(&mut viewer.acks), restored));
    }
    let mut reissued = 0;
    for viewer in viewers.iter_mut() {
        let ack = add(server, viewer, 2)
            .await
            .expect("an add after the restart");
        if viewer
            .versions
            .get(&ack.version)
            .is_some_and(|q| *q != ack.quantity)
        {
            reissued += 1;
        }
        viewer.versions.insert(ack.version, ack.quantity);
        viewer.acks.push(ack);
    }
    Round {
        crashed_at,
        carts,
        reissued,
        tokens_refused,
    }
}

/// Adds until the crash; acknowledgements that arrive after the crash
/// began are not counted (they may or may not have been made durable
/// before it).
async fn write(base: String, mut viewer: Viewer, crashing: Arc<AtomicBool>) -> Viewer {
    let server = Server::client(base);
    while !crashing.load(Ordering::SeqCst) {
        let Ok(ack) = add(&server, &mut viewer, 1).await else {
            break;
        };
        if crashing.load(Ordering::SeqCst) {
            break;
        }
        viewer.versions.insert(ack.version, ack.quantity);
        viewer.acks.push(ack);
    }
    viewer
}

const ADD: &str = "mutation($lines: [CartLineInput!]!) { addCartLines(input: {lines: $lines}) { cart { version totalQuantity } userErrors { code message } } }";

/// Lines the large cart grows to (about 320 KB, over sled's blob size
/// from the fourth: each cart is its own sled value); later adds add to the
/// last of them.
const LARGE_LINES: u64 = 8;

/// One add of `quantity` units; `Err` when the server did not answer.
async fn add(server: &Server, viewer: &mut Viewer, quantity: u64) -> Result<Ack, reqwest::Error> {
    viewer.added += 1;
    let attributes: Vec<Value> = match viewer.large {
        true => (0..10)
            .map(|k| json!({"key": format!("k{k}"), "value": format!("{:0>4000}", viewer.added.min(LARGE_LINES) * 10 + k)}))
            .collect(),
        false => Vec::new(),
    };
    let lines = json!([{"sku": "TEE-BLK-M", "quantity": quantity, "attributes": attributes}]);
    let body = server
        .try_data(&viewer.token, ADD, json!({ "lines": lines }))
        .await?;
    let payload = &body["addCartLines"];
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    Ok(Ack {
        at: Instant::now(),
        version: number(&payload["cart"]["version"]),
        quantity: number(&payload["cart"]["totalQuantity"]),
    })
}

fn number(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("a number: {value}"))
}

/// Stops the server with SIGKILL and, for a power cut, drops what was not fsynced.
async fn crash(server: Server, fs: &mut Option<LazyFs>, crash: Crash) {
    server.kill().await;
    if let (Crash::PowerCut(_), Some(fs)) = (crash, fs) {
        fs.power_cut()
            .expect("the power cut (unmount, drop, mount)");
    }
}

async fn guest(server: &Server) -> String {
    let data = server
        .data("", "mutation { startGuestSession { token } }", json!({}))
        .await;
    data["startGuestSession"]["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A cartql process (or, for writers, a client of one).
struct Server {
    child: Option<Child>,
    base: String,
    client: reqwest::Client,
}

/// The cartql binary: `CARTQL_BIN` when set (the harness), else the one
/// cargo built for the tests.
fn binary() -> std::path::PathBuf {
    match (
        std::env::var_os("CARTQL_BIN"),
        option_env!("CARGO_BIN_EXE_cartql"),
    ) {
        (Some(path), _) => path.into(),
        (None, Some(built)) => built.into(),
        (None, None) => panic!("set CARTQL_BIN to the cartql binary to run"),
    }
}

/// Starts cartql on `dir`; `Err` with its log when it does not start.
async fn start(dir: &Path, durability: &str, log: &Path) -> Result<Server, String> {
    let logged = std::fs::read_to_string(log).map_or(0, |text| text.lines().count());
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = Command::new(binary())
        .args([
            "--listen",
            "127.0.0.1:0",
            "--demo",
            "--durability",
            durability,
        ])
        .args([
            "--max-lines-per-cart",
            "500",
            "--max-quantity-per-line",
            "10000",
        ])
        // Large lines: from the fourth on, the cart is over sled's blob size.
        .args([
            "--max-attribute-value-bytes",
            "4096",
            "--max-cart-bytes",
            "1048576",
            "--max-owner-bytes",
            "4194304",
        ])
        // Writers write as fast as they are answered: no write rate.
        .args([
            "--viewer-write-rate",
            "60000",
            "--viewer-write-burst",
            "10000",
            "--client-write-rate",
            "600000",
            "--client-write-burst",
            "100000",
        ])
        .arg("--data-dir")
        .arg(dir)
        // The signing key is generated into the data directory: it must survive too.
        .env_remove("CARTQL_JWT_SECRET")
        .env("CARTQL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true)
        .spawn()
        .expect("the cartql binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("cartql prints its address or exits within 60 s")
        .unwrap();
    let Some(base) = line.and_then(|l| l.strip_prefix("cartql listening on ").map(String::from))
    else {
        let status = child.wait().await.unwrap();
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let said: Vec<&str> = text.lines().skip(logged).collect();
        return Err(format!("{status}: {}", said.join("\n")));
    };
    Ok(Server {
        child: Some(child),
        base,
        client: reqwest::Client::new(),
    })
}

impl Server {
    fn client(base: String) -> Server {
        Server {
            child: None,
            base,
            client: reqwest::Client::new(),
        }
    }

    async fn kill(mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().unwrap();
            child.wait().await.unwrap();
        }
    }

    async fn stop(self) {
        self.kill().await;
    }

    async fn try_data(
        &self,
        token: &str,
        query: &str,
        variables: Value,
    ) -> Result<Value, reqwest::Error> {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        let body: Value = request.send().await?.error_for_status()?.json().await?;
        assert!(body.get("errors").is_none(), "{body}");
        Ok(body["data"].clone())
    }

    async fn data(&self, token: &str, query: &str, variables: Value) -> Value {
        self.try_data(token, query, variables).await.unwrap()
    }
}
