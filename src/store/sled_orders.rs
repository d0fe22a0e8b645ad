//! [`OrderStore`] for sled: the checkout transaction, idempotent cart
//! updates, order listing and sweeping.
//!
//! Checkout runs as one sled transaction over `carts`, `products`, `orders`
//! and `idempotency`. In sled 0.34.7 the closure runs under a process-wide
//! write lock that every ordinary operation takes for reading, so it is
//! serialised with all other writes. Inside it only the transactional views
//! may be used (an ordinary `tree.get` there would deadlock), and it has no
//! side effects because sled may run it more than once.

use super::codec::{decode, encode};
use super::orders::{
    CartOnceOutcome, CartSetTxUpdate, CheckoutOutcome, CheckoutRequest, CheckoutSource, OrderStore,
};
use super::sled_store::SledStore;
use super::{OwnerKey, StoreError, UpdateError};
use crate::domain::idempotency::{
    Fingerprint, IdempotencyKey, IdempotencyRecord, KeyUse, Outcome, key_reused, too_many_keys,
};
use crate::domain::order::{Order, place_order};
use crate::domain::{CartChange, CartName, CartSet, Product, Rejection, Sku};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use std::collections::HashMap;

/// Why a transaction gave up.
enum Abort {
    Rejected(Rejection),
    Store(StoreError),
}

type TxResult<T> = Result<T, ConflictableTransactionError<Abort>>;

fn reject<T>(rejection: Rejection) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(Abort::Rejected(
        rejection,
    )))
}

fn tx_get<T: DeserializeOwned>(tree: &TransactionalTree, key: &[u8]) -> TxResult<Option<T>> {
    match tree.get(key)? {
        Some(bytes) => decode(key, &bytes)
            .map(Some)
            .map_err(|e| ConflictableTransactionError::Abort(Abort::Store(e))),
        None => Ok(None),
    }
}

fn finish<T>(result: Result<T, TransactionError<Abort>>) -> Result<T, UpdateError> {
    match result {
        Ok(value) => Ok(value),
        Err(TransactionError::Abort(Abort::Rejected(r))) => Err(UpdateError::Rejected(r)),
        Err(TransactionError::Abort(Abort::Store(e))) => Err(UpdateError::Store(e)),
        Err(TransactionError::Storage(e)) => Err(UpdateError::Store(e.into())),
    }
}

/// `owner, 0, suffix`: keys of records that belong to one owner.
fn scoped(owner: &OwnerKey, suffix: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(owner.as_str().len() + 1 + suffix.len());
    key.extend_from_slice(owner.as_str().as_bytes());
    key.push(0);
    key.extend_from_slice(suffix.as_bytes());
    key
}

/// Replays a recorded outcome or refuses a reused key; `None` if the key is new.
fn recorded(
    idempotency: &TransactionalTree,
    key: &[u8],
    fingerprint: &Fingerprint,
) -> TxResult<Option<Outcome>> {
    match tx_get::<IdempotencyRecord>(idempotency, key)? {
        Some(record) => match record.replay(fingerprint) {
            Ok(outcome) => Ok(Some(outcome.clone())),
            Err(rejection) => reject(rejection),
        },
        None => Ok(None),
    }
}

/// Counts one more idempotency record for the owner, or refuses when it has
/// `max` already. Inside the transaction that writes the record: a refused or
/// rejected request writes neither.
fn count_new_key(counts: &TransactionalTree, owner_key: &[u8], max: usize) -> TxResult<()> {
    let count: u64 = tx_get(counts, owner_key)?.unwrap_or(0);
    if count >= max as u64 {
        return reject(too_many_keys(max));
    }
    counts.insert(owner_key, encode(&(count + 1)))?;
    Ok(())
}

fn record(fingerprint: &Fingerprint, now: DateTime<Utc>, outcome: Outcome) -> Vec<u8> {
    encode(&IdempotencyRecord {
        fingerprint: fingerprint.clone(),
        created_at: now,
        outcome,
    })
}

