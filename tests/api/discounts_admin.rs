//! What the buyer pays, the admin's side: discounts (`upsertDiscount`,
//! `deleteDiscount`, `discounts`, `discount`) and shipping rates
//! (`upsertShippingRate`, `deleteShippingRate`, `shippingRates`): what is
//! stored reads back, every bad field is refused by its path, hostile input
//! is refused without harm, and only an admin gets in. On both backends.

use crate::helpers::*;
use serde_json::{Value, json};

const DISCOUNT_FIELDS: &str = "id title codes target percentage fixedAmount { amount currencyCode } appliesTo { skus productHandles } buyXGetY { buyQuantity getQuantity getPercentage maxUsesPerOrder } minimumSubtotal { amount } minimumQuantity startsAt endsAt usageLimit usageLimitPerCustomer customersOnly combinesWith { lineDiscounts orderDiscounts shippingDiscounts } active createdAt";
const RATE_FIELDS: &str = "handle title countries price { amount currencyCode } minSubtotal { amount } maxSubtotal { amount } minWeightGrams maxWeightGrams freeAbove { amount } active";

/// A server with the demo catalog but without the demo's discount
/// (`WELCOME10`), so the counts here are this test's own.
async fn shop() -> TestServer {
    let server = TestServer::spawn().await;
    let delete =
        "mutation { deleteDiscount(input: {id: \"01JEDEM0WE1C0ME10000000000\"}) { deleted } }";
    let done = server.data(Some(&admin()), delete, json!({})).await;
    assert_eq!(done["deleteDiscount"]["deleted"], true, "{done}");
    server
}

fn upsert_discount() -> String {
    format!(
        "mutation($input: DiscountInput!) {{ upsertDiscount(input: $input) {{ discount {{ {DISCOUNT_FIELDS} }} userErrors {{ code field message }} }} }}"
    )
}

fn upsert_rate() -> String {
    format!(
        "mutation($input: UpsertShippingRateInput!) {{ upsertShippingRate(input: $input) {{ shippingRate {{ {RATE_FIELDS} }} userErrors {{ code field message }} }} }}"
    )
}

const DELETE_DISCOUNT: &str = "mutation($input: DeleteDiscountInput!) { deleteDiscount(input: $input) { deleted userErrors { code field } } }";
const DELETE_RATE: &str = "mutation($input: DeleteShippingRateInput!) { deleteShippingRate(input: $input) { deleted userErrors { code field } } }";
const PAGE: &str = "query($first: Int!, $after: String) { discounts(first: $first, after: $after) { edges { cursor node { id title } } pageInfo { hasNextPage hasPreviousPage } } }";

/// Runs an admin mutation with `input`; the payload under `field`.
async fn admin_do(server: &TestServer, query: &str, field: &str, input: Value) -> Value {
    let data = server
        .data(Some(&admin()), query, json!({ "input": input }))
        .await;
    data[field].clone()
}

/// Creates a discount that must be accepted; returns it.
async fn created(server: &TestServer, input: Value) -> Value {
    let done = admin_do(server, &upsert_discount(), "upsertDiscount", input).await;
    assert_eq!(done["userErrors"], json!([]), "{done}");
    done["discount"].clone()
}

/// Ten percent off every line, plus `extra` fields.
fn ten_off(extra: Value) -> Value {
    let mut input = json!({"title": "Ten off", "target": "LINES", "percentage": "10"});
    input
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    input
}

/// The (code, field) of each user error.
fn refusals(payload: &Value) -> Vec<(String, String)> {
    payload["userErrors"]
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
        .collect()
}

async fn discount_count(server: &TestServer) -> usize {
    let page = server
        .data(Some(&admin()), PAGE, json!({"first": 100, "after": null}))
        .await;
    page["discounts"]["edges"].as_array().unwrap().len()
}

