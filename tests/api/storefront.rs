//! The storefront model: lines with ids and attributes, cart note,
//! attributes and buyer identity, warnings, the e-mail rule at checkout.

use crate::helpers::*;
use crate::identity::start_guest;
use crate::shop::{PASSWORD, log_in, sign_up, token_of};
use serde_json::{Value, json};

const LINES: &str =
    "version lines { id sku quantity attributes { key value } } warnings { code lineId message }";

async fn add_with(server: &TestServer, token: &str, lines: Value) -> Value {
    let query = format!(
        "mutation($lines: [CartLineInput!]!) {{ addCartLines(input: {{lines: $lines}}) {{ cart {{ {LINES} }} userErrors {{ code field message }} }} }}"
    );
    server
        .data(Some(token), &query, json!({ "lines": lines }))
        .await["addCartLines"]
        .clone()
}

async fn mutate(server: &TestServer, token: &str, field: &str, input: Value) -> Value {
    let input_type = format!("{}{}Input!", field[..1].to_uppercase(), &field[1..]);
    let query = format!(
        "mutation($input: {input_type}) {{ {field}(input: $input) {{ cart {{ {LINES} note attributes {{ key value }} buyerIdentity {{ email phone countryCode shippingAddress {{ name city countryCode phone }} }} }} userErrors {{ code field message }} }} }}"
    );
    server
        .data(Some(token), &query, json!({ "input": input }))
        .await[field]
        .clone()
}

fn engraving(text: &str) -> Value {
    json!([{ "key": "engraving", "value": text }])
}

fn ids(cart: &Value) -> Vec<String> {
    cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_same_sku_with_other_attributes_is_another_line_and_lines_are_changed_by_id() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    let first = add_with(
        &server,
        &token,
        json!([
            {"sku": "MUG-LOGO", "quantity": 1, "attributes": engraving("A")},
            {"sku": "MUG-LOGO", "quantity": 1, "attributes": engraving("B")},
        ]),
    )
    .await;
    assert_eq!(codes(&first), Vec::<String>::new());
    let again = add_with(
        &server,
        &token,
        json!([{"sku": "MUG-LOGO", "quantity": 2, "attributes": [{"key": " engraving ", "value": "A "}]}]),
    )
    .await;
    let lines = &again["cart"]["lines"];
    assert_eq!(lines.as_array().unwrap().len(), 2, "{lines}");
    assert_eq!(lines[0]["quantity"], 3);
    assert_eq!(lines[0]["attributes"], engraving("A"));
    let [a, b] = <[String; 2]>::try_from(ids(&again["cart"])).unwrap();
    assert_ne!(a, b);

    // Changing B's engraving to A joins it to A's line; ids stay put.
    let update = mutate(
        &server,
        &token,
        "updateCartLines",
        json!({"lines": [{"id": b, "quantity": 1, "attributes": engraving("A")}], "expectedVersion": 2}),
    )
    .await;
    assert_eq!(codes(&update), Vec::<String>::new(), "{update}");
    assert_eq!(ids(&update["cart"]), vec![a.clone()]);
    assert_eq!(update["cart"]["lines"][0]["quantity"], 4);

    // A removed line's id never comes back, even for the same item.
    let removed = mutate(&server, &token, "removeCartLines", json!({"lineIds": [a]})).await;
    assert_eq!(removed["cart"]["lines"], json!([]));
    let twice = mutate(&server, &token, "removeCartLines", json!({"lineIds": [a]})).await;
    assert_eq!(codes(&twice), Vec::<String>::new());
    assert_eq!(twice["cart"]["version"], removed["cart"]["version"]);
    let back = add_with(
        &server,
        &token,
        json!([{"sku": "MUG-LOGO", "quantity": 1, "attributes": engraving("A")}]),
    )
    .await;
    assert!(!ids(&back["cart"]).contains(&a), "{back}");
    assert!(!ids(&back["cart"]).contains(&b), "{back}");
}

