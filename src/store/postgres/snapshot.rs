//! `cartql export` / `cartql import` for PostgreSQL.
//!
//! An export reads every table in one REPEATABLE READ, READ ONLY
//! transaction: one snapshot, consistent across tables, taken while the
//! instances keep serving (it blocks no writer). An import locks the tables
//! against writers, refuses them if they hold data, and writes everything in
//! one transaction.

use super::carts::{put_cart, put_owner};
use super::catalog::{put_variant, variant_from_row};
use super::{PgStore, backend, from_json, to_json};
use crate::domain::{Cart, CartSet, OwnerKey};
use crate::store::StoreError;
use crate::store::snapshot::Record;
use futures_util::StreamExt;
use std::collections::BTreeMap;

const TABLES: &str = "variants, products, cart_owners, carts, orders, accounts, valid_after, idempotency, idempotency_counts, meta";

impl PgStore {
    /// Hands every record to `sink`, from one snapshot.
    pub async fn export_to(
        &self,
        sink: &mut (dyn FnMut(Record) -> std::io::Result<()> + Send),
    ) -> Result<(), String> {
        let fail = |e: sqlx::Error| backend(e).to_string();
        let corrupt = |e: StoreError| e.to_string();
        let write = |e: std::io::Error| format!("writing the export: {e}");
        let mut tx = super::begin(&self.pool).await.map_err(fail)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        let meta: Vec<(String, serde_json::Value)> =
            sqlx::query_as("SELECT key, value FROM meta ORDER BY key")
                .fetch_all(&mut *tx)
                .await
                .map_err(fail)?;
        let mut floor = 0;
        for (key, value) in meta {
            match key.as_str() {
                "currency" => {
                    let code = from_json("meta/currency", value).map_err(corrupt)?;
                    sink(Record::Currency { code }).map_err(write)?;
                }
                "version_floor" => {
                    floor = from_json("meta/version_floor", value).map_err(corrupt)?
                }
                other => {
                    if let Some((kind, key)) = crate::store::shop::split_meta_key(other) {
                        sink(Record::Shop {
                            kind: kind.to_string(),
                            key: key.to_string(),
                            data: value,
                        })
                        .map_err(write)?;
                    }
                }
            }
        }
        sink(Record::VersionFloor { version: floor }).map_err(write)?;
        {
            let mut rows =
                sqlx::query("SELECT sku, stock, data FROM variants ORDER BY sku").fetch(&mut *tx);
            while let Some(row) = rows.next().await {
                let product = variant_from_row(&row.map_err(fail)?).map_err(corrupt)?;
                sink(Record::Variant { product }).map_err(write)?;
            }
        }
        {
            let mut rows = sqlx::query_as::<_, (String, serde_json::Value)>(
                "SELECT handle, data FROM products ORDER BY handle",
            )
            .fetch(&mut *tx);
            while let Some(row) = rows.next().await {
                let (handle, value) = row.map_err(fail)?;
                let record =
                    from_json(format_args!("products/{handle}"), value).map_err(corrupt)?;
                sink(Record::Product { record }).map_err(write)?;
            }
        }
        {
            // Each owner's carts together, as one record (rows come in owner order).
            let mut rows =
                sqlx::query_as::<_, (String, i64, Option<String>, Option<serde_json::Value>)>(
                    "SELECT o.owner, o.retired_version, c.name, c.data
                 FROM cart_owners o LEFT JOIN carts c ON c.owner = o.owner
                 ORDER BY o.owner, c.name",
                )
                .fetch(&mut *tx);
            let mut current: Option<(String, CartSet)> = None;
            while let Some(row) = rows.next().await {
                let (owner, retired, name, value) = row.map_err(fail)?;
                if current.as_ref().is_none_or(|(o, _)| *o != owner) {
                    if let Some((owner, carts)) = current.take() {
                        sink(Record::Carts { owner, carts }).map_err(write)?;
                    }
                    let set = CartSet {
                        retired_version: u64::try_from(retired).unwrap_or(0),
                        ..CartSet::default()
                    };
                    current = Some((owner.clone(), set));
                }
                if let (Some(name), Some(value), Some((_, set))) = (name, value, current.as_mut()) {
                    let cart: Cart =
                        from_json(format_args!("carts/{owner}/{name}"), value).map_err(corrupt)?;
                    set.carts.insert(cart.name.clone(), cart);
                }
            }
            if let Some((owner, carts)) = current.take() {
                sink(Record::Carts { owner, carts }).map_err(write)?;
            }
        }
        {
            let mut rows = sqlx::query_as::<_, (String, String, serde_json::Value)>(
                "SELECT owner, id, data FROM orders ORDER BY owner, id",
            )
            .fetch(&mut *tx);
            while let Some(row) = rows.next().await {
                let (owner, id, value) = row.map_err(fail)?;
                let order =
                    from_json(format_args!("orders/{owner}/{id}"), value).map_err(corrupt)?;
                sink(Record::Order { owner, order }).map_err(write)?;
            }
        }
        {
            let mut rows = sqlx::query_as::<_, (String, serde_json::Value)>(
                "SELECT email, data FROM accounts ORDER BY email",
            )
            .fetch(&mut *tx);
            while let Some(row) = rows.next().await {
                let (email, value) = row.map_err(fail)?;
                let account =
                    from_json(format_args!("accounts/{email}"), value).map_err(corrupt)?;
                sink(Record::Account { account }).map_err(write)?;
            }
        }
        {
            let mut rows = sqlx::query_as::<_, (String, i64)>(
                "SELECT owner, valid_after FROM valid_after ORDER BY owner",
            )
            .fetch(&mut *tx);
            while let Some(row) = rows.next().await {
                let (owner, valid_after) = row.map_err(fail)?;
                sink(Record::ValidAfter { owner, valid_after }).map_err(write)?;
            }
        }
        {
            let mut rows = sqlx::query_as::<_, (String, String, serde_json::Value)>(
                "SELECT owner, key, record FROM idempotency ORDER BY owner, key",
            )
            .fetch(&mut *tx);
            while let Some(row) = rows.next().await {
                let (owner, key, value) = row.map_err(fail)?;
                let record =
                    from_json(format_args!("idempotency/{owner}/{key}"), value).map_err(corrupt)?;
                sink(Record::Idempotency { owner, key, record }).map_err(write)?;
            }
        }
        super::timed_commit(tx).await.map_err(fail)
    }