#[tokio::test]
async fn only_an_admin_reads_or_writes_discounts_and_shipping_rates() {
    let server = shop().await;
    let discount = created(&server, ten_off(json!({}))).await;
    let id = discount["id"].as_str().unwrap();
    let operations = [
        (upsert_discount(), json!({"input": ten_off(json!({}))})),
        (DELETE_DISCOUNT.to_string(), json!({"input": {"id": id}})),
        (PAGE.to_string(), json!({"first": 10})),
        (
            "query($id: ID!) { discount(id: $id) { id } }".into(),
            json!({"id": id}),
        ),
        (
            upsert_rate(),
            json!({"input": {"handle": "standard", "title": "Standard", "price": "4.90"}}),
        ),
        (
            DELETE_RATE.to_string(),
            json!({"input": {"handle": "standard"}}),
        ),
        ("{ shippingRates { handle } }".into(), json!({})),
    ];
    for (query, variables) in &operations {
        let anonymous = server.gql(None, query, variables.clone()).await;
        assert_eq!(error_code(&anonymous), "UNAUTHENTICATED", "{query}");
        for token in [customer("ann"), guest("g1")] {
            let body = server.gql(Some(&token), query, variables.clone()).await;
            assert_eq!(error_code(&body), "FORBIDDEN", "{query}");
        }
    }
    // node(id) answers a discount to admins only.
    let node = "query($id: ID!) { node(id: $id) { id ... on Discount { title } } }";
    let seen = server
        .data(Some(&customer("ann")), node, json!({ "id": id }))
        .await;
    assert_eq!(seen["node"], Value::Null);
    let seen = server.data(Some(&admin()), node, json!({ "id": id })).await;
    assert_eq!(seen["node"], json!({"id": id, "title": "Ten off"}));
    assert_eq!(discount_count(&server).await, 1, "nothing was changed");
}

#[tokio::test]
async fn a_discount_reads_back_as_written_and_an_update_keeps_its_id_and_created_at() {
    let server = shop().await;
    let input = json!({
        "title": "  Summer mugs  ",
        "codes": ["Summer24", "MUGS"],
        "target": "LINES",
        "fixedAmount": "2.5",
        "appliesTo": {"skus": ["MUG-LOGO", "MUG-LOGO"], "productHandles": ["tee"]},
        "minimumSubtotal": "20",
        "minimumQuantity": 2,
        "startsAt": "2024-06-01T00:00:00Z",
        "endsAt": "2024-09-01T00:00:00Z",
        "usageLimit": 100,
        "usageLimitPerCustomer": 1,
        "customersOnly": true,
        "combinesWith": {"orderDiscounts": true, "shippingDiscounts": true},
    });
    let discount = created(&server, input.clone()).await;
    let id = discount["id"].as_str().unwrap().to_string();
    let ulid = id
        .strip_prefix("gid://cartql/Discount/")
        .expect("a global id");
    assert_eq!(ulid.len(), 26, "{id}");
    let created_at = discount["createdAt"].clone();
    assert_eq!(
        discount,
        json!({
            "id": id,
            "title": "Summer mugs",
            "codes": ["Summer24", "MUGS"],
            "target": "LINES",
            "percentage": null,
            "fixedAmount": {"amount": "2.50", "currencyCode": "USD"},
            "appliesTo": {"skus": ["MUG-LOGO"], "productHandles": ["tee"]},
            "buyXGetY": null,
            "minimumSubtotal": {"amount": "20.00"},
            "minimumQuantity": 2,
            "startsAt": "2024-06-01T00:00:00+00:00",
            "endsAt": "2024-09-01T00:00:00+00:00",
            "usageLimit": 100,
            "usageLimitPerCustomer": 1,
            "customersOnly": true,
            "combinesWith": {"lineDiscounts": false, "orderDiscounts": true, "shippingDiscounts": true},
            "active": true,
            "createdAt": created_at,
        })
    );
    // Read back by its global id, its ULID, or its ULID in lower case.
    let read = format!("query($id: ID!) {{ discount(id: $id) {{ {DISCOUNT_FIELDS} }} }}");
    for given in [id.clone(), ulid.to_string(), ulid.to_lowercase()] {
        let found = server
            .data(Some(&admin()), &read, json!({ "id": given }))
            .await;
        assert_eq!(found["discount"], discount, "{given}");
    }

    // An update replaces the definition and keeps the id and createdAt.
    let buy_two = json!({
        "id": ulid.to_lowercase(),
        "title": "Buy 2 get 1",
        "target": "LINES",
        "buyXGetY": {"buyQuantity": 2, "getQuantity": 1, "maxUsesPerOrder": 3},
        "active": false,
    });
    let updated = created(&server, buy_two).await;
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(updated["createdAt"], created_at);
    assert_eq!(updated["title"], "Buy 2 get 1");
    assert_eq!(updated["codes"], json!([]), "no codes: automatic");
    assert_eq!(
        updated["buyXGetY"],
        json!({"buyQuantity": 2, "getQuantity": 1, "getPercentage": "100", "maxUsesPerOrder": 3})
    );
    assert_eq!(updated["fixedAmount"], Value::Null);
    assert_eq!(updated["usageLimit"], Value::Null);
    assert_eq!(updated["active"], false);
    let again = created(
        &server,
        json!({"id": id, "title": "Half off", "target": "ORDER", "percentage": "50"}),
    )
    .await;
    assert_eq!(
        (&again["id"], &again["createdAt"]),
        (&json!(id), &created_at)
    );
    assert_eq!(again["percentage"], "50");
    assert_eq!(
        discount_count(&server).await,
        1,
        "updates made no new discount"
    );
}

