//! The one place that names store calls: [`Traced`] wraps a backend and runs
//! each trait call as its step `store.<call>`, inside a `debug` span of that
//! name (with the call's identifying fields: owner, SKU, handle, count), and
//! a failure says the step ([`StoreError::at`]). The backends only do the work.
//!
//! Nothing is logged here: a failure is logged once, at the edge that
//! answers it (the GraphQL error, with the request id), and it names the
//! step from the error, since at the default `info` level the store's spans
//! are not written. [`metrics`](crate::metrics) times every `store.*` span,
//! so there is exactly one span per call: the provided
//! [`all_orders`](OrderStore::all_orders) gets its span here, and the
//! backend's page reads under it ([`orders_in`](OrderStore::orders_in)) get
//! none. Calls that are not steps of an operation pass straight through:
//! [`catalog_is_empty`](CatalogStore::catalog_is_empty) (start-up with
//! `--demo`), the change notices, and [`Store::ready`] / [`Store::close`]
//! (health checks and shutdown, which have their own messages).
//!
//! [`Backend::store`](super::backend::Backend::store) hands out the backend
//! wrapped, so the server, the commands and the in-process tests all go
//! through it.

use super::carts::{CartMerge, CartUpdate, IdleMark};
use super::catalog::{ProductUpdate, ProductUpsert};
use super::orders::{CheckoutRequest, OrderChange};
use super::{
    CartStore, CatalogStore, Changes, IdempotencyStore, IdentityStore, OrderStore, Replayable,
    ShopStore, Store, StoreError, UpdateError,
};
use crate::domain::account::{Account, Email};
use crate::domain::catalog::Product;
use crate::domain::idempotency::{Fingerprint, IdempotencyKey, KeyUse, Outcome};
use crate::domain::merge::MergeReport;
use crate::domain::order::{Moved, Order, OrderFilter};
use crate::domain::{Cart, CartName, CartSet, Handle, OwnerKey, Sku, Variant};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;
use tracing::Instrument;

/// A store whose every call is a named step: one `debug` span per call,
/// and the step in every failure.
pub struct Traced<S: ?Sized>(Arc<S>);

impl<S: ?Sized> Traced<S> {
    /// `store`, its calls traced.
    pub fn new(store: Arc<S>) -> Traced<S> {
        Traced(store)
    }
}

/// Runs the call `$call` as the step `$step`: inside the step's `debug`
/// span (with `$field`s) (its target is the step too, so `CARTQL_LOG=store.checkout=debug`
/// picks one call), a failure saying the step; a refusal is no failure.
macro_rules! step {
    ($step:literal, $call:expr $(, $($field:tt)+)?) => {
        $call
            .instrument(tracing::debug_span!(target: $step, $step $(, $($field)+)?))
            .await
            .map_err(|e| e.unknown_if_lost().at($step))
    };
}

/// [`step!`] for a call that only reads: when the connection broke during
/// it, it is read again once (the pool gives another connection).
macro_rules! read_step {
    ($step:literal, $call:expr $(, $($field:tt)+)?) => {{
        let span = tracing::debug_span!(target: $step, $step $(, $($field)+)?);
        match $call.instrument(span.clone()).await {
            Err(e) if e.is_lost() => {
                tracing::info!(step = $step, error = %e, "the connection broke during a read; reading again");
                $call.instrument(span).await
            }
            done => done,
        }
        .map_err(|e| e.at($step))
    }};
}

#[async_trait]
impl<S: CatalogStore + ?Sized> CatalogStore for Traced<S> {
    async fn variant(&self, sku: &Sku) -> Result<Option<Variant>, StoreError> {
        read_step!("store.variant", self.0.variant(sku), sku = %sku)
    }

    async fn variants_by_sku(&self, skus: &[Sku]) -> Result<HashMap<Sku, Variant>, StoreError> {
        read_step!(
            "store.variants_by_sku",
            self.0.variants_by_sku(skus),
            count = skus.len()
        )
    }

