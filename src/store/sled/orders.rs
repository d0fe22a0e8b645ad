//! [`OrderStore`] and [`IdempotencyStore`] for sled: a checkout read under
//! its owner's turn and committed in a batch of checkouts, one transaction
//! over `carts`, `products`, `orders`, `idempotency`, `idempotency_counts`
//! and `meta` (usage, the webhook outbox) (see [`checkouts`](super::checkouts));
//! order listing; the idempotency look-up.

use super::SledStore;
use super::checkouts::Prepared;
use super::codec::{decode, encode};
use super::tx::{finish, reject, scoped, tx_get};
use crate::domain::idempotency::{
    Fingerprint, IdempotencyKey, IdempotencyRecord, Outcome, order_to_replay, recorded,
};
use crate::domain::order::{Moved, Order};
use crate::domain::pricing::USAGE_KIND;
use crate::domain::{CartIndex, OwnerKey};
use crate::store::idempotency::{IdempotencyStore, Replayable, replayed_order};
use crate::store::orders::{
    CheckoutRequest, CheckoutSource, OrderChange, OrderStore, outbox_record, touched_by_move,
};
use crate::store::shop::meta_key;
use crate::store::{Changes, StoreError, UpdateError};
use async_trait::async_trait;
use sled::Transactional;
use std::collections::HashMap;

#[async_trait]
impl OrderStore for SledStore {
    async fn checkout(&self, request: &CheckoutRequest) -> Result<Replayable<Order>, UpdateError> {
        let owner = &request.owner;
        let turn = self.owner_locks.lock(owner).await;
        // With the owner's turn, no other write records a key or
        // changes a cart of this owner meanwhile: the look-up and the
        // cart are read plainly; stock is read and written in the
        // transaction (other owners buy the same SKUs).
        let stored = self.record_of(owner, &request.key)?;
        if let Some(id) =
            order_to_replay(stored.as_ref(), &request.fingerprint).map_err(UpdateError::Rejected)?
        {
            let order = SledStore::get(&self.orders, &scoped(owner, id))?;
            return Ok(replayed_order(owner, &request.key, id, order)?);
        }
        // Lines sent whole need no stored cart.
        let (index, stored) = match &request.source {
            CheckoutSource::Cart { name, .. } => {
                let mut index = self.index_of(owner)?;
                self.versions_from(&mut index);
                // Emptying the cart makes at most the next version.
                self.lease_versions(index.highest_version().saturating_add(1))
                    .await?;
                (index, self.stored_cart(owner, name)?)
            }
            CheckoutSource::Lines { .. } => (CartIndex::default(), None),
        };
        let lines = request
            .lines(stored.as_ref())
            .map_err(UpdateError::Rejected)?;
        let pricing = self.cached_pricing()?;
        let usage_keys: Vec<Vec<u8>> = request
            .usage_keys(stored.as_ref(), &pricing)
            .iter()
            .map(|key| meta_key(USAGE_KIND, key).into_bytes())
            .collect();
        // The job holds the turn and the write gate until its batch has
        // committed it (or it is taken back), whatever becomes of this call.
        let prepared = Prepared {
            request: request.clone(),
            index,
            stored,
            lines,
            pricing,
            usage_keys,
            _turn: turn,
            _writing: self.writing_owned().await,
        };
        let (order, emptied) = self.checkout_in_batch(prepared).await?;
        self.durable().await?;
        self.subscribers.committed(&request.touched(emptied));
        Ok(Replayable::Applied(order))
    }

    async fn order(&self, owner: &OwnerKey, id: &str) -> Result<Option<Order>, StoreError> {
        SledStore::get(&self.orders, &scoped(owner, id))
    }

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

    fn order_changes(&self, owner: &OwnerKey) -> Changes {
        self.subscribers.watch_orders(owner)
    }

    async fn order_by_id(&self, id: &str) -> Result<Option<(OwnerKey, Order)>, StoreError> {
        let Some(owner) = self.owner_of_order(id)? else {
            return Ok(None);
        };
        let order = SledStore::get(&self.orders, &scoped(&owner, id))?;
        Ok(order.map(|order| (owner, order)))
    }

