//! Races and lifetimes that must never beat an auth rule: renewals against
//! `logOutEverywhere`, renewals of role-bearing tokens, concurrent log-ins
//! against the throttle, sign-up floods against the password hasher, and
//! external tokens issued "in the future".

use super::*;
use jsonwebtoken::Algorithm;
use std::time::Duration;

const RENEW: &str = "mutation { renewToken { token expiresAt viewer { roles expiresAt } } }";
const LOG_OUT: &str = "mutation { logOutEverywhere }";

/// Whether the server still accepts `token` (HTTP 200 on a `viewer` query).
async fn accepted(server: &TestServer, token: &str) -> bool {
    let response = server
        .post(Some(token), json!({ "query": "{ viewer { id } }" }))
        .await;
    response.status() == 200
}

#[tokio::test]
async fn a_renewal_racing_log_out_everywhere_never_yields_a_surviving_token() {
    let server = TestServer::spawn().await;
    for trial in 0..10 {
        let email = format!("race{trial}@example.com");
        let token = token_of(&sign_up(&server, &email, "correct horse battery", None).await);
        // Many renewals in flight while the log-out runs.
        let renewals = (0..8).map(|_| {
            let (server, token) = (&server, token.clone());
            async move {
                let response = server.post(Some(&token), json!({ "query": RENEW })).await;
                let body: Value = response.json().await.unwrap();
                body["data"]["renewToken"]["token"]
                    .as_str()
                    .map(str::to_string)
            }
        });
        let log_out = async {
            let body = server.data(Some(&token), LOG_OUT, json!({})).await;
            assert_eq!(body["logOutEverywhere"], true);
        };
        let (renewed, ()) = tokio::join!(futures_util::future::join_all(renewals), log_out);
        for renewed in renewed.into_iter().flatten() {
            assert!(
                !accepted(&server, &renewed).await,
                "trial {trial}: a token renewed during logOutEverywhere survived it"
            );
        }
        assert!(!accepted(&server, &token).await);
        // And the account itself is fine: a new log-in works at once.
        let again = log_in(&server, &email, "correct horse battery", None, None).await;
        assert!(accepted(&server, &token_of(&again)).await);
    }
}

#[tokio::test]
async fn log_out_twice_in_one_second_also_refuses_the_log_in_between() {
    let server = TestServer::spawn().await;
    let first =
        token_of(&sign_up(&server, "twice@example.com", "correct horse battery", None).await);
    server.data(Some(&first), LOG_OUT, json!({})).await;
    let second = token_of(
        &log_in(
            &server,
            "twice@example.com",
            "correct horse battery",
            None,
            None,
        )
        .await,
    );
    assert!(
        accepted(&server, &second).await,
        "a log-in right after a log-out works"
    );
    server.data(Some(&second), LOG_OUT, json!({})).await;
    assert!(
        !accepted(&server, &second).await,
        "the second log-out refuses it"
    );
}

