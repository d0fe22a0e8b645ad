//! Client addresses on a dual-stack listener (`--listen [::]:PORT`), where
//! Linux shows every IPv4 peer as an IPv4-mapped address (`::ffff:a.b.c.d`):
//! each IPv4 client still has its own per-client allowance, and an IPv4
//! `--trusted-proxies` entry still names the proxy.
//!
//! The clients are told apart by their source address: Linux routes all of
//! 127.0.0.0/8 to the loopback interface, so a client bound to 127.0.0.2 is
//! another IPv4 client of the same machine.

use crate::helpers::*;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const START: &str = "mutation { startGuestSession { token userErrors { code } } }";

/// A server listening on `[::]:0` (dual-stack).
struct DualStack {
    _server: TestServer,
    port: u16,
    _database: Option<TestDatabase>,
    _temp: tempfile::TempDir,
}

impl DualStack {
    /// Starts one with these flags. Fails the test, saying why, when this
    /// machine cannot listen on `[::]` or the listener takes no IPv4: the
    /// test cannot show anything there, and must not pass as if it had.
    async fn spawn(args: &[&str]) -> DualStack {
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
        let temp = private_tempdir();
        let database = match on_postgres() {
            true => Some(TestDatabase::of(temp.path()).await),
            false => None,
        };
        let log = temp.path().with_extension("log");
        let mut command = Command::new(binary());
        command
            .args(["--listen", "[::]:0", "--data-dir"])
            .arg(temp.path());
        if let Some(database) = &database {
            command.args(["--database-url", &database.url()]);
        }
        let mut child = command
            .args(args)
            .env("CARTQL_JWT_SECRET", SECRET)
            .env("CARTQL_LOG", "warn")
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
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("IPv6 UNAVAILABLE: cartql could not listen on [::]:0 here, so this dual-stack test shows nothing: {log}")
            });
        let port = line
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .unwrap_or_else(|| panic!("an address line with a port: {line}"));
        let base = format!("http://127.0.0.1:{port}");
        let dual = DualStack {
            _server: TestServer::attach(child, base),
            port,
            _database: database,
            _temp: temp,
        };
        if dual
            .from("127.0.0.1")
            .get(dual.url("127.0.0.1", "/healthz"))
            .send()
            .await
            .is_err()
        {
            panic!(
                "NOT DUAL-STACK: the [::] listener takes no IPv4 connection here (net.ipv6.bindv6only=1?), so this test shows nothing"
            );
        }
        dual
    }

    fn url(&self, host: &str, path: &str) -> String {
        match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("http://[{host}]:{}{path}", self.port),
            _ => format!("http://{host}:{}{path}", self.port),
        }
    }

    /// An HTTP client whose connections come from `source`.
    fn from(&self, source: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(source.parse::<IpAddr>().unwrap())
            .build()
            .unwrap()
    }

    /// `startGuestSession` from `source` (connecting to the loopback address
    /// of its family), with an `X-Forwarded-For` header when given.
    async fn start_guest_session(&self, source: &str, forwarded: Option<&str>) -> Value {
        let values: Vec<&[u8]> = forwarded.iter().map(|value| value.as_bytes()).collect();
        self.start_guest_session_forwarding(source, &values).await
    }

    /// `startGuestSession` from `source` with these `X-Forwarded-For`
    /// values, one header line each, sent as raw bytes.
    async fn start_guest_session_forwarding(&self, source: &str, forwarded: &[&[u8]]) -> Value {
        let target = match source.parse::<IpAddr>().unwrap() {
            IpAddr::V4(_) => "127.0.0.1",
            IpAddr::V6(_) => "::1",
        };
        let mut headers = reqwest::header::HeaderMap::new();
        for value in forwarded {
            let value = reqwest::header::HeaderValue::from_bytes(value).unwrap();
            headers.append("x-forwarded-for", value);
        }
        let request = self
            .from(source)
            .post(self.url(target, "/graphql"))
            .headers(headers)
            .json(&json!({ "query": START }));
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        body["data"]["startGuestSession"].clone()
    }
}

fn started(payload: &Value) -> bool {
    payload["token"].is_string() && codes(payload).is_empty()
}

