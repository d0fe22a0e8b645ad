//! The cart as a resource: flow, user errors, versions, isolation, races.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn a_new_viewer_has_an_empty_default_cart_at_version_zero() {
    let server = TestServer::spawn().await;
    let data = server
        .data(
            Some(&customer("ann")),
            &format!("{{ cart {{ {CART} expiresAt }} carts {{ name }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(data["cart"]["name"], "default");
    assert_eq!(data["cart"]["version"], 0);
    assert_eq!(data["cart"]["lines"], json!([]));
    assert_eq!(
        data["cart"]["subtotal"],
        json!({"amount": "0.00", "currencyCode": "USD"})
    );
    assert_eq!(data["cart"]["expiresAt"], json!(null));
    assert_eq!(data["carts"], json!([]));
}

#[tokio::test]
async fn the_whole_cart_flow_prices_from_the_catalog_and_bumps_versions() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    let first = add(&server, &token, "default", "MUG-LOGO", 2).await;
    assert_eq!(codes(&first), Vec::<String>::new());
    assert_eq!(first["cart"]["version"], 1);
    assert_eq!(first["cart"]["subtotal"]["amount"], "19.00");

    let second = add(&server, &token, "default", "MUG-LOGO", 1).await;
    assert_eq!(
        second["cart"]["lines"],
        json!([{"sku": "MUG-LOGO", "quantity": 3, "unitPrice": {"amount": "9.50"}, "lineTotal": {"amount": "28.50"}}])
    );
    add(&server, &token, "default", "TEE-BLK-M", 1).await;

    let update = format!(
        "mutation {{ updateCartLines(input: {{lines: [{{id: \"1-0\", quantity: 1}}], expectedVersion: 3}}) {{ cart {{ {CART} }} userErrors {{ code }} }} }}"
    );
    let updated = server.data(Some(&token), &update, json!({})).await["updateCartLines"].clone();
    assert_eq!(codes(&updated), Vec::<String>::new());
    assert_eq!(updated["cart"]["version"], 4);
    assert_eq!(updated["cart"]["totalQuantity"], 2);
    assert_eq!(updated["cart"]["subtotal"]["amount"], "29.49");

    let remove = format!(
        "mutation {{ removeCartLines(input: {{lineIds: [\"1-0\"]}}) {{ cart {{ {CART} }} userErrors {{ code }} }} }}"
    );
    let removed = server.data(Some(&token), &remove, json!({})).await["removeCartLines"].clone();
    assert_eq!(removed["cart"]["lines"].as_array().unwrap().len(), 1);
    assert_eq!(removed["cart"]["version"], 5);

    let clear = format!(
        "mutation {{ clearCart(input: {{}}) {{ cart {{ {CART} }} userErrors {{ code }} }} }}"
    );
    let cleared = server.data(Some(&token), &clear, json!({})).await["clearCart"].clone();
    assert_eq!(cleared["cart"]["lines"], json!([]));
    assert_eq!(cleared["cart"]["version"], 6);

    let read = server
        .data(Some(&token), &format!("{{ cart {{ {CART} }} }}"), json!({}))
        .await;
    assert_eq!(read["cart"], cleared["cart"]);
}

#[tokio::test]
async fn setting_a_quantity_to_zero_removes_the_line_and_no_op_changes_keep_the_version() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 2).await;
    let update = "mutation($q: Int!) { updateCartLines(input: {lines: [{id: \"1-0\", quantity: $q}]}) { cart { version lines { sku } } userErrors { code } } }";
    let same = server.data(Some(&token), update, json!({"q": 2})).await;
    assert_eq!(same["updateCartLines"]["cart"]["version"], 1);
    let zero = server.data(Some(&token), update, json!({"q": 0})).await;
    assert_eq!(
        zero["updateCartLines"]["cart"],
        json!({"version": 2, "lines": []})
    );
}

#[tokio::test]
async fn replace_cart_pushes_a_client_held_cart() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 2).await;
    let replace = "mutation { replaceCart(input: {lines: [{sku: \"TEE-BLK-M\", quantity: 2}, {sku: \"STICKER-PACK\", quantity: 5}], expectedVersion: 1}) { cart { version lines { sku quantity } subtotal { amount } } userErrors { code } } }";
    let payload = server.data(Some(&token), replace, json!({})).await["replaceCart"].clone();
    assert_eq!(codes(&payload), Vec::<String>::new());
    assert_eq!(
        payload["cart"]["lines"],
        json!([{"sku": "TEE-BLK-M", "quantity": 2}, {"sku": "STICKER-PACK", "quantity": 5}])
    );
    assert_eq!(payload["cart"]["subtotal"]["amount"], "59.98");
    assert_eq!(payload["cart"]["version"], 2);
}