#[tokio::test]
async fn a_token_with_roles_never_outlives_its_own_expiry() {
    let server = TestServer::spawn().await;
    let exp = now() + 60;
    let admin = sign(
        json!({ "sub": "ops", "iss": "cartql", "iat": now(), "nbf": now(), "exp": exp, "kind": "customer", "roles": ["admin"] }),
        Algorithm::HS256,
        SECRET.as_bytes(),
    );
    let renewed = server.data(Some(&admin), RENEW, json!({})).await["renewToken"].clone();
    assert_eq!(renewed["viewer"]["roles"], json!(["admin"]));
    let renewed_exp = chrono::DateTime::parse_from_rfc3339(renewed["expiresAt"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert_eq!(renewed_exp, exp, "renewing does not extend an admin token");
    // Renewing the renewal does not either.
    let again = server
        .data(Some(renewed["token"].as_str().unwrap()), RENEW, json!({}))
        .await;
    let again_exp =
        chrono::DateTime::parse_from_rfc3339(again["renewToken"]["expiresAt"].as_str().unwrap())
            .unwrap()
            .timestamp();
    assert_eq!(again_exp, exp);
}

#[tokio::test]
async fn a_customer_session_cannot_be_renewed_past_its_maximum_age() {
    let server = TestServer::spawn_with(&["--max-session-age", "1h"]).await;
    // A token whose session began two hours ago (as an old log-in's would).
    let old = sign(
        json!({ "sub": "c1", "iss": "cartql", "iat": now(), "nbf": now(), "exp": now() + 600, "kind": "customer", "auth_time": now() - 7200 }),
        Algorithm::HS256,
        SECRET.as_bytes(),
    );
    let body = server.gql(Some(&old), RENEW, json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    // A session that began half an hour ago renews, but only to its 1 h mark.
    let began = now() - 1800;
    let recent = sign(
        json!({ "sub": "c1", "iss": "cartql", "iat": now(), "nbf": now(), "exp": now() + 600, "kind": "customer", "auth_time": began }),
        Algorithm::HS256,
        SECRET.as_bytes(),
    );
    let renewed = server.data(Some(&recent), RENEW, json!({})).await;
    let exp =
        chrono::DateTime::parse_from_rfc3339(renewed["renewToken"]["expiresAt"].as_str().unwrap())
            .unwrap()
            .timestamp();
    assert_eq!(exp, began + 3600);
}

#[tokio::test]
async fn the_revoke_command_and_mutation_refuse_a_viewers_tokens() {
    let server = TestServer::spawn().await;
    let stolen = sign(
        json!({ "sub": "ops", "iss": "cartql", "iat": now(), "nbf": now(), "exp": now() + 3600, "kind": "customer", "roles": ["admin"] }),
        Algorithm::HS256,
        SECRET.as_bytes(),
    );
    assert!(accepted(&server, &stolen).await);
    // Online: another admin revokes it.
    let other_admin = admin();
    let query = "mutation($s: String!) { revokeTokens(input: {subject: $s}) }";
    let body = server
        .data(Some(&other_admin), query, json!({ "s": "ops" }))
        .await;
    assert_eq!(body["revokeTokens"], true);
    assert!(!accepted(&server, &stolen).await);
    // Not for non-admins.
    let body = server
        .gql(Some(&customer("c9")), query, json!({ "s": "ops" }))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");

    let guest_token = guest("g1");
    assert!(accepted(&server, &guest_token).await);
    if let Some(url) = &server.database_url {
        // PostgreSQL: the CLI works while servers run, effective at once.
        let out = std::process::Command::new(binary())
            .args([
                "revoke",
                "--subject",
                "g1",
                "--kind",
                "guest",
                "--database-url",
                url,
            ])
            .env("CARTQL_JWT_SECRET", SECRET)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!accepted(&server, &guest_token).await);
        assert!(accepted(&server, &guest("g2")).await);
        return;
    }
    // Offline: the CLI writes the same record (the server must be stopped).
    let dir = server.dir.clone();
    let running = std::process::Command::new(binary())
        .args(["revoke", "--subject", "g1", "--kind", "guest", "--data-dir"])
        .arg(&dir)
        .env("CARTQL_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(!running.status.success());
    let stderr = String::from_utf8_lossy(&running.stderr);
    assert!(stderr.contains("revokeTokens"), "{stderr}");
    let temp = server.terminate().await;
    let out = std::process::Command::new(binary())
        .args(["revoke", "--subject", "g1", "--kind", "guest", "--data-dir"])
        .arg(&dir)
        .env("CARTQL_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("guest:g1"));
    let server = TestServer::spawn_in(&dir, &[]).await;
    assert!(!accepted(&server, &guest_token).await);
    assert!(accepted(&server, &guest("g2")).await);
    drop(temp);
}

#[tokio::test]
async fn a_burst_of_log_ins_is_throttled_like_a_sequence() {
    let server = TestServer::spawn_with(&["--login-max-failures", "5"]).await;
    sign_up(&server, "burst@example.com", "correct horse battery", None).await;
    // 40 wrong passwords at once: as in a sequence, 5 are checked, the rest
    // refused before any hashing.
    let attempts = (0..40).map(|i| {
        let server = &server;
        async move {
            let password = format!("wrong password {i}");
            log_in(server, "burst@example.com", &password, None, None).await
        }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let checked = answers
        .iter()
        .filter(|a| codes(a) == ["INVALID_CREDENTIALS"])
        .count();
    let throttled = answers.iter().filter(|a| codes(a) == ["THROTTLED"]).count();
    assert_eq!((checked, throttled), (5, 35));
    // And then, as after a sequence, even the right password waits.
    let right = log_in(
        &server,
        "burst@example.com",
        "correct horse battery",
        None,
        None,
    )
    .await;
    assert_eq!(codes(&right), ["THROTTLED"]);
}

/// The peak resident memory of a process, from /proc (kB).
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn sign_ups_that_hang_up_cannot_run_more_hashes_than_the_pool_has() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::spawn_with(&[
        "--signup-max-per-client",
        "100000",
        "--password-hash-concurrency",
        "2",
    ])
    .await;
    let pid = server.pid();
    let address = server.base.trim_start_matches("http://").to_string();
    // 600 sign-ups whose clients reset the connection 200 ms in.
    let flood = (0..600).map(|i| {
        let address = address.clone();
        async move {
            let Ok(mut socket) = tokio::net::TcpStream::connect(&address).await else {
                return;
            };
            let body = json!({ "query": format!(
                "mutation {{ signUp(input: {{email: \"flood{i}@example.com\", password: \"correct horse battery\"}}) {{ token }} }}"
            ) })
            .to_string();
            let request = format!(
                "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(request.as_bytes()).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            // A zero linger resets the connection on drop; it does not block.
            #[allow(deprecated)]
            let _ = socket.set_linger(Some(Duration::ZERO));
        }
    });
    futures_util::future::join_all(flood).await;
    // Afterwards a new customer can sign up (perhaps after a "busy" answer
    // while the flood drains) and a returning one logs in at once.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let body = sign_up(&server, "steady@example.com", "correct horse battery", None).await;
        if body["token"].is_string() {
            break;
        }
        assert_eq!(codes(&body), ["THROTTLED"], "{body}");
        assert!(std::time::Instant::now() < deadline, "still busy: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let answer = log_in(
        &server,
        "steady@example.com",
        "correct horse battery",
        None,
        None,
    )
    .await;
    assert!(answer["token"].is_string(), "{answer}");
    // Two hashes of 19 MiB at a time, not one per abandoned request (the
    // unbounded version peaked above 330 MB here).
    let peak_mb = peak_rss_kb(pid) / 1024;
    assert!(peak_mb < 200, "peak RSS {peak_mb} MB");
}

#[tokio::test]
async fn sign_ups_from_one_address_are_limited() {
    let server = TestServer::spawn_with(&["--signup-max-per-client", "3"]).await;
    for i in 0..3 {
        let body = sign_up(
            &server,
            &format!("s{i}@example.com"),
            "correct horse battery",
            None,
        )
        .await;
        assert!(body["token"].is_string(), "{body}");
    }
    let body = sign_up(&server, "s3@example.com", "correct horse battery", None).await;
    assert_eq!(codes(&body), ["THROTTLED"]);
    // Log-ins are not affected.
    let body = log_in(
        &server,
        "s0@example.com",
        "correct horse battery",
        None,
        None,
    )
    .await;
    assert!(body["token"].is_string(), "{body}");
}

/// A failed log-in sent as if through a proxy that forwards `client`.
async fn failed_log_in_from(server: &TestServer, client: &str, email: &str) -> Value {
    let query = "mutation($e: String!) { logIn(input: {email: $e, password: \"wrong wrong wrong\"}) { userErrors { code } } }";
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .header("x-forwarded-for", client)
        .json(&json!({ "query": query, "variables": { "e": email } }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["data"]["logIn"].clone()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let limit = ["--login-max-failures-per-client", "2"];
    let proxied =
        TestServer::spawn_with(&[limit[0], limit[1], "--trusted-proxies", "127.0.0.1"]).await;
    for i in 0..2 {
        let body = failed_log_in_from(&proxied, "203.0.113.1", &format!("a{i}@example.com")).await;
        assert_eq!(codes(&body), ["INVALID_CREDENTIALS"]);
    }
    let body = failed_log_in_from(&proxied, "203.0.113.1", "a2@example.com").await;
    assert_eq!(codes(&body), ["THROTTLED"]);
    // Another client behind the same proxy is not throttled; what a client
    // writes into the header itself (left of the proxy's entry) is not believed.
    let body = failed_log_in_from(&proxied, "203.0.113.1, 203.0.113.2", "b@example.com").await;
    assert_eq!(codes(&body), ["INVALID_CREDENTIALS"]);

    // Without --trusted-proxies the header means nothing: one address, one count.
    let direct = TestServer::spawn_with(&limit).await;
    for i in 0..2 {
        let body = failed_log_in_from(
            &direct,
            &format!("198.51.100.{i}"),
            &format!("c{i}@example.com"),
        )
        .await;
        assert_eq!(codes(&body), ["INVALID_CREDENTIALS"]);
    }
    let body = failed_log_in_from(&direct, "198.51.100.9", "c9@example.com").await;
    assert_eq!(codes(&body), ["THROTTLED"]);
}

#[tokio::test]
async fn a_log_in_over_the_websocket_counts_against_the_clients_address_too() {
    let server = TestServer::spawn_with(&["--login-max-failures-per-client", "2"]).await;
    for i in 0..2 {
        let body = failed_log_in_from(&server, "ignored", &format!("w{i}@example.com")).await;
        assert_eq!(codes(&body), ["INVALID_CREDENTIALS"]);
    }
    let query = "mutation { logIn(input: {email: \"w9@example.com\", password: \"wrong wrong wrong\"}) { userErrors { code } } }";
    let answer = crate::hostile::over_websocket(&server, query).await;
    assert_eq!(answer["type"], "next", "{answer}");
    assert_eq!(
        answer["payload"]["data"]["logIn"]["userErrors"][0]["code"], "THROTTLED",
        "{answer}"
    );
}