#[async_trait]
impl OrderStore for SledStore {
    async fn checkout(&self, request: &CheckoutRequest) -> Result<CheckoutOutcome, UpdateError> {
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
                    Some(order) => Ok(CheckoutOutcome::Replayed(order)),
                    None => Err(ConflictableTransactionError::Abort(Abort::Store(
                        StoreError::Corrupt {
                            key: String::from_utf8_lossy(&idem_key).into_owned(),
                            reason: format!("records order {id}, which is missing"),
                        },
                    ))),
                };
            }
            count_new_key(counts, owner_key, request.max_keys_per_owner)?;
            let mut set: CartSet = tx_get(carts, owner_key)?.unwrap_or_else(|| self.fresh_set());
            let (lines, source_cart) = match &request.source {
                CheckoutSource::Cart {
                    name,
                    expected_version,
                    lifetime,
                    ..
                } => {
                    let cart = set.cart(name, request.now, *lifetime);
                    if let Some(expected) = expected_version
                        && *expected != cart.version
                    {
                        return reject(Rejection::VersionConflict {
                            expected: *expected,
                            current: cart.version,
                        });
                    }
                    (cart.lines, Some((name.clone(), cart.version)))
                }
                CheckoutSource::Lines(lines) => (lines.clone(), None),
            };
            let mut catalog: HashMap<Sku, Product> = HashMap::with_capacity(lines.len());
            for line in &lines {
                if let Some(product) = tx_get::<Product>(products, line.sku.as_str().as_bytes())? {
                    catalog.insert(line.sku.clone(), product);
                }
            }
            let placement = match place_order(
                request.order_id.clone(),
                &lines,
                &catalog,
                request.now,
                source_cart,
            ) {
                Ok(placement) => placement,
                Err(rejection) => return reject(rejection),
            };
            for product in &placement.restocked {
                products.insert(product.sku.as_str().as_bytes(), encode(product))?;
            }
            if let CheckoutSource::Cart {
                name,
                lifetime,
                limits,
                ..
            } = &request.source
            {
                if let Err(rejection) = set.apply(
                    name,
                    &CartChange::Clear,
                    None,
                    limits,
                    request.now,
                    *lifetime,
                ) {
                    return reject(rejection);
                }
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
            Ok(CheckoutOutcome::Placed(order))
        });
        let outcome = finish(result)?;
        if matches!(outcome, CheckoutOutcome::Placed(_)) {
            self.durable().await?;
            if matches!(request.source, CheckoutSource::Cart { .. }) {
                self.cart_changed(&request.owner);
            }
        }
        Ok(outcome)
    }

    async fn update_cart_set_once(
        &self,
        owner: &OwnerKey,
        key: &KeyUse<'_>,
        name: &CartName,
        update: &CartSetTxUpdate<'_>,
    ) -> Result<CartOnceOutcome, UpdateError> {
        let owner_key = owner.as_str().as_bytes();
        let idem_key = scoped(owner, key.key.as_str());
        let trees = (&self.carts, &self.idempotency, &self.idempotency_counts);
        let result = trees.transaction(|(carts, idempotency, counts)| {
            let current = || -> TxResult<CartSet> {
                Ok(tx_get(carts, owner_key)?.unwrap_or_else(|| self.fresh_set()))
            };
            if let Some(outcome) = recorded(idempotency, &idem_key, key.fingerprint)? {
                return match outcome.cart_version() {
                    Some(_) => Ok(CartOnceOutcome::Replayed(current()?)),
                    None => reject(key_reused()),
                };
            }
            count_new_key(counts, owner_key, key.max_per_owner)?;
            let mut set = current()?;
            if let Err(rejection) = update(&mut set) {
                return reject(rejection);
            }
            let version = set.carts.get(name).map_or(0, |cart| cart.version);
            carts.insert(owner_key, encode(&set))?;
            let outcome = Outcome::CartVersion {
                name: name.clone(),
                version,
            };
            idempotency.insert(
                idem_key.as_slice(),
                record(key.fingerprint, key.now, outcome),
            )?;
            Ok(CartOnceOutcome::Applied(set))
        });
        let outcome = finish(result)?;
        if matches!(outcome, CartOnceOutcome::Applied(_)) {
            self.durable().await?;
            self.cart_changed(owner);
        }
        Ok(outcome)
    }

    async fn recorded(
        &self,
        owner: &OwnerKey,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Outcome>, UpdateError> {
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

    async fn sweep_carts(
        &self,
        now: DateTime<Utc>,
        lifetime: &(dyn for<'k> Fn(&'k OwnerKey) -> Duration + Send + Sync),
    ) -> Result<usize, StoreError> {
        let mut swept = 0;
        let mut changed = Vec::new();
        for (seen, entry) in self.carts.iter().enumerate() {
            yield_sometimes(seen).await;
            let (key, _) = entry?;
            let owner = OwnerKey::new(String::from_utf8_lossy(&key).into_owned());
            let ttl = lifetime(&owner);
            // A compare-and-swap per owner: a change racing the sweep wins or retries.
            loop {
                let Some(old) = self.carts.get(&key)? else {
                    break;
                };
                let mut set: CartSet = decode(&key, &old)?;
                let dropped = set.drop_expired(now, ttl);
                // A set left without carts (all expired, or all merged into a
                // customer's) is deleted; the floor keeps its versions retired.
                let new = if set.carts.is_empty() {
                    self.raise_version_floor(set.retired_version)?;
                    None
                } else if dropped > 0 {
                    Some(encode(&set))
                } else {
                    break;
                };
                if self.carts.compare_and_swap(&key, Some(old), new)?.is_ok() {
                    swept += dropped;
                    if dropped > 0 {
                        changed.push(owner.clone());
                    }
                    break;
                }
            }
        }
        if swept > 0 {
            self.durable().await?;
        }
        for owner in &changed {
            self.cart_changed(owner);
        }
        Ok(swept)
    }

    async fn sweep_idempotency(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut swept = 0;
        for (seen, entry) in self.idempotency.iter().enumerate() {
            yield_sometimes(seen).await;
            let (key, bytes) = entry?;
            let record: IdempotencyRecord = decode(&key, &bytes)?;
            if record.created_at >= cutoff {
                continue;
            }
            // The owner is the part of the key before its 0 byte.
            let owner = key.split(|b| *b == 0).next().unwrap_or_default();
            let trees = (&self.idempotency, &self.idempotency_counts);
            let deleted = trees.transaction(|(idempotency, counts)| {
                if idempotency.get(&key)?.as_deref() != Some(&bytes[..]) {
                    return Ok(false);
                }
                idempotency.remove(&key)?;
                let count: u64 = tx_get(counts, owner)?.unwrap_or(0);
                match count.saturating_sub(1) {
                    0 => counts.remove(owner)?,
                    left => counts.insert(owner, encode(&left))?,
                };
                Ok(true)
            });
            match finish(deleted) {
                Ok(true) => swept += 1,
                // Changed meanwhile (or, impossibly, refused): left for the next sweep.
                Ok(false) | Err(UpdateError::Rejected(_)) => {}
                Err(UpdateError::Store(e)) => return Err(e),
            }
        }
        if swept > 0 {
            self.durable().await?;
        }
        Ok(swept)
    }
}

/// Lets other tasks run during a long sweep.
async fn yield_sometimes(seen: usize) {
    if seen % 256 == 255 {
        tokio::task::yield_now().await;
    }
}