#[tokio::test]
async fn a_stale_expected_version_is_a_conflict_that_returns_the_current_cart() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    add(&server, &token, "default", "MUG-LOGO", 1).await; // the other tab
    let stale = format!(
        "mutation {{ addCartLines(input: {{lines: [{{sku: \"TEE-BLK-M\", quantity: 1}}], expectedVersion: 1}}) {{ cart {{ {CART} }} userErrors {{ code field message }} }} }}"
    );
    let payload = server.data(Some(&token), &stale, json!({})).await["addCartLines"].clone();
    assert_eq!(codes(&payload), ["VERSION_CONFLICT"]);
    assert_eq!(
        payload["userErrors"][0]["field"],
        json!(["expectedVersion"])
    );
    assert_eq!(payload["cart"]["version"], 2);
    assert_eq!(
        payload["cart"]["lines"],
        json!([{"sku": "MUG-LOGO", "quantity": 2, "unitPrice": {"amount": "9.50"}, "lineTotal": {"amount": "19.00"}}])
    );
}

#[tokio::test]
async fn each_bad_line_gets_its_own_user_error_and_nothing_changes() {
    let server = TestServer::spawn_with(&["--max-quantity-per-line", "5"]).await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    let query = "mutation { addCartLines(input: {lines: [
        {sku: \"NOPE\", quantity: 1}, {sku: \"POSTER-2019\", quantity: 1}, {sku: \"MUG-LOGO\", quantity: 0},
        {sku: \"MUG-LOGO\", quantity: -3}, {sku: \"MUG-LOGO\", quantity: 6}, {sku: \"bad sku\", quantity: 1}]})
        { cart { version lines { quantity } } userErrors { code field } } }";
    let payload = server.data(Some(&token), query, json!({})).await["addCartLines"].clone();
    assert_eq!(
        codes(&payload),
        [
            "UNKNOWN_SKU",
            "PRODUCT_INACTIVE",
            "INVALID_QUANTITY",
            "INVALID_QUANTITY",
            "INVALID_QUANTITY",
            "UNKNOWN_SKU"
        ]
    );
    assert_eq!(
        payload["userErrors"][1]["field"],
        json!(["lines", "1", "sku"])
    );
    assert_eq!(
        payload["userErrors"][4]["field"],
        json!(["lines", "4", "quantity"])
    );
    assert_eq!(
        payload["cart"],
        json!({"version": 1, "lines": [{"quantity": 1}]})
    );
}

#[tokio::test]
async fn adding_past_the_per_line_maximum_is_refused() {
    let server = TestServer::spawn_with(&["--max-quantity-per-line", "5"]).await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 4).await;
    let payload = add(&server, &token, "default", "MUG-LOGO", 2).await;
    assert_eq!(codes(&payload), ["INVALID_QUANTITY"]);
    assert_eq!(payload["cart"]["lines"][0]["quantity"], 4);
}

#[tokio::test]
async fn updating_a_line_twice_or_one_not_in_the_cart_is_refused() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    let query = "mutation { updateCartLines(input: {lines: [{id: \"1-0\", quantity: 1}, {id: \"1-0\", quantity: 2}, {id: \"9-9\", quantity: 2}, {id: \"1-0\", quantity: -1}]}) { cart { version } userErrors { code field } } }";
    let payload = server.data(Some(&token), query, json!({})).await["updateCartLines"].clone();
    assert_eq!(codes(&payload), ["INVALID_QUANTITY"]);
    let query = "mutation { updateCartLines(input: {lines: [{id: \"1-0\", quantity: 1}, {id: \"1-0\", quantity: 2}, {id: \"9-9\", quantity: 2}]}) { cart { version } userErrors { code field } } }";
    let payload = server.data(Some(&token), query, json!({})).await["updateCartLines"].clone();
    assert_eq!(codes(&payload), ["DUPLICATE_LINE", "LINE_NOT_FOUND"]);
    assert_eq!(
        payload["userErrors"][1]["field"],
        json!(["lines", "2", "id"])
    );
    assert_eq!(payload["cart"]["version"], 1);
}

