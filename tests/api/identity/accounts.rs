//! Guest sessions, sign-up, log-in, and throttling of failed log-ins.

use super::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_guest_session_is_a_signed_guest_token_that_owns_carts() {
    let server = TestServer::spawn_with(&["--guest-token-ttl", "2h"]).await;
    let query = format!("mutation {{ startGuestSession {{ {AUTH} }} }}");
    let payload = server.data(None, &query, json!({})).await["startGuestSession"].clone();
    assert_eq!(codes(&payload), Vec::<String>::new());
    assert_eq!(payload["viewer"]["kind"], "GUEST");
    assert_eq!(payload["viewer"]["roles"], json!([]));
    assert_eq!(payload["merge"], Value::Null);
    let expires: chrono::DateTime<chrono::Utc> =
        payload["expiresAt"].as_str().unwrap().parse().unwrap();
    let lifetime = expires.timestamp() - now();
    assert!((7190..=7200).contains(&lifetime), "{lifetime}");
    assert_eq!(payload["viewer"]["expiresAt"], payload["expiresAt"]);

    let token = token_of(&payload);
    let added = add(&server, &token, "default", "MUG-LOGO", 2).await;
    assert_eq!(codes(&added), Vec::<String>::new());
    let viewer = server
        .data(Some(&token), "{ viewer { id kind } }", json!({}))
        .await;
    assert_eq!(viewer["viewer"]["id"], payload["viewer"]["id"]);
    assert_eq!(viewer["viewer"]["kind"], "GUEST");

    let other = start_guest(&server).await;
    assert_ne!(other, token);
    assert_eq!(carts_of(&server, &other).await, json!({}));
}

