//! Token life cycle: renewal, log out everywhere, key rotation.

use super::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

#[tokio::test]
async fn renew_token_returns_a_fresh_token_for_the_same_viewer() {
    let server = TestServer::spawn().await;
    let guest = start_guest(&server).await;
    let query = format!("mutation {{ renewToken {{ {AUTH} }} }}");
    let renewed = server.data(Some(&guest), &query, json!({})).await["renewToken"].clone();
    let fresh = token_of(&renewed);
    assert_eq!(renewed["viewer"]["kind"], "GUEST");
    add(&server, &guest, "default", "MUG-LOGO", 1).await;
    assert_eq!(
        carts_of(&server, &fresh).await,
        json!({"default": [["MUG-LOGO", 1]]}),
        "the renewed token is the same guest"
    );

    let customer = customer_account(&server, "ann@example.com").await;
    let renewed = server.data(Some(&customer), &query, json!({})).await["renewToken"].clone();
    assert_eq!(renewed["viewer"]["kind"], "CUSTOMER");
    assert_eq!(status_with(&server, &token_of(&renewed)).await, 200);

    let anonymous = server.gql(None, &query, json!({})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    let response = server
        .post(Some("not.a.token"), json!({ "query": query }))
        .await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn log_out_everywhere_refuses_older_tokens_and_not_newer_ones() {
    let server = TestServer::spawn().await;
    let first = customer_account(&server, "ann@example.com").await;
    let second = token_of(&log_in(&server, "ann@example.com", PASSWORD, None, None).await);
    let bystander = customer_account(&server, "bob@example.com").await;
    let done = server
        .data(Some(&first), "mutation { logOutEverywhere }", json!({}))
        .await;
    assert_eq!(done["logOutEverywhere"], true);
    // Issued before the log-out (possibly in the same second): refused.
    for old in [&first, &second] {
        let response = server
            .post(Some(old), json!({ "query": "{ viewer { id } }" }))
            .await;
        assert_eq!(response.status(), 401);
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("invalid_token"), "{challenge}");
        assert!(challenge.contains("revoked"), "{challenge}");
    }
    // Issued after it, even within the same second: accepted.
    let newer = token_of(&log_in(&server, "ann@example.com", PASSWORD, None, None).await);
    assert_eq!(status_with(&server, &newer).await, 200);
    assert_eq!(status_with(&server, &bystander).await, 200);
    let renew = "mutation { renewToken { token } }";
    let renewed = server.data(Some(&newer), renew, json!({})).await;
    let renewed = renewed["renewToken"]["token"].as_str().unwrap();
    assert_eq!(status_with(&server, renewed).await, 200);
}

#[tokio::test]
async fn log_out_everywhere_survives_a_restart() {
    let server = TestServer::spawn().await;
    let token = customer_account(&server, "ann@example.com").await;
    server
        .data(Some(&token), "mutation { logOutEverywhere }", json!({}))
        .await;
    let dir = server.dir.clone();
    let temp = server.kill().await;
    let again = TestServer::spawn_in(&dir, &[]).await;
    assert_eq!(status_with(&again, &token).await, 401);
    drop(temp);
}

#[tokio::test]
async fn a_rotated_key_still_verifies_old_tokens_until_it_is_removed() {
    const NEXT: &str = "the-next-secret-that-is-32-bytes-or-more";
    let server = TestServer::spawn().await;
    let old = start_guest(&server).await;
    let dir = server.dir.clone();
    let temp = server.terminate().await;

    let rotated = TestServer::spawn_in(
        &dir,
        &["--jwt-secret", NEXT, "--jwt-previous-secrets", SECRET],
    )
    .await;
    assert_eq!(status_with(&rotated, &old).await, 200, "old key, by kid");
    let new = start_guest(&rotated).await;
    let kid = |token: &str| jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    assert_ne!(kid(&new), kid(&old));
    assert_eq!(kid(&new).len(), 16);
    let unknown_kid = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("0123456789abcdef".into());
        jsonwebtoken::encode(
            &header,
            &claims("ann", "guest", &[]),
            &EncodingKey::from_secret(NEXT.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(status_with(&rotated, &unknown_kid).await, 401);
    // A token without kid is tried against the current key only.
    assert_eq!(status_with(&rotated, &guest("ann")).await, 401);
    let no_kid_current = sign(
        claims("ann", "guest", &[]),
        Algorithm::HS256,
        NEXT.as_bytes(),
    );
    assert_eq!(status_with(&rotated, &no_kid_current).await, 200);
    let _ = rotated.terminate().await;

    let retired = TestServer::spawn_in(&dir, &["--jwt-secret", NEXT]).await;
    assert_eq!(status_with(&retired, &old).await, 401, "old key removed");
    assert_eq!(status_with(&retired, &new).await, 200);
    drop(temp);
}

#[tokio::test]
async fn bad_identity_settings_stop_the_start_with_one_line_naming_the_setting() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--jwt-previous-secrets", "short"],
            "--jwt-previous-secrets",
        ),
        (&["--guest-token-ttl", "400d"], "--guest-token-ttl"),
        (&["--customer-token-ttl", "0s"], "--customer-token-ttl"),
        (&["--login-max-failures", "0"], "--login-max-failures"),
        (&["--login-failure-window", "2d"], "--login-failure-window"),
        (
            &["--password-hash-concurrency", "1000"],
            "--password-hash-concurrency",
        ),
    ];
    for (args, setting) in cases {
        let output = std::process::Command::new(binary())
            .args(["--listen", "127.0.0.1:0", "--data-dir", data])
            .args(*args)
            .env("CARTQL_JWT_SECRET", SECRET)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains(setting), "{args:?}: {stderr}");
    }
    let output = std::process::Command::new(binary())
        .args(["--listen", "127.0.0.1:0", "--data-dir", data])
        .env("CARTQL_JWT_SECRET", SECRET)
        .env("CARTQL_JWT_PREVIOUS_SECRETS", format!("{SECRET},tiny"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--jwt-previous-secrets"), "{stderr}");
    assert!(!stderr.contains(SECRET), "secrets are not echoed: {stderr}");
}
