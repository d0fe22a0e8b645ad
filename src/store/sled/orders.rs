//! [`OrderStore`] and [`IdempotencyStore`] for sled: the checkout
//! transaction over `carts`, `products`, `orders`, `idempotency` and
//! `idempotency_counts`; order listing; the idempotency look-up.

use super::codec::{decode, encode};
use super::tx::{Abort, count_new_key, finish, record, recorded, reject, scoped, tx_get};
use super::{SledStore, logged};
use crate::domain::idempotency::{
    Fingerprint, IdempotencyKey, IdempotencyRecord, Outcome, key_reused,
};
use crate::domain::order::{IdRange, Moved, Order, OrderFilter};
use crate::domain::{CartSet, OwnerKey, Product, Sku};
use crate::store::idempotency::{IdempotencyStore, Replayable};
use crate::store::orders::{CheckoutRequest, CheckoutSource, OrderChange, OrderStore, restocked};
use crate::store::{CartChanges, StoreError, UpdateError};
use async_trait::async_trait;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use std::collections::HashMap;

#[async_trait]
impl OrderStore for SledStore {
    #[tracing::instrument(name = "store.checkout", target = "store.checkout", level = "debug", skip_all, fields(owner = %request.owner))]
    async fn checkout(&self, request: &CheckoutRequest) -> Result<Replayable<Order>, UpdateError> {
        logged(
            "store.checkout",
            async move {
                let owner_key = request.owner.as_str().as_bytes();
                let idem_key = scoped(&request.owner, request.key.as_str());
                let trees = (
                    &self.carts,
                    &self.products,
                    &self.orders,
                    &self.idempotency,
                    &self.idempotency_counts,
                    &self.order_owners,
                );
                let result =
                    trees.transaction(|(carts, products, orders, idempotency, counts, owners)| {
                        if let Some(outcome) =
                            recorded(idempotency, &idem_key, &request.fingerprint)?
                        {
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
                        // Lines sent whole need no stored cart: reading it
                        // would only make the transaction longer.
                        let mut set: CartSet = match request.source {
                            CheckoutSource::Cart { .. } => {
                                tx_get(carts, owner_key)?.unwrap_or_else(|| self.fresh_set())
                            }
                            CheckoutSource::Lines { .. } => CartSet::default(),
                        };
                        let lines = match request.lines(&set) {
                            Ok(lines) => lines,
                            Err(rejection) => return reject(rejection),
                        };
                        let mut catalog: HashMap<Sku, Product> =
                            HashMap::with_capacity(lines.len());
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
                        owners.insert(order.id.as_bytes(), request.owner.as_str().as_bytes())?;
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
                    self.order_changed(&request.owner);
                }
                Ok(outcome)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "store.order", target = "store.order", level = "debug", skip_all, err, fields(owner = %owner))]
    async fn order(&self, owner: &OwnerKey, id: &str) -> Result<Option<Order>, StoreError> {
        SledStore::get(&self.orders, &scoped(owner, id))
    }

    #[tracing::instrument(name = "store.orders", target = "store.orders", level = "debug", skip_all, err, fields(owner = %owner))]
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

    fn order_changes(&self, owner: &OwnerKey) -> CartChanges {
        SledStore::order_changes(self, owner)
    }

    #[tracing::instrument(
        name = "store.order_by_id",
        target = "store.order_by_id",
        level = "debug",
        skip_all,
        err
    )]
    async fn order_by_id(&self, id: &str) -> Result<Option<(OwnerKey, Order)>, StoreError> {
        let Some(owner) = self.owner_of_order(id)? else {
            return Ok(None);
        };
        let order = SledStore::get(&self.orders, &scoped(&owner, id))?;
        Ok(order.map(|order| (owner, order)))
    }

    #[tracing::instrument(
        name = "store.all_orders",
        target = "store.all_orders",
        level = "debug",
        skip_all,
        err
    )]
    async fn all_orders(
        &self,
        filter: &OrderFilter,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let Some(IdRange { lower, upper }) = filter.id_range(before) else {
            return Ok(Vec::new());
        };
        let range = match &upper {
            Some(id) => self.order_owners.range(lower.as_bytes()..id.as_bytes()),
            None => self.order_owners.range(lower.as_bytes()..),
        };
        let mut found = Vec::new();
        for entry in range.rev() {
            if found.len() == limit {
                break;
            }
            let (id, owner) = entry?;
            let mut key = owner.to_vec();
            key.push(0);
            key.extend_from_slice(&id);
            if let Some(bytes) = self.orders.get(&key)? {
                let order: Order = decode(&key, &bytes)?;
                if filter.matches(&order) {
                    found.push(order);
                }
            }
        }
        Ok(found)
    }

    #[tracing::instrument(
        name = "store.move_order",
        target = "store.move_order",
        level = "debug",
        skip_all
    )]
    async fn move_order(
        &self,
        id: &str,
        change: &OrderChange<'_>,
    ) -> Result<Option<(OwnerKey, Moved)>, UpdateError> {
        logged(
            "store.move_order",
            async move {
                let Some(owner) = self.owner_of_order(id)? else {
                    return Ok(None);
                };
                let key = scoped(&owner, id);
                let trees = (&self.orders, &self.products);
                let result = trees.transaction(|(orders, products)| {
                    let Some(order) = tx_get::<Order>(orders, &key)? else {
                        return Ok(None);
                    };
                    let moved = match change(&order) {
                        Ok(moved) => moved,
                        Err(rejection) => return reject(rejection),
                    };
                    if let Moved::Changed(next, restock) = &moved {
                        for (sku, quantity) in restock {
                            let sku_key = sku.as_str().as_bytes();
                            if let Some(product) = tx_get::<Product>(products, sku_key)?
                                && let Some(back) = restocked(&product, *quantity)
                            {
                                products.insert(sku_key, encode(&back))?;
                            }
                        }
                        orders.insert(key.as_slice(), encode(next.as_ref()))?;
                    }
                    Ok(Some(moved))
                });
                let Some(moved) = finish(result)? else {
                    return Ok(None);
                };
                if matches!(moved, Moved::Changed(..)) {
                    self.durable().await?;
                    self.order_changed(&owner);
                }
                Ok(Some((owner, moved)))
            }
            .await,
        )
    }
}

impl SledStore {
    fn owner_of_order(&self, id: &str) -> Result<Option<OwnerKey>, StoreError> {
        let Some(bytes) = self.order_owners.get(id.as_bytes())? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        match OwnerKey::parse(&text) {
            Some(owner) => Ok(Some(owner)),
            None => Err(StoreError::Corrupt {
                key: format!("order_owners/{id}"),
                reason: format!("'{text}' is not an owner key"),
            }),
        }
    }
}

#[async_trait]
impl IdempotencyStore for SledStore {
    #[tracing::instrument(name = "store.recorded", target = "store.recorded", level = "debug", skip_all, fields(owner = %owner))]
    async fn recorded(
        &self,
        owner: &OwnerKey,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Outcome>, UpdateError> {
        logged(
            "store.recorded",
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
