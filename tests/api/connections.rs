//! Connections against an anonymous client with a cheap laptop: silent and
//! half-sent requests time out, a connection cap holds, the process stops on
//! SIGTERM whatever its clients do.

use crate::helpers::*;
use crate::net::{LoggedServer, address, answered_within, closed_within, raw_socket};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HALF_A_HEADER: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: cartql\r\nX-Slow: ";

#[tokio::test]
async fn a_socket_that_sends_nothing_or_half_a_header_is_closed_after_the_header_read_timeout() {
    let server = TestServer::spawn_with(&["--header-read-timeout", "1s"]).await;
    let mut silent = raw_socket(&server.base).await;
    let mut slow = raw_socket(&server.base).await;
    slow.write_all(HALF_A_HEADER).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(5)).await,
        "a silent socket is closed"
    );
    assert!(
        closed_within(&mut slow, Duration::from_secs(5)).await,
        "half a header is not waited for"
    );
    assert_eq!(server.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_kept_alive_connection_with_no_next_request_is_closed() {
    let server = TestServer::spawn_with(&["--header-read-timeout", "1s"]).await;
    let mut socket = raw_socket(&server.base).await;
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: cartql\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    socket.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    assert!(closed_within(&mut socket, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn the_idle_timeout_closes_a_connection_on_which_nothing_moves() {
    // The header-read timeout is long: only the idle timeout can close these.
    let server =
        TestServer::spawn_with(&["--header-read-timeout", "60s", "--idle-timeout", "1s"]).await;
    let mut silent = raw_socket(&server.base).await;
    let mut kept_alive = raw_socket(&server.base).await;
    kept_alive
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: cartql\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
    assert!(closed_within(&mut kept_alive, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn a_client_that_stops_reading_its_response_is_dropped_after_the_idle_timeout() {
    let server = LoggedServer::spawn(
        &[
            "--idle-timeout",
            "1s",
            "--header-read-timeout",
            "60s",
            "--max-query-complexity",
            "100000",
            "--max-query-nodes",
            "100000",
        ],
        "warn,cartql::server::listener=debug",
        None,
    )
    .await;
    // About 6 MB of introspection: more than the socket buffers on both sides hold.
    let aliases: Vec<String> = (0..300)
        .map(|i| format!("a{i}: __schema {{ types {{ name description fields {{ name description args {{ name description }} }} }} }}"))
        .collect();
    let body = json!({ "query": format!("{{ {} }}", aliases.join(" ")) }).to_string();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut socket = socket
        .connect(address(&server.base).parse().unwrap())
        .await
        .unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: cartql\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(body.as_bytes()).await.unwrap();

    // Not reading; the server gives up once its writes stall for a second.
    let closed = "closing a connection on which nothing moved";
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains(closed) {
        assert!(Instant::now() < deadline, "not closed: {}", server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut received)).await;
    let text = String::from_utf8_lossy(&received);
    let (head, rest) = text.split_once("\r\n\r\n").expect("a response head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_string)
        })
        .expect("a content-length")
        .parse()
        .unwrap();
    assert!(
        rest.len() < length,
        "the response was cut off: {} of {length} bytes",
        rest.len()
    );
}

#[tokio::test]
async fn over_the_connection_cap_a_new_connection_is_closed_at_once() {
    // The header-read timeout is long: only the cap can close the extra socket.
    let server =
        TestServer::spawn_with(&["--max-connections", "8", "--header-read-timeout", "60s"]).await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(raw_socket(&server.base).await);
    }
    // The server may take a moment to accept all eight.
    let mut extra = raw_socket(&server.base).await;
    assert!(
        closed_within(&mut extra, Duration::from_secs(5)).await,
        "the ninth connection is refused"
    );
    drop(idle.pop());
    assert!(
        answered_within(&server.base, Duration::from_secs(5)).await,
        "a freed slot serves a normal request"
    );
}

#[tokio::test]
async fn a_websocket_keeps_its_connection_slot_until_it_closes() {
    let server =
        TestServer::spawn_with(&["--max-connections", "2", "--header-read-timeout", "60s"]).await;
    let ws = crate::sockets::live_subscription(&server, &customer("ann")).await;
    let _idle = raw_socket(&server.base).await;
    let mut extra = raw_socket(&server.base).await;
    assert!(
        closed_within(&mut extra, Duration::from_secs(5)).await,
        "the WebSocket and the idle socket fill the cap"
    );
    drop(ws);
    assert!(answered_within(&server.base, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn many_idle_sockets_time_out_and_the_server_serves_again() {
    let server =
        TestServer::spawn_with(&["--max-connections", "16", "--header-read-timeout", "1s"]).await;
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(raw_socket(&server.base).await);
    }
    for socket in &mut idle {
        assert!(closed_within(socket, Duration::from_secs(5)).await);
    }
    assert_eq!(server.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn under_a_low_open_file_limit_the_cap_is_lowered_and_idle_sockets_cannot_starve_the_server()
{
    // 128 open files; the default cap of 4096 cannot fit.
    let server = LoggedServer::spawn(&["--header-read-timeout", "1s"], "warn", Some(128)).await;
    assert!(
        server.log().contains("--max-connections does not fit"),
        "one warning says the cap was lowered: {}",
        server.log()
    );
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(raw_socket(&server.base).await);
    }
    for socket in &mut idle {
        assert!(closed_within(socket, Duration::from_secs(5)).await);
    }
    drop(idle);
    assert!(server.healthy().await);
    let lowered = server
        .log()
        .matches("--max-connections does not fit")
        .count();
    assert_eq!(lowered, 1, "{}", server.log());
}

#[tokio::test]
async fn sigterm_stops_the_server_despite_open_sockets_and_a_restart_on_its_data_works() {
    let server = TestServer::spawn_with(&[
        "--shutdown-grace",
        "2s",
        "--header-read-timeout",
        "60s",
        "--idle-timeout",
        "60s",
    ])
    .await;
    let _silent = raw_socket(&server.base).await;
    let mut slow = raw_socket(&server.base).await;
    slow.write_all(HALF_A_HEADER).await.unwrap();
    let mut ws = crate::sockets::live_subscription(&server, &customer("ann")).await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    let pushed = crate::sockets::next(&mut ws).await;
    assert_eq!(pushed["payload"]["data"]["cartUpdated"]["version"], 1);

    let started = Instant::now();
    let dir = server.dir.clone();
    let temp = server.terminate().await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped within the grace period and a little: {:?}",
        started.elapsed()
    );
    assert_eq!(
        crate::sockets::next(&mut ws).await,
        json!({ "close": 1001 }),
        "the WebSocket was told the server is going away"
    );
    let restarted = TestServer::spawn_in(&dir, &[]).await;
    let cart = restarted
        .data(Some(&token), "{ cart { totalQuantity } }", json!({}))
        .await;
    assert_eq!(cart["cart"]["totalQuantity"], 1);
    drop(temp);
}

#[test]
fn connection_settings_out_of_range_stop_the_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    for (args, setting) in [
        (vec!["--max-connections", "0"], "--max-connections"),
        (vec!["--header-read-timeout", "1h"], "--header-read-timeout"),
        (vec!["--shutdown-grace", "0s"], "--shutdown-grace"),
        (
            vec!["--max-subscriptions-per-connection", "0"],
            "--max-subscriptions-per-connection",
        ),
        (
            vec!["--ws-ping-interval", "30s", "--ws-idle-timeout", "30s"],
            "--ws-idle-timeout",
        ),
        (vec!["--cache-mib", "0"], "--cache-mib"),
        (vec!["--cache-mib", "1000000"], "--cache-mib"),
        (vec!["--cache-mib=-5"], "--cache-mib"),
        (vec!["--cache-mib", "lots"], "--cache-mib"),
    ] {
        let output = std::process::Command::new(binary())
            .args(["--listen", "127.0.0.1:0", "--data-dir", data])
            .args(&args)
            .env("CARTQL_JWT_SECRET", SECRET)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        assert!(errors[0].contains(setting), "{args:?}: {stderr}");
    }
}
