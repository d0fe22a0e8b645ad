//! Per-client limits that bound what free guests can take, and error
//! answers that always carry a code.

use crate::helpers::*;
use serde_json::{Value, json};

const START: &str = "mutation { startGuestSession { token userErrors { code message } } }";

#[tokio::test]
async fn guest_sessions_are_limited_per_client_address() {
    let server = TestServer::spawn_with(&["--max-guest-sessions-per-client", "3"]).await;
    for _ in 0..3 {
        let body = server.data(None, START, json!({})).await;
        assert!(body["startGuestSession"]["token"].is_string(), "{body}");
    }
    let body = server.data(None, START, json!({})).await;
    assert_eq!(codes(&body["startGuestSession"]), ["THROTTLED"]);
    assert!(body["startGuestSession"]["token"].is_null());
}

#[tokio::test]
async fn checkouts_are_limited_per_client_address_and_refused_ones_do_not_count() {
    let server = TestServer::spawn_with(&["--max-checkouts-per-client", "2"]).await;
    let query = "mutation($key: String!, $q: Int!) { checkoutLines(input: {lines: [{sku: \"STICKER-PACK\", quantity: $q}], idempotencyKey: $key, buyerIdentity: {email: \"g@example.com\"}}) { order { id } userErrors { code } } }";
    let buy = |key: &'static str, quantity: i64| {
        let (server, token) = (&server, guest(key));
        async move {
            server
                .data(Some(&token), query, json!({ "key": key, "q": quantity }))
                .await["checkoutLines"]
                .clone()
        }
    };
    // A refused checkout (quantity 0) gives its count back.
    assert_eq!(codes(&buy("bad", 0).await), ["INVALID_QUANTITY"]);
    assert!(buy("one", 1).await["order"]["id"].is_string());
    assert!(buy("two", 1).await["order"]["id"].is_string());
    assert_eq!(codes(&buy("three", 1).await), ["THROTTLED"]);
}

#[tokio::test]
async fn checkout_lines_holds_no_more_lines_than_a_cart() {
    let server = TestServer::spawn_with(&["--max-lines-per-cart", "2"]).await;
    let query = "mutation { checkoutLines(input: {lines: [{sku: \"STICKER-PACK\", quantity: 1}, {sku: \"MUG-LOGO\", quantity: 1}, {sku: \"TEE-BLK-M\", quantity: 1}], idempotencyKey: \"k\"}) { order { id } userErrors { code field } } }";
    let body = server.data(Some(&guest("wide")), query, json!({})).await;
    assert_eq!(codes(&body["checkoutLines"]), ["CART_LIMIT_EXCEEDED"]);
    assert!(body["checkoutLines"]["order"].is_null());
}

#[tokio::test]
async fn websockets_are_limited_per_client_address_before_the_upgrade() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = TestServer::spawn_with(&["--max-ws-connections-per-client", "2"]).await;
    let url = format!("{}/graphql/ws", server.base.replace("http://", "ws://"));
    let open = || {
        let mut request = url.clone().into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        tokio_tungstenite::connect_async(request)
    };
    let _first = open().await.unwrap();
    let _second = open().await.unwrap();
    match open().await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(error_code(&body), "THROTTLED");
        }
        other => panic!("a third socket from one address: {other:?}"),
    }
    drop(_first);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(open().await.is_ok(), "a place frees when a socket closes");
}

#[tokio::test]
async fn every_error_answer_is_json_with_a_code() {
    let server = TestServer::spawn_with(&["--max-body-bytes", "2048"]).await;
    let client = reqwest::Client::new();
    let url = format!("{}/graphql", server.base);
    let answers = [
        client
            .post(&url)
            .header("content-type", "application/json")
            .body("x".repeat(10_000))
            .send()
            .await
            .unwrap(),
        client.put(&url).send().await.unwrap(),
        client
            .get(format!("{}/no/such/path", server.base))
            .send()
            .await
            .unwrap(),
        client
            .get(format!("{}/graphql/ws", server.base))
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .send()
            .await
            .unwrap(),
    ];
    let mut statuses = Vec::new();
    for answer in answers {
        statuses.push(answer.status().as_u16());
        let body: Value = answer.json().await.expect("a JSON body");
        assert!(error_code(&body).len() > 1, "{body}");
    }
    assert_eq!(statuses, [413, 405, 404, 400]);
}