    /// Writes `records` into this empty database in one transaction;
    /// refuses a database that holds data.
    pub async fn import(&self, records: &[Record]) -> Result<(), String> {
        let fail = |e: sqlx::Error| backend(e).to_string();
        let mut tx = super::begin(&self.pool).await.map_err(fail)?;
        sqlx::query(&format!("LOCK TABLE {TABLES} IN EXCLUSIVE MODE"))
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        let any: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM variants UNION ALL SELECT 1 FROM products UNION ALL SELECT 1 FROM cart_owners UNION ALL SELECT 1 FROM orders
             UNION ALL SELECT 1 FROM accounts UNION ALL SELECT 1 FROM valid_after
             UNION ALL SELECT 1 FROM idempotency LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(fail)?;
        if any.is_some() {
            return Err("the database is not empty; import only into a new one".into());
        }
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for record in records {
            let query = match record {
                Record::Currency { code } => sqlx::query(
                    "INSERT INTO meta (key, value) VALUES ('currency', $1)
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                )
                .bind(serde_json::Value::from(code.as_str())),
                Record::VersionFloor { version } => sqlx::query(
                    "INSERT INTO meta (key, value) VALUES ('version_floor', $1)
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                )
                .bind(serde_json::Value::from(*version)),
                Record::Shop { kind, key, data } => sqlx::query(
                    "INSERT INTO meta (key, value) VALUES ($1, $2)
                     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                )
                .bind(crate::store::shop::meta_key(kind, key))
                .bind(data),
                Record::Variant { product } => {
                    put_variant(&mut tx, product).await.map_err(fail)?;
                    continue;
                }
                Record::Product { record } => {
                    sqlx::query("INSERT INTO products (handle, data) VALUES ($1, $2)")
                        .bind(record.handle.as_str())
                        .bind(to_json(record))
                }
                Record::Carts { owner, carts } => {
                    let owner = OwnerKey::parse(owner)
                        .ok_or_else(|| format!("'{owner}' is not an owner key"))?;
                    put_owner(&mut tx, &owner, None, carts.retired_version)
                        .await
                        .map_err(|e| format!("importing a carts record: {e:?}"))?;
                    for cart in carts.carts.values() {
                        put_cart(&mut tx, &owner, cart)
                            .await
                            .map_err(|e| format!("importing a carts record: {e:?}"))?;
                    }
                    continue;
                }
                Record::Order { owner, order } => {
                    sqlx::query("INSERT INTO orders (owner, id, data) VALUES ($1, $2, $3)")
                        .bind(owner)
                        .bind(&order.id)
                        .bind(to_json(order))
                }
                Record::Account { account } => {
                    sqlx::query("INSERT INTO accounts (email, data) VALUES ($1, $2)")
                        .bind(account.email.as_str())
                        .bind(to_json(account))
                }
                Record::ValidAfter { owner, valid_after } => {
                    sqlx::query("INSERT INTO valid_after (owner, valid_after) VALUES ($1, $2)")
                        .bind(owner)
                        .bind(*valid_after)
                }
                Record::Idempotency { owner, key, record } => {
                    *counts.entry(owner).or_default() += 1;
                    sqlx::query(
                        "INSERT INTO idempotency (owner, key, created_at, record) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(owner)
                    .bind(key)
                    .bind(record.created_at)
                    .bind(to_json(record))
                }
            };
            query
                .execute(&mut *tx)
                .await
                .map_err(|e| format!("importing a {} record: {}", kind(record), backend(e)))?;
        }
        sqlx::query("DELETE FROM idempotency_counts")
            .execute(&mut *tx)
            .await
            .map_err(fail)?;
        for (owner, count) in counts {
            sqlx::query("INSERT INTO idempotency_counts (owner, count) VALUES ($1, $2)")
                .bind(owner)
                .bind(count)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        // Instances serving this database forget the pricing they read.
        super::shop::notify_pricing(&mut tx).await.map_err(fail)?;
        super::timed_commit(tx).await.map_err(fail)?;
        self.pricing.changed();
        Ok(())
    }
}

fn kind(record: &Record) -> &'static str {
    match record {
        Record::Currency { .. } => "currency",
        Record::VersionFloor { .. } => "version floor",
        Record::Variant { .. } => "product",
        Record::Product { .. } => "product record",
        Record::Carts { .. } => "carts",
        Record::Order { .. } => "order",
        Record::Account { .. } => "account",
        Record::ValidAfter { .. } => "valid-after",
        Record::Idempotency { .. } => "idempotency",
        Record::Shop { .. } => "shop record",
    }
}
