//! `cartql export` and `cartql import` through PostgreSQL: sled to
//! PostgreSQL and back with nothing lost, a snapshot of a serving database,
//! and a database a newer cartql migrated.

use crate::commands::{cartql, error_line, ok, path};
use crate::helpers::*;
use crate::shop::{checkout, customer_account};
use serde_json::{Value, json};

/// A store with something of every kind in it; returns a token that a
/// log-out everywhere revoked.
async fn fill(server: &TestServer) -> String {
    let ann = customer_account(server, "ann@example.com").await;
    add(server, &ann, "default", "MUG-LOGO", 2).await;
    checkout(server, &ann, "ann-1").await;
    add(server, &ann, "wishlist", "HOODIE-GRY-M", 1).await;
    let guest = guest("g1");
    add(server, &guest, "default", "STICKER-PACK", 3).await;
    let bob = customer("bob");
    add(server, &bob, "default", "MUG-LOGO", 1).await;
    server
        .data(Some(&bob), "mutation { logOutEverywhere }", json!({}))
        .await;
    bob
}

#[tokio::test]
async fn sled_to_postgres_to_sled_round_trips_with_nothing_lost() {
    // A sled store with data, stopped.
    let sled_dir = private_tempdir();
    let server = TestServer::spawn_process_sled(sled_dir.path()).await;
    let revoked = fill(&server).await;
    let token = customer("bob2");
    add(&server, &token, "default", "MUG-LOGO", 1).await;
    // The shop's own records (pricing settings, tax rates, discounts,
    // shipping rates) come along too.
    let admin = admin();
    for (query, input) in [
        (
            "mutation($input: UpdatePricingSettingsInput!) { updatePricingSettings(input: $input) { userErrors { code } } }",
            json!({"pricesIncludeTax": true, "roundingMode": "HALF_UP"}),
        ),
        (
            "mutation($input: UpsertTaxRateInput!) { upsertTaxRate(input: $input) { userErrors { code } } }",
            json!({"countryCode": "US", "province": "NY", "ratePercent": "8.875", "title": "NY tax"}),
        ),
        (
            "mutation($input: DiscountInput!) { upsertDiscount(input: $input) { userErrors { code } } }",
            json!({"title": "Summer", "codes": ["SUMMER"], "target": "ORDER", "fixedAmount": "5", "endsAt": "2030-01-01T00:00:00Z"}),
        ),
        (
            "mutation($input: UpsertShippingRateInput!) { upsertShippingRate(input: $input) { userErrors { code } } }",
            json!({"handle": "standard", "title": "Standard", "countries": ["US"], "price": "4.90", "freeAbove": "50"}),
        ),
    ] {
        let done = server
            .data(Some(&admin), query, json!({ "input": input }))
            .await;
        let payload = done.as_object().unwrap().values().next().unwrap();
        assert_eq!(payload["userErrors"], json!([]), "{done}");
    }
    let shop_query = "{ shop { pricing { pricesIncludeTax roundingMode } } taxRates { province ratePercent } discounts(first: 10) { nodes { id title codes target fixedAmount { amount } endsAt createdAt } } shippingRates { handle countries price { amount } freeAbove { amount } } }";
    let shop_records = server.data(Some(&admin), shop_query, json!({})).await;
    let codes: Vec<&Value> = shop_records["discounts"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| &node["codes"])
        .collect();
    assert_eq!(
        codes,
        [&json!(["WELCOME10"]), &json!(["SUMMER"])],
        "the demo's and this test's"
    );
    assert_eq!(shop_records["shippingRates"][0]["handle"], "standard");
    drop(server.terminate().await);

    let files = tempfile::tempdir().unwrap();
    let first = files.path().join("first.jsonl");
    ok(&cartql(&[
        "export",
        "--data-dir",
        path(sled_dir.path()),
        "--output",
        path(&first),
    ]));

    // Every backup, and every store restored from one, passes `cartql verify`.
    verified(&["--input", path(&first)]);
    let database = TestDatabase::of(files.path()).await;
    let url = database.url();
    ok(&cartql(&["import", path(&first), "--database-url", &url]));
    verified(&["--database-url", &url]);
    let second = files.path().join("second.jsonl");
    ok(&cartql(&[
        "export",
        "--database-url",
        &url,
        "--output",
        path(&second),
    ]));

    let back = private_tempdir();
    ok(&cartql(&[
        "import",
        path(&second),
        "--data-dir",
        path(back.path()),
    ]));
    verified(&["--input", path(&second)]);
    verified(&["--data-dir", path(back.path())]);
    let third = files.path().join("third.jsonl");
    ok(&cartql(&[
        "export",
        "--data-dir",
        path(back.path()),
        "--output",
        path(&third),
    ]));

    let (first, second, third) = (
        std::fs::read_to_string(first).unwrap(),
        std::fs::read_to_string(second).unwrap(),
        std::fs::read_to_string(third).unwrap(),
    );
    for kind in [
        "product",
        "carts",
        "order",
        "account",
        "valid_after",
        "idempotency",
        "currency",
        "shop",
    ] {
        assert!(
            first.contains(&format!("\"type\":\"{kind}\"")),
            "{kind} exported"
        );
    }
    assert_eq!(first, second, "sled → PostgreSQL loses nothing");
    assert_eq!(first, third, "PostgreSQL → sled loses nothing");

    // The imported database serves what the sled store held.
    let server = TestServer::spawn_on(&url, &[]).await;
    let data = server
        .data(
            Some(&token),
            "{ cart { version lines { sku quantity } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["cart"],
        json!({"version": 1, "lines": [{"sku": "MUG-LOGO", "quantity": 1}]})
    );
    let rates = server.data(Some(&admin), shop_query, json!({})).await;
    assert_eq!(
        rates, shop_records,
        "settings, tax rates, discounts (with their ids and createdAt) and shipping rates came along"
    );
    // The revocation came along: bob's old tokens stay refused.
    let refused = server
        .post(Some(&revoked), json!({ "query": "{ cart { version } }" }))
        .await;
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn export_from_a_serving_postgres_store_is_one_snapshot_and_import_refuses_a_store_with_data()
{
    let server = TestServer::spawn().await;
    fill(&server).await;
    let url = server.database_url.clone().unwrap();
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("live.jsonl");
    ok(&cartql(&[
        "export",
        "--database-url",
        &url,
        "--output",
        path(&file),
    ]));
    let line = error_line(&cartql(&["import", path(&file), "--database-url", &url]));
    assert!(line.contains("not empty"), "{line}");
    verified(&["--input", path(&file)]);
    verified(&["--database-url", &url]);
}

/// `cartql verify` with `args` passes and says so.
fn verified(args: &[&str]) {
    let mut all = vec!["verify"];
    all.extend_from_slice(args);
    let output = cartql(&all);
    ok(&output);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        report.contains("every invariant holds"),
        "{args:?}: {report}"
    );
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_cartql_is_refused_with_one_line() {
    let server = TestServer::spawn().await;
    let url = server.database_url.clone().unwrap();
    let _database = server.terminate().await;
    let name = url.rsplit('/').next().unwrap().to_string();
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (9999, 'from the future', true, '\\x00', 0)")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let line = error_line(&cartql(&[
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &url,
    ]));
    assert!(
        line.contains("newer cartql") && line.contains("9999"),
        "{name}: {line}"
    );
}
