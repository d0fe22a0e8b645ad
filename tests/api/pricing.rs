//! What the buyer pays, first step: the shop's pricing settings, tax rates,
//! and `Cart.cost` / `CartLine.cost` with tax (discounts and shipping come
//! next). On both backends.

use crate::helpers::*;
use serde_json::{Value, json};

const SETTINGS: &str = "mutation($input: UpdatePricingSettingsInput!) { updatePricingSettings(input: $input) { pricing { pricesIncludeTax roundingMode taxRounding } userErrors { code } } }";
const RATE: &str = "mutation($input: UpsertTaxRateInput!) { upsertTaxRate(input: $input) { taxRate { countryCode province taxClass ratePercent title } userErrors { code field } } }";
const COST: &str = "{ cart { cost { subtotal { amount } discountTotal { amount } shipping { amount } shippingDiscount { amount } taxTotal { amount } taxesIncluded total { amount } taxLines { title ratePercent amount { amount } } estimated } lines { sku cost { unitPrice { amount } subtotal { amount } discountTotal { amount } total { amount } taxTotal { amount } } } } }";

async fn admin_do(server: &TestServer, query: &str, input: Value) -> Value {
    server
        .data(Some(&admin()), query, json!({ "input": input }))
        .await
}

/// A product priced 10.00 whose variant `TEN` is not shipped (so the cost
/// is not waiting for a delivery option).
async fn ten(server: &TestServer) {
    let upsert = "mutation($input: UpsertProductInput!) { upsertProduct(input: $input) { userErrors { code field } } }";
    let done = admin_do(
        server,
        upsert,
        json!({"handle": "ten", "title": "Ten", "variants": [{"sku": "TEN", "price": "10.00", "requiresShipping": false}]}),
    )
    .await;
    assert_eq!(done["upsertProduct"]["userErrors"], json!([]), "{done}");
}

async fn buyer_in(server: &TestServer, token: &str, country: &str, province: Option<&str>) {
    let query = "mutation($b: BuyerIdentityInput!) { updateCartBuyerIdentity(input: {buyerIdentity: $b}) { userErrors { code field } } }";
    let identity = match province {
        None => json!({"countryCode": country}),
        Some(p) => {
            json!({"countryCode": country, "shippingAddress": {"countryCode": country, "province": p, "city": "X"}})
        }
    };
    let done = server
        .data(Some(token), query, json!({ "b": identity }))
        .await;
    assert_eq!(
        done["updateCartBuyerIdentity"]["userErrors"],
        json!([]),
        "{done}"
    );
}