#[tokio::test]
async fn attributes_are_checked_against_the_configured_limits() {
    let server =
        TestServer::spawn_with(&["--max-attributes", "1", "--max-attribute-value-bytes", "5"])
            .await;
    let token = customer("ann");
    let limits = server
        .data(None, "{ shop { limits { maxAttributes maxAttributeKeyBytes maxAttributeValueBytes maxNoteBytes maxAttributeValueChars } } }", json!({}))
        .await;
    assert_eq!(
        limits["shop"]["limits"],
        json!({"maxAttributes": 1, "maxAttributeKeyBytes": 64, "maxAttributeValueBytes": 5, "maxNoteBytes": 1000, "maxAttributeValueChars": 5})
    );
    let payload = add_with(
        &server,
        &token,
        json!([
            {"sku": "MUG-LOGO", "quantity": 1, "attributes": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]},
            // Three characters, six bytes: over a limit of five bytes.
            {"sku": "MUG-LOGO", "quantity": 1, "attributes": [{"key": "a", "value": "ééé"}]},
            {"sku": "MUG-LOGO", "quantity": 1, "attributes": [{"key": "", "value": "x"}]},
            {"sku": "MUG-LOGO", "quantity": 1, "attributes": [{"key": "a\u{7}", "value": "x"}]},
            {"sku": "MUG-LOGO", "quantity": 1, "attributes": [{"key": "a", "value": "\u{202e}gnp.exe"}]},
        ]),
    )
    .await;
    let fields: Vec<String> = payload["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["code"], "INVALID_ATTRIBUTE");
            e["field"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    assert_eq!(
        fields,
        [
            "lines.0.attributes",
            "lines.1.attributes.0.value",
            "lines.2.attributes.0.key",
            "lines.3.attributes.0.value",
            "lines.4.attributes.0.value",
        ]
    );
    assert_eq!(payload["cart"]["version"], 0);
    let cart_attributes = mutate(
        &server,
        &token,
        "updateCartAttributes",
        json!({"attributes": [{"key": "gift", "value": "yes"}, {"key": "x", "value": "y"}]}),
    )
    .await;
    assert_eq!(codes(&cart_attributes), ["INVALID_ATTRIBUTE"]);
}

#[tokio::test]
async fn note_attributes_and_buyer_identity_are_checked_field_by_field_and_bump_the_version() {
    let server = TestServer::spawn().await;
    let token = guest("g-1");
    let bad = mutate(
        &server,
        &token,
        "updateCartBuyerIdentity",
        json!({"buyerIdentity": {"email": "not-an-email", "phone": "0301234", "countryCode": "XX",
            "shippingAddress": {"name": "x".repeat(401), "countryCode": "de", "phone": "+49 30 1234567"}}}),
    )
    .await;
    let got: Vec<(String, String)> = bad["userErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["code"].as_str().unwrap().to_string(),
                e["field"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| f.as_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("."),
            )
        })
        .collect();
    let want = [
        ("INVALID_EMAIL", "buyerIdentity.email"),
        ("INVALID_PHONE", "buyerIdentity.phone"),
        ("INVALID_COUNTRY_CODE", "buyerIdentity.countryCode"),
        ("INVALID_ADDRESS", "buyerIdentity.shippingAddress.name"),
    ];
    for (code, field) in want {
        assert!(
            got.contains(&(code.to_string(), field.to_string())),
            "{code} at {field} missing from {got:?}"
        );
    }
    assert_eq!(bad["cart"]["version"], 0);

    let good = mutate(
        &server,
        &token,
        "updateCartBuyerIdentity",
        json!({"buyerIdentity": {"email": " Ada@Example.com ", "phone": "+4915112345678", "countryCode": "de",
            "shippingAddress": {"name": "Ada", "city": "Berlin", "countryCode": "DE"}}, "expectedVersion": 0}),
    )
    .await;
    assert_eq!(codes(&good), Vec::<String>::new(), "{good}");
    assert_eq!(
        good["cart"]["buyerIdentity"],
        json!({"email": "ada@example.com", "phone": "+4915112345678", "countryCode": "DE",
            "shippingAddress": {"name": "Ada", "city": "Berlin", "countryCode": "DE", "phone": null}})
    );
    assert_eq!(good["cart"]["version"], 1);
    let note = mutate(
        &server,
        &token,
        "updateCartNote",
        json!({"note": "ring twice", "expectedVersion": 1}),
    )
    .await;
    assert_eq!(note["cart"]["note"], "ring twice");
    assert_eq!(note["cart"]["version"], 2);
    let stale = mutate(
        &server,
        &token,
        "updateCartNote",
        json!({"note": "other", "expectedVersion": 1}),
    )
    .await;
    assert_eq!(codes(&stale), ["VERSION_CONFLICT"]);
    let long = mutate(
        &server,
        &token,
        "updateCartNote",
        json!({"note": "ñ".repeat(501)}),
    )
    .await;
    assert_eq!(
        codes(&long),
        ["INVALID_ATTRIBUTE"],
        "501 characters, 1002 bytes"
    );
    assert_eq!(long["userErrors"][0]["field"], json!(["note"]));
    let cleared = mutate(&server, &token, "updateCartNote", json!({"note": null})).await;
    assert_eq!(cleared["cart"]["note"], json!(null));
    assert_eq!(cleared["cart"]["version"], 3);
    // Clearing the lines keeps who buys.
    let clear = mutate(&server, &token, "clearCart", json!({})).await;
    assert_eq!(clear["cart"]["buyerIdentity"]["email"], "ada@example.com");
}

