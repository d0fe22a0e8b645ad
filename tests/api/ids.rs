//! Global ids a normalized cache can trust: unique across carts and
//! viewers, `node`/`nodes` answering only what the viewer may see, older
//! ids still taken; errors that name the line; one code per shortage.

use crate::helpers::*;
use crate::shop::{add_lines, checkout_query};
use serde_json::{Value, json};
use std::collections::HashSet;

const CART: &str = "id name version lines { id sku quantity } warnings { code lineId }";

async fn cart(server: &TestServer, token: &str, name: &str) -> Value {
    let query = format!("query($name: String!) {{ cart(name: $name) {{ {CART} }} }}");
    server
        .data(Some(token), &query, json!({ "name": name }))
        .await["cart"]
        .clone()
}

fn line_ids(cart: &Value) -> Vec<String> {
    cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect()
}

async fn node(server: &TestServer, token: Option<&str>, id: &str) -> Value {
    let query = "query($id: ID!) { node(id: $id) { __typename id } }";
    server.data(token, query, json!({ "id": id })).await["node"].clone()
}

async fn place_order(server: &TestServer, token: &str, key: &str) -> Value {
    let query = checkout_query();
    let placed = server
        .data(Some(token), &query, json!({ "key": key }))
        .await;
    assert_eq!(placed["checkout"]["userErrors"], json!([]), "{placed}");
    placed["checkout"]["order"].clone()
}

#[tokio::test]
async fn carts_of_one_viewer_and_of_two_viewers_never_share_an_id() {
    let server = TestServer::spawn().await;
    let (ann, bob) = (customer("ann"), guest("bob"));
    // The same SKU, first line of each cart: every one was "1-0" before.
    for (token, name) in [(&ann, "default"), (&ann, "wishlist"), (&bob, "default")] {
        let added = add_lines(
            &server,
            token,
            name,
            json!([{"sku": "MUG-LOGO", "quantity": 1}, {"sku": "TEE-BLK-L", "quantity": 1}]),
        )
        .await;
        assert_eq!(added["userErrors"], json!([]), "{added}");
    }
    let carts = [
        cart(&server, &ann, "default").await,
        cart(&server, &ann, "wishlist").await,
        cart(&server, &bob, "default").await,
    ];
    let mut seen = HashSet::new();
    for cart in &carts {
        let id = cart["id"].as_str().unwrap();
        assert!(id.starts_with("gid://cartql/Cart/"), "{id}");
        assert!(seen.insert(id.to_string()), "cart id {id} twice");
        for line in line_ids(cart) {
            assert!(line.starts_with("gid://cartql/CartLine/"), "{line}");
            assert!(seen.insert(line.clone()), "line id {line} twice");
        }
    }
    // A customer and a guest with the same subject are two owners.
    let ann_as_guest = guest("ann");
    add_lines(
        &server,
        &ann_as_guest,
        "default",
        json!([{"sku": "MUG-LOGO", "quantity": 1}]),
    )
    .await;
    let other = cart(&server, &ann_as_guest, "default").await;
    assert!(!seen.contains(other["id"].as_str().unwrap()));
    assert!(!seen.contains(&line_ids(&other)[0]));
    // Ids do not show who the viewer is.
    assert!(carts.iter().all(|c| !c.to_string().contains("ann")));

    // Stable for the life of the line: a change to another line or to this
    // one keeps it.
    let before = line_ids(&carts[0]);
    add_lines(
        &server,
        &ann,
        "default",
        json!([{"sku": "MUG-LOGO", "quantity": 2}, {"sku": "STICKER-PACK", "quantity": 1}]),
    )
    .await;
    let after = line_ids(&cart(&server, &ann, "default").await);
    assert_eq!(after[..2], before[..]);
    assert_eq!(after.len(), 3);
}