#[tokio::test]
async fn settings_start_at_the_defaults_and_only_an_admin_changes_them() {
    let server = TestServer::spawn().await;
    let shop = server
        .data(
            None,
            "{ shop { pricing { pricesIncludeTax roundingMode taxRounding } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        shop["shop"]["pricing"],
        json!({"pricesIncludeTax": false, "roundingMode": "HALF_EVEN", "taxRounding": "LINE"})
    );
    let body = server
        .gql(
            Some(&customer("ann")),
            SETTINGS,
            json!({"input": {"pricesIncludeTax": true}}),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let changed = admin_do(&server, SETTINGS, json!({"roundingMode": "HALF_UP"})).await;
    assert_eq!(
        changed["updatePricingSettings"]["pricing"],
        json!({"pricesIncludeTax": false, "roundingMode": "HALF_UP", "taxRounding": "LINE"})
    );
    let changed = admin_do(
        &server,
        SETTINGS,
        json!({"pricesIncludeTax": true, "taxRounding": "TOTAL"}),
    )
    .await;
    assert_eq!(
        changed["updatePricingSettings"]["pricing"],
        json!({"pricesIncludeTax": true, "roundingMode": "HALF_UP", "taxRounding": "TOTAL"}),
        "settings left out are kept"
    );
}

#[tokio::test]
async fn three_tens_at_nineteen_percent_included_pay_exactly_thirty_with_4_79_tax() {
    let server = TestServer::spawn().await;
    ten(&server).await;
    admin_do(&server, SETTINGS, json!({"pricesIncludeTax": true})).await;
    let vat = admin_do(
        &server,
        RATE,
        json!({"countryCode": "de", "ratePercent": "19", "title": "VAT"}),
    )
    .await;
    assert_eq!(
        vat["upsertTaxRate"]["taxRate"],
        json!({"countryCode": "DE", "province": null, "taxClass": "standard", "ratePercent": "19", "title": "VAT"})
    );
    let ann = customer("ann");
    add(&server, &ann, "default", "TEN", 3).await;
    // No address yet: nothing to tax by, so the cost is an estimate.
    let unknown = server.data(Some(&ann), COST, json!({})).await;
    assert_eq!(unknown["cart"]["cost"]["estimated"], true);
    assert_eq!(unknown["cart"]["cost"]["taxTotal"]["amount"], "0.00");
    buyer_in(&server, &ann, "DE", None).await;
    let cost = server.data(Some(&ann), COST, json!({})).await;
    assert_eq!(
        cost["cart"]["cost"],
        json!({
            "subtotal": {"amount": "30.00"},
            "discountTotal": {"amount": "0.00"},
            "shipping": null,
            "shippingDiscount": {"amount": "0.00"},
            "taxTotal": {"amount": "4.79"},
            "taxesIncluded": true,
            "total": {"amount": "30.00"},
            "taxLines": [{"title": "VAT", "ratePercent": "19", "amount": {"amount": "4.79"}}],
            "estimated": false,
        })
    );
    assert_eq!(
        cost["cart"]["lines"][0]["cost"],
        json!({"unitPrice": {"amount": "10.00"}, "subtotal": {"amount": "30.00"}, "discountTotal": {"amount": "0.00"}, "total": {"amount": "30.00"}, "taxTotal": {"amount": "4.79"}})
    );
    // Prices without tax: the tax is added.
    admin_do(&server, SETTINGS, json!({"pricesIncludeTax": false})).await;
    let cost = server.data(Some(&ann), COST, json!({})).await;
    assert_eq!(cost["cart"]["cost"]["taxTotal"]["amount"], "5.70");
    assert_eq!(cost["cart"]["cost"]["total"]["amount"], "35.70");
    assert_eq!(cost["cart"]["cost"]["taxesIncluded"], false);
}

#[tokio::test]
async fn a_province_rate_replaces_the_country_rate_and_rates_can_be_listed_and_deleted() {
    let server = TestServer::spawn().await;
    ten(&server).await;
    for (province, rate, title) in [(None, "4", "State tax"), (Some("NY"), "8.875", "NY tax")] {
        let done = admin_do(
            &server,
            RATE,
            json!({"countryCode": "US", "province": province, "ratePercent": rate, "title": title}),
        )
        .await;
        assert_eq!(done["upsertTaxRate"]["userErrors"], json!([]), "{done}");
    }
    let ann = customer("ann");
    add(&server, &ann, "default", "TEN", 1).await;
    buyer_in(&server, &ann, "US", Some("ny")).await;
    let cost = server.data(Some(&ann), COST, json!({})).await;
    // 10.00 × 8.875 % = 0.8875 → 0.89 (HALF_EVEN: not a tie).
    assert_eq!(cost["cart"]["cost"]["taxTotal"]["amount"], "0.89");
    assert_eq!(cost["cart"]["cost"]["taxLines"][0]["title"], "NY tax");
    buyer_in(&server, &ann, "US", Some("CA")).await;
    let cost = server.data(Some(&ann), COST, json!({})).await;
    assert_eq!(cost["cart"]["cost"]["taxTotal"]["amount"], "0.40");

    let list = "{ taxRates { countryCode province ratePercent } }";
    let rates = server.data(Some(&admin()), list, json!({})).await;
    assert_eq!(
        rates["taxRates"],
        json!([
            {"countryCode": "US", "province": null, "ratePercent": "4"},
            {"countryCode": "US", "province": "NY", "ratePercent": "8.875"},
        ])
    );
    assert_eq!(
        error_code(&server.gql(Some(&ann), list, json!({})).await),
        "FORBIDDEN"
    );
    let delete = "mutation($input: DeleteTaxRateInput!) { deleteTaxRate(input: $input) { deleted userErrors { code field } } }";
    let gone = admin_do(
        &server,
        delete,
        json!({"countryCode": "US", "province": "NY"}),
    )
    .await;
    assert_eq!(
        gone["deleteTaxRate"],
        json!({"deleted": true, "userErrors": []})
    );
    let again = admin_do(
        &server,
        delete,
        json!({"countryCode": "US", "province": "NY"}),
    )
    .await;
    assert_eq!(again["deleteTaxRate"]["deleted"], false);
    let bad = admin_do(&server, delete, json!({"countryCode": "ZZ"})).await;
    assert_eq!(
        bad["deleteTaxRate"]["userErrors"],
        json!([{"code": "INVALID_TAX_RATE", "field": ["countryCode"]}])
    );
}

#[tokio::test]
async fn bad_tax_rates_name_the_field_and_store_nothing() {
    let server = TestServer::spawn().await;
    let cases = [
        (
            json!({"countryCode": "XX", "ratePercent": "19", "title": "VAT"}),
            "countryCode",
        ),
        (
            json!({"countryCode": "DE", "ratePercent": "-1", "title": "VAT"}),
            "ratePercent",
        ),
        (
            json!({"countryCode": "DE", "ratePercent": "1000", "title": "VAT"}),
            "ratePercent",
        ),
        (
            json!({"countryCode": "DE", "ratePercent": "19.00001", "title": "VAT"}),
            "ratePercent",
        ),
        (
            json!({"countryCode": "DE", "ratePercent": "19", "title": " "}),
            "title",
        ),
        (
            json!({"countryCode": "DE", "ratePercent": "19", "title": "VAT", "taxClass": "Reduced"}),
            "taxClass",
        ),
        (
            json!({"countryCode": "DE", "ratePercent": "19", "title": "VAT", "province": "a/b"}),
            "province",
        ),
        (
            json!({"countryCode": "DE", "ratePercent": "19", "title": "VAT", "province": "𝄞".repeat(17)}),
            "province",
        ),
    ];
    for (input, field) in cases {
        let done = admin_do(&server, RATE, input.clone()).await;
        assert_eq!(
            done["upsertTaxRate"],
            json!({"taxRate": null, "userErrors": [{"code": "INVALID_TAX_RATE", "field": [field]}]}),
            "{input}"
        );
    }
    let rates = server
        .data(Some(&admin()), "{ taxRates { countryCode } }", json!({}))
        .await;
    assert_eq!(rates["taxRates"], json!([]));
}