#[tokio::test]
async fn guest_tokens_last_30_days_by_default() {
    let server = TestServer::spawn().await;
    let query = "mutation { startGuestSession { expiresAt } }";
    let data = server.data(None, query, json!({})).await;
    let expires: chrono::DateTime<chrono::Utc> = data["startGuestSession"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let days = (expires.timestamp() - now()) as f64 / 86_400.0;
    assert!((29.99..=30.0).contains(&days), "{days}");
}

#[tokio::test]
async fn a_customer_signs_up_and_logs_in_with_any_case_of_the_email() {
    let server = TestServer::spawn().await;
    let signed_up = sign_up(&server, "  Ann.Lee@Example.COM ", PASSWORD, None).await;
    assert_eq!(codes(&signed_up), Vec::<String>::new(), "{signed_up}");
    assert_eq!(signed_up["viewer"]["kind"], "CUSTOMER");
    let id = signed_up["viewer"]["id"].clone();

    let logged_in = log_in(&server, "ann.lee@example.com", PASSWORD, None, None).await;
    assert_eq!(codes(&logged_in), Vec::<String>::new(), "{logged_in}");
    assert_eq!(logged_in["viewer"]["id"], id);
    let token = token_of(&logged_in);
    add(&server, &token, "default", "TEE-BLK-M", 1).await;
    let again = token_of(&log_in(&server, "ANN.LEE@example.com", PASSWORD, None, None).await);
    assert_eq!(
        carts_of(&server, &again).await,
        json!({"default": [["TEE-BLK-M", 1]]}),
        "the account's carts follow it from token to token"
    );
}

#[tokio::test]
async fn sign_up_refuses_taken_emails_weak_passwords_and_odd_emails() {
    let server = TestServer::spawn().await;
    customer_account(&server, "ann@example.com").await;
    let taken = sign_up(&server, "ANN@example.com", "another good one", None).await;
    assert_eq!(codes(&taken), ["EMAIL_TAKEN"]);
    assert_eq!(taken["token"], Value::Null);
    assert_eq!(taken["userErrors"][0]["field"], json!(["email"]));

    let long_password = "ab".repeat(50_000);
    for weak in [
        "short",
        "aaaaaaaaaaaaaaaa",
        "bob@example.com",
        long_password.as_str(),
    ] {
        let payload = sign_up(&server, "bob@example.com", weak, None).await;
        assert_eq!(codes(&payload), ["WEAK_PASSWORD"], "{weak:.20}");
        let message = payload["userErrors"][0]["message"].as_str().unwrap();
        assert!(message.contains("10 to 128 characters"), "{message}");
    }
    let huge_email = format!("{}@example.com", "a".repeat(100_000));
    for odd in [
        "",
        "bob",
        "bob@localhost",
        "bob @example.com",
        "bob\u{0}@example.com",
        "<bob>@example.com",
        huge_email.as_str(),
    ] {
        let payload = sign_up(&server, odd, PASSWORD, None).await;
        assert_eq!(codes(&payload), ["INVALID_EMAIL"], "{odd:.40}");
        assert!(payload["userErrors"][0]["message"].as_str().unwrap().len() < 200);
    }
    let unicode = sign_up(&server, "zoë@exämple.com", "pässwörd ünïcode", None).await;
    assert_eq!(codes(&unicode), Vec::<String>::new(), "{unicode}");
    let back = log_in(&server, "ZOË@EXÄMPLE.COM", "pässwörd ünïcode", None, None).await;
    assert_eq!(codes(&back), Vec::<String>::new(), "{back}");
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_answer_in_similar_time() {
    let server = TestServer::spawn_with(&["--login-max-failures", "100"]).await;
    customer_account(&server, "ann@example.com").await;
    let mut unknown_times = Vec::new();
    let mut wrong_times = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let unknown = log_in(&server, "nobody@example.com", PASSWORD, None, None).await;
        unknown_times.push(started.elapsed());
        let started = Instant::now();
        let wrong = log_in(&server, "ann@example.com", "wrong password!", None, None).await;
        wrong_times.push(started.elapsed());
        answers.push((unknown, wrong));
    }
    for (unknown, wrong) in &answers {
        assert_eq!(unknown, wrong, "the same payload, code and message");
        assert_eq!(codes(unknown), ["INVALID_CREDENTIALS"]);
        assert_eq!(unknown["token"], Value::Null);
    }
    unknown_times.sort();
    wrong_times.sort();
    let (unknown, wrong) = (unknown_times[2], wrong_times[2]);
    // Both verify a hash; without the dummy hash an unknown email would
    // answer an order of magnitude faster.
    assert!(
        unknown * 3 > wrong && wrong * 3 > unknown,
        "median unknown {unknown:?} vs wrong {wrong:?}"
    );
}

#[tokio::test]
async fn repeated_failures_for_an_email_are_throttled_and_recover_after_the_window() {
    let server =
        TestServer::spawn_with(&["--login-max-failures", "2", "--login-failure-window", "2s"])
            .await;
    customer_account(&server, "ann@example.com").await;
    for _ in 0..2 {
        let wrong = log_in(&server, "ann@example.com", "wrong password!", None, None).await;
        assert_eq!(codes(&wrong), ["INVALID_CREDENTIALS"]);
    }
    let throttled = log_in(&server, " ANN@example.com", PASSWORD, None, None).await;
    assert_eq!(
        codes(&throttled),
        ["THROTTLED"],
        "even the right password waits"
    );
    assert_eq!(throttled["token"], Value::Null);
    let message = throttled["userErrors"][0]["message"].as_str().unwrap();
    assert!(message.contains("try again in"), "{message}");
    let other = customer_account(&server, "bob@example.com").await;
    assert!(!other.is_empty());
    let bob = log_in(&server, "bob@example.com", PASSWORD, None, None).await;
    assert_eq!(
        codes(&bob),
        Vec::<String>::new(),
        "other emails are not affected"
    );
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_throttled_across_emails() {
    let server = TestServer::spawn_with(&[
        "--login-max-failures-per-client",
        "3",
        "--login-failure-window",
        "2s",
    ])
    .await;
    customer_account(&server, "ann@example.com").await;
    for i in 0..3 {
        let email = format!("guess{i}@example.com");
        let payload = log_in(&server, &email, PASSWORD, None, None).await;
        assert_eq!(codes(&payload), ["INVALID_CREDENTIALS"]);
    }
    let throttled = log_in(&server, "ann@example.com", PASSWORD, None, None).await;
    assert_eq!(codes(&throttled), ["THROTTLED"]);
    // The window's end is tested in-process, on a clock the test moves
    // (src/graphql/tests/expiry.rs).
}

#[tokio::test]
async fn hostile_log_in_input_is_refused_plainly() {
    let server = TestServer::spawn_with(&["--login-max-failures", "100"]).await;
    let huge = "x".repeat(100_000);
    for (email, password) in [
        (huge.as_str(), PASSWORD),
        ("ann@example.com", huge.as_str()),
        ("", ""),
        ("\u{0}", "\u{0}"),
    ] {
        let payload = log_in(&server, email, password, None, None).await;
        assert_eq!(codes(&payload), ["INVALID_CREDENTIALS"]);
    }
}

#[tokio::test]
async fn password_hashing_does_not_hold_up_other_requests() {
    let server =
        std::sync::Arc::new(TestServer::spawn_with(&["--password-hash-concurrency", "1"]).await);
    let mut sign_ups = Vec::new();
    for i in 0..8 {
        let server = server.clone();
        sign_ups.push(tokio::spawn(async move {
            sign_up(&server, &format!("user{i}@example.com"), PASSWORD, None).await;
            Instant::now()
        }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    server
        .data(None, "{ shop { currencyCode } }", json!({}))
        .await;
    let answered = Instant::now();
    let mut last = answered;
    for task in sign_ups {
        last = last.max(task.await.unwrap());
    }
    assert!(
        answered < last,
        "a query answers while eight hashes wait for the one permit"
    );
}
