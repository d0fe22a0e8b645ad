//! [`CartStore`] for sled: all carts of one owner are one value under the
//! owner key in `carts`, written by compare-and-swap; idempotent updates and
//! the guest → customer merge are transactions (see [`tx`](super::tx)).

use super::codec::{decode, encode};
use super::tx::{count_new_key, finish, record, recorded, reject, scoped, tx_get};
use super::{SledStore, logged};
use super::{cas, tx::TxResult};
use crate::domain::idempotency::{KeyUse, Outcome, key_reused};
use crate::domain::merge::MergeReport;
use crate::domain::{CartName, CartSet, OwnerKey};
use crate::store::carts::{CartMerge, CartSetUpdate, CartStore};
use crate::store::idempotency::Replayable;
use crate::store::{CartChanges, StoreError, UpdateError};
use async_trait::async_trait;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

#[async_trait]
impl CartStore for SledStore {
    #[tracing::instrument(name = "store.cart_set", target = "store.cart_set", level = "debug", skip_all, err, fields(owner = %owner))]
    async fn cart_set(&self, owner: &OwnerKey) -> Result<CartSet, StoreError> {
        Ok(Self::get(&self.carts, owner.as_str().as_bytes())?.unwrap_or_default())
    }

    #[tracing::instrument(name = "store.update_cart_set", target = "store.update_cart_set", level = "debug", skip_all, fields(owner = %owner))]
    async fn update_cart_set(
        &self,
        owner: &OwnerKey,
        update: &CartSetUpdate<'_>,
    ) -> Result<CartSet, UpdateError> {
        logged(
            "store.update_cart_set",
            async move {
                let (set, written) = cas(
                    &self.carts,
                    owner.as_str().as_bytes(),
                    |current: Option<CartSet>| {
                        let mut set = current.unwrap_or_else(|| self.fresh_set());
                        update(&mut set)?;
                        Ok(set)
                    },
                )?;
                if written {
                    self.durable().await?;
                    self.cart_changed(owner);
                }
                Ok(set)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "store.update_cart_set_once", target = "store.update_cart_set_once", level = "debug", skip_all, fields(owner = %owner))]
    async fn update_cart_set_once(
        &self,
        owner: &OwnerKey,
        key: &KeyUse<'_>,
        name: &CartName,
        update: &CartSetUpdate<'_>,
    ) -> Result<Replayable<CartSet>, UpdateError> {
        logged(
            "store.update_cart_set_once",
            async move {
                let owner_key = owner.as_str().as_bytes();
                let idem_key = scoped(owner, key.key.as_str());
                let trees = (&self.carts, &self.idempotency, &self.idempotency_counts);
                let result = trees.transaction(|(carts, idempotency, counts)| {
                    let current = || -> TxResult<CartSet> {
                        Ok(tx_get(carts, owner_key)?.unwrap_or_else(|| self.fresh_set()))
                    };
                    if let Some(outcome) = recorded(idempotency, &idem_key, key.fingerprint)? {
                        return match outcome.cart_version() {
                            Some(_) => Ok(Replayable::Replayed(current()?)),
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
                    Ok(Replayable::Applied(set))
                });
                let outcome = finish(result)?;
                if matches!(outcome, Replayable::Applied(_)) {
                    self.durable().await?;
                    self.cart_changed(owner);
                }
                Ok(outcome)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "store.merge_carts", target = "store.merge_carts", level = "debug", skip_all, fields(guest = %guest, customer = %customer))]
    async fn merge_carts(
        &self,
        guest: &OwnerKey,
        customer: &OwnerKey,
        merge: &CartMerge<'_>,
    ) -> Result<(MergeReport, CartSet), UpdateError> {
        logged(
            "store.merge_carts",
            async move {
                let owners = (guest.clone(), customer.clone());
                let (guest, customer) = (guest.as_str().as_bytes(), customer.as_str().as_bytes());
                let result = self.carts.transaction(|tx| {
                    let abort = |e: UpdateError| ConflictableTransactionError::Abort(e);
                    let guest_old = tx.get(guest)?;
                    let customer_old = tx.get(customer)?;
                    // What an owner without a record has; writing it back is no change.
                    let fresh = self.fresh_set();
                    let mut guest_set =
                        read_set(guest, guest_old.as_deref(), &fresh).map_err(abort)?;
                    let mut customer_set =
                        read_set(customer, customer_old.as_deref(), &fresh).map_err(abort)?;
                    let report = merge(&mut customer_set, &mut guest_set)
                        .map_err(|r| abort(UpdateError::Rejected(r)))?;
                    let mut written = false;
                    for (key, old, set) in [
                        (guest, &guest_old, &guest_set),
                        (customer, &customer_old, &customer_set),
                    ] {
                        let new = encode(set);
                        let changed = match old {
                            Some(old) => old[..] != new[..],
                            None => *set != fresh,
                        };
                        if changed {
                            tx.insert(key, new)?;
                            written = true;
                        }
                    }
                    Ok((report, customer_set, written))
                });
                let (report, set, written) = result.map_err(|e| match e {
                    TransactionError::Abort(e) => e,
                    TransactionError::Storage(e) => UpdateError::Store(StoreError::from(e)),
                })?;
                if written {
                    self.durable().await?;
                    self.cart_changed(&owners.0);
                    self.cart_changed(&owners.1);
                }
                Ok((report, set))
            }
            .await,
        )
    }

    fn cart_changes(&self, owner: &OwnerKey) -> CartChanges {
        self.notices.subscribe(owner)
    }
}

fn read_set(key: &[u8], bytes: Option<&[u8]>, fresh: &CartSet) -> Result<CartSet, UpdateError> {
    match bytes {
        Some(bytes) => Ok(decode(key, bytes)?),
        None => Ok(fresh.clone()),
    }
}
