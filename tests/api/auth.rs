//! Every request is authenticated from its token alone; a bad token is a 401.

use crate::helpers::*;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

async fn assert_refused(server: &TestServer, token: &str, why: &str) {
    let response = server
        .post(Some(token), json!({ "query": "{ shop { currencyCode } }" }))
        .await;
    assert_eq!(response.status(), 401, "{why}");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{why}: {challenge}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{why}");
}

fn b64(value: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn a_valid_token_is_the_viewer_and_no_token_is_anonymous() {
    let server = TestServer::spawn().await;
    let anonymous = server
        .data(None, "{ viewer { id } shop { currencyCode } }", json!({}))
        .await;
    assert_eq!(
        anonymous,
        json!({"viewer": null, "shop": {"currencyCode": "USD"}})
    );
    let viewer = server
        .data(
            Some(&customer("ann")),
            "{ viewer { id kind roles expiresAt } }",
            json!({}),
        )
        .await;
    assert_eq!(viewer["viewer"]["id"], "ann");
    assert_eq!(viewer["viewer"]["kind"], "CUSTOMER");
    assert_eq!(viewer["viewer"]["roles"], json!([]));
    assert!(
        viewer["viewer"]["expiresAt"]
            .as_str()
            .unwrap()
            .starts_with("20")
    );
}

#[tokio::test]
async fn every_kind_of_bad_token_is_a_401_never_anonymous() {
    let server = TestServer::spawn().await;
    let secret = SECRET.as_bytes();
    let mut expired = claims("ann", "customer", &[]);
    expired["exp"] = json!(now() - 60);
    let mut future = claims("ann", "customer", &[]);
    future["nbf"] = json!(now() + 600);
    let mut other_issuer = claims("ann", "customer", &[]);
    other_issuer["iss"] = json!("someone-else");
    let mut no_exp = claims("ann", "customer", &[]);
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut bad_kind = claims("ann", "customer", &[]);
    bad_kind["kind"] = json!("superuser");

    let good = customer("ann");
    let (head, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let mut admin_claims = claims("ann", "customer", &["admin"]);
    admin_claims["iss"] = json!("cartql");
    let tampered = format!("{head}.{}.{signature}", b64(&admin_claims));
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("ann", "customer", &["admin"]))
    );

    let cases = [
        (sign(expired, Algorithm::HS256, secret), "expired"),
        (sign(future, Algorithm::HS256, secret), "not yet valid"),
        (sign(other_issuer, Algorithm::HS256, secret), "other issuer"),
        (sign(no_exp, Algorithm::HS256, secret), "no exp"),
        (sign(bad_kind, Algorithm::HS256, secret), "unknown kind"),
        (
            sign(
                claims("ann", "customer", &[]),
                Algorithm::HS256,
                b"another-secret-that-is-32-bytes-long!!",
            ),
            "wrong key",
        ),
        (
            sign(claims("ann", "customer", &[]), Algorithm::HS512, secret),
            "HS512 when HS256 is configured",
        ),
        (tampered, "tampered payload"),
        (alg_none, "alg none"),
        ("not-a-jwt".to_string(), "malformed"),
        ("a.b.c".to_string(), "garbage parts"),
    ];
    for (token, why) in &cases {
        assert_refused(&server, token, why).await;
    }
}

#[tokio::test]
async fn a_malformed_authorization_header_is_a_401() {
    let server = TestServer::spawn().await;
    for header in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "token abc",
        &customer("ann"),
    ] {
        let response = reqwest::Client::new()
            .post(format!("{}/graphql", server.base))
            .header("authorization", header)
            .json(&json!({ "query": "{ shop { currencyCode } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{header}");
        assert!(response.headers().contains_key("www-authenticate"));
    }
}

#[tokio::test]
async fn a_bad_token_on_a_get_request_is_a_401_too() {
    let server = TestServer::spawn().await;
    let response = reqwest::Client::new()
        .get(format!(
            "{}/graphql?query=%7Bshop%7BcurrencyCode%7D%7D",
            server.base
        ))
        .bearer_auth("a.b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn the_cli_token_is_accepted_by_the_server() {
    let server = TestServer::spawn().await;
    let output = std::process::Command::new(binary())
        .args([
            "token",
            "--subject",
            "ops",
            "--role",
            "admin",
            "--ttl",
            "10m",
        ])
        .env("CARTQL_JWT_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();
    let viewer = server
        .data(Some(&token), "{ viewer { id kind roles } }", json!({}))
        .await;
    assert_eq!(
        viewer["viewer"],
        json!({"id": "ops", "kind": "CUSTOMER", "roles": ["admin"]})
    );
}

#[tokio::test]
async fn without_a_configured_secret_the_generated_key_signs_cli_tokens() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let token = std::process::Command::new(binary())
        .args(["token", "--subject", "ann", "--guest", "--data-dir"])
        .arg(&data)
        .env_remove("CARTQL_JWT_SECRET")
        .output()
        .unwrap();
    assert!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("jwt-secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let mut child = tokio::process::Command::new(binary())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env_remove("CARTQL_JWT_SECRET")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let base = lines
        .next_line()
        .await
        .unwrap()
        .unwrap()
        .replace("cartql listening on ", "");
    let response = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(&token)
        .json(&json!({ "query": "{ viewer { id kind } }" }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["data"]["viewer"],
        json!({"id": "ann", "kind": "GUEST"})
    );
}
