//! Which failure gets which code: business failures are userErrors in the
//! payload; request problems are top-level errors with their code.

use super::*;
use crate::auth::token::LEEWAY_SECONDS;

#[tokio::test(start_paused = true)]
async fn a_cart_operation_without_a_viewer_is_unauthenticated() {
    let shop = Shop::open().await;
    for query in [
        "{ cart { version } }",
        "{ carts { name } }",
        "{ orders { nodes { id } } }",
    ] {
        let response = shop.run(None, query, Value::Null).await;
        assert_eq!(error_code(&response), "UNAUTHENTICATED", "{query}");
    }
    let response = shop
        .run(None, ADD, serde_json::json!({ "sku": "MUG-LOGO", "q": 1 }))
        .await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
}

#[tokio::test(start_paused = true)]
async fn an_expired_token_on_a_long_connection_is_unauthenticated() {
    let shop = Shop::open().await;
    let mut ann = shop.viewer("ann", ViewerKind::Customer, &[]);
    ann.expires_at = shop.clock.now() + Duration::seconds(10);
    assert!(
        shop.run(Some(&ann), "{ cart { version } }", Value::Null)
            .await["errors"]
            .is_null()
    );
    // Within the clock-skew leeway the token still works, as the HTTP edge
    // would still accept it: one expiry instant on every path.
    shop.advance(Duration::seconds(11)).await;
    let within = shop
        .run(Some(&ann), "{ cart { version } }", Value::Null)
        .await;
    assert!(within["errors"].is_null(), "{within}");
    shop.advance(Duration::seconds(LEEWAY_SECONDS as i64)).await;
    let response = shop
        .run(Some(&ann), "{ cart { version } }", Value::Null)
        .await;
    assert_eq!(error_code(&response), "UNAUTHENTICATED");
}

#[tokio::test(start_paused = true)]
async fn an_admin_mutation_without_the_role_is_forbidden() {
    let shop = Shop::open().await;
    let ann = shop.viewer("ann", ViewerKind::Customer, &[]);
    let query =
        "mutation { adjustStock(input: {sku: \"MUG-LOGO\", delta: 1}) { userErrors { code } } }";
    let response = shop.run(Some(&ann), query, Value::Null).await;
    assert_eq!(error_code(&response), "FORBIDDEN");
    let admin = shop.viewer("ops", ViewerKind::Customer, &["admin"]);
    let data = shop.data(Some(&admin), query, Value::Null).await;
    assert!(codes(&data["adjustStock"]).is_empty());
}

#[tokio::test(start_paused = true)]
async fn business_failures_are_user_errors_with_their_field() {
    let shop = Shop::open().await;
    let ann = shop.viewer("ann", ViewerKind::Guest, &[]);
    let add = |sku: &str, q: i64| serde_json::json!({ "sku": sku, "q": q });
    let data = shop.data(Some(&ann), ADD, add("NO-SUCH", 1)).await;
    assert_eq!(codes(&data["addCartLines"]), ["UNKNOWN_SKU"]);
    assert_eq!(
        data["addCartLines"]["userErrors"][0]["field"],
        serde_json::json!(["lines", "0", "sku"])
    );
    let data = shop.data(Some(&ann), ADD, add("MUG-LOGO", 0)).await;
    assert_eq!(codes(&data["addCartLines"]), ["INVALID_QUANTITY"]);
    let data = shop.data(Some(&ann), ADD, add("POSTER-2019", 1)).await;
    assert_eq!(codes(&data["addCartLines"]), ["PRODUCT_INACTIVE"]);
    let bad_name = serde_json::json!({ "cart": "no spaces allowed", "sku": "MUG-LOGO", "q": 1 });
    let data = shop.data(Some(&ann), ADD, bad_name).await;
    assert_eq!(codes(&data["addCartLines"]), ["INVALID_CART_NAME"]);
    assert!(data["addCartLines"]["cart"].is_null());
    let stale = serde_json::json!({ "sku": "MUG-LOGO", "q": 1, "v": 7 });
    let data = shop.data(Some(&ann), ADD, stale).await;
    assert_eq!(codes(&data["addCartLines"]), ["VERSION_CONFLICT"]);
    assert_eq!(
        data["addCartLines"]["cart"]["version"], 0,
        "the payload has the cart as it is"
    );
}

#[tokio::test(start_paused = true)]
async fn request_problems_are_top_level_errors_with_their_code() {
    let shop = Shop::open().await;
    let ann = shop.viewer("ann", ViewerKind::Guest, &[]);
    for (query, code) in [
        ("{ cart(name: 5) { version } }", "BAD_USER_INPUT"),
        ("{ nope }", "BAD_USER_INPUT"),
        ("{ cart { version ", "BAD_USER_INPUT"),
        ("{ orders(first: 1000) { nodes { id } } }", "BAD_USER_INPUT"),
        (
            "{ cart(name: \"has space\") { version } }",
            "BAD_USER_INPUT",
        ),
        (
            "{ a{b{c{d{e{f{g{h{i{j{k{l{m{n{o{p{q{r}}}}}}}}}}}}}}}}} }",
            "QUERY_TOO_COMPLEX",
        ),
    ] {
        let response = shop.run(Some(&ann), query, Value::Null).await;
        assert_eq!(error_code(&response), code, "{query}: {response}");
    }
    // A variable that does not coerce is the client's doing, not ours.
    let response = shop
        .run(
            Some(&ann),
            ADD,
            serde_json::json!({ "sku": "MUG-LOGO", "q": 1, "v": -1 }),
        )
        .await;
    assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
}