#[tokio::test]
async fn warnings_appear_and_disappear_with_stock_availability_and_price() {
    let server = TestServer::spawn().await;
    let token = customer("ann");
    let admin = admin();
    let added = add_with(
        &server,
        &token,
        json!([{"sku": "TEE-BLK-L", "quantity": 2}, {"sku": "MUG-LOGO", "quantity": 1}]),
    )
    .await;
    assert_eq!(added["cart"]["warnings"], json!([]));
    let [tee, mug] = <[String; 2]>::try_from(ids(&added["cart"])).unwrap();
    let adjust = "mutation($sku: String!, $delta: Int!) { adjustStock(input: {sku: $sku, delta: $delta}) { userErrors { code } } }";
    server
        .data(
            Some(&admin),
            adjust,
            json!({"sku": "TEE-BLK-L", "delta": -2}),
        )
        .await;
    let w = warnings(&server, &token).await;
    assert_eq!(
        (w[0].0.as_str(), w[0].1.as_str()),
        ("INSUFFICIENT_STOCK", tee.as_str())
    );
    assert!(w[0].2.contains("only 1"), "{}", w[0].2);
    server
        .data(
            Some(&admin),
            adjust,
            json!({"sku": "TEE-BLK-L", "delta": -1}),
        )
        .await;
    assert_eq!(warnings(&server, &token).await[0].0, "OUT_OF_STOCK");
    server
        .data(
            Some(&admin),
            adjust,
            json!({"sku": "TEE-BLK-L", "delta": 5}),
        )
        .await;
    assert_eq!(warnings(&server, &token).await, vec![]);

    let upsert = "mutation($input: UpdateVariantInput!) { updateVariant(input: $input) { userErrors { code } } }";
    server
        .data(
            Some(&admin),
            upsert,
            json!({"input": {"sku": "MUG-LOGO", "price": "11.00"}}),
        )
        .await;
    let w = warnings(&server, &token).await;
    assert_eq!(
        (w[0].0.as_str(), w[0].1.as_str()),
        ("PRICE_CHANGED", mug.as_str())
    );
    assert!(w[0].2.contains("9.50 to 11.00 USD"), "{}", w[0].2);
    server
        .data(
            Some(&admin),
            upsert,
            json!({"input": {"sku": "MUG-LOGO", "active": false}}),
        )
        .await;
    let codes_now: Vec<String> = warnings(&server, &token)
        .await
        .into_iter()
        .map(|w| w.0)
        .collect();
    assert_eq!(codes_now, ["NO_LONGER_AVAILABLE", "PRICE_CHANGED"]);
    server
        .data(
            Some(&admin),
            upsert,
            json!({"input": {"sku": "MUG-LOGO", "active": true}}),
        )
        .await;
    // Updating the line accepts the new price: the warning goes.
    mutate(
        &server,
        &token,
        "updateCartLines",
        json!({"lines": [{"id": mug, "quantity": 2}]}),
    )
    .await;
    assert_eq!(warnings(&server, &token).await, vec![]);

    // Adding something out of stock works, with a warning in the payload.
    server
        .data(
            Some(&admin),
            adjust,
            json!({"sku": "TEE-BLK-L", "delta": -5}),
        )
        .await;
    let payload = add_with(
        &server,
        &token,
        json!([{"sku": "TEE-BLK-L", "quantity": 1}]),
    )
    .await;
    assert_eq!(codes(&payload), Vec::<String>::new());
    assert_eq!(payload["cart"]["warnings"][0]["code"], "OUT_OF_STOCK");
}

