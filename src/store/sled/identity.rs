//! [`IdentityStore`] for sled.
//!
//! | tree          | key                     | value                                   |
//! |---------------|-------------------------|-----------------------------------------|
//! | `accounts`    | normalised email        | `Account`                               |
//! | `valid_after` | owner key (`kind:id`)   | seconds since the epoch (`i64`)         |

use super::SledStore;
use super::codec::{decode, encode};
use crate::domain::OwnerKey;
use crate::domain::account::{Account, Email, next_valid_after};
use crate::store::StoreError;
use crate::store::identity::IdentityStore;
use crate::store::notices::Touched;
use async_trait::async_trait;

#[async_trait]
impl IdentityStore for SledStore {
    async fn account(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        Self::get(&self.accounts, email.as_str().as_bytes())
    }

    async fn create_account(&self, account: &Account) -> Result<bool, StoreError> {
        let key = account.email.as_str().as_bytes();
        let _writing = self.writing().await;
        let created = self
            .accounts
            .compare_and_swap(key, None::<&[u8]>, Some(encode(account)))?
            .is_ok();
        if created {
            self.durable().await?;
        }
        Ok(created)
    }

    async fn valid_after(&self, owner: &OwnerKey) -> Result<Option<i64>, StoreError> {
        Self::get(&self.valid_after, owner.as_str().as_bytes())
    }

    async fn log_out_everywhere(&self, owner: &OwnerKey, now: i64) -> Result<i64, StoreError> {
        let key = owner.as_str().as_bytes();
        loop {
            let old = self.valid_after.get(key)?;
            let current: Option<i64> = old.as_ref().map(|b| decode(key, b)).transpose()?;
            let next = next_valid_after(current, now);
            let _writing = self.writing().await;
            let swapped = self
                .valid_after
                .compare_and_swap(key, old, Some(encode(&next)))?;
            if swapped.is_ok() {
                self.durable().await?;
                // Wakes the owner's live subscriptions (carts and orders) so they
                // re-check their token.
                self.subscribers.committed(&Touched::logged_out(owner));
                return Ok(next);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CartSet;
    use crate::domain::merge::MergeReport;
    use crate::domain::merge::{MergeClock, MergeStrategy, merge_guest_carts};
    use crate::domain::{CartChange, CartName, Limits, NewLine, Sku};
    use crate::store::CartStore;
    use crate::store::sled::Durability;
    use chrono::{Duration, Utc};

    const LIMITS: Limits = Limits {
        max_lines_per_cart: 10,
        max_quantity_per_line: 99,
        max_carts_per_viewer: 5,
        ..Limits::DEFAULT
    };

    fn owner(key: &str) -> OwnerKey {
        OwnerKey::parse(key).unwrap()
    }

    async fn add(store: &SledStore, who: &OwnerKey, sku: &str, quantity: u32) {
        let change = CartChange::Add(vec![NewLine {
            sku: Sku::parse(sku).unwrap(),
            quantity,
            attributes: Vec::new(),
            unit_price: None,
        }]);
        let name = CartName::default_cart();
        store
            .update_cart(who, &name, &|index, stored| {
                index.apply(
                    stored,
                    &name,
                    &change,
                    None,
                    &LIMITS,
                    Utc::now(),
                    Duration::days(1),
                )
            })
            .await
            .unwrap();
    }

    fn combine(
        customer: &mut CartSet,
        guest: &mut CartSet,
    ) -> Result<MergeReport, crate::domain::Rejection> {
        let clock = MergeClock {
            now: Utc::now(),
            guest_lifetime: Duration::days(1),
            customer_lifetime: Duration::days(1),
        };
        merge_guest_carts(customer, guest, MergeStrategy::Combine, &LIMITS, &clock)
    }

    #[tokio::test]
    async fn a_merge_moves_the_guest_carts_in_one_write_and_a_second_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Durability::Strict).unwrap();
        let (guest, customer) = (owner("guest:g"), owner("customer:c"));
        add(&store, &guest, "A", 2).await;
        add(&store, &customer, "A", 1).await;
        let (report, set) = store
            .merge_carts(&guest, &customer, &combine)
            .await
            .unwrap();
        assert_eq!(report.carts.len(), 1);
        assert_eq!(set.carts[&CartName::default_cart()].lines[0].quantity, 3);
        assert!(store.cart_set(&guest).await.unwrap().carts.is_empty());
        let before: Vec<_> = store.carts.iter().chain(store.cart_index.iter()).collect();
        let (report, _) = store
            .merge_carts(&guest, &customer, &combine)
            .await
            .unwrap();
        assert!(report.carts.is_empty());
        let after: Vec<_> = store.carts.iter().chain(store.cart_index.iter()).collect();
        assert_eq!(after, before, "nothing was written");
    }

    #[tokio::test]
    async fn merging_for_an_unknown_guest_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        store
            .merge_carts(&owner("guest:nobody"), &owner("customer:c"), &combine)
            .await
            .unwrap();
        assert!(store.carts.is_empty());
        assert!(store.cart_index.is_empty());
    }

    #[tokio::test]
    async fn valid_after_always_moves_forward_and_accounts_are_unique_by_email() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Durability::Strict).unwrap();
        let who = owner("customer:c");
        assert_eq!(store.valid_after(&who).await.unwrap(), None);
        assert_eq!(store.log_out_everywhere(&who, 100).await.unwrap(), 101);
        assert_eq!(store.log_out_everywhere(&who, 50).await.unwrap(), 102);
        assert_eq!(store.valid_after(&who).await.unwrap(), Some(102));

        let account = Account {
            id: "c".into(),
            email: Email::parse("ann@example.com").unwrap(),
            password_hash: "$argon2id$...".into(),
            created_at: Utc::now(),
        };
        assert!(store.create_account(&account).await.unwrap());
        let again = Account {
            id: "d".into(),
            ..account.clone()
        };
        assert!(!store.create_account(&again).await.unwrap());
        assert_eq!(store.account(&account.email).await.unwrap(), Some(account));
    }

    #[tokio::test]
    async fn revocation_records_go_once_every_token_they_refuse_has_expired() {
        use crate::domain::expiry::{Due, Lifetimes};
        use crate::store::sweeper::Sweep;
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), Durability::Relaxed).unwrap();
        let (old, new, external) = (
            owner("guest:old"),
            owner("customer:new"),
            owner("external:far"),
        );
        store.log_out_everywhere(&old, 100).await.unwrap();
        store.log_out_everywhere(&new, 1_000).await.unwrap();
        store.log_out_everywhere(&external, 100).await.unwrap();
        // Every token is kept as long as it lives; a sweep at second 500.
        let at = chrono::DateTime::from_timestamp(500, 0).unwrap();
        let due = Due::at(at, Lifetimes::uniform(chrono::Duration::zero()));
        assert_eq!(store.sweep_revocations(&due).await.unwrap(), 1);
        assert_eq!(store.valid_after(&old).await.unwrap(), None);
        assert_eq!(store.valid_after(&new).await.unwrap(), Some(1_001));
        assert_eq!(store.valid_after(&external).await.unwrap(), Some(101));
    }
}
