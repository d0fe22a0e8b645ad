//! [`OrderStore`] and [`IdempotencyStore`] for sled: the checkout
//! transaction over `carts`, `products`, `orders`, `idempotency` and
//! `idempotency_counts`; order listing; the idempotency look-up.

use super::codec::{decode, encode};
use super::tx::{Abort, count_new_key, finish, record, recorded, reject, scoped, tx_get};
use super::{SledStore, logged};
use crate::domain::idempotency::{
    Fingerprint, IdempotencyKey, IdempotencyRecord, Outcome, key_reused,
};
use crate::domain::order::Order;
use crate::domain::{CartSet, OwnerKey, Product, Sku};
use crate::store::idempotency::{IdempotencyStore, Replayable};
use crate::store::orders::{CheckoutRequest, CheckoutSource, OrderStore};
use crate::store::{StoreError, UpdateError};
use async_trait::async_trait;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use std::collections::HashMap;

#[async_trait]
impl OrderStore for SledStore {
    #[tracing::instrument(name = "store.checkout", level = "info", skip_all, fields(owner = %request.owner))]
    async fn checkout(&self, request: &CheckoutRequest) -> Result<Replayable<Order>, UpdateError> {
        logged(
            async move {
                let owner_key = request.owner.as_str().as_bytes();
                let idem_key = scoped(&request.owner, request.key.as_str());
                let trees = (
                    &self.carts,
                    &self.products,
                    &self.orders,
                    &self.idempotency,
                    &self.idempotency_counts,
                );
                let result = trees.transaction(|(carts, products, orders, idempotency, counts)| {
                    if let Some(outcome) = recorded(idempotency, &idem_key, &request.fingerprint)? {
                        let Outcome::Order(id) = outcome else {
                            return reject(key_reused());
                        };
                        let order = tx_get::<Order>(orders, &scoped(&request.owner, &id))?;
                        return match order {
                            Some(order) => Ok(Replayable::Replayed(order)),
                            None => Err(ConflictableTransactionError::Abort(Abort::Store(
                                StoreError::Corrupt {
                                    key: String::from_utf8_lossy(&idem_key).into_owned(),
                                    reason: format!("records order {id}, which is missing"),
                                },
                            ))),
                        };
                    }
                    count_new_key(counts, owner_key, request.max_keys_per_owner)?;
                    let mut set: CartSet =
                        tx_get(carts, owner_key)?.unwrap_or_else(|| self.fresh_set());
                    let lines = match request.lines(&set) {
                        Ok(lines) => lines,
                        Err(rejection) => return reject(rejection),
                    };
                    let mut catalog: HashMap<Sku, Product> = HashMap::with_capacity(lines.len());
                    for line in &lines {
                        if let Some(product) =
                            tx_get::<Product>(products, line.sku.as_str().as_bytes())?
                        {
                            catalog.insert(line.sku.clone(), product);
                        }
                    }
                    let placement = match request.place(&mut set, &lines, &catalog) {
                        Ok(placement) => placement,
                        Err(rejection) => return reject(rejection),
                    };
                    for product in &placement.stock_taken {
                        products.insert(product.sku.as_str().as_bytes(), encode(product))?;
                    }
                    if matches!(request.source, CheckoutSource::Cart { .. }) {
                        carts.insert(owner_key, encode(&set))?;
                    }
                    let order = placement.order;
                    orders.insert(scoped(&request.owner, &order.id), encode(&order))?;
                    idempotency.insert(
                        idem_key.as_slice(),
                        record(
                            &request.fingerprint,
                            request.now,
                            Outcome::Order(order.id.clone()),
                        ),
                    )?;
                    Ok(Replayable::Applied(order))
                });
                let outcome = finish(result)?;
                if matches!(outcome, Replayable::Applied(_)) {
                    self.durable().await?;
                    if matches!(request.source, CheckoutSource::Cart { .. }) {
                        self.cart_changed(&request.owner);
                    }
                }
                Ok(outcome)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "store.order", level = "info", skip_all, err, fields(owner = %owner))]
    async fn order(&self, owner: &OwnerKey, id: &str) -> Result<Option<Order>, StoreError> {
        SledStore::get(&self.orders, &scoped(owner, id))
    }

    #[tracing::instrument(name = "store.orders", level = "info", skip_all, err, fields(owner = %owner))]
    async fn orders(
        &self,
        owner: &OwnerKey,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let start = scoped(owner, "");
        let end = match before {
            Some(id) => scoped(owner, id),
            None => {
                let mut end = owner.as_str().as_bytes().to_vec();
                end.push(1);
                end
            }
        };
        self.orders
            .range(start..end)
            .rev()
            .take(limit)
            .map(|entry| {
                let (key, bytes) = entry?;
                decode(&key, &bytes)
            })
            .collect()
    }
}

#[async_trait]
impl IdempotencyStore for SledStore {
    #[tracing::instrument(name = "store.recorded", level = "info", skip_all, fields(owner = %owner))]
    async fn recorded(
        &self,
        owner: &OwnerKey,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Outcome>, UpdateError> {
        logged(
            async move {
                let record: Option<IdempotencyRecord> =
                    SledStore::get(&self.idempotency, &scoped(owner, key.as_str()))?;
                match record {
                    Some(record) => match record.replay(fingerprint) {
                        Ok(outcome) => Ok(Some(outcome.clone())),
                        Err(rejection) => Err(UpdateError::Rejected(rejection)),
                    },
                    None => Ok(None),
                }
            }
            .await,
        )
    }
}
