//! On PostgreSQL, one owner's writes queue without holding connections.

use crate::helpers::*;
use crate::shop::note;
use serde_json::json;
use std::sync::Arc;

#[tokio::test]
async fn one_owner_s_writes_never_wait_on_its_row_lock_holding_a_pooled_connection() {
    let server = Arc::new(
        TestServer::spawn_with(&[
            "--database-max-connections",
            "4",
            "--viewer-write-burst",
            "10000",
            "--viewer-write-rate",
            "60000",
            "--client-write-burst",
            "100000",
            "--client-write-rate",
            "600000",
        ])
        .await,
    );
    let url = server.database_url.clone().unwrap();
    let token = guest("hammer");
    let writers: Vec<_> = (0..16)
        .map(|i| {
            let (server, token) = (server.clone(), token.clone());
            tokio::spawn(async move {
                for n in 0..15 {
                    let cart = format!("c{}", i % 4);
                    let payload = note(&server, &token, &cart, &format!("{i}-{n}")).await;
                    assert_eq!(codes(&payload), Vec::<String>::new(), "{payload}");
                }
            })
        })
        .collect();
    // Meanwhile: does any cartql connection wait on a row lock (a tuple, or
    // the transaction holding it: the lock NOTIFY takes at commit is shared
    // by every database of the cluster, so other tests' commits are not
    // counted), and does another visitor's read get an answer?
    let watcher = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let other = customer("other-visitor");
    let mut most_waiting = 0i64;
    let mut reads = 0;
    while writers.iter().any(|w| !w.is_finished()) {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'cartql'
               AND wait_event_type = 'Lock' AND wait_event IN ('tuple', 'transactionid')",
        )
        .fetch_one(&watcher)
        .await
        .unwrap();
        most_waiting = most_waiting.max(waiting);

        let read = server
            .gql(Some(&other), "{ cart { version } }", json!({}))
            .await;
        assert!(read.get("errors").is_none(), "{read}");
        reads += 1;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(reads > 0);
    assert_eq!(
        most_waiting, 0,
        "no connection waited on one owner's row lock"
    );
}
