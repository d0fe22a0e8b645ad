//! The PostgreSQL store's background work, driven directly (the sweeps run
//! every few minutes in a server): versions never go backwards after a
//! sweep, two instances sweeping at once do the work once, idempotency
//! records leave with their counts, and revocation records go by the same
//! policy as in sled.

use crate::helpers::*;
use cartql::domain::expiry::{Due, Lifetimes};
use cartql::domain::idempotency::{Fingerprint, IdempotencyKey, KeyUse};
use cartql::domain::{CartChange, CartName, Limits, NewLine, OwnerKey, Sku};
use cartql::store::CartStore;
use cartql::store::postgres::{PgSettings, PgStore};
use cartql::store::sweeper::Sweep;
use chrono::{Duration, Utc};
use std::sync::Arc;

const LIMITS: Limits = Limits {
    max_lines_per_cart: 10,
    max_quantity_per_line: 99,
    max_carts_per_viewer: 5,
    ..Limits::DEFAULT
};

async fn store(url: &str) -> Arc<PgStore> {
    store_of(url, 5).await
}

async fn store_of(url: &str, max_connections: u32) -> Arc<PgStore> {
    let settings = PgSettings {
        url: url.to_string(),
        max_connections,
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
    let cart = store
        .update_cart(who, &name, &|index, stored| {
            index.apply(
                stored,
                &name,
                &change,
                None,
                &LIMITS,
                now,
                Duration::hours(1),
            )
        })
        .await
        .unwrap();
    cart.expect("written").version
}

/// What is due at `now` when every cart lives an hour.
fn an_hour(now: chrono::DateTime<Utc>) -> Due {
    Due::at(now, Lifetimes::uniform(Duration::hours(1)))
}

#[tokio::test]
async fn swept_carts_raise_the_version_floor_and_two_sweepers_do_the_work_once() {
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
    let due = an_hour(later);
    let (swept_a, swept_b) = tokio::join!(a.sweep_carts(&due), b.sweep_carts(&due));
    assert_eq!(swept_a.unwrap() + swept_b.unwrap(), 301, "every cart once");
    assert!(a.cart_set(&ann).await.unwrap().carts.is_empty());
    // New carts start above every swept version, whoever owns them.
    assert_eq!(add_one(&b, &ann, later).await, 4);
    assert_eq!(add_one(&a, &owner("guest:new"), later).await, 4);
    a.sweep_carts(&due).await.unwrap();
    assert_eq!(add_one(&a, &ann, later).await, 5, "the live cart was kept");
}

#[tokio::test]
async fn swept_idempotency_records_give_their_owner_its_allowance_back() {
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
                .update_cart_once(who, &use_, name, &|index, stored| {
                    index.apply(
                        stored,
                        name,
                        &CartChange::Clear,
                        None,
                        &LIMITS,
                        now,
                        Duration::hours(1),
                    )
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
        .sweep_idempotency(&Due::at(
            now + Duration::seconds(1),
            Lifetimes::uniform(Duration::zero()),
        ))
        .await
        .unwrap();
    assert_eq!(swept, 10);
    for i in 10..20 {
        write(format!("k{i}")).await.unwrap();
    }
}

#[tokio::test]
async fn swept_revocations_go_once_their_tokens_expired_but_external_ones_stay() {
    use cartql::store::IdentityStore;
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    let store = store(&database.url()).await;
    let (guest, external) = (owner("guest:old"), owner("external:far"));
    let now = Utc::now();
    store
        .log_out_everywhere(&guest, now.timestamp())
        .await
        .unwrap();
    store
        .log_out_everywhere(&external, now.timestamp())
        .await
        .unwrap();
    let kept = Due::at(now, Lifetimes::uniform(Duration::days(1)));
    assert_eq!(store.sweep_revocations(&kept).await.unwrap(), 0);
    let later = Due::at(
        now + Duration::days(2),
        Lifetimes::uniform(Duration::days(1)),
    );
    assert_eq!(store.sweep_revocations(&later).await.unwrap(), 1);
    assert_eq!(store.valid_after(&guest).await.unwrap(), None);
    assert!(store.valid_after(&external).await.unwrap().is_some());
}

#[tokio::test]
async fn skus_page_in_byte_order_whatever_the_database_collation() {
    // A database whose default collation sorts "a-1" before "B-2".
    let name = format!("cartql_t_{}_icu", std::process::id());
    admin_sql(&format!(
        "CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
    ))
    .await;
    let database = TestDatabase { name };
    let store = store(&database.url()).await;
    use cartql::domain::{Money, Variant};
    use cartql::store::CatalogStore;
    let product = |sku: &str| {
        Variant::new(
            Sku::parse(sku).unwrap(),
            sku.into(),
            Money::from_minor(100),
            None,
            true,
        )
    };
    let skus = ["a-1", "B-2", "_x", "A.1"];
    let products: Vec<Variant> = skus.iter().map(|s| product(s)).collect();
    store.import_catalog(&[], &products).await.unwrap();
    let first = store.variants(None, 2).await.unwrap();
    let rest = store.variants(Some(&first[1].sku), 10).await.unwrap();
    let order: Vec<&str> = first.iter().chain(&rest).map(|p| p.sku.as_str()).collect();
    let mut bytes = skus.to_vec();
    bytes.sort();
    assert_eq!(order, bytes, "sled's order: by bytes");
}

#[tokio::test]
async fn carts_stored_one_row_per_owner_are_split_at_start_and_the_old_table_dropped() {
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    let first = store(&database.url()).await;
    let now = Utc::now();
    for i in 0..3 {
        add_one(&first, &owner(&format!("guest:new{i}")), now).await;
    }
    cartql::store::Store::close(first.as_ref()).await.unwrap();
    // As migration 4 leaves a database written before it: the old rows
    // (one per owner, all its carts in one JSONB) renamed to cart_sets.
    let old_set = serde_json::json!({
        "carts": {
            "default": {"name": "default", "version": 7, "lines": [{"id": "7-0", "sku": "MUG-LOGO", "quantity": 2}],
                        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"},
            "wishlist": {"name": "wishlist", "version": 3, "lines": [],
                         "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "note": "later"}
        },
        "retired_version": 5
    });
    let url = database.url();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE cart_sets (owner text COLLATE \"C\" PRIMARY KEY, data jsonb NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for i in 0..300 {
        sqlx::query("INSERT INTO cart_sets (owner, data) VALUES ($1, $2)")
            .bind(format!("customer:old{i:03}"))
            .bind(&old_set)
            .execute(&pool)
            .await
            .unwrap();
    }
    // Two instances start at once and share the work.
    let (a, b) = tokio::join!(store(&url), store(&url));
    let old = owner("customer:old123");
    let set = a.cart_set(&old).await.unwrap();
    assert_eq!(set.carts.len(), 2);
    let default = &set.carts[&CartName::default_cart()];
    assert_eq!((default.version, default.lines[0].quantity), (7, 2));
    assert_eq!(
        b.cart_set(&owner("customer:old000"))
            .await
            .unwrap()
            .carts
            .len(),
        2
    );
    let left: Option<String> = sqlx::query_scalar("SELECT to_regclass('cart_sets')::text")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, None, "the old table is dropped");
    // Versions go on from the stored ones; carts written before are there.
    assert_eq!(add_one(&a, &old, now).await, 8);
    assert_eq!(add_one(&b, &owner("guest:new1"), now).await, 2);
}

#[tokio::test]
async fn shop_record_batches_are_whole_and_one_racer_of_several_instances_takes_them() {
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    let mut stores: Vec<Arc<dyn cartql::store::ShopStore>> = Vec::new();
    for _ in 0..4 {
        stores.push(store(&database.url()).await);
    }
    crate::shop_batches::a_batch_is_written_whole_or_not_at_all_and_one_racer_takes_it(stores)
        .await;
}

/// A write whose caller is dropped while its transaction begins (a request
/// whose client hung up) leaves no connection inside a transaction. Were one
/// left there, the pool would lend it on and the next plain statement on it
/// would not commit: an account made at sign-up, answered with a token, then
/// unknown to the log-in that followed (a CI run saw exactly that).
#[tokio::test]
async fn writes_dropped_while_their_transaction_begins_leave_no_connection_inside_one() {
    use cartql::domain::account::{Account, Email};
    use cartql::store::IdentityStore;
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    // One connection: what a cut write leaves on it, the next statement meets.
    let (a, b) = (
        store_of(&database.url(), 1).await,
        store(&database.url()).await,
    );
    let now = Utc::now();
    // Each write is cut a few microseconds later than the one before (up
    // to 3 ms, a write's span here), so some cuts land while BEGIN's
    // answer is on its way; after each, an account is made on the same
    // connection and must be there for the other instance.
    for i in 0..600u64 {
        let who = owner(&format!("guest:g{i}"));
        let write = add_one(&a, &who, now);
        let cut = async {
            let at = std::time::Instant::now() + std::time::Duration::from_micros(i * 5);
            while std::time::Instant::now() < at {
                tokio::task::yield_now().await;
            }
        };
        tokio::select! {
            biased;
            _ = write => {}
            _ = cut => {}
        }
        let email = Email::parse(&format!("after{i}@example.com")).unwrap();
        let account = Account {
            id: format!("after{i}"),
            email: email.clone(),
            password_hash: "unused".to_string(),
            created_at: now,
        };
        assert!(a.create_account(&account).await.unwrap());
        assert!(
            b.account(&email).await.unwrap().is_some(),
            "the account made after write {i} was cut is not there for another instance"
        );
    }
}

/// Writes of one cart from several instances at once each see the one
/// before: the owner's row is locked and the carts are read by a statement
/// that begins once the lock is held, so none is lost. One instance queues
/// its own writes of an owner; across instances only the database's lock
/// orders them (a single statement joining the carts to the locked row lost
/// most of these adds when tried).
#[tokio::test]
async fn adds_to_one_cart_from_three_instances_at_once_sum_exactly() {
    let dir = private_tempdir();
    let database = TestDatabase::of(dir.path()).await;
    let mut stores = Vec::new();
    for _ in 0..3 {
        stores.push(store(&database.url()).await);
    }
    let ann = owner("guest:ann");
    let now = Utc::now();
    let adds = stores.iter().flat_map(|store| {
        let ann = &ann;
        (0..20).map(move |_| add_one(store, ann, now))
    });
    let mut versions = futures_util::future::join_all(adds).await;
    versions.sort_unstable();
    assert_eq!(
        versions,
        (1..=60).collect::<Vec<u64>>(),
        "each add its own version"
    );
    let cart = stores[2]
        .cart(&ann, &CartName::default_cart())
        .await
        .unwrap()
        .expect("stored");
    assert_eq!((cart.version, cart.lines[0].quantity), (60, 60));
}
