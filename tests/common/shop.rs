//! What the tests do as a shopper, over GraphQL, in more than one test
//! target: accounts, heavy cart lines, notes, checkouts and stock.

use crate::helpers::*;
use serde_json::{Value, json};

/// Every field of an `AuthPayload`.
pub const AUTH: &str = "token expiresAt viewer { id kind roles expiresAt } merge { strategy carts { name outcome guestLines cart { name version lines { sku quantity } } } adjustments { cart sku wanted kept message } } userErrors { code field message }";

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

/// `n` lines of one SKU told apart by a `line` attribute, each with nine
/// attributes of 250 bytes of two-byte characters: about 2.5 KB a line.
pub fn heavy_lines(n: usize, tag: &str) -> Value {
    let lines: Vec<Value> = (0..n)
        .map(|i| {
            let mut attributes = vec![json!({"key": "line", "value": format!("{tag}-{i}")})];
            attributes
                .extend((0..9).map(|k| json!({"key": format!("k{k}"), "value": "é".repeat(125)})));
            json!({"sku": "STICKER-PACK", "quantity": 1, "attributes": attributes})
        })
        .collect();
    Value::Array(lines)
}

/// `addCartLines` of `$lines` to `$cart`.
const ADD: &str = "mutation($cart: String!, $lines: [CartLineInput!]!) { addCartLines(input: {cart: $cart, lines: $lines}) { cart { version lines { id } } userErrors { code field message } } }";

/// `addCartLines` with `lines`; returns the payload.
pub async fn add_lines(server: &TestServer, token: &str, cart: &str, lines: Value) -> Value {
    server
        .data(Some(token), ADD, json!({"cart": cart, "lines": lines}))
        .await["addCartLines"]
        .clone()
}

/// `updateCartNote`; returns the payload.
pub async fn note(server: &TestServer, token: &str, cart: &str, text: &str) -> Value {
    server
        .data(
            Some(token),
            "mutation($cart: String!, $note: String) { updateCartNote(input: {cart: $cart, note: $note}) { cart { version } userErrors { code field message } } }",
            json!({"cart": cart, "note": text}),
        )
        .await["updateCartNote"]
        .clone()
}

/// The order fields the checkout tests read.
pub const ORDER: &str = "id status lines { sku title quantity unitPrice { amount } lineTotal { amount } } subtotal { amount currencyCode } total { amount } createdAt cartName cartVersion";

/// `checkout` of `$cart` (default 'default') with `$key` and an optional `$v`.
pub fn checkout_query() -> String {
    format!(
        "mutation($cart: String! = \"default\", $key: String!, $v: Int) {{ checkout(input: {{cart: $cart, idempotencyKey: $key, expectedVersion: $v}}) {{ order {{ {ORDER} }} cart {{ version lines {{ sku quantity }} }} userErrors {{ code field message }} }} }}"
    )
}

/// `checkout` of the default cart with `key`; returns the payload.
pub async fn checkout(server: &TestServer, token: &str, key: &str) -> Value {
    server
        .data(Some(token), &checkout_query(), json!({ "key": key }))
        .await["checkout"]
        .clone()
}

/// The stock of a variant.
pub async fn stock(server: &TestServer, sku: &str) -> Value {
    server
        .data(
            None,
            "query($sku: String!) { variant(sku: $sku) { stock } }",
            json!({ "sku": sku }),
        )
        .await["variant"]["stock"]
        .clone()
}