#[tokio::test]
async fn node_answers_each_entity_to_whoever_may_see_it_and_null_to_others() {
    let server = TestServer::spawn().await;
    let (ann, bob) = (customer("ann"), customer("bob"));
    add_lines(
        &server,
        &ann,
        "default",
        json!([{"sku": "MUG-LOGO", "quantity": 1}]),
    )
    .await;
    let ann_cart = cart(&server, &ann, "default").await;
    let cart_id = ann_cart["id"].as_str().unwrap().to_string();
    let line_id = line_ids(&ann_cart)[0].clone();
    let order = place_order(&server, &ann, "k-1").await;
    let order_id = order["id"].as_str().unwrap().to_string();
    assert!(order_id.starts_with("gid://cartql/Order/"), "{order_id}");
    let order_lines = server
        .data(
            Some(&ann),
            "query($id: ID!) { order(id: $id) { lines { id sku } } }",
            json!({ "id": order_id }),
        )
        .await;
    let order_line_id = order_lines["order"]["lines"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(order_line_id.ends_with("/1"), "{order_line_id}");
    // The checkout emptied the cart; the line is gone, a new one comes.
    add_lines(
        &server,
        &ann,
        "default",
        json!([{"sku": "TEE-BLK-L", "quantity": 2}]),
    )
    .await;
    let live_line = line_ids(&cart(&server, &ann, "default").await)[0].clone();
    assert_ne!(live_line, line_id, "a line id is never reused");

    let catalog = server
        .data(
            None,
            "{ product(handle: \"logo-mug\") { id variants { id sku } } }",
            json!({}),
        )
        .await;
    let product_id = catalog["product"]["id"].as_str().unwrap().to_string();
    let variant_id = catalog["product"]["variants"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    // The owner reads each back, with its type.
    for (id, typename) in [
        (&cart_id, "Cart"),
        (&live_line, "CartLine"),
        (&order_id, "Order"),
        (&order_line_id, "OrderLine"),
        (&product_id, "Product"),
        (&variant_id, "ProductVariant"),
    ] {
        assert_eq!(
            node(&server, Some(&ann), id).await,
            json!({"__typename": typename, "id": id}),
            "{id}"
        );
    }
    // The removed line is no node any more.
    assert_eq!(node(&server, Some(&ann), &line_id).await, json!(null));
    // Another viewer and no token: the catalog, never ann's things.
    for token in [Some(bob.as_str()), None] {
        for id in [&cart_id, &live_line, &order_id, &order_line_id] {
            assert_eq!(node(&server, token, id).await, json!(null), "{id}");
        }
        assert_eq!(
            node(&server, token, &product_id).await["id"],
            json!(product_id)
        );
    }
    // An admin sees any order (the shop's view), never a buyer's cart.
    assert_eq!(
        node(&server, Some(&admin()), &order_id).await["id"],
        json!(order_id)
    );
    assert_eq!(node(&server, Some(&admin()), &cart_id).await, json!(null));
    // A product not for sale is hidden as `product(handle)` hides it.
    server
        .data(
            Some(&admin()),
            "mutation { upsertProduct(input: {handle: \"logo-mug\", title: \"Logo mug\", active: false, variants: [{sku: \"MUG-LOGO\", price: \"9.50\"}]}) { userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(node(&server, Some(&bob), &product_id).await, json!(null));
    assert_eq!(
        node(&server, Some(&admin()), &product_id).await["id"],
        json!(product_id)
    );

    // nodes: in the order given, null where node is; fields by fragment.
    let many = server
        .data(
            Some(&ann),
            "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on CartLine { sku quantity } ... on Order { status } } }",
            json!({ "ids": [live_line, "gid://cartql/Cart/nope/default", order_id, "1-0", variant_id] }),
        )
        .await;
    assert_eq!(
        many["nodes"],
        json!([
            {"id": live_line, "sku": "TEE-BLK-L", "quantity": 2},
            null,
            {"id": order_id, "status": "PLACED"},
            null,
            // Its product was withdrawn above: hidden as `variant(sku)` hides it.
            null,
        ])
    );
    // Malformed ids are null, never an error or a crash.
    let hostile = [
        String::new(),
        "gid://cartql/".into(),
        "gid://cartql/Cart/".into(),
        format!("{cart_id}/extra"),
        cart_id.replace("Cart/", "Cart/../"),
        format!("gid://cartql/CartLine/{}", "x/".repeat(5000)),
        "gid://cartql/OrderLine/01ARZ3NDEKTSV4RRFFQ69G5FAV/18446744073709551616".into(),
        "gid://cartql/Product/%00".into(),
        "\u{0}\u{1f600}".into(),
    ];
    for id in &hostile {
        assert_eq!(node(&server, Some(&ann), id).await, json!(null), "{id:?}");
    }
    // At most 100 ids.
    let too_many: Vec<String> = (0..101).map(|_| product_id.clone()).collect();
    let body = server
        .gql(
            Some(&ann),
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": too_many }),
        )
        .await;
    assert!(body["errors"].is_array(), "{body}");
}

#[tokio::test]
async fn mutations_take_global_line_ids_and_the_older_ones_within_a_cart() {
    let server = TestServer::spawn().await;
    let (ann, bob) = (customer("ann"), customer("bob"));
    for name in ["default", "wishlist"] {
        add_lines(
            &server,
            &ann,
            name,
            json!([{"sku": "MUG-LOGO", "quantity": 1}, {"sku": "TEE-BLK-L", "quantity": 1}]),
        )
        .await;
    }
    add_lines(
        &server,
        &bob,
        "default",
        json!([{"sku": "MUG-LOGO", "quantity": 1}]),
    )
    .await;
    let default = line_ids(&cart(&server, &ann, "default").await);
    let wishlist = line_ids(&cart(&server, &ann, "wishlist").await);
    let bobs = line_ids(&cart(&server, &bob, "default").await);
    let update = "mutation($cart: String!, $id: ID!, $q: Int!) { updateCartLines(input: {cart: $cart, lines: [{id: $id, quantity: $q}]}) { cart { version lines { id quantity } } userErrors { code field lineId } } }";

    let changed = server
        .data(
            Some(&ann),
            update,
            json!({"cart": "default", "id": default[0], "q": 5}),
        )
        .await;
    assert_eq!(changed["updateCartLines"]["userErrors"], json!([]));
    assert_eq!(
        changed["updateCartLines"]["cart"]["lines"][0],
        json!({"id": default[0], "quantity": 5})
    );
    // A line of another cart, or of another viewer, is not in this cart.
    for foreign in [&wishlist[0], &bobs[0]] {
        let refused = server
            .data(
                Some(&ann),
                update,
                json!({"cart": "default", "id": foreign, "q": 7}),
            )
            .await;
        assert_eq!(codes(&refused["updateCartLines"]), ["LINE_NOT_FOUND"]);
        assert_eq!(refused["updateCartLines"]["cart"]["version"], 2);
    }
    // The id within the cart that older versions showed still works.
    let old = server
        .data(
            Some(&ann),
            update,
            json!({"cart": "wishlist", "id": "1-1", "q": 3}),
        )
        .await;
    assert_eq!(old["updateCartLines"]["userErrors"], json!([]));
    assert_eq!(
        old["updateCartLines"]["cart"]["lines"][1],
        json!({"id": wishlist[1], "quantity": 3})
    );
    let remove = "mutation($cart: String!, $ids: [ID!]!) { removeCartLines(input: {cart: $cart, lineIds: $ids}) { cart { lines { id } } userErrors { code } } }";
    let removed = server
        .data(
            Some(&ann),
            remove,
            json!({"cart": "default", "ids": [default[1], wishlist[0], "1-0"]}),
        )
        .await;
    assert_eq!(removed["removeCartLines"]["cart"]["lines"], json!([]));
    assert_eq!(
        line_ids(&cart(&server, &ann, "wishlist").await),
        wishlist,
        "a wishlist line named while removing from the default cart stays"
    );
}

#[tokio::test]
async fn refusals_name_the_line_with_the_code_its_warning_has() {
    let server = TestServer::spawn().await;
    let ann = customer("ann");
    add_lines(
        &server,
        &ann,
        "default",
        json!([{"sku": "TEE-BLK-L", "quantity": 3}, {"sku": "MUG-LOGO", "quantity": 2}, {"sku": "STICKER-PACK", "quantity": 1}]),
    )
    .await;
    let adjust = "mutation($sku: String!, $delta: Int!) { adjustStock(input: {sku: $sku, delta: $delta}) { variant { stock } userErrors { code } } }";
    let stock_of = |sku: &str| {
        let server = &server;
        let sku = sku.to_string();
        async move {
            server
                .data(
                    None,
                    "query($sku: String!) { variant(sku: $sku) { stock } }",
                    json!({ "sku": sku }),
                )
                .await["variant"]["stock"]
                .as_i64()
                .unwrap()
        }
    };
    // One left of the tee (3 wanted), none of the mug.
    let tee = stock_of("TEE-BLK-L").await;
    let mug = stock_of("MUG-LOGO").await;
    for (sku, delta) in [("TEE-BLK-L", 1 - tee), ("MUG-LOGO", -mug)] {
        let done = server
            .data(Some(&admin()), adjust, json!({"sku": sku, "delta": delta}))
            .await;
        assert_eq!(done["adjustStock"]["userErrors"], json!([]), "{done}");
    }
    let seen = cart(&server, &ann, "default").await;
    let ids = line_ids(&seen);
    assert_eq!(
        seen["warnings"],
        json!([
            {"code": "INSUFFICIENT_STOCK", "lineId": ids[0]},
            {"code": "OUT_OF_STOCK", "lineId": ids[1]},
        ])
    );
    let query = "mutation($key: String!) { checkout(input: {idempotencyKey: $key}) { order { id } userErrors { code field lineId } } }";
    let refused = server.data(Some(&ann), query, json!({"key": "k"})).await;
    assert_eq!(
        refused["checkout"]["userErrors"],
        json!([
            {"code": "INSUFFICIENT_STOCK", "field": ["lines", "0", "quantity"], "lineId": ids[0]},
            {"code": "OUT_OF_STOCK", "field": ["lines", "1", "quantity"], "lineId": ids[1]},
        ])
    );
    // A client-held cart has no line ids: its lines are named by index.
    let lines = "mutation { checkoutLines(input: {idempotencyKey: \"k2\", buyerIdentity: {email: \"ann@example.com\"}, lines: [{sku: \"STICKER-PACK\", quantity: 1}, {sku: \"MUG-LOGO\", quantity: 1}]}) { userErrors { code field lineId } } }";
    let refused = server.data(Some(&ann), lines, json!({})).await;
    assert_eq!(
        refused["checkoutLines"]["userErrors"],
        json!([{"code": "OUT_OF_STOCK", "field": ["lines", "1", "quantity"], "lineId": null}])
    );
    // A change refused for one line names it too.
    server
        .data(
            Some(&admin()),
            "mutation { updateVariant(input: {sku: \"STICKER-PACK\", active: false}) { userErrors { code } } }",
            json!({}),
        )
        .await;
    let raise = server
        .data(
            Some(&ann),
            "mutation($id: ID!) { updateCartLines(input: {lines: [{id: $id, quantity: 5}]}) { userErrors { code lineId } } }",
            json!({"id": ids[2]}),
        )
        .await;
    assert_eq!(
        raise["updateCartLines"]["userErrors"],
        json!([{"code": "PRODUCT_INACTIVE", "lineId": ids[2]}])
    );
}
