//! [`OrderStore`] for PostgreSQL: the checkout transaction and order listing.
//!
//! Checkout locks, in the order of [`super`]'s module docs: the owner's
//! idempotency count row, the owner's `cart_owners` row (a cart checkout), the variant rows in
//! SKU order; then it decrements stock with conditional updates, writes the
//! order, the record of the key and the cleared cart, and commits. A refused
//! checkout rolls back: its key is not used and nothing is counted.

use super::carts::{Read, lock_carts, write_carts};
use super::catalog::variant_from_row;
use super::commit;
use super::idempotency::{check_allowance, lock_owner, record_in, record_key};
use super::shop::read_pricing;
use super::{PgStore, TxError, backend, from_json, retrying, to_json};
use crate::domain::idempotency::{Outcome, order_to_replay};
use crate::domain::order::{Moved, Order};
use crate::domain::pricing::{USAGE_KIND, Usage};
use crate::domain::{OwnerKey, Sku, Variant};
use crate::store::idempotency::{Replayable, replayed_order};
use crate::store::orders::{
    CheckoutRequest, CheckoutSource, OrderChange, OrderStore, outbox_record, touched_by_move,
};
use crate::store::shop::{meta_key, usage_counts};
use crate::store::{Changes, StoreError, UpdateError};
use async_trait::async_trait;
use std::collections::HashMap;

#[async_trait]
impl OrderStore for PgStore {
    async fn checkout(&self, request: &CheckoutRequest) -> Result<Replayable<Order>, UpdateError> {
        let _turn = self.owner_locks.lock(&request.owner).await;
        let _permit = self.write_permit().await?;
        retrying(|| self.checkout_once(request)).await
    }

    async fn order(&self, owner: &OwnerKey, id: &str) -> Result<Option<Order>, StoreError> {
        let row: Option<serde_json::Value> =
            sqlx::query_scalar("SELECT data FROM orders WHERE owner = $1 AND id = $2")
                .bind(owner.as_str())
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(|value| from_json(format_args!("orders/{owner}/{id}"), value))
            .transpose()
    }

    async fn orders(
        &self,
        owner: &OwnerKey,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let rows: Vec<(String, serde_json::Value)> = sqlx::query_as(
            "SELECT id, data FROM orders
             WHERE owner = $1 AND ($2::text IS NULL OR id < $2 COLLATE \"C\")
             ORDER BY id DESC LIMIT $3",
        )
        .bind(owner.as_str())
        .bind(before)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(id, value)| from_json(format_args!("orders/{owner}/{id}"), value))
            .collect()
    }

    fn order_changes(&self, owner: &OwnerKey) -> Changes {
        self.watch_orders(owner)
    }

    async fn order_by_id(&self, id: &str) -> Result<Option<(OwnerKey, Order)>, StoreError> {
        let row: Option<(String, serde_json::Value)> =
            sqlx::query_as("SELECT owner, data FROM orders WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.map(|(owner, value)| owned_order(owner, id, value))
            .transpose()
    }

    async fn orders_in(
        &self,
        lower: &str,
        upper: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let rows: Vec<(String, String, serde_json::Value)> = sqlx::query_as(
            "SELECT owner, id, data FROM orders
             WHERE ($1::text IS NULL OR id < $1 COLLATE \"C\") AND id >= $2 COLLATE \"C\"
             ORDER BY id COLLATE \"C\" DESC LIMIT $3",
        )
        .bind(upper)
        .bind(lower)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(owner, id, value)| Ok(owned_order(owner, &id, value)?.1))
            .collect()
    }

    async fn move_order(
        &self,
        id: &str,
        change: &OrderChange<'_>,
    ) -> Result<Option<(OwnerKey, Moved)>, UpdateError> {
        retrying(|| self.move_order_once(id, change)).await
    }
}

/// An order row with its owner, checked.
fn owned_order(
    owner: String,
    id: &str,
    value: serde_json::Value,
) -> Result<(OwnerKey, Order), StoreError> {
    let key = OwnerKey::parse(&owner).ok_or_else(|| StoreError::Corrupt {
        key: format!("orders/{owner}/{id}"),
        reason: format!("'{owner}' is not an owner key"),
    })?;
    let order = from_json(format_args!("orders/{owner}/{id}"), value)?;
    Ok((key, order))
}

impl PgStore {
    /// Locks the order row, runs the rule on it, returns the units to
    /// tracked stock (the variant rows read locked, in SKU order, and written
    /// as [`Moved::restocked`] says) and writes the order.
    async fn move_order_once(
        &self,
        id: &str,
        change: &OrderChange<'_>,
    ) -> Result<Option<(OwnerKey, Moved)>, TxError> {
        let mut tx = self.begin().await?;
        let row: Option<(String, serde_json::Value)> =
            sqlx::query_as("SELECT owner, data FROM orders WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((owner, value)) = row else {
            return Ok(None);
        };
        let (owner, order) = owned_order(owner, id, value)?;
        let moved = change(&order).map_err(TxError::Rejected)?;
        if let Moved::Changed(next, _) = &moved {
            // Read under the order's lock, so two cancels restock once.
            let catalog = lock_variants(&mut tx, moved.restock_skus()).await?;
            for product in moved.restocked(&catalog) {
                sqlx::query("UPDATE variants SET stock = $2 WHERE sku = $1")
                    .bind(product.sku.as_str())
                    .bind(product.stock)
                    .execute(&mut *tx)
                    .await?;
            }
            give_back_usage(&mut tx, moved.usage_returned()).await?;
            write_outbox(&mut tx, next).await?;
            sqlx::query("UPDATE orders SET data = $3 WHERE owner = $1 AND id = $2")
                .bind(owner.as_str())
                .bind(id)
                .bind(to_json(next.as_ref()))
                .execute(&mut *tx)
                .await?;
        }
        self.announce(&mut tx, &touched_by_move(&owner, &moved))
            .await?;
        commit(tx).await?;
        Ok(Some((owner, moved)))
    }