/// A product of the storefront grid: three options (5 × 5 × 4 = 100
/// variants, the most a product may have) and images.
fn grid_product(n: usize) -> Value {
    let (sizes, colours, fits) = (
        ["XS", "S", "M", "L", "XL"],
        ["Black", "White", "Navy", "Grey", "Red"],
        ["Slim", "Regular", "Loose", "Tall"],
    );
    let mut variants = Vec::new();
    for size in sizes {
        for colour in colours {
            for fit in fits {
                variants.push(json!({
                    "sku": format!("G{n:02}-{size}-{}-{}", &colour[..3], &fit[..3]).to_uppercase(),
                    "selectedOptions": [
                        {"name": "Size", "value": size},
                        {"name": "Colour", "value": colour},
                        {"name": "Fit", "value": fit},
                    ],
                    "price": "24.00",
                    "stock": 10,
                    "image": {"url": format!("https://img.example.com/g{n}/{colour}.jpg"), "altText": colour},
                }));
            }
        }
    }
    json!({
        "handle": format!("grid-{n:02}"),
        "title": format!("Grid product {n}"),
        "options": [
            {"name": "Size", "values": sizes},
            {"name": "Colour", "values": colours},
            {"name": "Fit", "values": fits},
        ],
        "images": (0..4).map(|i| json!({"url": format!("https://img.example.com/g{n}/{i}.jpg"), "width": 1200, "height": 1200})).collect::<Vec<_>>(),
        "variants": variants,
    })
}

#[tokio::test]
async fn a_twenty_product_grid_with_every_variant_and_the_cart_fits_the_default_budget() {
    let server = TestServer::spawn().await;
    let upsert = "mutation($input: UpsertProductInput!) { upsertProduct(input: $input) { userErrors { code field message } } }";
    for n in 0..20 {
        let done = server
            .data(Some(&admin()), upsert, json!({ "input": grid_product(n) }))
            .await;
        assert_eq!(done["upsertProduct"]["userErrors"], json!([]), "{done}");
    }
    let ann = customer("ann");
    add(&server, &ann, "default", "G00-M-NAV-REG", 1).await;
    let money = "{ amount currencyCode }";
    let image = "{ url altText width height }";
    let grid = format!(
        "query($after: String) {{ products(first: 20, after: $after) {{ nodes {{ id handle title options {{ name values }} featuredImage {image} images {image} variants {{ id sku title selectedOptions {{ name value }} price {money} compareAtPrice {money} stock availableForSale image {image} }} }} }} cart {{ id version lines {{ id sku quantity unitPrice {money} lineTotal {money} variant {{ id title image {image} product {{ title featuredImage {image} }} }} }} subtotal {money} warnings {{ code lineId }} }} }}"
    );
    // Handles sort after "grid": the twenty grid products come first.
    let data = server
        .data(Some(&ann), &grid, json!({ "after": "grid" }))
        .await;
    let nodes = data["products"]["nodes"].as_array().unwrap();
    let grid_nodes: Vec<&Value> = nodes
        .iter()
        .filter(|p| p["handle"].as_str().unwrap().starts_with("grid-"))
        .collect();
    assert_eq!(grid_nodes.len(), 20);
    assert!(
        grid_nodes
            .iter()
            .all(|p| p["variants"].as_array().unwrap().len() == 100)
    );
    assert_eq!(data["cart"]["lines"][0]["sku"], "G00-M-NAV-REG");

    // The cost it was measured at leaves room: a server at a quarter of the
    // default refuses it and says by how much.
    let strict = TestServer::spawn_with(&["--max-query-complexity", "25000"]).await;
    let refused = strict
        .gql(Some(&ann), &grid, json!({ "after": "grid" }))
        .await;
    assert_eq!(error_code(&refused), "QUERY_TOO_COMPLEX", "{refused}");
    let cost = refused["errors"][0]["extensions"]["cost"].as_u64().unwrap();
    assert!(cost <= 50_000, "half the default budget at most: {cost}");
    assert_eq!(refused["errors"][0]["extensions"]["limit"], 25_000);
    // A grid that asks for three variants a product costs far less and
    // gets three.
    let few = grid.replace("variants {", "variants(first: 3) {");
    let data = server
        .data(Some(&ann), &few, json!({ "after": "grid" }))
        .await;
    let nodes = data["products"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 20);
    for product in nodes {
        let skus: Vec<&str> = product["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["sku"].as_str().unwrap())
            .collect();
        assert_eq!(skus.len(), 3, "{product}");
        assert!(
            skus[0].ends_with("-XS-BLA-SLI"),
            "the first three, in order: {skus:?}"
        );
    }
    strict
        .data(Some(&ann), &few, json!({ "after": "grid" }))
        .await;
    let too_many = strict
        .gql(
            None,
            "{ products(first: 1) { nodes { variants(first: 101) { sku } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&too_many), "BAD_USER_INPUT", "{too_many}");
}
