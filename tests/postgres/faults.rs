//! Database faults: PostgreSQL terminates the server's connections every
//! second under load. Reads answer (each is tried again once on another
//! connection); a write that had not committed is tried again once; a write
//! whose commit lost its answer says `OUTCOME_UNKNOWN`, never `INTERNAL`,
//! and a write answered `INTERNAL` was not made.

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What a request was answered: `OK`, its error's code, or the refusal.
fn outcome(body: &Value, field: &str) -> String {
    match body["errors"][0]["extensions"]["code"].as_str() {
        Some(code) => code.to_string(),
        None => match &body["data"][field]["userErrors"] {
            Value::Array(errors) if !errors.is_empty() => format!("refused: {errors:?}"),
            _ if body["data"][field].is_object() => "OK".to_string(),
            _ => format!("odd: {body}"),
        },
    }
}

#[tokio::test]
async fn terminated_connections_cost_no_read_and_no_write_answers_internal_for_a_commit() {
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    let limits = [
        "--viewer-write-rate",
        "60000",
        "--client-write-rate",
        "600000",
        "--max-quantity-per-line",
        "10000",
    ];
    let server = Arc::new(TestServer::spawn_on(&database.url(), &limits).await);
    let stop = Arc::new(AtomicBool::new(false));

    // Every second, every connection to the test's database is terminated.
    let killer = {
        let (stop, name) = (stop.clone(), database.name.clone());
        let admin = sqlx::PgPool::connect(&database_url("postgres"))
            .await
            .unwrap();
        tokio::spawn(async move {
            let mut rounds = 0;
            while !stop.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(200)).await;
                sqlx::query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                )
                .bind(&name)
                .execute(&admin)
                .await
                .unwrap();
                rounds += 1;
            }
            rounds
        })
    };

    // Eight writers, each adding one unit at a time to its own cart; eight
    // readers reading a cart and the catalog.
    let add = "mutation { addCartLines(input: {lines: [{sku: \"STICKER-PACK\", quantity: 1}]}) { cart { version } userErrors { code } } }";
    let read = "{ cart { version lines { quantity } } products(first: 5) { nodes { handle } } }";
    let writers = (0..8).map(|n| {
        let (server, stop) = (server.clone(), stop.clone());
        tokio::spawn(async move {
            let token = customer(&format!("fault-writer-{n}"));
            let mut answers: HashMap<String, u64> = HashMap::new();
            while !stop.load(Ordering::SeqCst) {
                let body = server
                    .try_post(Some(&token), json!({ "query": add }))
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap();
                *answers.entry(outcome(&body, "addCartLines")).or_default() += 1;
            }
            (token, answers)
        })
    });
    let writers: Vec<_> = writers.collect();
    let readers = (0..8).map(|n| {
        let (server, stop) = (server.clone(), stop.clone());
        tokio::spawn(async move {
            let token = customer(&format!("fault-reader-{n}"));
            let mut answers: HashMap<String, u64> = HashMap::new();
            while !stop.load(Ordering::SeqCst) {
                let body = server
                    .try_post(Some(&token), json!({ "query": read }))
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap();
                *answers.entry(outcome(&body, "cart")).or_default() += 1;
            }
            answers
        })
    });
    let readers: Vec<_> = readers.collect();
    // Four buyers checking out one sticker at a time, each checkout with its
    // own key, tried again with that key until it is answered.
    let checkout = "mutation($key: String!) { checkoutLines(input: {lines: [{sku: \"STICKER-PACK\", quantity: 1}], idempotencyKey: $key}) { order { id } userErrors { code } } }";
    let buyers = (0..4).map(|n| {
        let (server, stop) = (server.clone(), stop.clone());
        tokio::spawn(async move {
            let token = customer(&format!("fault-buyer-{n}"));
            let mut answers: HashMap<String, u64> = HashMap::new();
            let mut orders = Vec::new();
            // (A viewer may hold 50 idempotency keys at once by default.)
            while !stop.load(Ordering::SeqCst) && orders.len() < 40 {
                let key = format!("fault-{n}-{}", orders.len());
                for tries in 1.. {
                    assert!(tries <= 20, "{key} never answered OK: {answers:?}");
                    let body = server
                        .try_post(
                            Some(&token),
                            json!({ "query": checkout, "variables": { "key": key } }),
                        )
                        .await
                        .unwrap()
                        .json::<Value>()
                        .await
                        .unwrap();
                    let answer = outcome(&body, "checkoutLines");
                    *answers.entry(answer.clone()).or_default() += 1;
                    if answer == "OK" {
                        orders.push(
                            body["data"]["checkoutLines"]["order"]["id"]
                                .as_str()
                                .unwrap()
                                .to_string(),
                        );
                        break;
                    }
                }
            }
            (token, answers, orders)
        })
    });
    let buyers: Vec<_> = buyers.collect();

    tokio::time::sleep(Duration::from_secs(12)).await;
    stop.store(true, Ordering::SeqCst);
    let rounds = killer.await.unwrap();

    let mut reads: HashMap<String, u64> = HashMap::new();
    for reader in readers {
        for (answer, count) in reader.await.unwrap() {
            *reads.entry(answer).or_default() += count;
        }
    }
    let mut writes: HashMap<String, u64> = HashMap::new();
    let query = "{ cart { lines { quantity } } }";
    for writer in writers {
        let (token, answers) = writer.await.unwrap();
        let ok = answers.get("OK").copied().unwrap_or(0);
        let unknown = answers.get("OUTCOME_UNKNOWN").copied().unwrap_or(0);
        let cart = server.data(Some(&token), query, json!({})).await;
        let units = cart["cart"]["lines"][0]["quantity"].as_u64().unwrap_or(0);
        // Every acknowledged add is there; beyond them, only adds whose
        // outcome was unknown may be: none answered otherwise was made.
        assert!(
            ok <= units && units <= ok + unknown,
            "{units} units after {answers:?}"
        );
        for (answer, count) in answers {
            *writes.entry(answer).or_default() += count;
        }
    }
    // Each key placed one order, whatever its tries were answered.
    let mut checkouts: HashMap<String, u64> = HashMap::new();
    let orders_query = "{ orders(first: 100) { nodes { id } } }";
    for buyer in buyers {
        let (token, answers, mut placed) = buyer.await.unwrap();
        let listed = server.data(Some(&token), orders_query, json!({})).await;
        let mut listed: Vec<String> = listed["orders"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect();
        listed.sort();
        placed.sort();
        assert_eq!(listed, placed, "one order per key: {answers:?}");
        for (answer, count) in answers {
            *checkouts.entry(answer).or_default() += count;
        }
    }
    eprintln!(
        "{rounds} rounds of terminations; reads {reads:?}; writes {writes:?}; checkouts {checkouts:?}"
    );
    assert!(
        rounds >= 10,
        "the connections were terminated {rounds} times"
    );
    assert!(
        reads["OK"] > 100 && writes["OK"] > 100,
        "{reads:?} {writes:?}"
    );
    let failed_reads: u64 = reads
        .iter()
        .filter(|(answer, _)| *answer != "OK")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(failed_reads, 0, "every read answered: {reads:?}");
}
