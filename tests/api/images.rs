//! Product and variant images: admins set them with `upsertProduct`,
//! everyone reads them wherever a product or a variant is shown, and what
//! a browser would be told to load is checked first.

use crate::helpers::*;
use serde_json::{Value, json};

const IMAGES: &str = "images { url altText width height } featuredImage { url altText width height } variants { sku image { url altText width height } }";

fn upsert_query() -> String {
    format!(
        "mutation($input: UpsertProductInput!) {{ upsertProduct(input: $input) {{ product {{ {IMAGES} }} userErrors {{ code field message }} }} }}"
    )
}

const FRONT: &str = "https://images.example.com/lamp/front.jpg";
const SIDE: &str = "https://images.example.com/lamp/side.jpg";
const BRASS: &str = "https://images.example.com/lamp/brass.jpg";

/// The lamp with two variants; `images` and the brass variant's `image` are
/// given only when not `null`.
fn lamp(images: Value, brass_image: Value) -> Value {
    let mut brass = json!({"sku": "LAMP-BR", "price": "120", "selectedOptions": [{"name": "Colour", "value": "Brass"}]});
    if !brass_image.is_null() {
        brass["image"] = brass_image;
    }
    let black = json!({"sku": "LAMP-BK", "price": "110", "selectedOptions": [{"name": "Colour", "value": "Black"}]});
    let mut input = json!({"handle": "lamp", "title": "Lamp",
        "options": [{"name": "Colour", "values": ["Brass", "Black"]}],
        "variants": [brass, black]});
    if !images.is_null() {
        input["images"] = images;
    }
    json!({ "input": input })
}

fn two_images() -> Value {
    json!([
        {"url": FRONT, "altText": " Brass lamp, front ", "width": 1200, "height": 1600},
        {"url": "HTTPS://Images.Example.com/lamp/side.jpg"},
    ])
}

async fn upsert(server: &TestServer, variables: Value) -> Value {
    server
        .data(Some(&admin()), &upsert_query(), variables)
        .await["upsertProduct"]
        .clone()
}

/// The lamp's images as shoppers read them by handle.
async fn lamp_images(server: &TestServer) -> Value {
    let query = format!("{{ product(handle: \"lamp\") {{ {IMAGES} }} }}");
    server.data(None, &query, json!({})).await["product"].clone()
}

/// `(code, field path)` of each user error.
fn errors(payload: &Value) -> Vec<(String, String)> {
    payload["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(!e["message"].as_str().unwrap().is_empty(), "{e}");
            let field: Vec<&str> = e["field"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect();
            (e["code"].as_str().unwrap().to_string(), field.join("."))
        })
        .collect()
}

#[tokio::test]
async fn an_admin_sets_images_and_shoppers_see_them_on_products_variants_and_cart_lines() {
    let server = TestServer::spawn().await;
    let brass = json!({"url": BRASS, "altText": "Brass finish", "width": 800, "height": 800});
    let created = upsert(&server, lamp(two_images(), brass)).await;
    assert_eq!(errors(&created), vec![], "{created}");
    let front =
        json!({"url": FRONT, "altText": "Brass lamp, front", "width": 1200, "height": 1600});
    let side = json!({"url": SIDE, "altText": null, "width": null, "height": null});
    let brass_seen = json!({"url": BRASS, "altText": "Brass finish", "width": 800, "height": 800});
    let expected = json!({
        "images": [front, side],
        "featuredImage": front,
        "variants": [{"sku": "LAMP-BR", "image": brass_seen}, {"sku": "LAMP-BK", "image": null}],
    });
    assert_eq!(created["product"], expected);
    assert_eq!(lamp_images(&server).await, expected);

    let listed = server
        .data(
            None,
            "{ products(first: 20) { nodes { handle featuredImage { url } } } }",
            json!({}),
        )
        .await;
    let nodes = listed["products"]["nodes"].as_array().unwrap();
    let lamp = nodes.iter().find(|n| n["handle"] == "lamp").unwrap();
    assert_eq!(lamp["featuredImage"]["url"], FRONT);

    let variant = server
        .data(
            None,
            "{ variant(sku: \"LAMP-BR\") { image { url altText } product { featuredImage { url } } } black: variant(sku: \"LAMP-BK\") { image { url } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        variant,
        json!({"variant": {"image": {"url": BRASS, "altText": "Brass finish"}, "product": {"featuredImage": {"url": FRONT}}},
               "black": {"image": null}})
    );

    let ann = customer("ann");
    let added = add(&server, &ann, "default", "LAMP-BR", 1).await;
    assert_eq!(codes(&added), Vec::<String>::new());
    let cart = server
        .data(
            Some(&ann),
            "{ cart { lines { sku variant { image { url } product { images { url } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        cart["cart"]["lines"],
        json!([{"sku": "LAMP-BR", "variant": {"image": {"url": BRASS},
            "product": {"images": [{"url": FRONT}, {"url": SIDE}]}}}])
    );
}