    /// One attempt at a checkout; with whom to tell once it committed.
    async fn checkout_once(&self, request: &CheckoutRequest) -> Result<Replayable<Order>, TxError> {
        let owner = &request.owner;
        let mut tx = self.begin().await?;
        let count = lock_owner(&mut tx, owner).await?;
        let record = record_in(&mut tx, owner, &request.key).await?;
        if let Some(id) =
            order_to_replay(record.as_ref(), &request.fingerprint).map_err(TxError::Rejected)?
        {
            let order: Option<serde_json::Value> =
                sqlx::query_scalar("SELECT data FROM orders WHERE owner = $1 AND id = $2")
                    .bind(owner.as_str())
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let order = order
                .map(|value| from_json(format_args!("orders/{owner}/{id}"), value))
                .transpose()?;
            let replayed = replayed_order(owner, &request.key, id, order)?;
            return Ok(replayed);
        }
        check_allowance(count, request.max_keys_per_owner)?;
        // The rule both backends run (CheckoutRequest::lines, then ::place)
        // on the cart locked here, or on no cart for checkoutLines.
        let locked = match &request.source {
            CheckoutSource::Cart { name, .. } => {
                Some(lock_carts(&mut tx, owner, Read::One(name)).await?)
            }
            CheckoutSource::Lines { .. } => None,
        };
        let stored = match (&locked, &request.source) {
            (Some(locked), CheckoutSource::Cart { name, .. }) => locked.cart(name),
            _ => None,
        };
        let lines = request.lines(stored).map_err(TxError::Rejected)?;
        let catalog = lock_variants(&mut tx, lines.iter().map(|l| &l.sku)).await?;
        let pricing = read_pricing(&mut tx).await?;
        let usage = lock_usage(&mut tx, &request.usage_keys(stored, &pricing)).await?;
        let mut index = locked.as_ref().map(|l| l.index.clone()).unwrap_or_default();
        let (placement, emptied) = request
            .place(&mut index, stored, &lines, &catalog, &pricing, &usage)
            .map_err(TxError::Rejected)?;
        for product in &placement.stock_taken {
            take_stock(&mut tx, &catalog, product).await?;
        }
        write_usage(&mut tx, &placement.usage_taken).await?;
        if let (Some(locked), Some(emptied)) = (&locked, &emptied) {
            write_carts(&mut tx, owner, locked, &index, emptied).await?;
        }
        let order = placement.order;
        write_outbox(&mut tx, &order).await?;
        sqlx::query("INSERT INTO orders (owner, id, data) VALUES ($1, $2, $3)")
            .bind(owner.as_str())
            .bind(&order.id)
            .bind(to_json(&order))
            .execute(&mut *tx)
            .await?;
        let outcome = Outcome::Order(order.id.clone());
        record_key(
            &mut tx,
            owner,
            &request.key,
            &request.fingerprint,
            request.now,
            outcome,
        )
        .await?;
        let touched = request.touched(emptied.is_some());
        self.announce(&mut tx, &touched).await?;
        commit(tx).await?;
        Ok(Replayable::Applied(order))
    }
}

/// Reads and locks the variants of `skus`, in SKU order (the lock order
/// every checkout uses, so two checkouts never deadlock).
async fn lock_variants<'a>(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    skus: impl Iterator<Item = &'a Sku>,
) -> Result<HashMap<Sku, Variant>, TxError> {
    let mut keys: Vec<&str> = skus.map(Sku::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    let rows = sqlx::query(
        "SELECT sku, stock, data FROM variants WHERE sku = ANY($1) ORDER BY sku FOR UPDATE",
    )
    .bind(&keys)
    .fetch_all(&mut **tx)
    .await?;
    let mut catalog = HashMap::with_capacity(rows.len());
    for row in &rows {
        let product = variant_from_row(row)?;
        catalog.insert(product.sku.clone(), product);
    }
    Ok(catalog)
}

/// Reads the discount usage counts at `keys` ([`USAGE_KIND`] records) for
/// a checkout. Each discount's total row is locked (created at 0 when
/// missing, so there is a row to lock), in key order: every checkout and
/// cancel that changes a discount's counts, the buyer's included, holds it,
/// so two checkouts cannot both take the last use, on any number of
/// instances. The buyers' rows are then read as committed.
async fn lock_usage(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    keys: &[String],
) -> Result<Usage, TxError> {
    if keys.is_empty() {
        return Ok(Usage::default());
    }
    let prefix = meta_key(USAGE_KIND, "");
    let mut totals: Vec<String> = keys
        .iter()
        .filter(|key| !key.contains('/'))
        .map(|key| meta_key(USAGE_KIND, key))
        .collect();
    totals.sort_unstable();
    let every: Vec<String> = keys.iter().map(|key| meta_key(USAGE_KIND, key)).collect();
    sqlx::query(
        "INSERT INTO meta (key, value) SELECT k, '0'::jsonb FROM unnest($1::text[]) AS k
         ORDER BY k ON CONFLICT (key) DO NOTHING",
    )
    .bind(&totals)
    .execute(&mut **tx)
    .await?;
    sqlx::query("SELECT key FROM meta WHERE key = ANY($1) ORDER BY key FOR UPDATE")
        .bind(&totals)
        .execute(&mut **tx)
        .await?;
    let rows: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT key, value FROM meta WHERE key = ANY($1)")
            .bind(&every)
            .fetch_all(&mut **tx)
            .await?;
    let records = rows
        .into_iter()
        .filter_map(|(key, value)| Some((key.strip_prefix(&prefix)?.to_string(), value)));
    Ok(usage_counts(records)?)
}

/// Writes the usage counts a checkout took (rows [`lock_usage`] locked or
/// guarded).
async fn write_usage(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    taken: &[(String, u64)],
) -> Result<(), TxError> {
    for (key, count) in taken {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(meta_key(USAGE_KIND, key))
        .bind(serde_json::Value::from(*count))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Writes the webhook event announcing `order`'s latest change, in the
/// transaction of the change (the outbox).
async fn write_outbox(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    order: &Order,
) -> Result<(), TxError> {
    let (key, event) = outbox_record(order);
    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2)")
        .bind(key)
        .bind(event)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Gives one use back to each of `keys` (a cancel), never below zero.
/// Totals first, in key order, as checkouts lock them.
async fn give_back_usage(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    keys: &[String],
) -> Result<(), TxError> {
    let mut keys: Vec<String> = keys.iter().map(|key| meta_key(USAGE_KIND, key)).collect();
    keys.sort_unstable_by(|a, b| (a.matches('/').count(), a).cmp(&(b.matches('/').count(), b)));
    for key in keys {
        sqlx::query(
            "UPDATE meta SET value = to_jsonb(GREATEST((value #>> '{}')::bigint - 1, 0))
             WHERE key = $1 AND jsonb_typeof(value) = 'number'",
        )
        .bind(key)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Decrements the stock of `product.sku` to `product.stock`, conditionally:
/// the row is locked, so the condition only guards against a bug.
async fn take_stock(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    catalog: &HashMap<Sku, Variant>,
    product: &Variant,
) -> Result<(), TxError> {
    let before = catalog.get(&product.sku).and_then(|p| p.stock);
    let (Some(before), Some(after)) = (before, product.stock) else {
        return Ok(());
    };
    let taken = before - after;
    let updated =
        sqlx::query("UPDATE variants SET stock = stock - $2 WHERE sku = $1 AND stock >= $2")
            .bind(product.sku.as_str())
            .bind(taken)
            .execute(&mut **tx)
            .await?;
    if updated.rows_affected() != 1 {
        return Err(TxError::Retry(format!("stock of {} moved", product.sku)));
    }
    Ok(())
}