#[tokio::test]
async fn every_bad_discount_field_is_refused_by_its_path_and_nothing_is_stored() {
    let server = shop().await;
    let invalid = |field: &str| ("INVALID_DISCOUNT".to_string(), field.to_string());
    let cases = [
        (ten_off(json!({"title": " "})), vec![invalid("title")]),
        (
            ten_off(json!({"title": "\u{7}bell"})),
            vec![invalid("title")],
        ),
        (
            ten_off(json!({"codes": ["OK", "two words"]})),
            vec![invalid("codes.1")],
        ),
        (
            ten_off(json!({"codes": ["SAME", "same"]})),
            vec![invalid("codes.1")],
        ),
        (ten_off(json!({"codes": [""]})), vec![invalid("codes.0")]),
        (
            ten_off(json!({"codes": ["X".repeat(65)]})),
            vec![invalid("codes.0")],
        ),
        (
            ten_off(json!({"percentage": "0"})),
            vec![invalid("percentage")],
        ),
        (
            ten_off(json!({"percentage": "100.5"})),
            vec![invalid("percentage")],
        ),
        (
            ten_off(json!({"percentage": "ten"})),
            vec![invalid("percentage")],
        ),
        (
            ten_off(json!({"fixedAmount": "1"})),
            vec![invalid("fixedAmount")],
        ),
        (
            json!({"title": "Nothing", "target": "ORDER"}),
            vec![invalid("percentage")],
        ),
        (
            json!({"title": "Zero", "target": "ORDER", "fixedAmount": "0"}),
            vec![invalid("fixedAmount")],
        ),
        (
            json!({"title": "Tenths", "target": "ORDER", "fixedAmount": "1.001"}),
            vec![invalid("fixedAmount")],
        ),
        (
            json!({"title": "X", "target": "LINES", "buyXGetY": {"buyQuantity": 0, "getQuantity": 1001, "getPercentage": "0", "maxUsesPerOrder": 0}}),
            vec![
                invalid("buyXGetY.buyQuantity"),
                invalid("buyXGetY.getQuantity"),
                invalid("buyXGetY.getPercentage"),
                invalid("buyXGetY.maxUsesPerOrder"),
            ],
        ),
        (
            json!({"title": "X", "target": "ORDER", "percentage": "5", "buyXGetY": {"buyQuantity": 1, "getQuantity": 1}}),
            vec![invalid("target"), invalid("percentage")],
        ),
        (
            ten_off(json!({"target": "SHIPPING", "appliesTo": {"skus": ["MUG-LOGO"]}})),
            vec![invalid("appliesTo")],
        ),
        (
            ten_off(json!({"appliesTo": {}})),
            vec![invalid("appliesTo")],
        ),
        (
            ten_off(json!({"appliesTo": {"skus": ["MUG LOGO"], "productHandles": ["Tee"]}})),
            vec![
                invalid("appliesTo.skus.0"),
                invalid("appliesTo.productHandles.0"),
            ],
        ),
        (
            ten_off(
                json!({"appliesTo": {"skus": (0..251).map(|n| format!("S{n}")).collect::<Vec<_>>()}}),
            ),
            vec![invalid("appliesTo")],
        ),
        (
            ten_off(json!({"minimumSubtotal": "-1"})),
            vec![invalid("minimumSubtotal")],
        ),
        (
            ten_off(json!({"minimumQuantity": 0})),
            vec![invalid("minimumQuantity")],
        ),
        (
            ten_off(json!({"usageLimit": 0})),
            vec![invalid("usageLimit")],
        ),
        (
            ten_off(json!({"usageLimitPerCustomer": -1})),
            vec![invalid("usageLimitPerCustomer")],
        ),
        (
            ten_off(json!({"startsAt": "2024-01-02T00:00:00Z", "endsAt": "2024-01-02T00:00:00Z"})),
            vec![invalid("endsAt")],
        ),
        // Every problem at once.
        (
            json!({"title": "", "codes": ["é"], "target": "LINES", "percentage": "0", "usageLimit": 0}),
            vec![
                invalid("title"),
                invalid("codes.0"),
                invalid("percentage"),
                invalid("usageLimit"),
            ],
        ),
    ];
    for (input, expected) in cases {
        let done = admin_do(&server, &upsert_discount(), "upsertDiscount", input.clone()).await;
        assert_eq!(done["discount"], Value::Null, "{input}");
        assert_eq!(refusals(&done), expected, "{input}");
        for error in done["userErrors"].as_array().unwrap() {
            assert!(!error["message"].as_str().unwrap().is_empty(), "{error}");
        }
    }
    assert_eq!(discount_count(&server).await, 0, "nothing was stored");
}