    async fn variants(
        &self,
        after: Option<&Sku>,
        limit: usize,
    ) -> Result<Vec<Variant>, StoreError> {
        read_step!("store.variants", self.0.variants(after, limit))
    }

    async fn catalog_is_empty(&self) -> Result<bool, StoreError> {
        self.0.catalog_is_empty().await
    }

    async fn update_variant(
        &self,
        sku: &Sku,
        update: &mut ProductUpdate<'_>,
    ) -> Result<Variant, UpdateError> {
        step!("store.update_variant", self.0.update_variant(sku, update), sku = %sku)
    }

    async fn product(&self, handle: &Handle) -> Result<Option<Product>, StoreError> {
        read_step!("store.product", self.0.product(handle), handle = %handle)
    }

    async fn products(
        &self,
        after: Option<&Handle>,
        limit: usize,
    ) -> Result<Vec<Product>, StoreError> {
        read_step!("store.products", self.0.products(after, limit))
    }

    async fn upsert_product(
        &self,
        handle: &Handle,
        skus: &[Sku],
        upsert: &ProductUpsert<'_>,
    ) -> Result<(Product, Vec<Variant>), UpdateError> {
        step!("store.upsert_product", self.0.upsert_product(handle, skus, upsert), handle = %handle)
    }

    async fn import_catalog(
        &self,
        records: &[Product],
        variants: &[Variant],
    ) -> Result<(), StoreError> {
        step!(
            "store.import_catalog",
            self.0.import_catalog(records, variants),
            count = variants.len()
        )
    }

    async fn pin_currency(&self, code: &str) -> Result<(), StoreError> {
        step!("store.pin_currency", self.0.pin_currency(code))
    }
}

#[async_trait]
impl<S: CartStore + ?Sized> CartStore for Traced<S> {
    async fn cart(&self, owner: &OwnerKey, name: &CartName) -> Result<Option<Cart>, StoreError> {
        read_step!("store.cart", self.0.cart(owner, name), owner = %owner)
    }

    async fn cart_set(&self, owner: &OwnerKey) -> Result<CartSet, StoreError> {
        read_step!("store.cart_set", self.0.cart_set(owner), owner = %owner)
    }

    async fn idle_carts(
        &self,
        after: &IdleMark,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(IdleMark, OwnerKey, Cart)>, StoreError> {
        read_step!("store.idle_carts", self.0.idle_carts(after, until, limit))
    }

    async fn update_cart(
        &self,
        owner: &OwnerKey,
        name: &CartName,
        update: &CartUpdate<'_>,
    ) -> Result<Option<Cart>, UpdateError> {
        step!("store.update_cart", self.0.update_cart(owner, name, update), owner = %owner)
    }

    async fn update_cart_once(
        &self,
        owner: &OwnerKey,
        key: &KeyUse<'_>,
        name: &CartName,
        update: &CartUpdate<'_>,
    ) -> Result<Replayable<Option<Cart>>, UpdateError> {
        step!("store.update_cart_once", self.0.update_cart_once(owner, key, name, update), owner = %owner)
    }

    async fn merge_carts(
        &self,
        guest: &OwnerKey,
        customer: &OwnerKey,
        merge: &CartMerge<'_>,
    ) -> Result<(MergeReport, CartSet), UpdateError> {
        step!("store.merge_carts", self.0.merge_carts(guest, customer, merge), guest = %guest, customer = %customer)
    }

    fn cart_changes(&self, owner: &OwnerKey) -> Changes {
        self.0.cart_changes(owner)
    }
}

#[async_trait]
impl<S: OrderStore + ?Sized> OrderStore for Traced<S> {
    async fn checkout(&self, request: &CheckoutRequest) -> Result<Replayable<Order>, UpdateError> {
        step!("store.checkout", self.0.checkout(request), owner = %request.owner)
    }

    async fn order(&self, owner: &OwnerKey, id: &str) -> Result<Option<Order>, StoreError> {
        read_step!("store.order", self.0.order(owner, id), owner = %owner)
    }

    async fn orders(
        &self,
        owner: &OwnerKey,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        read_step!("store.orders", self.0.orders(owner, before, limit), owner = %owner)
    }

