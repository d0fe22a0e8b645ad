//! The PostgreSQL store's background work, driven directly (the sweeps run
//! every few minutes in a server): versions never go backwards after a
//! sweep, two instances sweeping at once do the work once, and idempotency
//! records leave with their counts. PostgreSQL pass only.

use crate::helpers::*;
use cartql::domain::idempotency::{Fingerprint, IdempotencyKey, KeyUse};
use cartql::domain::{CartChange, CartName, Limits, NewLine, OwnerKey, Sku};
use cartql::store::CartStore;
use cartql::store::postgres::{PgSettings, PgStore};
use chrono::{Duration, Utc};
use std::sync::Arc;

const LIMITS: Limits = Limits {
    max_lines_per_cart: 10,
    max_quantity_per_line: 99,
    max_carts_per_viewer: 5,
};

async fn store(url: &str) -> Arc<PgStore> {
    let settings = PgSettings {
        url: url.to_string(),
        max_connections: 5,
        notice_secret: SECRET.as_bytes().to_vec(),
    };
    Arc::new(PgStore::connect(&settings).await.unwrap())
}

fn owner(key: &str) -> OwnerKey {
    OwnerKey::parse(key).unwrap()
}

/// Adds one unit at `now`; returns the default cart's version.
async fn add_one(store: &PgStore, who: &OwnerKey, now: chrono::DateTime<Utc>) -> u64 {
    let change = CartChange::Add(vec![NewLine {
        sku: Sku::parse("MUG-LOGO").unwrap(),
        quantity: 1,
        attributes: Vec::new(),
        unit_price: None,
    }]);
    let name = CartName::default_cart();
    let set = store
        .update_cart_set(who, &|set| {
            set.apply(&name, &change, None, &LIMITS, now, Duration::hours(1))
                .map(|_| ())
        })
        .await
        .unwrap();
    set.carts[&name].version
}

fn an_hour(_: &OwnerKey) -> Duration {
    Duration::hours(1)
}

#[tokio::test]
async fn swept_carts_raise_the_version_floor_and_two_sweepers_do_the_work_once() {
    if !on_postgres() {
        return;
    }
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    let (a, b) = (store(&database.url()).await, store(&database.url()).await);
    let now = Utc::now();
    let ann = owner("guest:ann");
    for expected in 1..=3 {
        assert_eq!(add_one(&a, &ann, now).await, expected);
    }
    for i in 0..300 {
        add_one(&b, &owner(&format!("guest:g{i}")), now).await;
    }
    let later = now + Duration::days(1);
    let (swept_a, swept_b) = tokio::join!(
        a.sweep_carts(later, &an_hour),
        b.sweep_carts(later, &an_hour)
    );
    assert_eq!(swept_a.unwrap() + swept_b.unwrap(), 301, "every cart once");
    assert!(a.cart_set(&ann).await.unwrap().carts.is_empty());
    // New carts start above every swept version, whoever owns them.
    assert_eq!(add_one(&b, &ann, later).await, 4);
    assert_eq!(add_one(&a, &owner("guest:new"), later).await, 4);
    a.sweep_carts(later, &an_hour).await.unwrap();
    assert_eq!(add_one(&a, &ann, later).await, 5, "the live cart was kept");
}

#[tokio::test]
async fn swept_idempotency_records_give_their_owner_its_allowance_back() {
    if !on_postgres() {
        return;
    }
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    let store = store(&database.url()).await;
    let who = owner("customer:keys");
    let name = CartName::default_cart();
    let now = Utc::now();
    let fingerprint = Fingerprint::of("test", &"same");
    let write = |key: String| {
        let (store, who, name, fingerprint) = (&store, &who, &name, &fingerprint);
        async move {
            let key = IdempotencyKey::parse(&key, "idempotencyKey").unwrap();
            let use_ = KeyUse {
                key: &key,
                fingerprint,
                now,
                max_per_owner: 10,
            };
            store
                .update_cart_set_once(who, &use_, name, &|set| {
                    set.apply(
                        &CartName::default_cart(),
                        &CartChange::Clear,
                        None,
                        &LIMITS,
                        now,
                        Duration::hours(1),
                    )
                    .map(|_| ())
                })
                .await
        }
    };
    for i in 0..10 {
        write(format!("k{i}")).await.unwrap();
    }
    assert!(
        write("k10".into()).await.is_err(),
        "the eleventh key is over the cap"
    );
    assert!(
        write("k3".into()).await.is_ok(),
        "a replay is not a new key"
    );
    let swept = store
        .sweep_idempotency(now + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(swept, 10);
    for i in 10..20 {
        write(format!("k{i}")).await.unwrap();
    }
}

#[tokio::test]
async fn skus_page_in_byte_order_whatever_the_database_collation() {
    if !on_postgres() {
        return;
    }
    // A database whose default collation sorts "a-1" before "B-2".
    let name = format!("cartql_t_{}_icu", std::process::id());
    admin_sql(&format!(
        "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
    ))
    .await;
    let database = TestDatabase { name };
    let store = store(&database.url()).await;
    use cartql::domain::{Money, Product};
    use cartql::store::CatalogStore;
    let product = |sku: &str| {
        Product::new(
            Sku::parse(sku).unwrap(),
            sku.into(),
            Money::from_minor(100),
            None,
            true,
        )
    };
    let skus = ["a-1", "B-2", "_x", "A.1"];
    let products: Vec<Product> = skus.iter().map(|s| product(s)).collect();
    store.import_catalog(&[], &products).await.unwrap();
    let first = store.products(None, 2).await.unwrap();
    let rest = store.products(Some(&first[1].sku), 10).await.unwrap();
    let order: Vec<&str> = first.iter().chain(&rest).map(|p| p.sku.as_str()).collect();
    let mut bytes = skus.to_vec();
    bytes.sort();
    assert_eq!(order, bytes, "sled's order: by bytes");
}
