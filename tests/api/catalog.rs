//! The catalog: products with options and variants, open to read,
//! admin-only to change.

use crate::helpers::*;
use serde_json::{Value, json};

const UPSERT: &str = "mutation($input: UpsertProductInput!) { upsertProduct(input: $input) { product { handle title description options { name values } active variants { sku title selectedOptions { name value } price { amount } compareAtPrice { amount } stock availableForSale } } userErrors { code field message } } }";
const UPDATE: &str = "mutation($input: UpdateVariantInput!) { updateVariant(input: $input) { variant { sku title price { amount } stock availableForSale } userErrors { code field message } } }";
const ADJUST: &str = "mutation($sku: String!, $delta: Int!) { adjustStock(input: {sku: $sku, delta: $delta}) { variant { stock } userErrors { code field } } }";

fn lamp(variants: Value) -> Value {
    json!({"input": {"handle": "lamp", "title": " Lamp ", "description": "Brass.",
        "options": [{"name": "Colour", "values": ["Brass", "Black"]}, {"name": "Size", "values": ["S", "L"]}],
        "variants": variants}})
}

#[tokio::test]
async fn anyone_can_browse_products_a_page_at_a_time() {
    let server = TestServer::spawn().await;
    let page = "query($after: String) { products(first: 3, after: $after) { pageInfo { hasNextPage endCursor } nodes { handle variants { sku } } } }";
    let mut handles = Vec::new();
    let mut skus = 0;
    let mut after = json!(null);
    loop {
        let data = server.data(None, page, json!({ "after": after })).await;
        let connection = &data["products"];
        for node in connection["nodes"].as_array().unwrap() {
            handles.push(node["handle"].as_str().unwrap().to_string());
            skus += node["variants"].as_array().unwrap().len();
        }
        if !connection["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    let mut sorted = handles.clone();
    sorted.sort();
    assert_eq!(handles, sorted);
    // Six products with 11 SKUs; the retired poster (one SKU, not for sale)
    // is only listed to admins.
    assert_eq!(handles.len(), 5);
    assert!(!handles.contains(&"poster-2019".to_string()));
    assert_eq!(skus, 10);

    let one = server.data(None, "{ variant(sku: \"MUG-LOGO\") { title price { amount currencyCode } stock availableForSale product { handle title } } missing: variant(sku: \"NOPE\") { sku } bad: variant(sku: \"not a sku\") { sku } }", json!({})).await;
    assert_eq!(
        one["variant"],
        json!({"title": "Logo mug", "price": {"amount": "9.50", "currencyCode": "USD"}, "stock": 40, "availableForSale": true, "product": {"handle": "logo-mug", "title": "Logo mug"}})
    );
    assert_eq!(one["missing"], json!(null));
    assert_eq!(one["bad"], json!(null));
    let hoodie = server
        .data(None, "{ product(handle: \"hoodie\") { title options { name values } variants { sku availableForSale compareAtPrice { amount } } } nope: product(handle: \"NOT A HANDLE\") { title } }", json!({}))
        .await;
    assert_eq!(
        hoodie["product"]["options"],
        json!([{"name": "Size", "values": ["S", "M", "L"]}, {"name": "Colour", "values": ["Grey", "Navy"]}])
    );
    let variants = hoodie["product"]["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 5);
    assert_eq!(
        variants[2]["availableForSale"], false,
        "HOODIE-GRY-L has no stock"
    );
    assert_eq!(variants[3]["compareAtPrice"]["amount"], "59.00");
    assert_eq!(hoodie["nope"], json!(null));
}

#[tokio::test]
async fn the_option_picker_finds_the_variant_of_a_combination() {
    let server = TestServer::spawn().await;
    let pick = "query($h: String!, $o: [SelectedOptionInput!]!) { variantBySelectedOptions(handle: $h, selectedOptions: $o) { sku title } }";
    let found = server
        .data(None, pick, json!({"h": "hoodie", "o": [{"name": "Colour", "value": "Navy"}, {"name": "Size", "value": "M"}]}))
        .await;
    assert_eq!(
        found["variantBySelectedOptions"],
        json!({"sku": "HOODIE-NVY-M", "title": "M / Navy"})
    );
    for (handle, options) in [
        (
            "hoodie",
            json!([{"name": "Size", "value": "S"}, {"name": "Colour", "value": "Navy"}]),
        ),
        ("hoodie", json!([{"name": "Size", "value": "M"}])),
        (
            "hoodie",
            json!([{"name": "Size", "value": "M"}, {"name": "Colour", "value": "Navy"}, {"name": "Fit", "value": "Slim"}]),
        ),
        ("nope", json!([{"name": "Size", "value": "M"}])),
        ("Bad!", json!([])),
    ] {
        let data = server
            .data(None, pick, json!({"h": handle, "o": options}))
            .await;
        assert_eq!(
            data["variantBySelectedOptions"],
            json!(null),
            "{handle} {options}"
        );
    }
    let too_many = server
        .gql(None, pick, json!({"h": "hoodie", "o": [{"name": "a", "value": "1"}, {"name": "b", "value": "1"}, {"name": "c", "value": "1"}, {"name": "d", "value": "1"}]}))
        .await;
    assert_eq!(error_code(&too_many), "BAD_USER_INPUT");
}

#[tokio::test]
async fn page_sizes_and_cursors_are_checked() {
    let server = TestServer::spawn().await;
    for query in [
        "{ products(first: 0) { nodes { handle } } }",
        "{ products(first: 101) { nodes { handle } } }",
        "{ products(after: \"%%%\") { nodes { handle } } }",
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
    let input = lamp(
        json!([{"sku": "LAMP-1", "price": "1.00", "selectedOptions": [{"name": "Colour", "value": "Brass"}, {"name": "Size", "value": "S"}]}]),
    );
    let body = server.gql(None, UPSERT, input.clone()).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    let body = server
        .gql(Some(&customer("ann")), UPSERT, input.clone())
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(body["data"], json!(null));
    for (query, variables) in [
        (ADJUST, json!({"sku": "MUG-LOGO", "delta": -40})),
        (
            UPDATE,
            json!({"input": {"sku": "MUG-LOGO", "price": "0.01"}}),
        ),
    ] {
        let body = server.gql(Some(&guest("g1")), query, variables).await;
        assert_eq!(error_code(&body), "FORBIDDEN");
    }
    let unchanged = server
        .data(
            None,
            "{ variant(sku: \"MUG-LOGO\") { stock price { amount } } new: product(handle: \"lamp\") { title } }",
            json!({}),
        )
        .await;
    assert_eq!(
        unchanged,
        json!({"variant": {"stock": 40, "price": {"amount": "9.50"}}, "new": null})
    );
}

#[tokio::test]
async fn an_admin_writes_a_product_with_variants_updates_and_restocks_them() {
    let server = TestServer::spawn().await;
    let admin = admin();
    let opts =
        |c: &str, s: &str| json!([{"name": "Size", "value": s}, {"name": "Colour", "value": c}]);
    let created = server
        .data(
            Some(&admin),
            UPSERT,
            lamp(json!([
                {"sku": "LAMP-BR-S", "price": "120", "compareAtPrice": "150", "stock": 2, "selectedOptions": opts("Brass", "S")},
                {"sku": "LAMP-BK-L", "title": "Big black", "price": "130", "selectedOptions": opts("Black", "L")},
            ])),
        )
        .await["upsertProduct"]
        .clone();
    assert_eq!(codes(&created), Vec::<String>::new(), "{created}");
    let product = &created["product"];
    assert_eq!(product["title"], "Lamp");
    assert_eq!(product["variants"][0]["title"], "Brass / S");
    assert_eq!(
        product["variants"][0]["selectedOptions"],
        json!([{"name": "Colour", "value": "Brass"}, {"name": "Size", "value": "S"}])
    );
    assert_eq!(product["variants"][0]["compareAtPrice"]["amount"], "150.00");
    assert_eq!(product["variants"][1]["title"], "Big black");
    assert_eq!(product["variants"][1]["stock"], json!(null));

    // Writing it again without a variant keeps that SKU readable but not for sale.
    let again = server
        .data(Some(&admin), UPSERT, lamp(json!([{"sku": "LAMP-BR-S", "price": "99.99", "selectedOptions": opts("Brass", "S")}])))
        .await["upsertProduct"]
        .clone();
    assert_eq!(again["product"]["variants"].as_array().unwrap().len(), 1);
    assert_eq!(
        again["product"]["variants"][0]["stock"], 2,
        "stock is kept when not given"
    );
    let dropped = server
        .data(
            None,
            "{ variant(sku: \"LAMP-BK-L\") { availableForSale } }",
            json!({}),
        )
        .await;
    assert_eq!(dropped["variant"]["availableForSale"], false);

    let updated = server
        .data(
            Some(&admin),
            UPDATE,
            json!({"input": {"sku": "LAMP-BR-S", "price": "89.00", "stock": null}}),
        )
        .await;
    assert_eq!(
        updated["updateVariant"]["variant"]["price"]["amount"],
        "89.00"
    );
    let missing = server
        .data(
            Some(&admin),
            UPDATE,
            json!({"input": {"sku": "NEW-9", "price": "1"}}),
        )
        .await;
    assert_eq!(codes(&missing["updateVariant"]), ["UNKNOWN_SKU"]);
    let untracked = server
        .data(
            Some(&admin),
            ADJUST,
            json!({"sku": "LAMP-BR-S", "delta": 1}),
        )
        .await;
    assert_eq!(codes(&untracked["adjustStock"]), ["STOCK_NOT_TRACKED"]);

    let restocked = server
        .data(Some(&admin), ADJUST, json!({"sku": "CAP-RED", "delta": 5}))
        .await;
    assert_eq!(restocked["adjustStock"]["variant"]["stock"], 5);
    let oversold = server
        .data(Some(&admin), ADJUST, json!({"sku": "CAP-RED", "delta": -6}))
        .await;
    assert_eq!(codes(&oversold["adjustStock"]), ["INSUFFICIENT_STOCK"]);
    assert_eq!(oversold["adjustStock"]["variant"]["stock"], 5);
    let unknown = server
        .data(Some(&admin), ADJUST, json!({"sku": "NOPE", "delta": 1}))
        .await;
    assert_eq!(codes(&unknown["adjustStock"]), ["UNKNOWN_SKU"]);

    // A deactivated product stops selling all its variants.
    let off = server
        .data(
            Some(&admin),
            UPSERT,
            json!({"input": {"handle": "logo-mug", "title": "Logo mug", "active": false,
            "variants": [{"sku": "MUG-LOGO", "price": "9.50"}]}}),
        )
        .await["upsertProduct"]
        .clone();
    assert_eq!(off["product"]["variants"][0]["availableForSale"], false);
    let payload = add(&server, &customer("ann"), "default", "MUG-LOGO", 1).await;
    assert_eq!(codes(&payload), ["PRODUCT_INACTIVE"]);
}

#[tokio::test]
async fn bad_product_input_is_refused_field_by_field() {
    let server = TestServer::spawn().await;
    let admin = admin();
    let ok = |sku: &str, c: &str, s: &str| json!({"sku": sku, "price": "1", "selectedOptions": [{"name": "Colour", "value": c}, {"name": "Size", "value": s}]});
    let cases = [
        (json!({"handle": "Bad Handle", "title": "x", "variants": [ok("A", "Brass", "S")]}), vec![("INVALID_PRODUCT", "handle")]),
        (json!({"handle": "lamp", "title": "", "variants": [{"sku": "A", "price": "1"}]}), vec![("INVALID_PRODUCT", "title")]),
        (json!({"handle": "lamp", "title": "x", "variants": [{"sku": "A", "price": "1"}, {"sku": "B", "price": "1"}]}), vec![("INVALID_VARIANT", "variants.1.selectedOptions")]),
        (json!({"handle": "lamp", "title": "x", "variants": [ok("A", "Brass", "S")]}), vec![("INVALID_VARIANT", "variants.0.selectedOptions")]),
        (json!({"handle": "lamp", "title": "x", "variants": []}), vec![("INVALID_VARIANT", "variants")]),
        (
            json!({"handle": "lamp", "title": "x", "options": [{"name": "Size", "values": ["S", "S"]}], "variants": [{"sku": "A", "price": "1"}]}),
            vec![("INVALID_VARIANT", "options.0.values.1")],
        ),
        (
            lamp(json!([ok("A", "Brass", "S"), ok("A", "Black", "S"), ok("B", "Brass", "S"), ok("C", "Gold", "S"), ok("MUG-LOGO", "Black", "L")]))["input"].clone(),
            vec![
                ("DUPLICATE_SKU", "variants.1.sku"),
                ("INVALID_VARIANT", "variants.2.selectedOptions"),
                ("INVALID_VARIANT", "variants.3.selectedOptions"),
                ("DUPLICATE_SKU", "variants.4.sku"),
            ],
        ),
        (
            lamp(json!([{"sku": "bad sku", "price": "1.001", "stock": -1, "selectedOptions": []}]))["input"].clone(),
            vec![("INVALID_PRODUCT", "variants.0.sku")],
        ),
        (
            lamp(json!([{"sku": "A", "price": "1.001", "stock": -1, "compareAtPrice": "x", "selectedOptions": [{"name": "Colour", "value": "Brass"}, {"name": "Size", "value": "S"}]}]))["input"].clone(),
            vec![
                ("INVALID_PRODUCT", "variants.0.price"),
                ("INVALID_PRODUCT", "variants.0.compareAtPrice"),
                ("INVALID_PRODUCT", "variants.0.stock"),
            ],
        ),
    ];
    for (input, want) in cases {
        let payload = server
            .data(Some(&admin), UPSERT, json!({ "input": input }))
            .await["upsertProduct"]
            .clone();
        let got: Vec<(String, String)> = payload["userErrors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let field: Vec<&str> = e["field"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap())
                    .collect();
                (e["code"].as_str().unwrap().to_string(), field.join("."))
            })
            .collect();
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(c, f)| (c.to_string(), f.to_string()))
            .collect();
        assert_eq!(got, want, "{input}");
        assert_eq!(payload["product"], json!(null));
    }
    let body = server
        .gql(
            Some(&admin),
            UPSERT,
            lamp(json!([{"sku": "A", "price": 1.5}])),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    // Nothing was written by any refusal.
    let none = server
        .data(
            None,
            "{ product(handle: \"lamp\") { title } variant(sku: \"A\") { sku } }",
            json!({}),
        )
        .await;
    assert_eq!(none, json!({"product": null, "variant": null}));
}

#[tokio::test]
async fn deactivating_a_product_keeps_it_in_carts_and_refuses_new_adds() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    server
        .data(
            Some(&admin()),
            UPDATE,
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

#[tokio::test]
async fn browsing_queries_fit_the_limits_and_amplifying_ones_do_not() {
    let server = TestServer::spawn().await;
    let storefront = "{ products(first: 20) { nodes { handle title description options { name values } variants { sku title price { amount } compareAtPrice { amount } availableForSale selectedOptions { name value } } } } }";
    let body = server.gql(None, storefront, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    for query in [
        "{ products(first: 50) { nodes { variants { product { options { values } } } } } }",
        "{ products(first: 100) { nodes { variants { product { description } } } } }",
        // Each level multiplies by the 100 variants a product may have.
        "{ variant(sku: \"MUG-LOGO\") { product { variants { product { variants { product { variants { product { handle } } } } } } } } }",
    ] {
        let body = server.gql(None, query, json!({})).await;
        assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{query}");
    }
}

#[tokio::test]
async fn a_variant_a_product_stops_listing_may_join_another_product() {
    let server = TestServer::spawn().await;
    let admin = admin();
    let write = |handle: &str, skus: &[&str]| {
        let variants: Vec<Value> = skus
            .iter()
            .zip(["S", "L"])
            .map(|(sku, size)| json!({"sku": sku, "price": "5", "selectedOptions": [{"name": "Size", "value": size}]}))
            .collect();
        json!({"input": {"handle": handle, "title": handle, "options": [{"name": "Size", "values": ["S", "L"]}], "variants": variants}})
    };
    let first = server
        .data(Some(&admin), UPSERT, write("w", &["W1", "W2"]))
        .await["upsertProduct"]
        .clone();
    assert_eq!(codes(&first), Vec::<String>::new());
    let taken = server
        .data(Some(&admin), UPSERT, write("w-new", &["W2"]))
        .await["upsertProduct"]
        .clone();
    assert_eq!(codes(&taken), ["DUPLICATE_SKU"]);
    server.data(Some(&admin), UPSERT, write("w", &["W1"])).await;
    let detached = server
        .data(
            None,
            "{ variant(sku: \"W2\") { availableForSale product { handle } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        detached["variant"],
        json!({"availableForSale": false, "product": null})
    );
    let moved = server
        .data(Some(&admin), UPSERT, write("w-new", &["W2"]))
        .await["upsertProduct"]
        .clone();
    assert_eq!(codes(&moved), Vec::<String>::new(), "{moved}");
    let now = server
        .data(
            None,
            "{ variant(sku: \"W2\") { availableForSale product { handle } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        now["variant"],
        json!({"availableForSale": true, "product": {"handle": "w-new"}})
    );
}

/// Every product `token` sees, as `(handle, active)`, read in pages of one;
/// each page holds one product and only the last says there is no next page.
async fn products_page_by_page(server: &TestServer, token: Option<&str>) -> Vec<(String, bool)> {
    let page = "query($after: String) { products(first: 1, after: $after) { pageInfo { hasNextPage endCursor } nodes { handle active } } }";
    let mut products = Vec::new();
    let mut after = json!(null);
    loop {
        let data = server.data(token, page, json!({ "after": after })).await;
        let nodes = data["products"]["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 1, "{data}");
        let handle = nodes[0]["handle"].as_str().unwrap().to_string();
        products.push((handle, nodes[0]["active"] == true));
        if data["products"]["pageInfo"]["hasNextPage"] == false {
            return products;
        }
        after = data["products"]["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test]
async fn a_product_not_for_sale_is_hidden_from_shoppers_but_not_from_admins_or_the_carts_holding_it()
 {
    let server = TestServer::spawn().await;
    let (ann, gus, admin) = (customer("ann"), guest("gus"), admin());
    add(&server, &ann, "default", "MUG-LOGO", 1).await;
    let off = server
        .data(
            Some(&admin),
            UPSERT,
            json!({"input": {"handle": "logo-mug", "title": "Logo mug", "active": false,
            "variants": [{"sku": "MUG-LOGO", "price": "9.50"}]}}),
        )
        .await;
    assert_eq!(codes(&off["upsertProduct"]), Vec::<String>::new());

    let lookups = "{ product(handle: \"logo-mug\") { handle active } variant(sku: \"MUG-LOGO\") { sku } variantBySelectedOptions(handle: \"logo-mug\", selectedOptions: []) { sku } }";
    for token in [None, Some(ann.as_str()), Some(gus.as_str())] {
        assert_eq!(
            server.data(token, lookups, json!({})).await,
            json!({"product": null, "variant": null, "variantBySelectedOptions": null}),
            "{token:?}"
        );
    }
    assert_eq!(
        server.data(Some(&admin), lookups, json!({})).await,
        json!({"product": {"handle": "logo-mug", "active": false},
               "variant": {"sku": "MUG-LOGO"},
               "variantBySelectedOptions": {"sku": "MUG-LOGO"}})
    );

    // Admins list every product; shoppers' pages close over the gaps (the
    // test catalog has a product not for sale of its own).
    let all = products_page_by_page(&server, Some(&admin)).await;
    assert!(all.contains(&("logo-mug".to_string(), false)), "{all:?}");
    let for_sale: Vec<(String, bool)> = all.iter().filter(|p| p.1).cloned().collect();
    assert!(
        !for_sale.is_empty() && for_sale.len() < all.len(),
        "{all:?}"
    );
    assert_eq!(products_page_by_page(&server, None).await, for_sale);
    assert_eq!(products_page_by_page(&server, Some(&gus)).await, for_sale);

    // The cart that holds it still shows the line, its variant and product.
    let cart = server
        .data(
            Some(&ann),
            "{ cart { lines { sku variant { sku availableForSale product { handle title } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        cart["cart"]["lines"],
        json!([{"sku": "MUG-LOGO", "variant": {"sku": "MUG-LOGO", "availableForSale": false,
            "product": {"handle": "logo-mug", "title": "Logo mug"}}}])
    );
}

#[tokio::test]
async fn variants_carry_weight_shipping_and_tax_class_kept_when_left_out() {
    let server = TestServer::spawn().await;
    let upsert = "mutation($input: UpsertProductInput!) { upsertProduct(input: $input) { product { variants { sku weightGrams requiresShipping taxClass } } userErrors { code field } } }";
    let product = |variants: Value| {
        json!({ "input": {
            "handle": "gift-set",
            "title": "Gift set",
            "options": [{"name": "Kind", "values": ["Box", "Card"]}],
            "variants": variants,
        }})
    };
    let written = server
        .data(
            Some(&admin()),
            upsert,
            product(json!([
                {"sku": "GIFT-BOX", "price": "30.00", "selectedOptions": [{"name": "Kind", "value": "Box"}], "weightGrams": 1250, "taxClass": "reduced"},
                {"sku": "GIFT-CARD", "price": "25.00", "selectedOptions": [{"name": "Kind", "value": "Card"}], "requiresShipping": false, "taxClass": "zero_rated"},
            ])),
        )
        .await;
    assert_eq!(
        written["upsertProduct"]["userErrors"],
        json!([]),
        "{written}"
    );
    let expected = json!([
        {"sku": "GIFT-BOX", "weightGrams": 1250, "requiresShipping": true, "taxClass": "reduced"},
        {"sku": "GIFT-CARD", "weightGrams": 0, "requiresShipping": false, "taxClass": "zero_rated"},
    ]);
    assert_eq!(written["upsertProduct"]["product"]["variants"], expected);
    // Written again by a client that does not know these fields: kept.
    let again = server
        .data(
            Some(&admin()),
            upsert,
            product(json!([
                {"sku": "GIFT-BOX", "price": "31.00", "selectedOptions": [{"name": "Kind", "value": "Box"}]},
                {"sku": "GIFT-CARD", "price": "25.00", "selectedOptions": [{"name": "Kind", "value": "Card"}]},
            ])),
        )
        .await;
    assert_eq!(again["upsertProduct"]["product"]["variants"], expected);
    // updateVariant changes one, and a plain read shows it.
    let update = "mutation($input: UpdateVariantInput!) { updateVariant(input: $input) { variant { weightGrams requiresShipping taxClass } userErrors { code field } } }";
    let changed = server
        .data(
            Some(&admin()),
            update,
            json!({"input": {"sku": "GIFT-BOX", "weightGrams": 900, "taxClass": "standard"}}),
        )
        .await;
    assert_eq!(
        changed["updateVariant"]["variant"],
        json!({"weightGrams": 900, "requiresShipping": true, "taxClass": "standard"})
    );
    // A demo variant has the defaults.
    let mug = server
        .data(
            None,
            "{ variant(sku: \"MUG-LOGO\") { weightGrams requiresShipping taxClass } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mug["variant"],
        json!({"weightGrams": 0, "requiresShipping": true, "taxClass": "standard"})
    );
    // Bad values name the field and change nothing.
    for (input, field) in [
        (json!({"sku": "GIFT-BOX", "weightGrams": -1}), "weightGrams"),
        (
            json!({"sku": "GIFT-BOX", "weightGrams": 1_000_001}),
            "weightGrams",
        ),
        (
            json!({"sku": "GIFT-BOX", "taxClass": "Reduced Rate"}),
            "taxClass",
        ),
        (
            json!({"sku": "GIFT-BOX", "taxClass": "x".repeat(33)}),
            "taxClass",
        ),
        (json!({"sku": "GIFT-BOX", "taxClass": ""}), "taxClass"),
    ] {
        let refused = server
            .data(Some(&admin()), update, json!({ "input": input }))
            .await;
        assert_eq!(
            refused["updateVariant"]["userErrors"],
            json!([{"code": "INVALID_PRODUCT", "field": [field]}]),
            "{input}"
        );
    }
    let refused = server
        .data(
            Some(&admin()),
            upsert,
            product(json!([
                {"sku": "GIFT-BOX", "price": "30.00", "selectedOptions": [{"name": "Kind", "value": "Box"}], "weightGrams": 2_000_000},
                {"sku": "GIFT-CARD", "price": "25.00", "selectedOptions": [{"name": "Kind", "value": "Card"}], "taxClass": "-x"},
            ])),
        )
        .await;
    assert_eq!(
        refused["upsertProduct"]["userErrors"],
        json!([
            {"code": "INVALID_PRODUCT", "field": ["variants", "0", "weightGrams"]},
            {"code": "INVALID_PRODUCT", "field": ["variants", "1", "taxClass"]},
        ])
    );
    let unchanged = server
        .data(
            None,
            "{ variant(sku: \"GIFT-BOX\") { weightGrams taxClass } }",
            json!({}),
        )
        .await;
    assert_eq!(
        unchanged["variant"],
        json!({"weightGrams": 900, "taxClass": "standard"})
    );
}
