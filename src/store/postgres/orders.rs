//! [`OrderStore`] for PostgreSQL: the checkout transaction and order listing.
//!
//! Checkout locks, in the order of [`super`]'s module docs: the owner's
//! idempotency count row, the cart row (a cart checkout), the variant rows in
//! SKU order; then it decrements stock with conditional updates, writes the
//! order, the record of the key and the cleared cart, and commits. A refused
//! checkout rolls back: its key is not used and nothing is counted.

use super::carts::{lock_set, write_set};
use super::catalog::variant_from_row;
use super::idempotency::{check_allowance, lock_owner, record_key, recorded_in};
use super::{PgStore, TxError, backend, from_json, retrying, to_json};
use crate::domain::idempotency::{Outcome, key_reused};
use crate::domain::order::{Order, place_order};
use crate::domain::{CartChange, OwnerKey, Product, Rejection, Sku};
use crate::store::idempotency::Replayable;
use crate::store::orders::{CheckoutRequest, CheckoutSource, OrderStore};
use crate::store::{StoreError, UpdateError};
use async_trait::async_trait;
use std::collections::HashMap;

#[async_trait]
impl OrderStore for PgStore {
    #[tracing::instrument(name = "store.checkout", level = "info", skip_all, fields(owner = %request.owner))]
    async fn checkout(&self, request: &CheckoutRequest) -> Result<Replayable<Order>, UpdateError> {
        let outcome = retrying(|| self.checkout_once(request)).await?;
        if matches!(outcome, Replayable::Applied(_))
            && matches!(request.source, CheckoutSource::Cart { .. })
        {
            self.cart_changed(&request.owner);
        }
        Ok(outcome)
    }

    #[tracing::instrument(name = "store.order", level = "info", skip_all, err, fields(owner = %owner))]
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

    #[tracing::instrument(name = "store.orders", level = "info", skip_all, err, fields(owner = %owner))]
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
}

impl PgStore {
    async fn checkout_once(&self, request: &CheckoutRequest) -> Result<Replayable<Order>, TxError> {
        let owner = &request.owner;
        let mut tx = self.begin().await?;
        let count = lock_owner(&mut tx, owner).await?;
        if let Some(outcome) =
            recorded_in(&mut tx, owner, &request.key, &request.fingerprint).await?
        {
            let Outcome::Order(id) = outcome else {
                return Err(TxError::Rejected(key_reused()));
            };
            let order: Option<serde_json::Value> =
                sqlx::query_scalar("SELECT data FROM orders WHERE owner = $1 AND id = $2")
                    .bind(owner.as_str())
                    .bind(&id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let key = format!("idempotency/{owner}/{}", request.key.as_str());
            return match order {
                Some(value) => Ok(Replayable::Replayed(from_json(key, value)?)),
                None => Err(TxError::Store(StoreError::Corrupt {
                    key,
                    reason: format!("records order {id}, which is missing"),
                })),
            };
        }
        check_allowance(count, request.max_keys_per_owner)?;
        let (lines, source_cart, mut cart) = match &request.source {
            CheckoutSource::Cart {
                name,
                expected_version,
                lifetime,
                ..
            } => {
                let locked = lock_set(&mut tx, owner).await?;
                let current = locked.set.cart(name, request.now, *lifetime);
                if let Some(expected) = expected_version
                    && *expected != current.version
                {
                    return Err(TxError::Rejected(Rejection::VersionConflict {
                        expected: *expected,
                        current: current.version,
                    }));
                }
                (
                    current.lines,
                    Some((name.clone(), current.version)),
                    Some(locked),
                )
            }
            CheckoutSource::Lines(lines) => (lines.clone(), None, None),
        };
        let catalog = lock_variants(&mut tx, lines.iter().map(|l| &l.sku)).await?;
        let placement = place_order(
            request.order_id.clone(),
            &lines,
            &catalog,
            request.now,
            source_cart,
        )
        .map_err(TxError::Rejected)?;
        for product in &placement.stock_taken {
            take_stock(&mut tx, &catalog, product).await?;
        }
        if let (
            Some(locked),
            CheckoutSource::Cart {
                name,
                lifetime,
                limits,
                ..
            },
        ) = (cart.as_mut(), &request.source)
        {
            locked
                .set
                .apply(
                    name,
                    &CartChange::Clear,
                    None,
                    limits,
                    request.now,
                    *lifetime,
                )
                .map_err(TxError::Rejected)?;
            write_set(&mut tx, owner, locked).await?;
            self.notify(&mut tx, owner).await?;
        }
        let order = placement.order;
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
        tx.commit().await?;
        Ok(Replayable::Applied(order))
    }
}

/// Reads and locks the variants of `skus`, in SKU order (the lock order
/// every checkout uses, so two checkouts never deadlock).
async fn lock_variants<'a>(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    skus: impl Iterator<Item = &'a Sku>,
) -> Result<HashMap<Sku, Product>, TxError> {
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

/// Decrements the stock of `product.sku` to `product.stock`, conditionally:
/// the row is locked, so the condition only guards against a bug.
async fn take_stock(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    catalog: &HashMap<Sku, Product>,
    product: &Product,
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