    fn order_changes(&self, owner: &OwnerKey) -> Changes {
        self.0.order_changes(owner)
    }

    async fn order_by_id(&self, id: &str) -> Result<Option<(OwnerKey, Order)>, StoreError> {
        read_step!("store.order_by_id", self.0.order_by_id(id))
    }

    /// The backend's listing (the provided loop over its page reads), as one step.
    async fn all_orders(
        &self,
        filter: &OrderFilter,
        before: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        read_step!("store.all_orders", self.0.all_orders(filter, before, limit))
    }

    /// A page read behind `all_orders`, whose step it is part of.
    async fn orders_in(
        &self,
        lower: &str,
        upper: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        self.0.orders_in(lower, upper, limit).await
    }

    async fn move_order(
        &self,
        id: &str,
        change: &OrderChange<'_>,
    ) -> Result<Option<(OwnerKey, Moved)>, UpdateError> {
        step!("store.move_order", self.0.move_order(id, change))
    }
}

#[async_trait]
impl<S: IdentityStore + ?Sized> IdentityStore for Traced<S> {
    async fn account(&self, email: &Email) -> Result<Option<Account>, StoreError> {
        read_step!("store.account", self.0.account(email))
    }

    async fn create_account(&self, account: &Account) -> Result<bool, StoreError> {
        step!("store.create_account", self.0.create_account(account))
    }

    async fn valid_after(&self, owner: &OwnerKey) -> Result<Option<i64>, StoreError> {
        read_step!("store.valid_after", self.0.valid_after(owner), owner = %owner)
    }

    async fn log_out_everywhere(&self, owner: &OwnerKey, now: i64) -> Result<i64, StoreError> {
        step!("store.log_out_everywhere", self.0.log_out_everywhere(owner, now), owner = %owner)
    }
}

#[async_trait]
impl<S: IdempotencyStore + ?Sized> IdempotencyStore for Traced<S> {
    async fn recorded(
        &self,
        owner: &OwnerKey,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<Option<Outcome>, UpdateError> {
        read_step!("store.recorded", self.0.recorded(owner, key, fingerprint), owner = %owner)
    }
}

#[async_trait]
impl<S: ShopStore + ?Sized> ShopStore for Traced<S> {
    async fn shop_records(
        &self,
        kind: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        read_step!("store.shop_records", self.0.shop_records(kind), kind)
    }

    async fn shop_record_keys(&self, kind: &str) -> Result<Vec<String>, StoreError> {
        read_step!(
            "store.shop_record_keys",
            self.0.shop_record_keys(kind),
            kind
        )
    }

    async fn shop_records_after(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        read_step!(
            "store.shop_records_after",
            self.0.shop_records_after(kind, after, limit),
            kind,
            limit
        )
    }

    async fn count_shop_records(&self, kind: &str) -> Result<u64, StoreError> {
        read_step!(
            "store.count_shop_records",
            self.0.count_shop_records(kind),
            kind
        )
    }

    async fn shop_pricing(&self) -> Result<crate::domain::pricing::ShopPricing, StoreError> {
        read_step!("store.shop_pricing", self.0.shop_pricing())
    }

    async fn shop_records_at(
        &self,
        kind: &str,
        keys: &[String],
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        read_step!(
            "store.shop_records_at",
            self.0.shop_records_at(kind, keys),
            kind
        )
    }

    async fn put_shop_record(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        step!(
            "store.put_shop_record",
            self.0.put_shop_record(kind, key, value),
            kind,
            key
        )
    }

    async fn delete_shop_record(&self, kind: &str, key: &str) -> Result<bool, StoreError> {
        step!(
            "store.delete_shop_record",
            self.0.delete_shop_record(kind, key),
            kind,
            key
        )
    }

    async fn write_shop_records(
        &self,
        writes: &[super::shop::ShopWrite],
    ) -> Result<bool, StoreError> {
        step!(
            "store.write_shop_records",
            self.0.write_shop_records(writes),
            count = writes.len()
        )
    }