#[tokio::test]
async fn hostile_discount_input_is_refused_without_harm() {
    let server = shop().await;
    let upsert = upsert_discount();
    // A title of 200 KB: refused by its byte bound, not echoed back.
    let huge = "é".repeat(100_000);
    let done = admin_do(
        &server,
        &upsert,
        "upsertDiscount",
        ten_off(json!({"title": huge})),
    )
    .await;
    assert_eq!(
        refusals(&done),
        [("INVALID_DISCOUNT".into(), "title".into())]
    );
    assert!(done.to_string().len() < 1000, "the title is not echoed");
    // 10,000 codes: one refusal for the list (the first 100 are read).
    let many: Vec<String> = (0..10_000).map(|n| format!("C{n}")).collect();
    let done = admin_do(
        &server,
        &upsert,
        "upsertDiscount",
        ten_off(json!({"codes": many})),
    )
    .await;
    assert_eq!(
        refusals(&done),
        [("INVALID_DISCOUNT".into(), "codes".into())]
    );
    // Codes are printable ASCII: Unicode look-alikes and spaces are refused.
    let done = admin_do(
        &server,
        &upsert,
        "upsertDiscount",
        ten_off(json!({"codes": ["SUMMER", "ЅUMMER", "SUM MER", "SUMMER\u{200b}", "ÉTÉ"]})),
    )
    .await;
    let fields: Vec<String> = refusals(&done).into_iter().map(|(_, f)| f).collect();
    assert_eq!(fields, ["codes.1", "codes.2", "codes.3", "codes.4"]);
    // Negative and overflowing amounts.
    for amount in [
        "-5",
        "99999999999999999999",
        "10000000000.01",
        "1e3",
        " 5",
        "0x10",
    ] {
        let done = admin_do(
            &server,
            &upsert,
            "upsertDiscount",
            json!({"title": "X", "target": "ORDER", "fixedAmount": amount, "minimumSubtotal": amount}),
        )
        .await;
        assert_eq!(
            refusals(&done),
            [
                ("INVALID_DISCOUNT".into(), "fixedAmount".into()),
                ("INVALID_DISCOUNT".into(), "minimumSubtotal".into())
            ],
            "{amount}"
        );
    }
    // An Int beyond 32 bits is not an Int: a request error.
    let body = server
        .gql(
            Some(&admin()),
            &upsert,
            json!({"input": ten_off(json!({"usageLimit": 4_294_967_296_i64}))}),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    // Ids that are no discount's: malformed, another type's, unknown.
    let long = "7".repeat(10_000);
    for id in [
        "nope",
        "",
        "gid://cartql/Order/01JABCDEFGHJKMNPQRSTVWXYZ0",
        "gid://cartql/Discount/not-a-ulid",
        "01JABCDEFGHJKMNPQRSTVWXYZ0",
        "81JABCDEFGHJKMNPQRSTVWXYZ0",
        &long,
    ] {
        let done = admin_do(
            &server,
            &upsert,
            "upsertDiscount",
            ten_off(json!({"id": id})),
        )
        .await;
        assert_eq!(
            refusals(&done),
            [("INVALID_DISCOUNT".into(), "id".into())],
            "{id:.40}"
        );
        let found = server
            .data(
                Some(&admin()),
                "query($id: ID!) { discount(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(found["discount"], Value::Null);
        let gone = admin_do(
            &server,
            DELETE_DISCOUNT,
            "deleteDiscount",
            json!({"id": id}),
        )
        .await;
        assert_eq!(gone["deleted"], false);
    }
    let gone = admin_do(
        &server,
        DELETE_DISCOUNT,
        "deleteDiscount",
        json!({"id": "nope"}),
    )
    .await;
    assert_eq!(
        gone["userErrors"],
        json!([{"code": "INVALID_DISCOUNT", "field": ["id"]}])
    );
    let gone = admin_do(
        &server,
        DELETE_DISCOUNT,
        "deleteDiscount",
        json!({"id": "01JABCDEFGHJKMNPQRSTVWXYZ0"}),
    )
    .await;
    assert_eq!(
        gone,
        json!({"deleted": false, "userErrors": []}),
        "well-formed but unknown"
    );
    // Bad page requests are request errors.
    for (first, after) in [(0, None), (101, None), (10, Some("nope"))] {
        let body = server
            .gql(
                Some(&admin()),
                PAGE,
                json!({"first": first, "after": after}),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{first} {after:?}");
    }
    assert_eq!(discount_count(&server).await, 0, "nothing was stored");
}

#[tokio::test]
async fn codes_are_unique_across_discounts_in_any_case() {
    let server = shop().await;
    let summer = created(&server, ten_off(json!({"codes": ["SUMMER"]}))).await;
    let upsert = upsert_discount();
    let clash = ten_off(json!({"title": "Other", "codes": ["mugs", "summer"]}));
    let done = admin_do(&server, &upsert, "upsertDiscount", clash.clone()).await;
    assert_eq!(
        refusals(&done),
        [("DUPLICATE_DISCOUNT_CODE".into(), "codes.1".into())]
    );
    assert!(
        done["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Ten off"),
        "{done}"
    );
    // Alongside other problems, all at once.
    let mut worse = clash.clone();
    worse["percentage"] = json!("0");
    let done = admin_do(&server, &upsert, "upsertDiscount", worse).await;
    assert_eq!(
        refusals(&done),
        [
            ("INVALID_DISCOUNT".into(), "percentage".into()),
            ("DUPLICATE_DISCOUNT_CODE".into(), "codes.1".into())
        ]
    );
    // A discount may keep (or respell) its own code.
    let id = summer["id"].as_str().unwrap();
    let respelt = created(&server, ten_off(json!({"id": id, "codes": ["Summer"]}))).await;
    assert_eq!(respelt["codes"], json!(["Summer"]));
    // Once the code's discount is gone, another may take it.
    let gone = admin_do(
        &server,
        DELETE_DISCOUNT,
        "deleteDiscount",
        json!({"id": id}),
    )
    .await;
    assert_eq!(gone, json!({"deleted": true, "userErrors": []}));
    let taken = created(&server, clash).await;
    assert_eq!(taken["codes"], json!(["mugs", "summer"]));
    let gone = admin_do(
        &server,
        DELETE_DISCOUNT,
        "deleteDiscount",
        json!({"id": id}),
    )
    .await;
    assert_eq!(gone["deleted"], false, "deleted once");
    let found = server
        .data(
            Some(&admin()),
            "query($id: ID!) { discount(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(found["discount"], Value::Null);
}

#[tokio::test]
async fn discounts_page_oldest_first_and_a_deleted_cursor_keeps_its_place() {
    let server = shop().await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let d = created(&server, ten_off(json!({"title": format!("D{n}")}))).await;
        ids.push(d["id"].as_str().unwrap().to_string());
    }
    let admin = admin();
    let page = |after: Option<String>| {
        let admin = admin.clone();
        let server = &server;
        async move {
            server
                .data(Some(&admin), PAGE, json!({"first": 2, "after": after}))
                .await["discounts"]
                .clone()
        }
    };
    let titles = |page: &Value| -> Vec<String> {
        page["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["title"].as_str().unwrap().to_string())
            .collect()
    };
    let first = page(None).await;
    assert_eq!(titles(&first), ["D0", "D1"]);
    assert_eq!(
        first["pageInfo"],
        json!({"hasNextPage": true, "hasPreviousPage": false})
    );
    let cursor = first["edges"][1]["cursor"].as_str().unwrap().to_string();
    let second = page(Some(cursor.clone())).await;
    assert_eq!(titles(&second), ["D2", "D3"]);
    // The cursor's discount deleted: the next page still starts after it.
    let gone = admin_do(
        &server,
        DELETE_DISCOUNT,
        "deleteDiscount",
        json!({"id": ids[1]}),
    )
    .await;
    assert_eq!(gone["deleted"], true);
    assert_eq!(titles(&page(Some(cursor)).await), ["D2", "D3"]);
    // A global id is a cursor too; the last page says so.
    let last = page(Some(ids[3].clone())).await;
    assert_eq!(titles(&last), ["D4"]);
    assert_eq!(
        last["pageInfo"],
        json!({"hasNextPage": false, "hasPreviousPage": true})
    );
}

#[tokio::test]
async fn shipping_rates_are_written_listed_cheapest_first_replaced_by_handle_and_deleted() {
    let server = shop().await;
    let upsert = upsert_rate();
    let express = admin_do(
        &server,
        &upsert,
        "upsertShippingRate",
        json!({
            "handle": "express-eu",
            "title": "Express (EU)",
            "countries": ["de", "AT", "DE"],
            "price": "12.5",
            "minSubtotal": "0",
            "maxSubtotal": "500",
            "minWeightGrams": 0,
            "maxWeightGrams": 30000,
            "freeAbove": "200",
        }),
    )
    .await;
    assert_eq!(
        express,
        json!({"shippingRate": {
            "handle": "express-eu",
            "title": "Express (EU)",
            "countries": ["DE", "AT"],
            "price": {"amount": "12.50", "currencyCode": "USD"},
            "minSubtotal": {"amount": "0.00"},
            "maxSubtotal": {"amount": "500.00"},
            "minWeightGrams": 0,
            "maxWeightGrams": 30000,
            "freeAbove": {"amount": "200.00"},
            "active": true,
        }, "userErrors": []})
    );
    for (handle, price) in [("standard", "4.90"), ("pickup", "0"), ("letter", "4.90")] {
        let done = admin_do(
            &server,
            &upsert,
            "upsertShippingRate",
            json!({"handle": handle, "title": handle, "price": price}),
        )
        .await;
        assert_eq!(done["userErrors"], json!([]), "{done}");
        assert_eq!(done["shippingRate"]["countries"], json!([]), "everywhere");
    }
    let list = "{ shippingRates { handle price { amount } active } }";
    let handles = |rates: &Value| -> Vec<String> {
        rates["shippingRates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["handle"].as_str().unwrap().to_string())
            .collect()
    };
    let rates = server.data(Some(&admin()), list, json!({})).await;
    assert_eq!(
        handles(&rates),
        ["pickup", "letter", "standard", "express-eu"]
    );
    // The same handle replaces the rate.
    let done = admin_do(
        &server,
        &upsert,
        "upsertShippingRate",
        json!({"handle": "pickup", "title": "Pick-up", "price": "1", "active": false}),
    )
    .await;
    assert_eq!(done["shippingRate"]["active"], false);
    let rates = server.data(Some(&admin()), list, json!({})).await;
    assert_eq!(
        handles(&rates),
        ["pickup", "letter", "standard", "express-eu"]
    );
    assert_eq!(rates["shippingRates"][0]["price"]["amount"], "1.00");
    // Deleted once.
    let gone = admin_do(
        &server,
        DELETE_RATE,
        "deleteShippingRate",
        json!({"handle": "letter"}),
    )
    .await;
    assert_eq!(gone, json!({"deleted": true, "userErrors": []}));
    let again = admin_do(
        &server,
        DELETE_RATE,
        "deleteShippingRate",
        json!({"handle": "letter"}),
    )
    .await;
    assert_eq!(again["deleted"], false);
    let bad = admin_do(
        &server,
        DELETE_RATE,
        "deleteShippingRate",
        json!({"handle": "Not A Handle"}),
    )
    .await;
    assert_eq!(
        bad,
        json!({"deleted": false, "userErrors": [{"code": "INVALID_SHIPPING_RATE", "field": ["handle"]}]})
    );
    let rates = server.data(Some(&admin()), list, json!({})).await;
    assert_eq!(handles(&rates), ["pickup", "standard", "express-eu"]);
}

#[tokio::test]
async fn every_bad_shipping_rate_field_is_refused_by_its_path_and_nothing_is_stored() {
    let server = shop().await;
    let rate = |extra: Value| {
        let mut input = json!({"handle": "standard", "title": "Standard", "price": "4.90"});
        input
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        input
    };
    let cases = [
        (rate(json!({"handle": "Standard"})), vec!["handle"]),
        (rate(json!({"handle": "a".repeat(65)})), vec!["handle"]),
        (rate(json!({"title": " "})), vec!["title"]),
        (rate(json!({"title": "𝄞".repeat(201)})), vec!["title"]),
        (
            rate(json!({"countries": ["DE", "XX", "de"]})),
            vec!["countries.1"],
        ),
        (
            rate(json!({"countries": vec!["DE"; 251]})),
            vec!["countries"],
        ),
        (
            rate(json!({"countries": ["D".repeat(100_000)]})),
            vec!["countries.0"],
        ),
        (rate(json!({"price": "-1"})), vec!["price"]),
        (rate(json!({"price": "4.999"})), vec!["price"]),
        (
            rate(json!({"price": "99999999999999999999"})),
            vec!["price"],
        ),
        (rate(json!({"minSubtotal": "x"})), vec!["minSubtotal"]),
        (rate(json!({"maxSubtotal": "-0.01"})), vec!["maxSubtotal"]),
        (
            rate(json!({"minSubtotal": "10", "maxSubtotal": "9.99"})),
            vec!["maxSubtotal"],
        ),
        (rate(json!({"minWeightGrams": -1})), vec!["minWeightGrams"]),
        (
            rate(json!({"maxWeightGrams": 1_000_000_001})),
            vec!["maxWeightGrams"],
        ),
        (
            rate(json!({"minWeightGrams": 501, "maxWeightGrams": 500})),
            vec!["maxWeightGrams"],
        ),
        (rate(json!({"freeAbove": "-5"})), vec!["freeAbove"]),
        (
            json!({"handle": "", "title": "", "price": "", "freeAbove": "1.001"}),
            vec!["handle", "title", "price", "freeAbove"],
        ),
    ];
    for (input, fields) in cases {
        let done = admin_do(&server, &upsert_rate(), "upsertShippingRate", input.clone()).await;
        assert_eq!(done["shippingRate"], Value::Null, "{input:.200}");
        let expected: Vec<(String, String)> = fields
            .iter()
            .map(|f| ("INVALID_SHIPPING_RATE".to_string(), f.to_string()))
            .collect();
        assert_eq!(refusals(&done), expected, "{input:.200}");
        assert!(done.to_string().len() < 2000, "the input is not echoed");
    }
    let rates = server
        .data(Some(&admin()), "{ shippingRates { handle } }", json!({}))
        .await;
    assert_eq!(rates["shippingRates"], json!([]));
}
