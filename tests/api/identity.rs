//! Identity without server sessions: guest tokens, accounts, token renewal
//! and revocation, key rotation, external issuers, and guest carts that
//! survive log-in.

mod accounts;
mod external;
mod merge;
mod races;
mod renewal;
mod tokens;

use crate::helpers::*;
use crate::shop::{AUTH, PASSWORD, customer_account, log_in, sign_up, token_of};
use serde_json::{Value, json};

/// A fresh guest token.
pub async fn start_guest(server: &TestServer) -> String {
    let query = format!("mutation {{ startGuestSession {{ {AUTH} }} }}");
    let data = server.data(None, &query, json!({})).await;
    data["startGuestSession"]["token"]
        .as_str()
        .expect("a guest token")
        .to_string()
}

/// Every cart of a token's viewer as `{name: [(sku, quantity)]}`.
pub async fn carts_of(server: &TestServer, token: &str) -> Value {
    let data = server
        .data(
            Some(token),
            "{ carts { name lines { sku quantity } } }",
            json!({}),
        )
        .await;
    let mut carts = serde_json::Map::new();
    for cart in data["carts"].as_array().unwrap() {
        let lines: Vec<Value> = cart["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| json!([l["sku"], l["quantity"]]))
            .collect();
        if !lines.is_empty() {
            carts.insert(cart["name"].as_str().unwrap().to_string(), json!(lines));
        }
    }
    Value::Object(carts)
}

/// The HTTP status of a `{ viewer { id } }` request with `token`.
pub async fn status_with(server: &TestServer, token: &str) -> u16 {
    server
        .post(Some(token), json!({ "query": "{ viewer { id } }" }))
        .await
        .status()
        .as_u16()
}
