//! A token lifecycle that never strands a cart: one expiry signal on every
//! path, and a guest token that stays renewable while its cart can live.

use super::*;
use jsonwebtoken::Algorithm;

const DAY: i64 = 86_400;

const RENEW_GIVEN: &str = "mutation($t: String!) { renewToken(input: {token: $t}) { token expiresAt viewer { id kind expiresAt renewAfter renewableUntil } } }";

/// A built-in token for `sub` of `kind`, issued `age` seconds ago, expiring
/// at `exp`.
fn token_at(sub: &str, kind: &str, roles: &[&str], age: i64, exp: i64) -> String {
    let iat = now() - age;
    let claims = json!({ "sub": sub, "iss": "cartql", "iat": iat, "nbf": iat, "exp": exp, "kind": kind, "roles": roles });
    sign(claims, Algorithm::HS256, SECRET.as_bytes())
}

fn seconds(text: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text.as_str().unwrap())
        .unwrap()
        .timestamp()
}

#[tokio::test]
async fn a_guest_back_after_its_token_expired_renews_it_and_reaches_its_cart() {
    let server = TestServer::spawn().await;
    // The guest's cart changed just now; its token expired ten days ago
    // (issued forty days ago, as a 30-day token).
    add(&server, &guest("g"), "default", "MUG-LOGO", 2).await;
    let expired = token_at("g", "guest", &[], 40 * DAY, now() - 10 * DAY);

    // As the bearer it is refused the same way on every path: 401.
    for query in [
        "{ products(first: 1) { nodes { handle } } }",
        "{ viewer { id } }",
        "{ cart { version } }",
        "mutation { renewToken { token } }",
    ] {
        let response = server.post(Some(&expired), json!({ "query": query })).await;
        assert_eq!(response.status(), 401, "{query}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("invalid_token"), "{challenge}");
    }

    // Given as data, without the header, it is renewed for the same guest.
    let renewed = server
        .data(None, RENEW_GIVEN, json!({ "t": expired }))
        .await["renewToken"]
        .clone();
    assert_eq!(renewed["viewer"]["id"], "g");
    assert_eq!(renewed["viewer"]["kind"], "GUEST");
    let fresh = token_of(&renewed);
    assert_eq!(
        carts_of(&server, &fresh).await,
        json!({"default": [["MUG-LOGO", 2]]})
    );
    // The numbers a client needs: renew halfway, renewable for the guest
    // cart lifetime (30 days) after expiry.
    let viewer = &renewed["viewer"];
    let (issued, expires) = (now(), seconds(&viewer["expiresAt"]));
    assert!((expires - issued - 30 * DAY).abs() < 60, "{viewer}");
    assert!(
        (seconds(&viewer["renewAfter"]) - (issued + 15 * DAY)).abs() < 60,
        "{viewer}"
    );
    assert_eq!(
        seconds(&viewer["renewableUntil"]),
        expires + 30 * DAY,
        "{viewer}"
    );
    let asked = server
        .data(
            Some(&fresh),
            "{ viewer { renewAfter renewableUntil } }",
            json!({}),
        )
        .await;
    assert_eq!(asked["viewer"]["renewableUntil"], viewer["renewableUntil"]);
}

#[tokio::test]
async fn only_a_guest_token_within_its_window_and_not_revoked_is_renewed_as_data() {
    let server = TestServer::spawn().await;
    let refused = |token: String| {
        let server = &server;
        async move {
            let body = server.gql(None, RENEW_GIVEN, json!({ "t": token })).await;
            assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
            body["errors"][0]["message"].as_str().unwrap().to_string()
        }
    };
    // Past the window: no guest cart can still be alive.
    let message = refused(token_at("g", "guest", &[], 70 * DAY, now() - 31 * DAY)).await;
    assert!(message.contains("expired"), "{message}");
    // A customer's expired token: log in again.
    refused(token_at("c", "customer", &[], 8 * DAY, now() - 60)).await;
    // A guest token with roles (an admin's, say) is not stretched.
    refused(token_at("g", "guest", &["admin"], 2 * DAY, now() - 60)).await;
    // Forged, malformed, empty.
    let forged = {
        let iat = now();
        let claims = json!({ "sub": "g", "iss": "cartql", "iat": iat, "nbf": iat, "exp": iat - 60, "kind": "guest", "roles": [] });
        sign(
            claims,
            Algorithm::HS256,
            b"another-secret-that-is-32-bytes-long!!",
        )
    };
    refused(forged).await;
    refused("not.a.token".into()).await;
    refused(String::new()).await;
    let huge = server
        .gql(None, RENEW_GIVEN, json!({ "t": "x".repeat(9000) }))
        .await;
    assert!(huge["errors"].is_array(), "{huge}");

    // Revoked: the guest logged out everywhere after the token was issued.
    let expired = token_at("h", "guest", &[], 40 * DAY, now() - 10 * DAY);
    server
        .data(
            Some(&guest("h")),
            "mutation { logOutEverywhere }",
            json!({}),
        )
        .await;
    let message = refused(expired).await;
    assert!(message.contains("revoked"), "{message}");

    // An unexpired token renews as data too (a client that cannot set
    // headers on this request), and a customer's then keeps its rules.
    let live = customer_account(&server, "ann@example.com").await;
    let renewed = server.data(None, RENEW_GIVEN, json!({ "t": live })).await;
    assert_eq!(renewed["renewToken"]["viewer"]["kind"], "CUSTOMER");
}

#[tokio::test]
async fn within_the_clock_skew_leeway_every_path_still_accepts_the_token() {
    let server = TestServer::spawn().await;
    // Expired two seconds ago: inside the 5-second leeway.
    let just = token_at("g", "guest", &[], DAY, now() - 2);
    for query in [
        "{ products(first: 1) { nodes { handle } } }",
        "{ cart { version } }",
        "mutation { renewToken { token } }",
    ] {
        let body = server.data(Some(&just), query, json!({})).await;
        assert!(body.is_object(), "{query}: {body}");
    }
}