#[tokio::test]
async fn on_a_dual_stack_listener_each_ipv4_client_has_its_own_allowance() {
    let dual = DualStack::spawn(&["--max-guest-sessions-per-client", "1"]).await;
    let first = dual.start_guest_session("127.0.0.1", None).await;
    assert!(started(&first), "{first}");
    // Another IPv4 client: before, every ::ffff:a.b.c.d peer counted as the
    // one /64 "::", so this was THROTTLED.
    let other = dual.start_guest_session("127.0.0.2", None).await;
    assert!(started(&other), "127.0.0.2 has its own allowance: {other}");
    let again = dual.start_guest_session("127.0.0.1", None).await;
    assert_eq!(codes(&again), ["THROTTLED"], "127.0.0.1 used its one");
    // An IPv6 client is counted apart from the IPv4 ones.
    let ipv6 = dual.start_guest_session("::1", None).await;
    assert!(started(&ipv6), "{ipv6}");
}

#[tokio::test]
async fn on_a_dual_stack_listener_an_ipv4_trusted_proxy_is_recognised() {
    let dual = DualStack::spawn(&[
        "--max-guest-sessions-per-client",
        "1",
        "--trusted-proxies",
        "127.0.0.1",
    ])
    .await;
    // The proxy connects from 127.0.0.1 (seen as ::ffff:127.0.0.1): its
    // X-Forwarded-For is believed, so each forwarded client has its own
    // allowance instead of all of them sharing the proxy's.
    let ann = dual
        .start_guest_session("127.0.0.1", Some("203.0.113.1"))
        .await;
    assert!(started(&ann), "{ann}");
    let bob = dual
        .start_guest_session("127.0.0.1", Some("203.0.113.2"))
        .await;
    assert!(started(&bob), "203.0.113.2 is not the proxy: {bob}");
    let ann_again = dual
        .start_guest_session("127.0.0.1", Some("203.0.113.1"))
        .await;
    assert_eq!(codes(&ann_again), ["THROTTLED"], "203.0.113.1 used its one");
    // A proxy that writes the client in the IPv4-mapped form names the
    // same IPv4 client.
    let ann_mapped = dual
        .start_guest_session("127.0.0.1", Some("::ffff:203.0.113.1"))
        .await;
    assert_eq!(codes(&ann_mapped), ["THROTTLED"], "{ann_mapped}");
    // A peer that is not the trusted proxy is its own client, whatever it writes.
    let spoofer = dual
        .start_guest_session("127.0.0.2", Some("203.0.113.9"))
        .await;
    assert!(started(&spoofer), "{spoofer}");
    let spoofer_again = dual
        .start_guest_session("127.0.0.2", Some("203.0.113.10"))
        .await;
    assert_eq!(codes(&spoofer_again), ["THROTTLED"], "{spoofer_again}");
}

#[tokio::test]
async fn a_forwarded_entry_that_is_not_visible_ascii_hides_nothing_left_of_it() {
    // Two trusted hops (the peer 127.0.0.1 and 127.0.0.3, which it names);
    // left of them the client wrote "203.0.113.77" and a line with a byte
    // that is not visible ASCII. The bad line stops the reading: the client
    // is the last good hop, 127.0.0.3, not the 203.0.113.77 it named. (The
    // bad line used to be skipped, so 203.0.113.77 was believed and its
    // allowance spent here.)
    let dual = DualStack::spawn(&[
        "--max-guest-sessions-per-client",
        "1",
        "--trusted-proxies",
        "127.0.0.0/8",
    ])
    .await;
    let hidden: &[&[u8]] = &[b"203.0.113.77", b"\xff", b"127.0.0.3"];
    let first = dual
        .start_guest_session_forwarding("127.0.0.1", hidden)
        .await;
    assert!(started(&first), "{first}");
    let named = dual
        .start_guest_session("127.0.0.1", Some("203.0.113.77"))
        .await;
    assert!(started(&named), "203.0.113.77 was not charged: {named}");
    let last_good_hop = dual
        .start_guest_session("127.0.0.1", Some("127.0.0.3"))
        .await;
    assert_eq!(codes(&last_good_hop), ["THROTTLED"], "{last_good_hop}");
}