#[tokio::test]
async fn too_many_lines_or_carts_is_cart_limit_exceeded() {
    let server =
        TestServer::spawn_with(&["--max-lines-per-cart", "2", "--max-carts-per-viewer", "2"]).await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    add(&server, &token, "default", "TEE-BLK-M", 1).await;
    let third_line = add(&server, &token, "default", "STICKER-PACK", 1).await;
    assert_eq!(codes(&third_line), ["CART_LIMIT_EXCEEDED"]);
    assert_eq!(third_line["cart"]["lines"].as_array().unwrap().len(), 2);

    assert_eq!(
        codes(&add(&server, &token, "wishlist", "MUG-LOGO", 1).await),
        Vec::<String>::new()
    );
    let third_cart = add(&server, &token, "saved-for-later", "MUG-LOGO", 1).await;
    assert_eq!(codes(&third_cart), ["CART_LIMIT_EXCEEDED"]);
    assert_eq!(third_cart["userErrors"][0]["field"], json!(["cart"]));
    let carts = server
        .data(Some(&token), "{ carts { name } }", json!({}))
        .await;
    assert_eq!(
        carts["carts"],
        json!([{"name": "default"}, {"name": "wishlist"}])
    );
}

#[tokio::test]
async fn named_carts_are_separate_and_bad_names_are_refused() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    add(&server, &token, "wishlist", "HOODIE-GRY-M", 1).await;
    let default = server
        .data(
            Some(&token),
            "{ cart { lines { sku } } wish: cart(name: \"wishlist\") { name lines { sku } } }",
            json!({}),
        )
        .await;
    assert_eq!(default["cart"]["lines"], json!([]));
    assert_eq!(
        default["wish"],
        json!({"name": "wishlist", "lines": [{"sku": "HOODIE-GRY-M"}]})
    );

    for bad in ["Wish List", "", "../etc", &"x".repeat(33)] {
        let payload = add(&server, &token, bad, "MUG-LOGO", 1).await;
        assert_eq!(codes(&payload), ["INVALID_CART_NAME"], "{bad:?}");
        assert_eq!(payload["cart"], json!(null));
    }
    let body = server
        .gql(
            Some(&token),
            "{ cart(name: \"Bad Name\") { version } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn one_viewer_cannot_see_or_change_another_viewers_cart() {
    let server = TestServer::spawn().await;
    add(&server, &customer("alice"), "default", "MUG-LOGO", 3).await;
    let bob = customer("bob");
    let seen = server
        .data(
            Some(&bob),
            "{ cart { version lines { sku } } carts { name } }",
            json!({}),
        )
        .await;
    assert_eq!(
        seen,
        json!({"cart": {"version": 0, "lines": []}, "carts": []})
    );
    server
        .data(
            Some(&bob),
            "mutation { clearCart(input: {}) { cart { version } } }",
            json!({}),
        )
        .await;
    // A guest with the same subject is someone else too.
    let as_guest = server
        .data(
            Some(&guest("alice")),
            "{ cart { lines { sku } } }",
            json!({}),
        )
        .await;
    assert_eq!(as_guest["cart"]["lines"], json!([]));
    let alice = server
        .data(
            Some(&customer("alice")),
            "{ cart { version lines { quantity } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        alice["cart"],
        json!({"version": 1, "lines": [{"quantity": 3}]})
    );
}

#[tokio::test]
async fn fifty_concurrent_adds_on_one_cart_sum_exactly() {
    // Fifty writes at once are above one viewer's default burst (30).
    let server =
        std::sync::Arc::new(TestServer::spawn_with(&["--viewer-write-burst", "100"]).await);
    let token = customer("ann");
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (server, token) = (server.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            add(&server, &token, "default", "STICKER-PACK", 1).await
        }));
    }
    for task in tasks {
        assert_eq!(codes(&task.await.unwrap()), Vec::<String>::new());
    }
    let cart = server
        .data(
            Some(&token),
            "{ cart { version lines { quantity } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        cart["cart"],
        json!({"version": 50, "lines": [{"quantity": 50}]})
    );
}

#[tokio::test]
async fn cart_operations_without_a_token_are_unauthenticated() {
    let server = TestServer::spawn().await;
    for query in [
        "{ cart { version } }",
        "{ carts { name } }",
        "mutation { addCartLines(input: {lines: [{sku: \"MUG-LOGO\", quantity: 1}]}) { cart { version } } }",
        "mutation { clearCart(input: {}) { cart { version } } }",
    ] {
        let body = server.gql(None, query, json!({})).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{query}");
    }
}