    async fn orders_in(
        &self,
        lower: &str,
        upper: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let range = match upper {
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
                found.push(decode(&key, &bytes)?);
            }
        }
        Ok(found)
    }

    async fn move_order(
        &self,
        id: &str,
        change: &OrderChange<'_>,
    ) -> Result<Option<(OwnerKey, Moved)>, UpdateError> {
        let Some(owner) = self.owner_of_order(id)? else {
            return Ok(None);
        };
        let key = scoped(&owner, id);
        let trees = (&self.orders, &self.products, &self.meta);
        let _writing = self.writing().await;
        let result = trees.transaction(|(orders, products, meta)| {
            let Some(order) = tx_get::<Order>(orders, &key)? else {
                return Ok(None);
            };
            let moved = match change(&order) {
                Ok(moved) => moved,
                Err(rejection) => return reject(rejection),
            };
            if let Moved::Changed(next, _) = &moved {
                let mut catalog = HashMap::new();
                for sku in moved.restock_skus() {
                    if let Some(product) = tx_get(products, sku.as_str().as_bytes())? {
                        catalog.insert(sku.clone(), product);
                    }
                }
                for product in moved.restocked(&catalog) {
                    products.insert(product.sku.as_str().as_bytes(), encode(&product))?;
                }
                for usage in moved.usage_returned() {
                    let key = meta_key(USAGE_KIND, usage);
                    let count: u64 = tx_get(meta, key.as_bytes())?.unwrap_or(0);
                    meta.insert(key.as_bytes(), encode(&count.saturating_sub(1)))?;
                }
                let (event_key, event) = outbox_record(next);
                meta.insert(event_key.as_bytes(), encode(&event))?;
                orders.insert(key.as_slice(), encode(next.as_ref()))?;
            }
            Ok(Some(moved))
        });
        let Some(moved) = finish(result)? else {
            return Ok(None);
        };
        if matches!(moved, Moved::Changed(..)) {
            self.durable().await?;
            self.subscribers.committed(&touched_by_move(&owner, &moved));
        }
        Ok(Some((owner, moved)))
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
    async fn recorded(
        &self,
        owner: &OwnerKey,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Outcome>, UpdateError> {
        let record = self.record_of(owner, key)?;
        let outcome = recorded(record.as_ref(), fingerprint).map_err(UpdateError::Rejected)?;
        Ok(outcome.cloned())
    }
}

impl SledStore {
    /// The record of `key`, as stored (the decision is the domain's).
    pub(super) fn record_of(
        &self,
        owner: &OwnerKey,
        key: &IdempotencyKey,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        SledStore::get(&self.idempotency, &scoped(owner, key.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Money;
    use crate::domain::order::{OrderFilter, OrderStatus};
    use crate::store::sled::Durability;

    /// Stores `count` orders of two owners directly; every third is paid.
    /// Ids are ULIDs of consecutive milliseconds, so id order is time order.
    fn stored(store: &SledStore, count: u64) -> Vec<Order> {
        let start = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        (0..count)
            .map(|n| {
                let created_at = start + chrono::Duration::milliseconds(n as i64);
                let ms = created_at.timestamp_millis() as u64;
                let order = Order {
                    id: ulid::Ulid::from_parts(ms, 1).to_string(),
                    status: match n % 3 {
                        0 => OrderStatus::Paid,
                        _ => OrderStatus::Placed,
                    },
                    lines: Vec::new(),
                    subtotal: Money::ZERO,
                    total: Money::ZERO,
                    created_at,
                    source_cart: None,
                    note: None,
                    attributes: Vec::new(),
                    buyer_identity: Default::default(),
                    payment_reference: None,
                    tracking: None,
                    cancel_reason: None,
                    restocked: false,
                    events: Vec::new(),
                    pricing: None,
                };
                let owner = OwnerKey::parse(["guest:ann", "customer:bob"][n as usize % 2]).unwrap();
                let key = scoped(&owner, &order.id);
                store.orders.insert(key, encode(&order)).unwrap();
                store
                    .order_owners
                    .insert(order.id.as_bytes(), owner.as_str().as_bytes())
                    .unwrap();
                order
            })
            .collect()
    }

    fn ids(orders: &[Order]) -> Vec<&str> {
        orders.iter().map(|o| o.id.as_str()).collect()
    }

    #[tokio::test]
    async fn the_admin_listing_pages_through_every_owner_newest_first_until_enough_match() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        let all = stored(&store, 400);
        let paid = OrderFilter {
            status: Some(OrderStatus::Paid),
            ..OrderFilter::default()
        };
        let expected: Vec<&Order> = all.iter().rev().filter(|o| paid.matches(o)).collect();
        // 120 matches spread over 360 orders: more than one page of 50.
        let first = store.all_orders(&paid, None, 120).await.unwrap();
        assert_eq!(
            ids(&first),
            expected[..120]
                .iter()
                .map(|o| o.id.as_str())
                .collect::<Vec<_>>()
        );
        let last = first.last().unwrap().id.as_str();
        let rest = store.all_orders(&paid, Some(last), 500).await.unwrap();
        assert_eq!(
            rest.len(),
            expected.len() - 120,
            "the rest, then the range ends"
        );
        assert!(store.all_orders(&paid, None, 0).await.unwrap().is_empty());
        let nobody = OrderFilter {
            email: Some(crate::domain::account::Email::parse("x@example.com").unwrap()),
            ..OrderFilter::default()
        };
        assert!(
            store
                .all_orders(&nobody, None, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
