//! Upgrades of stored data that SQL alone cannot make, run at start after
//! the migrations.
//!
//! **Carts one by one** (migration 4): databases from before it kept all of
//! an owner's carts in one row, renamed `cart_sets` by the migration. Each
//! is split into `cart_owners` and `carts` rows here (the byte count of a
//! cart is the domain's), in batches taken with `FOR UPDATE SKIP LOCKED`,
//! each batch one transaction that also deletes what it split: instances
//! starting together share the work, and a crash halfway leaves every owner
//! whole in one layout or the other. An instance serves only once every row
//! is split (it waits for batches other instances hold), then the emptied
//! table is dropped.

use super::carts::{put_cart, put_owner};
use super::commit;
use super::{TxError, backend, from_json};
use crate::domain::{CartSet, OwnerKey};
use crate::store::StoreError;
use sqlx::PgPool;
use std::time::Duration;

/// Owners one transaction splits.
const BATCH: i64 = 256;

/// Splits every `cart_sets` row, then drops the table.
pub(super) async fn split_cart_sets(pool: &PgPool) -> Result<(), StoreError> {
    if !exists(pool).await? {
        return Ok(());
    }
    let mut split = 0;
    loop {
        let done = match split_batch(pool).await {
            Ok(done) => done,
            // Another instance finished and dropped the table meanwhile.
            Err(TxError::Store(_)) if !exists(pool).await? => break,
            Err(TxError::Store(e)) => return Err(e),
            Err(other) => return Err(StoreError::Open(format!("upgrading carts: {other:?}"))),
        };
        split += done;
        if done > 0 {
            continue;
        }
        let left: Result<bool, sqlx::Error> =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cart_sets)")
                .fetch_one(pool)
                .await;
        match left {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) if !exists(pool).await? => break,
            Err(e) => return Err(backend(e)),
        }
        // Rows another instance is splitting right now.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sqlx::query("DROP TABLE IF EXISTS cart_sets")
        .execute(pool)
        .await
        .map_err(backend)?;
    if split > 0 {
        tracing::info!(
            owners = split,
            "stored each cart on its own (upgraded the database)"
        );
    }
    Ok(())
}

/// Whether `cart_sets` is still there.
async fn exists(pool: &PgPool) -> Result<bool, StoreError> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('cart_sets')::text")
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    Ok(table.is_some())
}

async fn split_batch(pool: &PgPool) -> Result<usize, TxError> {
    let mut tx = super::begin(pool).await?;
    let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT owner, data FROM cart_sets ORDER BY owner LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    for (key, value) in &rows {
        let owner = OwnerKey::parse(key).ok_or_else(|| {
            TxError::Store(StoreError::Open(format!(
                "upgrading carts: the row of '{key}' names no owner; export what you can with an older cartql"
            )))
        })?;
        let set: CartSet = from_json(format_args!("cart_sets/{key}"), value.clone())?;
        put_owner(&mut tx, &owner, None, set.retired_version).await?;
        for cart in set.carts.values() {
            put_cart(&mut tx, &owner, cart).await?;
        }
        sqlx::query("DELETE FROM cart_sets WHERE owner = $1")
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    commit(tx).await?;
    Ok(rows.len())
}