async fn warnings(server: &TestServer, token: &str) -> Vec<(String, String, String)> {
    let cart = server
        .data(Some(token), &format!("{{ cart {{ {LINES} }} }}"), json!({}))
        .await;
    cart["cart"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let text = |k: &str| w[k].as_str().unwrap().to_string();
            (text("code"), text("lineId"), text("message"))
        })
        .collect()
}

const CHECKOUT: &str = "mutation($key: String!) { checkout(input: {idempotencyKey: $key}) { order { id note attributes { key value } buyerIdentity { email phone } lines { sku attributes { key value } } } userErrors { code field message } } }";

#[tokio::test]
async fn guests_must_give_an_email_and_orders_keep_what_the_cart_said() {
    let server = TestServer::spawn().await;
    let token = guest("g-1");
    add_with(
        &server,
        &token,
        json!([{"sku": "MUG-LOGO", "quantity": 1, "attributes": engraving("Ada")}]),
    )
    .await;
    let refused = server
        .data(Some(&token), CHECKOUT, json!({"key": "k-1"}))
        .await["checkout"]
        .clone();
    assert_eq!(codes(&refused), ["EMAIL_REQUIRED"]);
    assert_eq!(
        refused["userErrors"][0]["field"],
        json!(["buyerIdentity", "email"])
    );
    mutate(
        &server,
        &token,
        "updateCartBuyerIdentity",
        json!({"buyerIdentity": {"email": "ada@example.com", "phone": "+15555550100"}}),
    )
    .await;
    mutate(&server, &token, "updateCartNote", json!({"note": "gift"})).await;
    mutate(
        &server,
        &token,
        "updateCartAttributes",
        json!({"attributes": [{"key": "source", "value": "ad"}]}),
    )
    .await;
    // The refusal did not use the key.
    let placed = server
        .data(Some(&token), CHECKOUT, json!({"key": "k-1"}))
        .await["checkout"]
        .clone();
    assert_eq!(codes(&placed), Vec::<String>::new(), "{placed}");
    let order = &placed["order"];
    assert_eq!(order["note"], "gift");
    assert_eq!(
        order["attributes"],
        json!([{"key": "source", "value": "ad"}])
    );
    assert_eq!(
        order["buyerIdentity"],
        json!({"email": "ada@example.com", "phone": "+15555550100"})
    );
    assert_eq!(order["lines"][0]["attributes"], engraving("Ada"));
    // The cart is empty after checkout, note and buyer included.
    let cart = server
        .data(
            Some(&token),
            "{ cart { note buyerIdentity { email } lines { sku } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        cart["cart"],
        json!({"note": null, "buyerIdentity": {"email": null}, "lines": []})
    );
}

#[tokio::test]
async fn a_customer_cart_defaults_to_the_account_email_and_all_requires_one_from_everyone() {
    let server = TestServer::spawn_with(&["--checkout-email", "all"]).await;
    let payload = sign_up(&server, "bo@example.com", PASSWORD, None).await;
    let bo = token_of(&payload);
    add_with(&server, &bo, json!([{"sku": "MUG-LOGO", "quantity": 1}])).await;
    let cart = server
        .data(Some(&bo), "{ cart { buyerIdentity { email } } }", json!({}))
        .await;
    assert_eq!(cart["cart"]["buyerIdentity"]["email"], "bo@example.com");
    let placed = server
        .data(Some(&bo), CHECKOUT, json!({"key": "k-1"}))
        .await["checkout"]
        .clone();
    assert_eq!(placed["order"]["buyerIdentity"]["email"], "bo@example.com");
    // The same holds after logging in again (a new token).
    let bo = token_of(&log_in(&server, "bo@example.com", PASSWORD, None, None).await);
    let cart = server
        .data(Some(&bo), "{ cart { buyerIdentity { email } } }", json!({}))
        .await;
    assert_eq!(cart["cart"]["buyerIdentity"]["email"], "bo@example.com");
    // A customer token without an email claim must give one.
    let anon = customer("no-email");
    add_with(&server, &anon, json!([{"sku": "MUG-LOGO", "quantity": 1}])).await;
    let refused = server
        .data(Some(&anon), CHECKOUT, json!({"key": "k-1"}))
        .await["checkout"]
        .clone();
    assert_eq!(codes(&refused), ["EMAIL_REQUIRED"]);
}

