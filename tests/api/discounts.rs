//! What the buyer pays, the buyer's side: discount codes in carts, delivery
//! options, `previewCheckout`, and checkout repricing everything in its
//! transaction (usage limits that hold under concurrency, `TOTAL_CHANGED`,
//! frozen order costs, usage given back on cancel). On both backends.

use crate::helpers::*;
use serde_json::{Value, json};

const DISCOUNT: &str = "mutation($input: DiscountInput!) { upsertDiscount(input: $input) { discount { id } userErrors { code field message } } }";
const RATE: &str = "mutation($input: UpsertShippingRateInput!) { upsertShippingRate(input: $input) { userErrors { code field message } } }";
const SETTINGS: &str = "mutation($input: UpdatePricingSettingsInput!) { updatePricingSettings(input: $input) { userErrors { code } } }";
const CODES: &str = "mutation($cart: String! = \"default\", $codes: [String!]!) { updateCartDiscountCodes(input: {cart: $cart, codes: $codes}) { cart { version discountCodes { code applicable reason } } userErrors { code field message } } }";
const DELIVERY: &str = "mutation($handle: String) { updateCartDeliveryOption(input: {handle: $handle}) { cart { selectedDeliveryOption { handle } } userErrors { code field message } } }";
const CART: &str = "query($cart: String! = \"default\") { cart(name: $cart) { version discountCodes { code applicable reason } deliveryOptions { handle title price { amount } discountedPrice { amount } } selectedDeliveryOption { handle price { amount } } cost { subtotal { amount } discountTotal { amount } shipping { amount } shippingDiscount { amount } taxTotal { amount } total { amount } estimated } lines { sku cost { discountAllocations { code amount { amount } } discountTotal { amount } total { amount } } } } }";
const ORDER_COST: &str = "id total { amount } cost { subtotal { amount } discountTotal { amount } shipping { amount } shippingDiscount { amount } total { amount } } discountApplications { code title target amount { amount } } deliveryOption { handle price { amount } } lines { sku cost { discountTotal { amount } total { amount } } }";

fn checkout_query() -> String {
    format!(
        "mutation($cart: String! = \"default\", $key: String!, $total: Decimal) {{ checkout(input: {{cart: $cart, idempotencyKey: $key, expectedTotal: $total}}) {{ order {{ {ORDER_COST} }} cart {{ version discountCodes {{ code applicable reason }} }} userErrors {{ code field message }} }} }}"
    )
}

fn checkout_lines_query() -> String {
    format!(
        "mutation($input: CheckoutLinesInput!) {{ checkoutLines(input: $input) {{ order {{ {ORDER_COST} }} userErrors {{ code field message }} }} }}"
    )
}

async fn admin_do(server: &TestServer, query: &str, input: Value) -> Value {
    server
        .data(Some(&admin()), query, json!({ "input": input }))
        .await
}

/// A product `handle` with one variant `sku` at `price`, shipped or not,
/// stock untracked.
async fn product(server: &TestServer, handle: &str, sku: &str, price: &str, shipped: bool) {
    let upsert = "mutation($input: UpsertProductInput!) { upsertProduct(input: $input) { userErrors { code field } } }";
    let done = admin_do(
        server,
        upsert,
        json!({"handle": handle, "title": handle, "variants": [{"sku": sku, "price": price, "requiresShipping": shipped, "weightGrams": 500}]}),
    )
    .await;
    assert_eq!(done["upsertProduct"]["userErrors"], json!([]), "{done}");
}

