//! Identity without server sessions: guest tokens, accounts, token renewal
//! and revocation, key rotation, external issuers, and guest carts that
//! survive log-in.

mod accounts;
mod external;
mod merge;
mod races;
mod tokens;

use crate::helpers::*;
use serde_json::{Value, json};

/// Every field of an `AuthPayload`.
pub const AUTH: &str = "token expiresAt viewer { id kind roles expiresAt } merge { strategy carts { name outcome guestLines cart { name version lines { sku quantity } } } adjustments { cart sku wanted kept message } } userErrors { code field message }";

/// A fresh guest token.
pub async fn start_guest(server: &TestServer) -> String {
    let query = format!("mutation {{ startGuestSession {{ {AUTH} }} }}");
    let data = server.data(None, &query, json!({})).await;
    data["startGuestSession"]["token"]
        .as_str()
        .expect("a guest token")
        .to_string()
}

/// `signUp`; returns the payload.
pub async fn sign_up(
    server: &TestServer,
    email: &str,
    password: &str,
    guest: Option<&str>,
) -> Value {
    let query = format!("mutation($input: SignUpInput!) {{ signUp(input: $input) {{ {AUTH} }} }}");
    let input = json!({ "email": email, "password": password, "guestToken": guest });
    server.data(None, &query, json!({ "input": input })).await["signUp"].clone()
}

/// `logIn` with an optional guest token and strategy; returns the payload.
pub async fn log_in(
    server: &TestServer,
    email: &str,
    password: &str,
    guest: Option<&str>,
    merge: Option<&str>,
) -> Value {
    let query = format!("mutation($input: LogInInput!) {{ logIn(input: $input) {{ {AUTH} }} }}");
    let mut input = json!({ "email": email, "password": password, "guestToken": guest });
    if let Some(merge) = merge {
        input["merge"] = json!(merge);
    }
    server.data(None, &query, json!({ "input": input })).await["logIn"].clone()
}

/// The token of a payload that must have one.
pub fn token_of(payload: &Value) -> String {
    payload["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {payload}"))
        .to_string()
}

/// A signed-up customer's token.
pub async fn customer_account(server: &TestServer, email: &str) -> String {
    let payload = sign_up(server, email, PASSWORD, None).await;
    assert_eq!(codes(&payload), Vec::<String>::new(), "{payload}");
    token_of(&payload)
}

/// A password that follows the rule.
pub const PASSWORD: &str = "correct horse battery";

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