/// A document is validated in full the first time; later requests with the
/// same text skip that, and their variables are still checked before
/// anything runs (engine.rs, variables.rs).
#[tokio::test(start_paused = true)]
async fn variables_are_checked_before_anything_runs_however_often_the_document_was_seen() {
    let shop = Shop::open().await;
    let ann = shop.viewer("ann", ViewerKind::Guest, &[]);
    // Two mutations in one document run in order; the second's variable is
    // the one that is wrong.
    let two = "mutation($sku: String!, $q: Int!, $q2: Int!) { \
        a: addCartLines(input: {lines: [{sku: $sku, quantity: $q}]}) { cart { version } } \
        b: addCartLines(input: {lines: [{sku: $sku, quantity: $q2}]}) { cart { version } } }";
    let good = serde_json::json!({ "sku": "MUG-LOGO", "q": 1, "q2": 1 });
    for _ in 0..2 {
        let response = shop.run(Some(&ann), two, good.clone()).await;
        assert!(response["errors"].is_null(), "{response}");
    }
    let read = "{ cart { version } }";
    let before = shop.data(Some(&ann), read, Value::Null).await;
    for bad in [
        serde_json::json!({ "sku": "MUG-LOGO", "q": 1 }),
        serde_json::json!({ "sku": "MUG-LOGO", "q": 1, "q2": null }),
        serde_json::json!({ "sku": "MUG-LOGO", "q": 1, "q2": "two" }),
        serde_json::json!({ "sku": "MUG-LOGO", "q": 1, "q2": [1, 2] }),
        serde_json::json!({ "sku": 7, "q": 1, "q2": 1 }),
    ] {
        let response = shop.run(Some(&ann), two, bad.clone()).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{bad}: {response}");
        assert!(response["data"].is_null(), "nothing ran: {response}");
    }
    let after = shop.data(Some(&ann), read, Value::Null).await;
    assert_eq!(after, before, "no mutation ran");
}

#[tokio::test(start_paused = true)]
async fn a_document_that_failed_validation_fails_it_every_time() {
    let shop = Shop::open().await;
    let ann = shop.viewer("ann", ViewerKind::Guest, &[]);
    // Valid until a variable is given: the literal `quantity: "x"` is wrong
    // whatever $cart is.
    let wrong = "mutation($cart: String) { addCartLines(input: {cart: $cart, lines: [{sku: \"MUG-LOGO\", quantity: \"x\"}]}) { cart { version } } }";
    for variables in [
        serde_json::json!({}),
        serde_json::json!({ "cart": "default" }),
        serde_json::json!({ "cart": "default" }),
        serde_json::json!({}),
    ] {
        let response = shop.run(Some(&ann), wrong, variables.clone()).await;
        assert_eq!(
            error_code(&response),
            "BAD_USER_INPUT",
            "{variables}: {response}"
        );
        assert!(response["data"].is_null(), "{response}");
    }
    let unknown = "{ cart { version nope } }";
    for _ in 0..2 {
        let response = shop.run(Some(&ann), unknown, Value::Null).await;
        assert_eq!(error_code(&response), "BAD_USER_INPUT", "{response}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_shape_says_its_cost_or_depth_and_the_limit() {
    let shop = Shop::open().await;
    // 100 products × 100 variants × three fields: far over the 25,000 here.
    let grid = "query Grid($n: Int!) { products(first: $n) { nodes { title variants { sku title price { amount } } } } }";
    let response = shop.run(None, grid, serde_json::json!({ "n": 100 })).await;
    assert_eq!(error_code(&response), "QUERY_TOO_COMPLEX", "{response}");
    let error = &response["errors"][0];
    let cost = error["extensions"]["cost"].as_u64().expect("the cost");
    assert_eq!(error["extensions"]["limit"], 25_000, "{response}");
    assert!(cost > 25_000, "{response}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(&cost.to_string()) && message.contains("25000"),
        "{message}"
    );
    // The same document with variables that fit runs (and is remembered);
    // asked for more again, the refusal is measured the same way.
    let fits = shop.run(None, grid, serde_json::json!({ "n": 2 })).await;
    assert!(fits.get("errors").is_none(), "{fits}");
    let again = shop.run(None, grid, serde_json::json!({ "n": 100 })).await;
    assert_eq!(again["errors"][0]["extensions"]["cost"], cost, "{again}");
    // Too deep: the depth and its limit (16 here).
    // Too deep but cheap (introspection fields cost one each).
    let deep = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } } } } } }";
    let response = shop.run(None, deep, Value::Null).await;
    assert_eq!(error_code(&response), "QUERY_TOO_COMPLEX", "{response}");
    let error = &response["errors"][0];
    assert_eq!(error["extensions"]["limit"], 16, "{response}");
    assert!(
        error["extensions"]["depth"].as_u64().unwrap() > 16,
        "{response}"
    );
}