/// Creates a discount; returns its id.
async fn discount(server: &TestServer, input: Value) -> String {
    let done = admin_do(server, DISCOUNT, input).await;
    assert_eq!(done["upsertDiscount"]["userErrors"], json!([]), "{done}");
    done["upsertDiscount"]["discount"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn rate(server: &TestServer, input: Value) {
    let done = admin_do(server, RATE, input).await;
    assert_eq!(
        done["upsertShippingRate"]["userErrors"],
        json!([]),
        "{done}"
    );
}

async fn set_codes(server: &TestServer, token: &str, codes: &[&str]) -> Value {
    server
        .data(Some(token), CODES, json!({ "codes": codes }))
        .await["updateCartDiscountCodes"]
        .clone()
}

async fn cart(server: &TestServer, token: &str) -> Value {
    server.data(Some(token), CART, json!({})).await["cart"].clone()
}

fn amount(v: &Value) -> &str {
    v["amount"].as_str().unwrap_or("null")
}

async fn usage_count(server: &TestServer, id: &str) -> u64 {
    let read = server
        .data(
            Some(&admin()),
            "query($id: ID!) { discount(id: $id) { usageCount } }",
            json!({ "id": id }),
        )
        .await;
    read["discount"]["usageCount"].as_u64().unwrap()
}

#[tokio::test]
async fn a_code_limited_to_ten_uses_is_used_exactly_ten_times_by_a_hundred_concurrent_buyers() {
    let server = TestServer::spawn().await;
    product(&server, "mug", "MUG", "10.00", false).await;
    let id = discount(
        &server,
        json!({"title": "Ten off", "codes": ["TEN"], "target": "ORDER", "percentage": "10", "usageLimit": 10}),
    )
    .await;
    let query = checkout_lines_query();
    let attempts = (0..100).map(|n| {
        let server = &server;
        let query = &query;
        async move {
            let input = json!({"lines": [{"sku": "MUG", "quantity": 1}], "discountCodes": ["ten"], "idempotencyKey": format!("k{n}")});
            server
                .data(Some(&customer(&format!("buyer{n}"))), query, json!({ "input": input }))
                .await["checkoutLines"]
                .clone()
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let placed: Vec<&Value> = results.iter().filter(|r| !r["order"].is_null()).collect();
    let refused: Vec<&Value> = results.iter().filter(|r| r["order"].is_null()).collect();
    assert_eq!(placed.len(), 10, "exactly ten orders: {results:?}");
    for order in &placed {
        assert_eq!(amount(&order["order"]["total"]), "9.00");
        assert_eq!(
            order["order"]["discountApplications"],
            json!([{"code": "TEN", "title": "Ten off", "target": "ORDER", "amount": {"amount": "1.00"}}])
        );
    }
    for refusal in &refused {
        assert_eq!(codes(refusal), ["DISCOUNT_NOT_APPLICABLE"], "{refusal}");
        let message = refusal["userErrors"][0]["message"].as_str().unwrap();
        assert!(message.contains("USAGE_LIMIT_REACHED"), "{message}");
        assert_eq!(
            refusal["userErrors"][0]["field"],
            json!(["discountCodes", "0"])
        );
    }
    assert_eq!(usage_count(&server, &id).await, 10);
    // The code shows why in a cart, and checking out without it works.
    let late = customer("late");
    add(&server, &late, "default", "MUG", 1).await;
    let with_code = set_codes(&server, &late, &["TEN"]).await;
    assert_eq!(
        with_code["cart"]["discountCodes"],
        json!([{"code": "TEN", "applicable": false, "reason": "USAGE_LIMIT_REACHED"}])
    );
}

#[tokio::test]
async fn one_use_per_customer_holds_across_two_carts_and_comes_back_when_the_order_is_cancelled() {
    let server = TestServer::spawn().await;
    product(&server, "mug", "MUG", "10.00", false).await;
    let id = discount(
        &server,
        json!({"title": "Welcome", "codes": ["HELLO"], "target": "LINES", "fixedAmount": "2.00", "usageLimitPerCustomer": 1}),
    )
    .await;
    let ann = customer("ann");
    for name in ["a", "b"] {
        add(&server, &ann, name, "MUG", 1).await;
        let set = server
            .data(Some(&ann), CODES, json!({"cart": name, "codes": ["hello"]}))
            .await;
        assert_eq!(
            set["updateCartDiscountCodes"]["cart"]["discountCodes"][0]["applicable"],
            true
        );
    }
    let query = checkout_query();
    let attempts = (0..20).map(|n| {
        let (server, ann, query) = (&server, &ann, &query);
        async move {
            let cart = if n % 2 == 0 { "a" } else { "b" };
            let done = server
                .data(
                    Some(ann),
                    query,
                    json!({"cart": cart, "key": format!("k{n}")}),
                )
                .await;
            (n, done["checkout"].clone())
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let placed: Vec<&(i32, Value)> = results
        .iter()
        .filter(|(_, r)| !r["order"].is_null())
        .collect();
    assert_eq!(placed.len(), 1, "one discounted order: {results:?}");
    let (key, first) = placed[0];
    assert_eq!(amount(&first["order"]["total"]), "8.00");
    for (_, refusal) in results.iter().filter(|(_, r)| r["order"].is_null()) {
        let code = codes(refusal);
        assert!(
            code == ["DISCOUNT_NOT_APPLICABLE"] || code == ["CART_EMPTY"],
            "{refusal}"
        );
    }
    assert_eq!(usage_count(&server, &id).await, 1);
    // Retrying the key that placed it answers it again and uses nothing more.
    let cart = if key % 2 == 0 { "a" } else { "b" };
    let retry = server
        .data(
            Some(&ann),
            &query,
            json!({"cart": cart, "key": format!("k{key}")}),
        )
        .await;
    assert_eq!(retry["checkout"]["order"]["id"], first["order"]["id"]);
    assert_eq!(usage_count(&server, &id).await, 1);
    // The other cart shows why; cancelling the order gives the use back.
    let other = if key % 2 == 0 { "b" } else { "a" };
    let read = server.data(Some(&ann), CART, json!({"cart": other})).await;
    assert_eq!(
        read["cart"]["discountCodes"],
        json!([{"code": "hello", "applicable": false, "reason": "CUSTOMER_USAGE_LIMIT_REACHED"}])
    );
    let cancel =
        "mutation($id: ID!) { cancelOrder(input: {orderId: $id}) { userErrors { code } } }";
    let done = server
        .data(Some(&admin()), cancel, json!({"id": first["order"]["id"]}))
        .await;
    assert_eq!(done["cancelOrder"]["userErrors"], json!([]), "{done}");
    assert_eq!(usage_count(&server, &id).await, 0);
    let read = server.data(Some(&ann), CART, json!({"cart": other})).await;
    assert_eq!(read["cart"]["discountCodes"][0]["applicable"], true);
    // Cancelling again gives nothing more back.
    server
        .data(Some(&admin()), cancel, json!({"id": first["order"]["id"]}))
        .await;
    assert_eq!(usage_count(&server, &id).await, 0);
    let again = server
        .data(Some(&ann), &query, json!({"cart": other, "key": "again"}))
        .await;
    assert_eq!(
        amount(&again["checkout"]["order"]["total"]),
        "8.00",
        "{again}"
    );
    assert_eq!(usage_count(&server, &id).await, 1);
}

#[tokio::test]
async fn two_cents_over_three_one_cent_lines_allocate_one_one_zero() {
    let server = TestServer::spawn().await;
    for sku in ["P1", "P2", "P3"] {
        product(&server, &sku.to_lowercase(), sku, "0.01", false).await;
    }
    discount(
        &server,
        json!({"title": "Two cents", "codes": ["TWO"], "target": "LINES", "fixedAmount": "0.02"}),
    )
    .await;
    let ann = customer("ann");
    for sku in ["P1", "P2", "P3"] {
        add(&server, &ann, "default", sku, 1).await;
    }
    set_codes(&server, &ann, &["TWO"]).await;
    let read = cart(&server, &ann).await;
    let parts: Vec<&str> = read["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| amount(&l["cost"]["discountTotal"]))
        .collect();
    assert_eq!(parts, ["0.01", "0.01", "0.00"]);
    assert_eq!(amount(&read["cost"]["discountTotal"]), "0.02");
    assert_eq!(amount(&read["cost"]["total"]), "0.01");
}

#[tokio::test]
async fn ten_percent_off_a_quarter_rounds_as_the_shop_says() {
    let server = TestServer::spawn().await;
    product(&server, "q", "Q", "0.25", false).await;
    discount(
        &server,
        json!({"title": "Tenth", "codes": ["TENTH"], "target": "LINES", "percentage": "10"}),
    )
    .await;
    let ann = customer("ann");
    add(&server, &ann, "default", "Q", 1).await;
    set_codes(&server, &ann, &["TENTH"]).await;
    let even = cart(&server, &ann).await;
    assert_eq!(amount(&even["cost"]["discountTotal"]), "0.02", "HALF_EVEN");
    admin_do(&server, SETTINGS, json!({"roundingMode": "HALF_UP"})).await;
    let up = cart(&server, &ann).await;
    assert_eq!(amount(&up["cost"]["discountTotal"]), "0.03", "HALF_UP");
}

#[tokio::test]
async fn free_shipping_twice_is_still_zero_and_a_fixed_discount_is_capped_at_the_subtotal() {
    let server = TestServer::spawn().await;
    product(&server, "box", "BOX", "5.00", true).await;
    rate(
        &server,
        json!({"handle": "post", "title": "Post", "price": "4.90"}),
    )
    .await;
    let everything =
        json!({"lineDiscounts": true, "orderDiscounts": true, "shippingDiscounts": true});
    for code in ["SHIP1", "SHIP2"] {
        discount(
            &server,
            json!({"title": code, "codes": [code], "target": "SHIPPING", "percentage": "100", "combinesWith": everything}),
        )
        .await;
    }
    discount(
        &server,
        json!({"title": "Huge", "codes": ["HUGE"], "target": "ORDER", "fixedAmount": "50.00", "combinesWith": everything}),
    )
    .await;
    let ann = customer("ann");
    add(&server, &ann, "default", "BOX", 1).await;
    let set_buyer = "mutation { updateCartBuyerIdentity(input: {buyerIdentity: {countryCode: \"NL\"}}) { userErrors { code } } }";
    server.data(Some(&ann), set_buyer, json!({})).await;
    let read = cart(&server, &ann).await;
    assert_eq!(read["cost"]["estimated"], true, "no delivery chosen yet");
    assert_eq!(
        read["deliveryOptions"],
        json!([{"handle": "post", "title": "Post", "price": {"amount": "4.90"}, "discountedPrice": {"amount": "4.90"}}])
    );
    set_codes(&server, &ann, &["SHIP1", "ship2", "HUGE"]).await;
    let chosen = server
        .data(Some(&ann), DELIVERY, json!({"handle": "post"}))
        .await;
    assert_eq!(
        chosen["updateCartDeliveryOption"]["userErrors"],
        json!([]),
        "{chosen}"
    );
    let read = cart(&server, &ann).await;
    assert_eq!(amount(&read["cost"]["shipping"]), "4.90");
    assert_eq!(amount(&read["cost"]["shippingDiscount"]), "4.90");
    assert_eq!(amount(&read["cost"]["discountTotal"]), "5.00", "capped");
    assert_eq!(amount(&read["cost"]["total"]), "0.00");
    assert_eq!(read["cost"]["estimated"], false);
    assert_eq!(
        amount(&read["deliveryOptions"][0]["discountedPrice"]),
        "0.00"
    );
}

#[tokio::test]
async fn buy_two_get_one_frees_the_two_cheapest_of_seven_units_or_one_when_capped() {
    let server = TestServer::spawn().await;
    product(&server, "a", "A", "3.00", false).await;
    product(&server, "b", "B", "1.00", false).await;
    product(&server, "c", "C", "2.00", false).await;
    discount(
        &server,
        json!({"title": "3 for 2", "codes": ["B2G1"], "target": "LINES", "buyXGetY": {"buyQuantity": 2, "getQuantity": 1}}),
    )
    .await;
    let ann = customer("ann");
    add(&server, &ann, "default", "A", 4).await;
    add(&server, &ann, "default", "B", 1).await;
    add(&server, &ann, "default", "C", 2).await;
    set_codes(&server, &ann, &["B2G1"]).await;
    // Seven units: 1.00, 2.00, 2.00, 3.00 × 4 → two groups free 1.00 + 2.00.
    let read = cart(&server, &ann).await;
    assert_eq!(amount(&read["cost"]["discountTotal"]), "3.00", "{read}");
    let bob = customer("bob");
    discount(
        &server,
        json!({"title": "once", "codes": ["ONCE"], "target": "LINES", "buyXGetY": {"buyQuantity": 2, "getQuantity": 1, "maxUsesPerOrder": 1}}),
    )
    .await;
    add(&server, &bob, "default", "A", 4).await;
    add(&server, &bob, "default", "B", 1).await;
    add(&server, &bob, "default", "C", 2).await;
    set_codes(&server, &bob, &["ONCE"]).await;
    let read = cart(&server, &bob).await;
    assert_eq!(amount(&read["cost"]["discountTotal"]), "1.00", "{read}");
}

#[tokio::test]
async fn a_code_that_expires_in_the_cart_refuses_checkout_and_writes_nothing() {
    let server = TestServer::spawn().await;
    product(&server, "mug", "MUG", "10.00", false).await;
    let ends = chrono::Utc::now() + chrono::Duration::seconds(2);
    let id = discount(
        &server,
        json!({"title": "Flash", "codes": ["FLASH"], "target": "ORDER", "percentage": "50", "endsAt": ends.to_rfc3339()}),
    )
    .await;
    let ann = customer("ann");
    add(&server, &ann, "default", "MUG", 1).await;
    let set = set_codes(&server, &ann, &["FLASH"]).await;
    assert_eq!(set["cart"]["discountCodes"][0]["applicable"], true);
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let read = cart(&server, &ann).await;
    assert_eq!(
        read["discountCodes"],
        json!([{"code": "FLASH", "applicable": false, "reason": "EXPIRED"}])
    );
    let version = read["version"].clone();
    let refused = server
        .data(Some(&ann), &checkout_query(), json!({"key": "k1"}))
        .await;
    assert_eq!(codes(&refused["checkout"]), ["DISCOUNT_NOT_APPLICABLE"]);
    assert_eq!(refused["checkout"]["cart"]["version"], version, "unchanged");
    assert_eq!(
        refused["checkout"]["cart"]["discountCodes"][0]["reason"],
        "EXPIRED"
    );
    assert_eq!(usage_count(&server, &id).await, 0);
    let orders = server
        .data(
            Some(&ann),
            "{ orders(first: 5) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(orders["orders"]["nodes"], json!([]));
    set_codes(&server, &ann, &[]).await;
    let placed = server
        .data(Some(&ann), &checkout_query(), json!({"key": "k2"}))
        .await;
    assert_eq!(
        amount(&placed["checkout"]["order"]["total"]),
        "10.00",
        "{placed}"
    );
}

#[tokio::test]
async fn a_price_changed_after_the_read_is_total_changed_and_writes_nothing() {
    let server = TestServer::spawn().await;
    product(&server, "mug", "MUG", "10.00", false).await;
    let ann = customer("ann");
    add(&server, &ann, "default", "MUG", 2).await;
    let seen = cart(&server, &ann).await;
    assert_eq!(amount(&seen["cost"]["total"]), "20.00");
    let update = "mutation { updateVariant(input: {sku: \"MUG\", price: \"11.00\"}) { userErrors { code } } }";
    server.data(Some(&admin()), update, json!({})).await;
    let refused = server
        .data(
            Some(&ann),
            &checkout_query(),
            json!({"key": "k1", "total": "20.00"}),
        )
        .await;
    assert_eq!(codes(&refused["checkout"]), ["TOTAL_CHANGED"], "{refused}");
    let message = refused["checkout"]["userErrors"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("22.00"), "{message}");
    assert_eq!(refused["checkout"]["cart"]["version"], seen["version"]);
    let placed = server
        .data(
            Some(&ann),
            &checkout_query(),
            json!({"key": "k2", "total": "22.00"}),
        )
        .await;
    assert_eq!(
        amount(&placed["checkout"]["order"]["total"]),
        "22.00",
        "{placed}"
    );
    // A malformed expected total is refused as input, not as a change.
    add(&server, &ann, "default", "MUG", 1).await;
    let bad = server
        .data(
            Some(&ann),
            &checkout_query(),
            json!({"key": "k3", "total": "ten"}),
        )
        .await;
    assert_eq!(codes(&bad["checkout"]), ["INVALID_ORDER_INPUT"]);
}

#[tokio::test]
async fn preview_and_a_stored_cart_price_the_same_and_the_order_freezes_it() {
    let server = TestServer::spawn().await;
    product(&server, "mug", "MUG", "12.34", true).await;
    product(&server, "ebook", "EBOOK", "5.55", false).await;
    rate(
        &server,
        json!({"handle": "post", "title": "Post", "price": "4.90", "countries": ["DE"]}),
    )
    .await;
    rate(
        &server,
        json!({"handle": "express", "title": "Express", "price": "9.90"}),
    )
    .await;
    let tax = "mutation($input: UpsertTaxRateInput!) { upsertTaxRate(input: $input) { userErrors { code } } }";
    admin_do(
        &server,
        tax,
        json!({"countryCode": "DE", "ratePercent": "19", "title": "VAT"}),
    )
    .await;
    discount(
        &server,
        json!({"title": "Auto 5%", "target": "ORDER", "percentage": "5", "combinesWith": {"lineDiscounts": true, "orderDiscounts": true, "shippingDiscounts": true}}),
    )
    .await;
    discount(
        &server,
        json!({"title": "Mugs", "codes": ["MUG1"], "target": "LINES", "fixedAmount": "1.00", "appliesTo": {"skus": ["MUG"]}, "combinesWith": {"lineDiscounts": true, "orderDiscounts": true, "shippingDiscounts": true}}),
    )
    .await;
    let ann = customer("ann");
    add(&server, &ann, "default", "MUG", 2).await;
    add(&server, &ann, "default", "EBOOK", 1).await;
    let buyer =
        json!({"countryCode": "DE", "shippingAddress": {"countryCode": "DE", "city": "Berlin"}});
    let set_buyer = "mutation($b: BuyerIdentityInput!) { updateCartBuyerIdentity(input: {buyerIdentity: $b}) { userErrors { code } } }";
    server
        .data(Some(&ann), set_buyer, json!({"b": buyer}))
        .await;
    set_codes(&server, &ann, &["mug1"]).await;
    let chosen = server
        .data(Some(&ann), DELIVERY, json!({"handle": "post"}))
        .await;
    assert_eq!(
        chosen["updateCartDeliveryOption"]["userErrors"],
        json!([]),
        "{chosen}"
    );
    let stored = cart(&server, &ann).await;
    let preview = "query($input: PreviewCheckoutInput!) { previewCheckout(input: $input) { cost { subtotal { amount } discountTotal { amount } shipping { amount } shippingDiscount { amount } taxTotal { amount } total { amount } estimated } lines { sku cost { discountAllocations { code amount { amount } } discountTotal { amount } total { amount } } } discountCodes { code applicable reason } deliveryOptions { handle title price { amount } discountedPrice { amount } } selectedDeliveryOption { handle price { amount } } userErrors { code field } } }";
    let input = json!({"lines": [{"sku": "MUG", "quantity": 2}, {"sku": "EBOOK", "quantity": 1}], "discountCodes": ["mug1"], "buyerIdentity": buyer, "deliveryOption": "post"});
    let previewed = server
        .data(Some(&ann), preview, json!({ "input": input }))
        .await["previewCheckout"]
        .clone();
    assert_eq!(previewed["userErrors"], json!([]));
    assert_eq!(previewed["cost"], stored["cost"]);
    assert_eq!(previewed["discountCodes"], stored["discountCodes"]);
    assert_eq!(previewed["deliveryOptions"], stored["deliveryOptions"]);
    assert_eq!(
        previewed["selectedDeliveryOption"],
        stored["selectedDeliveryOption"]
    );
    let stored_lines: Vec<&Value> = stored["lines"].as_array().unwrap().iter().collect();
    let previewed_lines: Vec<&Value> = previewed["lines"].as_array().unwrap().iter().collect();
    assert_eq!(stored_lines, previewed_lines);
    assert_eq!(stored["cost"]["estimated"], false);
    assert_eq!(
        stored["deliveryOptions"].as_array().unwrap().len(),
        2,
        "post serves DE, express everywhere"
    );
    let total = stored["cost"]["total"]["amount"]
        .as_str()
        .unwrap()
        .to_string();
    let placed = server
        .data(
            Some(&ann),
            &checkout_query(),
            json!({"key": "k1", "total": total}),
        )
        .await;
    let order = &placed["checkout"]["order"];
    assert_eq!(placed["checkout"]["userErrors"], json!([]), "{placed}");
    assert_eq!(order["total"], stored["cost"]["total"]);
    for field in [
        "subtotal",
        "discountTotal",
        "shipping",
        "shippingDiscount",
        "total",
    ] {
        assert_eq!(order["cost"][field], stored["cost"][field], "{field}");
    }
    assert_eq!(
        order["deliveryOption"],
        json!({"handle": "post", "price": {"amount": "4.90"}})
    );
    let titles: Vec<&str> = order["discountApplications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Mugs", "Auto 5%"]);
    // Frozen: a later price change and a new discount change nothing in it.
    let update = "mutation { updateVariant(input: {sku: \"MUG\", price: \"99.00\"}) { userErrors { code } } }";
    server.data(Some(&admin()), update, json!({})).await;
    let id = order["id"].clone();
    let read = server
        .data(
            Some(&ann),
            &format!("query($id: ID!) {{ order(id: $id) {{ {ORDER_COST} }} }}"),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(&read["order"], order);
}

#[tokio::test]
async fn shipped_lines_need_a_delivery_option_that_serves_the_cart() {
    let server = TestServer::spawn().await;
    product(&server, "box", "BOX", "20.00", true).await;
    product(&server, "ebook", "EBOOK", "5.00", false).await;
    let ann = customer("ann");
    add(&server, &ann, "default", "BOX", 1).await;
    // No shipping rates: the shop ships without charging, checkout needs nothing.
    let read = cart(&server, &ann).await;
    assert_eq!(read["deliveryOptions"], json!([]));
    assert_eq!(read["cost"]["shipping"], Value::Null);
    rate(&server, json!({"handle": "de-post", "title": "Post", "price": "4.90", "countries": ["DE"], "freeAbove": "50.00"})).await;
    rate(
        &server,
        json!({"handle": "light", "title": "Light", "price": "2.00", "maxWeightGrams": 400}),
    )
    .await;
    let read = cart(&server, &ann).await;
    assert_eq!(
        read["deliveryOptions"],
        json!([]),
        "no address yet; 500 g is too heavy for light"
    );
    let refused = server
        .data(Some(&ann), &checkout_query(), json!({"key": "k1"}))
        .await;
    assert_eq!(codes(&refused["checkout"]), ["DELIVERY_OPTION_REQUIRED"]);
    let unavailable = server
        .data(Some(&ann), DELIVERY, json!({"handle": "de-post"}))
        .await;
    assert_eq!(
        codes(&unavailable["updateCartDeliveryOption"]),
        ["DELIVERY_OPTION_UNAVAILABLE"]
    );
    let set_buyer = "mutation($b: BuyerIdentityInput!) { updateCartBuyerIdentity(input: {buyerIdentity: $b}) { userErrors { code } } }";
    server
        .data(Some(&ann), set_buyer, json!({"b": {"countryCode": "DE"}}))
        .await;
    let chosen = server
        .data(Some(&ann), DELIVERY, json!({"handle": "de-post"}))
        .await;
    assert_eq!(
        chosen["updateCartDeliveryOption"]["cart"]["selectedDeliveryOption"]["handle"],
        "de-post"
    );
    // Over 50.00 the rate is free.
    add(&server, &ann, "default", "BOX", 2).await;
    let read = cart(&server, &ann).await;
    assert_eq!(amount(&read["cost"]["shipping"]), "0.00");
    assert_eq!(amount(&read["cost"]["total"]), "60.00");
    // Moving the buyer out of DE: the choice no longer serves, checkout says so.
    server
        .data(Some(&ann), set_buyer, json!({"b": {"countryCode": "FR"}}))
        .await;
    let read = cart(&server, &ann).await;
    assert_eq!(read["selectedDeliveryOption"], Value::Null);
    assert_eq!(read["cost"]["estimated"], true);
    let refused = server
        .data(Some(&ann), &checkout_query(), json!({"key": "k2"}))
        .await;
    assert_eq!(codes(&refused["checkout"]), ["DELIVERY_OPTION_UNAVAILABLE"]);
    // Hostile handles are refused as unavailable, not stored.
    for handle in ["", "UPPER", &"x".repeat(10_000), "a/b"] {
        let refused = server
            .data(Some(&ann), DELIVERY, json!({"handle": handle}))
            .await;
        assert_eq!(
            codes(&refused["updateCartDeliveryOption"]),
            ["DELIVERY_OPTION_UNAVAILABLE"]
        );
    }
    let cleared = server
        .data(Some(&ann), DELIVERY, json!({"handle": null}))
        .await;
    assert_eq!(cleared["updateCartDeliveryOption"]["userErrors"], json!([]));
    // A cart of nothing shipped needs no option.
    let bob = customer("bob");
    add(&server, &bob, "default", "EBOOK", 1).await;
    let placed = server
        .data(Some(&bob), &checkout_query(), json!({"key": "k1"}))
        .await;
    assert_eq!(placed["checkout"]["userErrors"], json!([]), "{placed}");
    assert_eq!(placed["checkout"]["order"]["deliveryOption"], Value::Null);
}

#[tokio::test]
async fn codes_are_bounded_kept_when_unknown_and_checked_at_checkout() {
    let server = TestServer::spawn().await;
    product(&server, "mug", "MUG", "10.00", false).await;
    let ann = customer("ann");
    add(&server, &ann, "default", "MUG", 1).await;
    let unknown = set_codes(&server, &ann, &["NOPE", "nope"]).await;
    assert_eq!(
        unknown["cart"]["discountCodes"],
        json!([{"code": "NOPE", "applicable": false, "reason": "NOT_FOUND"}])
    );
    let six = set_codes(&server, &ann, &["a", "b", "c", "d", "e", "f"]).await;
    assert_eq!(codes(&six), ["TOO_MANY_DISCOUNT_CODES"]);
    let huge = "x".repeat(100_000);
    for bad in ["", "two words", "émoji🎉", huge.as_str(), "\u{0}"] {
        let refused = set_codes(&server, &ann, &["ok", bad]).await;
        assert_eq!(codes(&refused), ["INVALID_DISCOUNT"], "{bad:.20}");
        assert_eq!(refused["userErrors"][0]["field"], json!(["codes", "1"]));
    }
    let many: Vec<String> = (0..10_000).map(|n| format!("c{n}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let refused = set_codes(&server, &ann, &many).await;
    assert_eq!(codes(&refused), ["TOO_MANY_DISCOUNT_CODES"]);
    // The unknown code is still there; checkout refuses it, then works without.
    let refused = server
        .data(Some(&ann), &checkout_query(), json!({"key": "k1"}))
        .await;
    assert_eq!(codes(&refused["checkout"]), ["DISCOUNT_NOT_APPLICABLE"]);
    let lines = server
        .data(
            Some(&ann),
            &checkout_lines_query(),
            json!({"input": {"lines": [{"sku": "MUG", "quantity": 1}], "discountCodes": ["a", "b", "c", "d", "e", "f"], "idempotencyKey": "l1"}}),
        )
        .await;
    assert_eq!(codes(&lines["checkoutLines"]), ["TOO_MANY_DISCOUNT_CODES"]);
    let no_token = server.gql(None, CODES, json!({"codes": ["X"]})).await;
    assert_eq!(error_code(&no_token), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_guests_codes_and_delivery_move_into_the_customers_cart_at_log_in() {
    let server = TestServer::spawn().await;
    product(&server, "mug", "MUG", "10.00", false).await;
    discount(
        &server,
        json!({"title": "Ten", "codes": ["TEN"], "target": "ORDER", "percentage": "10"}),
    )
    .await;
    let visitor = guest("visitor");
    add(&server, &visitor, "default", "MUG", 1).await;
    set_codes(&server, &visitor, &["TEN"]).await;
    let ann = customer("ann");
    let merge =
        "mutation($g: String!) { mergeGuestCart(input: {guestToken: $g}) { userErrors { code } } }";
    let merged = server.data(Some(&ann), merge, json!({"g": visitor})).await;
    assert_eq!(
        merged["mergeGuestCart"]["userErrors"],
        json!([]),
        "{merged}"
    );
    let read = cart(&server, &ann).await;
    assert_eq!(
        read["discountCodes"],
        json!([{"code": "TEN", "applicable": true, "reason": null}])
    );
    assert_eq!(amount(&read["cost"]["total"]), "9.00");
}