    async fn update_shop_record(
        &self,
        kind: &str,
        key: &str,
        next: &super::shop::RecordChange<'_>,
    ) -> Result<(Option<serde_json::Value>, bool), StoreError> {
        step!(
            "store.update_shop_record",
            self.0.update_shop_record(kind, key, next),
            kind,
            key
        )
    }
}

#[async_trait]
impl<S: Store + ?Sized> Store for Traced<S> {
    async fn ready(&self) -> Result<(), StoreError> {
        self.0.ready().await
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.0.close().await
    }

    async fn cart_and_variants(
        &self,
        owner: &OwnerKey,
        name: &CartName,
    ) -> Result<(Option<Cart>, super::CartVariants), StoreError> {
        read_step!(
            "store.cart_and_variants",
            self.0.cart_and_variants(owner, name),
            owner = %owner
        )
    }

    async fn valid_after_cart_and_variants(
        &self,
        owner: &OwnerKey,
        name: &CartName,
    ) -> Result<(Option<i64>, Option<Cart>, super::CartVariants), StoreError> {
        read_step!(
            "store.valid_after_cart_and_variants",
            self.0.valid_after_cart_and_variants(owner, name),
            owner = %owner
        )
    }
}

/// Test-only: records the name of every `store.*` span (one per store
/// call) opened while it is installed, to count an operation's store calls.
#[cfg(test)]
#[derive(Clone, Default)]
pub(crate) struct StoreCalls(Arc<std::sync::Mutex<Vec<String>>>);

#[cfg(test)]
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for StoreCalls {
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let name = attributes.metadata().name();
        if name.starts_with("store.") {
            let mut calls = self.0.lock().unwrap_or_else(|e| e.into_inner());
            calls.push(name.to_string());
        }
    }
}

#[cfg(test)]
impl StoreCalls {
    /// Installs one for this thread until the guard drops.
    pub(crate) fn install() -> (StoreCalls, tracing::subscriber::DefaultGuard) {
        use tracing_subscriber::layer::SubscriberExt;
        let calls = StoreCalls::default();
        let subscriber = tracing_subscriber::registry().with(calls.clone());
        (calls, tracing::subscriber::set_default(subscriber))
    }

    /// The calls made since the last `take`.
    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Rejection;
    use crate::store::sled::{Durability, SledStore};

    #[tokio::test]
    async fn each_call_is_one_span_and_its_failure_names_the_step_once() {
        let dir = tempfile::tempdir().unwrap();
        let sled = Arc::new(SledStore::open(dir.path(), Durability::Relaxed).unwrap());
        sled.put_raw_product("BROKEN", b"\x01{\"sku\":");
        let store = Traced::new(sled);
        let (spans, _guard) = StoreCalls::install();

        let broken = Sku::parse("BROKEN").unwrap();
        let read = store.variant(&broken).await.unwrap_err();
        assert!(
            read.to_string()
                .starts_with("store.variant: stored value under BROKEN is unreadable"),
            "{read}"
        );
        let write = store
            .update_variant(&broken, &mut |_| unreachable!("the read fails first"))
            .await
            .unwrap_err();
        let UpdateError::Store(write) = write else {
            panic!("{write:?}")
        };
        assert!(
            write
                .to_string()
                .starts_with("store.update_variant: stored value"),
            "one step in the chain: {write}"
        );
        let conflict = Rejection::VersionConflict {
            expected: 1,
            current: 0,
        };
        let refused = store
            .update_variant(&Sku::parse("NEW").unwrap(), &mut |_| Err(conflict.clone()))
            .await
            .unwrap_err();
        assert!(matches!(refused, UpdateError::Rejected(_)), "{refused:?}");
        let listed = store.all_orders(&OrderFilter::default(), None, 10).await;
        assert!(listed.unwrap().is_empty());

        assert_eq!(
            spans.take(),
            [
                "store.variant",
                "store.update_variant",
                "store.update_variant",
                "store.all_orders",
            ],
            "one span per call; the listing's page reads have none of their own"
        );
    }
}
