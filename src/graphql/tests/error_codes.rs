//! Which failure gets which code: business failures are userErrors in the
//! payload; request problems are top-level errors with their code.

use super::*;

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
    shop.advance(Duration::seconds(11)).await;
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