#[tokio::test]
async fn with_optional_emails_a_guest_checks_out_without_one() {
    let server = TestServer::spawn_with(&["--checkout-email", "optional"]).await;
    let token = guest("g-1");
    add_with(&server, &token, json!([{"sku": "MUG-LOGO", "quantity": 1}])).await;
    let placed = server
        .data(Some(&token), CHECKOUT, json!({"key": "k-1"}))
        .await["checkout"]
        .clone();
    assert_eq!(codes(&placed), Vec::<String>::new());
    assert_eq!(placed["order"]["buyerIdentity"]["email"], json!(null));
}

#[tokio::test]
async fn log_in_keeps_the_guest_note_and_buyer_where_the_customer_cart_has_none() {
    let server = TestServer::spawn().await;
    let bo = token_of(&sign_up(&server, "bo@example.com", PASSWORD, None).await);
    add_with(&server, &bo, json!([{"sku": "TEE-BLK-M", "quantity": 1}])).await;
    mutate(
        &server,
        &bo,
        "updateCartNote",
        json!({"note": "customer note"}),
    )
    .await;
    for (strategy, lines, note) in [
        ("KEEP_CUSTOMER", vec!["TEE-BLK-M"], "customer note"),
        ("KEEP_GUEST", vec!["MUG-LOGO"], "guest note"),
        ("COMBINE", vec!["TEE-BLK-M", "MUG-LOGO"], "customer note"),
    ] {
        let guest = start_guest(&server).await;
        add_with(&server, &guest, json!([{"sku": "MUG-LOGO", "quantity": 1}])).await;
        mutate(
            &server,
            &guest,
            "updateCartNote",
            json!({"note": "guest note"}),
        )
        .await;
        mutate(
            &server,
            &guest,
            "updateCartAttributes",
            json!({"attributes": [{"key": "ref", "value": strategy}]}),
        )
        .await;
        mutate(
            &server,
            &guest,
            "updateCartBuyerIdentity",
            json!({"buyerIdentity": {"phone": "+15555550100"}}),
        )
        .await;
        let payload = log_in(
            &server,
            "bo@example.com",
            PASSWORD,
            Some(&guest),
            Some(strategy),
        )
        .await;
        let token = token_of(&payload);
        let cart = server
            .data(Some(&token), "{ cart { note attributes { value } buyerIdentity { email phone } lines { sku } } }", json!({}))
            .await["cart"]
            .clone();
        let skus: Vec<&str> = cart["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["sku"].as_str().unwrap())
            .collect();
        assert_eq!(skus, lines, "{strategy}");
        assert_eq!(cart["note"], note, "{strategy}");
        assert_eq!(cart["attributes"][0]["value"], strategy, "{strategy}");
        assert_eq!(cart["buyerIdentity"]["phone"], "+15555550100", "{strategy}");
        assert_eq!(
            cart["buyerIdentity"]["email"], "bo@example.com",
            "{strategy}"
        );
        // Reset for the next strategy: the customer's cart as it started.
        mutate(
            &server,
            &token,
            "replaceCart",
            json!({"lines": [{"sku": "TEE-BLK-M", "quantity": 1}]}),
        )
        .await;
        mutate(
            &server,
            &token,
            "updateCartNote",
            json!({"note": "customer note"}),
        )
        .await;
        mutate(
            &server,
            &token,
            "updateCartAttributes",
            json!({"attributes": []}),
        )
        .await;
        mutate(
            &server,
            &token,
            "updateCartBuyerIdentity",
            json!({"buyerIdentity": {}}),
        )
        .await;
    }
}
