//! The catalog: open to read, admin-only to change.

use crate::helpers::*;
use serde_json::json;

const UPSERT: &str = "mutation($input: UpsertProductInput!) { upsertProduct(input: $input) { product { sku title price { amount } stock active } userErrors { code field message } } }";
const ADJUST: &str = "mutation($sku: String!, $delta: Int!) { adjustStock(input: {sku: $sku, delta: $delta}) { product { stock } userErrors { code field } } }";

#[tokio::test]
async fn anyone_can_browse_products_a_page_at_a_time() {
    let server = TestServer::spawn().await;
    let page = "query($after: String) { products(first: 3, after: $after) { pageInfo { hasNextPage endCursor } nodes { sku } } }";
    let mut skus = Vec::new();
    let mut after = json!(null);
    loop {
        let data = server.data(None, page, json!({ "after": after })).await;
        let connection = &data["products"];
        skus.extend(
            connection["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["sku"].as_str().unwrap().to_string()),
        );
        if !connection["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    let mut sorted = skus.clone();
    sorted.sort();
    assert_eq!(skus, sorted);
    assert_eq!(skus.len(), 7);

    let one = server.data(None, "{ product(sku: \"MUG-LOGO\") { title price { amount currencyCode } stock active } missing: product(sku: \"NOPE\") { sku } bad: product(sku: \"not a sku\") { sku } }", json!({})).await;
    assert_eq!(
        one["product"],
        json!({"title": "Logo mug", "price": {"amount": "9.50", "currencyCode": "USD"}, "stock": 40, "active": true})
    );
    assert_eq!(one["missing"], json!(null));
    assert_eq!(one["bad"], json!(null));
}

#[tokio::test]
async fn page_sizes_and_cursors_are_checked() {
    let server = TestServer::spawn().await;
    for query in [
        "{ products(first: 0) { nodes { sku } } }",
        "{ products(first: 101) { nodes { sku } } }",
        "{ products(after: \"%%%\") { nodes { sku } } }",
    ] {
        let body = server.gql(None, query, json!({})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}");
    }
}

#[tokio::test]
async fn the_shop_tells_its_currency_and_limits() {
    let server = TestServer::spawn_with(&["--currency", "eur", "--max-lines-per-cart", "7"]).await;
    let data = server.data(None, "{ shop { currencyCode limits { maxLinesPerCart maxQuantityPerLine maxCartsPerViewer } } }", json!({})).await;
    assert_eq!(
        data["shop"],
        json!({"currencyCode": "EUR", "limits": {"maxLinesPerCart": 7, "maxQuantityPerLine": 999, "maxCartsPerViewer": 10}})
    );
}

#[tokio::test]
async fn only_admins_may_change_the_catalog() {
    let server = TestServer::spawn().await;
    let input = json!({"input": {"sku": "NEW-1", "title": "New", "price": "1.00"}});
    let body = server.gql(None, UPSERT, input.clone()).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let body = server
        .gql(Some(&customer("ann")), UPSERT, input.clone())
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(body["data"], json!(null));
    let body = server
        .gql(
            Some(&guest("g1")),
            ADJUST,
            json!({"sku": "MUG-LOGO", "delta": -40}),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let unchanged = server
        .data(
            None,
            "{ product(sku: \"MUG-LOGO\") { stock } new: product(sku: \"NEW-1\") { sku } }",
            json!({}),
        )
        .await;
    assert_eq!(unchanged, json!({"product": {"stock": 40}, "new": null}));
}

#[tokio::test]
async fn an_admin_creates_updates_and_restocks_products() {
    let server = TestServer::spawn().await;
    let admin = admin();
    let created = server
        .data(
            Some(&admin),
            UPSERT,
            json!({"input": {"sku": "NEW-1", "title": " Lamp ", "price": "120", "stock": 2}}),
        )
        .await;
    assert_eq!(
        created["upsertProduct"]["product"],
        json!({"sku": "NEW-1", "title": "Lamp", "price": {"amount": "120.00"}, "stock": 2, "active": true})
    );
    let updated = server
        .data(
            Some(&admin),
            UPSERT,
            json!({"input": {"sku": "NEW-1", "price": "99.99", "stock": null}}),
        )
        .await;
    assert_eq!(
        updated["upsertProduct"]["product"],
        json!({"sku": "NEW-1", "title": "Lamp", "price": {"amount": "99.99"}, "stock": null, "active": true})
    );
    let untracked = server
        .data(Some(&admin), ADJUST, json!({"sku": "NEW-1", "delta": 1}))
        .await;
    assert_eq!(codes(&untracked["adjustStock"]), ["STOCK_NOT_TRACKED"]);

    let restocked = server
        .data(Some(&admin), ADJUST, json!({"sku": "CAP-RED", "delta": 5}))
        .await;
    assert_eq!(restocked["adjustStock"]["product"]["stock"], 5);
    let oversold = server
        .data(Some(&admin), ADJUST, json!({"sku": "CAP-RED", "delta": -6}))
        .await;
    assert_eq!(codes(&oversold["adjustStock"]), ["OUT_OF_STOCK"]);
    assert_eq!(oversold["adjustStock"]["product"]["stock"], 5);
    let unknown = server
        .data(Some(&admin), ADJUST, json!({"sku": "NOPE", "delta": 1}))
        .await;
    assert_eq!(codes(&unknown["adjustStock"]), ["UNKNOWN_SKU"]);
}

#[tokio::test]
async fn bad_product_input_is_refused_field_by_field() {
    let server = TestServer::spawn().await;
    let admin = admin();
    let cases = [
        (
            json!({"sku": "bad sku", "title": "x", "price": "1"}),
            vec!["sku"],
        ),
        (json!({"sku": "NEW-2"}), vec!["title", "price"]),
        (
            json!({"sku": "NEW-2", "title": "", "price": "1.001"}),
            vec!["title", "price"],
        ),
        (
            json!({"sku": "NEW-2", "title": "x", "price": "-1"}),
            vec!["price"],
        ),
        (
            json!({"sku": "NEW-2", "title": "x", "price": "1e9"}),
            vec!["price"],
        ),
        (
            json!({"sku": "NEW-2", "title": "x", "price": "99999999999999"}),
            vec!["price"],
        ),
        (
            json!({"sku": "NEW-2", "title": "x", "price": "1", "stock": -1}),
            vec!["stock"],
        ),
        (
            json!({"sku": "NEW-2", "title": "x".repeat(201), "price": "1"}),
            vec!["title"],
        ),
    ];
    for (input, fields) in cases {
        let payload = server
            .data(Some(&admin), UPSERT, json!({ "input": input }))
            .await["upsertProduct"]
            .clone();
        let got: Vec<&str> = payload["userErrors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"][0].as_str().unwrap())
            .collect();
        assert_eq!(got, fields, "{input}");
        assert!(
            codes(&payload).iter().all(|c| c == "INVALID_PRODUCT"),
            "{payload}"
        );
        assert_eq!(payload["product"], json!(null));
    }
    let body = server
        .gql(
            Some(&admin),
            UPSERT,
            json!({"input": {"sku": "NEW-2", "title": "x", "price": 1.5}}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn deactivating_a_product_keeps_it_in_carts_and_refuses_new_adds() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    server
        .data(
            Some(&admin()),
            UPSERT,
            json!({"input": {"sku": "MUG-LOGO", "active": false}}),
        )
        .await;
    let payload = add(&server, &token, "default", "MUG-LOGO", 1).await;
    assert_eq!(codes(&payload), ["PRODUCT_INACTIVE"]);
    assert_eq!(payload["cart"]["lines"][0]["quantity"], 1);
    let remove = "mutation { updateCartLines(input: {lines: [{id: \"1-0\", quantity: 0}]}) { cart { lines { sku } } userErrors { code } } }";
    let removed = server.data(Some(&token), remove, json!({})).await;
    assert_eq!(
        removed["updateCartLines"],
        json!({"cart": {"lines": []}, "userErrors": []})
    );
}