#[tokio::test]
async fn images_left_out_are_kept_an_empty_list_clears_them_and_variants_are_written_whole() {
    let server = TestServer::spawn().await;
    let brass = json!({"url": BRASS});
    upsert(&server, lamp(two_images(), brass.clone())).await;

    // Without `images` the product keeps its own; a variant sent without
    // `image` has none (as one sent without `compareAtPrice` has none).
    let again = upsert(&server, lamp(json!(null), json!(null))).await;
    assert_eq!(errors(&again), vec![]);
    let product = &again["product"];
    assert_eq!(product["images"].as_array().unwrap().len(), 2);
    assert_eq!(product["featuredImage"]["url"], FRONT);
    assert_eq!(product["variants"][0]["image"], json!(null));

    let reordered = upsert(&server, lamp(json!([{"url": SIDE}, {"url": FRONT}]), brass)).await;
    assert_eq!(reordered["product"]["featuredImage"]["url"], SIDE);
    assert_eq!(reordered["product"]["variants"][0]["image"]["url"], BRASS);

    let cleared = upsert(&server, lamp(json!([]), json!(null))).await;
    assert_eq!(errors(&cleared), vec![]);
    let none = json!({"images": [], "featuredImage": null,
        "variants": [{"sku": "LAMP-BR", "image": null}, {"sku": "LAMP-BK", "image": null}]});
    assert_eq!(cleared["product"], none);
    assert_eq!(lamp_images(&server).await, none);
}

#[tokio::test]
async fn hostile_images_are_refused_with_a_user_error_naming_the_field_and_change_nothing() {
    let server = TestServer::spawn().await;
    let brass = json!({"url": BRASS});
    upsert(&server, lamp(two_images(), brass.clone())).await;
    let stored = lamp_images(&server).await;

    let one = |image: Value| json!([image]);
    let long_url = format!("https://images.example.com/{}", "a".repeat(3000 - 27));
    assert_eq!(long_url.len(), 3000);
    // 513 bytes in 129 characters: 128 four-byte ones and one more.
    let wide_alt = format!("{}a", "𝄞".repeat(128));
    assert_eq!(wide_alt.len(), 513);
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"url": format!("https://images.example.com/{i}.jpg")}))
        .collect();
    let cases = [
        (
            lamp(
                one(json!({"url": "http://images.example.com/a.jpg"})),
                brass.clone(),
            ),
            "images.0.url",
        ),
        (
            lamp(
                json!([{"url": FRONT}, {"url": "javascript:alert(document.cookie)"}]),
                brass.clone(),
            ),
            "images.1.url",
        ),
        (
            lamp(one(json!({"url": "/lamp/front.jpg"})), brass.clone()),
            "images.0.url",
        ),
        (
            lamp(one(json!({"url": long_url})), brass.clone()),
            "images.0.url",
        ),
        (lamp(json!(eleven), brass.clone()), "images"),
        (
            lamp(
                one(json!({"url": FRONT, "altText": wide_alt})),
                brass.clone(),
            ),
            "images.0.altText",
        ),
        (
            lamp(one(json!({"url": FRONT, "width": 0})), brass.clone()),
            "images.0.width",
        ),
        (
            lamp(json!(null), json!({"url": "javascript:alert(1)"})),
            "variants.0.image.url",
        ),
        (
            lamp(json!(null), json!({"url": BRASS, "height": 20001})),
            "variants.0.image.height",
        ),
    ];
    for (variables, field) in cases {
        let payload = upsert(&server, variables.clone()).await;
        assert_eq!(
            errors(&payload),
            [("INVALID_IMAGE".to_string(), field.to_string())],
            "{variables}"
        );
        assert_eq!(
            payload["product"], stored,
            "the payload shows the product unchanged"
        );
    }
    assert_eq!(lamp_images(&server).await, stored, "nothing was written");

    // Not a valid ImageInput at all: a request error, not a user error.
    let body = server
        .gql(
            Some(&admin()),
            &upsert_query(),
            lamp(one(json!({"url": FRONT, "width": "wide"})), json!(null)),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn the_demo_catalog_has_images_and_a_grid_with_them_fits_the_default_budget() {
    let server = TestServer::spawn().await;
    let grid = "{ products(first: 20) { nodes { handle title featuredImage { url altText width height } images { url altText width height } variants { sku title price { amount } availableForSale image { url altText width height } } } } }";
    let body = server.gql(None, grid, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let nodes = body["data"]["products"]["nodes"].as_array().unwrap();
    let hoodie = nodes.iter().find(|n| n["handle"] == "hoodie").unwrap();
    let url = hoodie["featuredImage"]["url"].as_str().unwrap();
    assert!(url.starts_with("https://"), "{url}");
    assert_eq!(hoodie["featuredImage"], hoodie["images"][0]);
    let variant_images = hoodie["variants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| !v["image"].is_null())
        .count();
    assert!(variant_images > 0, "{hoodie}");
}
