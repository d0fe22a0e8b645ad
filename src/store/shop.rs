//! The shop's own records: what an admin sets for the whole shop (pricing
//! settings, tax rates; shipping rates and discounts next), each a JSON
//! value under a kind and a key. They live beside the currency (sled's
//! `meta` tree, PostgreSQL's `meta` table) under `shop/<kind>/<key>`, so
//! they need no table or tree of their own; the domain checks them when it
//! reads them back. Few and small: an admin writes them, every cart read
//! reads them.

use super::StoreError;
use crate::domain::pricing::{
    Discount, PricingSettings, ShippingRate, ShopPricing, TaxRate, USAGE_KIND, Usage,
};
use crate::domain::webhook::{AbandonWalk, Delivery, Endpoint, Event};
use async_trait::async_trait;
use std::collections::HashMap;

/// What [`ShopStore::update_shop_record`] makes of a record: its next
/// value (`None`: absent), from its current one. It may run several times.
pub type RecordChange<'a> =
    dyn Fn(Option<&serde_json::Value>) -> Option<serde_json::Value> + Send + Sync + 'a;

/// The shop's pricing as last read, and the count of pricing changes it was
/// read after. A backend counts the changes it makes and, with several
/// instances, those it hears of; a copy read under an older count is read
/// again.
#[derive(Default)]
pub struct PricingCache {
    /// Bumped after every change of a pricing record.
    changes: std::sync::atomic::AtomicU64,
    /// The pricing read after `changes` reached the count beside it.
    read: std::sync::Mutex<Option<(u64, std::sync::Arc<ShopPricing>)>>,
}

impl PricingCache {
    /// Says a record of `kind` was just written (after the write: a read
    /// that began before it and keeps its copy under the older count is
    /// read again).
    pub fn written(&self, kind: &str) {
        if PRICING_KINDS.contains(&kind) {
            self.changed();
        }
    }

    /// Says the pricing may have changed.
    pub fn changed(&self) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    /// The copy read since the last change, or the count a read starting
    /// now is to be kept under ([`keep`](Self::keep)).
    pub fn current(&self) -> Result<ShopPricing, u64> {
        let changes = self.changes.load(std::sync::atomic::Ordering::SeqCst);
        match self.read.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some((at, pricing)) if *at == changes => Ok(ShopPricing::clone(pricing)),
            _ => Err(changes),
        }
    }

    /// Keeps `pricing`, read after the count was `at`.
    pub fn keep(&self, at: u64, pricing: &ShopPricing) {
        *self.read.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((at, std::sync::Arc::new(pricing.clone())));
    }
}

/// One write of [`ShopStore::write_shop_records`].
#[derive(Clone, Debug, PartialEq)]
pub enum ShopWrite {
    /// Writes (or replaces) the record.
    Put {
        kind: &'static str,
        key: String,
        value: serde_json::Value,
    },
    /// Writes the record unless one is there (which stays as it is).
    PutIfAbsent {
        kind: &'static str,
        key: String,
        value: serde_json::Value,
    },
    /// Deletes the record, which must be there: when it is not, nothing of
    /// the batch is written.
    Take { kind: &'static str, key: String },
    /// Deletes the record if it is there.
    Delete { kind: &'static str, key: String },
}

impl ShopWrite {
    /// The `meta` key it writes.
    pub fn meta_key(&self) -> String {
        match self {
            ShopWrite::Put { kind, key, .. }
            | ShopWrite::PutIfAbsent { kind, key, .. }
            | ShopWrite::Take { kind, key }
            | ShopWrite::Delete { kind, key } => meta_key(kind, key),
        }
    }

    /// Refuses a batch that writes a key twice (the backends would order
    /// the two writes differently).
    pub fn each_key_once(writes: &[ShopWrite]) -> Result<(), StoreError> {
        let mut seen = std::collections::HashSet::with_capacity(writes.len());
        match writes
            .iter()
            .map(ShopWrite::meta_key)
            .find(|key| !seen.insert(key.clone()))
        {
            Some(key) => Err(StoreError::backend(format!(
                "a batch of shop records writes {key} twice"
            ))),
            None => Ok(()),
        }
    }

    /// The kind it writes.
    pub fn kind(&self) -> &'static str {
        match self {
            ShopWrite::Put { kind, .. }
            | ShopWrite::PutIfAbsent { kind, .. }
            | ShopWrite::Take { kind, .. }
            | ShopWrite::Delete { kind, .. } => kind,
        }
    }
}

/// Where shop records start in the `meta` keys.
pub const PREFIX: &str = "shop/";

/// The `meta` key of record `key` of `kind`.
pub fn meta_key(kind: &str, key: &str) -> String {
    format!("{PREFIX}{kind}/{key}")
}

/// The kind and key of a `meta` key under [`PREFIX`]; `None` for other keys.
pub fn split_meta_key(meta: &str) -> Option<(&str, &str)> {
    let rest = meta.strip_prefix(PREFIX)?;
    let (kind, key) = rest.split_once('/')?;
    (!kind.is_empty() && !key.is_empty()).then_some((kind, key))
}

/// Reads usage counts as stored (JSON integers; anything else is corrupt).
pub fn usage_counts(
    records: impl IntoIterator<Item = (String, serde_json::Value)>,
) -> Result<Usage, StoreError> {
    let mut counts = HashMap::new();
    for (key, value) in records {
        let Some(count) = value.as_u64() else {
            return Err(StoreError::Corrupt {
                key: format!("shop record {USAGE_KIND}/{key}"),
                reason: format!("a usage count is a non-negative integer, not {value}"),
            });
        };
        counts.insert(key, count);
    }
    Ok(Usage(counts))
}

/// The kind of the pricing settings record (one, keyed [`SETTINGS_KEY`]).
pub const SETTINGS: &str = "pricing";
/// The key of the pricing settings record.
pub const SETTINGS_KEY: &str = "settings";
/// The kind of tax-rate records (keyed by `TaxRateKey::record_key`).
pub const TAX_RATES: &str = "tax-rate";
/// The kind of discount records (keyed by id).
pub const DISCOUNTS: &str = "discount";
/// The kind of shipping-rate records (keyed by handle).
pub const SHIPPING_RATES: &str = "shipping-rate";
/// Every kind pricing reads (usage counts aside: they are read by key).
pub const PRICING_KINDS: [&str; 4] = [SETTINGS, TAX_RATES, DISCOUNTS, SHIPPING_RATES];
/// Webhook endpoints (keyed by id).
pub const WEBHOOK_ENDPOINTS: &str = "webhook-endpoint";
/// The outbox: events written by the transaction of their change, not yet
/// given to the endpoints (keyed by event id).
pub const WEBHOOK_OUTBOX: &str = "webhook-outbox";
/// Events given to the endpoints, kept for replays (keyed by event id).
pub const WEBHOOK_EVENTS: &str = "webhook-event";
/// Pending deliveries (keyed by delivery id).
pub const WEBHOOK_QUEUE: &str = "webhook-queue";
/// Finished deliveries, succeeded or failed (keyed by delivery id).
pub const WEBHOOK_LOG: &str = "webhook-delivery";
/// The abandoned-cart walk ([`AbandonWalk`], one record keyed
/// [`ABANDON_WALK_KEY`]).
pub const WEBHOOK_ABANDON_WALK: &str = "webhook-abandon-walk";
/// The key of the abandoned-cart walk's record.
pub const ABANDON_WALK_KEY: &str = "walk";

/// The first key past every key that starts with `prefix` (which ends in
/// `/`): `prefix` ≤ key < this is the prefix, in byte order.
pub fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.to_string();
    if end.pop() == Some('/') {
        end.push('0');
    } else {
        end = format!("{prefix}\u{10FFFF}");
    }
    end
}

/// The shop's pricing from its records (`meta` keys and values of the
/// [`PRICING_KINDS`]; others are ignored): settings (the defaults when
/// none), tax rates, discounts by creation, shipping rates by handle. A
/// record that does not decode is corrupt, named by its key.
pub fn pricing_from(
    records: impl IntoIterator<Item = (String, serde_json::Value)>,
) -> Result<ShopPricing, StoreError> {
    fn decode<T: serde::de::DeserializeOwned>(
        key: &str,
        value: serde_json::Value,
    ) -> Result<T, StoreError> {
        serde_json::from_value(value).map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            reason: e.to_string(),
        })
    }
    let mut pricing = ShopPricing::default();
    for (key, value) in records {
        match split_meta_key(&key) {
            Some((SETTINGS, SETTINGS_KEY)) => {
                pricing.settings = decode::<PricingSettings>(&key, value)?
            }
            Some((TAX_RATES, _)) => pricing.tax_rates.push(decode::<TaxRate>(&key, value)?),
            Some((DISCOUNTS, _)) => pricing.discounts.push(decode::<Discount>(&key, value)?),
            Some((SHIPPING_RATES, _)) => pricing
                .shipping_rates
                .push(decode::<ShippingRate>(&key, value)?),
            _ => {}
        }
    }
    pricing
        .discounts
        .sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    pricing
        .shipping_rates
        .sort_by(|a, b| a.handle.as_str().cmp(b.handle.as_str()));
    Ok(pricing)
}

/// Checks a shop record as an import brings it: a kind this release knows
/// and a value that reads back as that kind's (so one bad line cannot make
/// every priced read fail later).
pub fn check_record(kind: &str, key: &str, value: &serde_json::Value) -> Result<(), String> {
    fn reads<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<(), String> {
        T::deserialize(value).map(|_| ()).map_err(|e| e.to_string())
    }
    let checked = match kind {
        SETTINGS if key == SETTINGS_KEY => reads::<PricingSettings>(value),
        SETTINGS => Err(format!(
            "the pricing settings record is keyed '{SETTINGS_KEY}'"
        )),
        TAX_RATES => reads::<TaxRate>(value),
        DISCOUNTS => reads::<Discount>(value),
        SHIPPING_RATES => reads::<ShippingRate>(value),
        USAGE_KIND if value.as_u64().is_some() => Ok(()),
        WEBHOOK_ENDPOINTS => reads::<Endpoint>(value),
        WEBHOOK_OUTBOX | WEBHOOK_EVENTS => reads::<Event>(value),
        WEBHOOK_QUEUE | WEBHOOK_LOG => reads::<Delivery>(value),
        WEBHOOK_ABANDON_WALK if key == ABANDON_WALK_KEY => reads::<AbandonWalk>(value),
        WEBHOOK_ABANDON_WALK => Err(format!(
            "the abandoned-cart walk's record is keyed '{ABANDON_WALK_KEY}'"
        )),
        USAGE_KIND => Err("a usage count is a non-negative integer".into()),
        other => Err(format!(
            "'{other}' is no kind of shop record this release knows (an export of a newer release?)"
        )),
    };
    checked.map_err(|why| format!("shop record {kind}/{key}: {why}"))
}

/// The shop's records.
#[async_trait]
pub trait ShopStore: Send + Sync + 'static {
    /// Every record of `kind`, in key order.
    async fn shop_records(
        &self,
        kind: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        self.first_shop_records(kind, usize::MAX).await
    }
    /// The keys of every record of `kind`, in key order (values unread).
    async fn shop_record_keys(&self, kind: &str) -> Result<Vec<String>, StoreError>;
    /// The first `limit` records of `kind`, in key order.
    async fn first_shop_records(
        &self,
        kind: &str,
        limit: usize,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        self.shop_records_after(kind, None, limit).await
    }
    /// The first `limit` records of `kind` whose keys come after `after`
    /// (all of them with `None`), in key order: a page, and the next one
    /// after its last key.
    async fn shop_records_after(
        &self,
        kind: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError>;
    /// How many records of `kind` there are (values unread).
    async fn count_shop_records(&self, kind: &str) -> Result<u64, StoreError>;
    /// The records of `kind` with these keys, those that exist, in no
    /// particular order.
    async fn shop_records_at(
        &self,
        kind: &str,
        keys: &[String],
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError>;
    /// The shop's pricing ([`pricing_from`] over every record of the
    /// [`PRICING_KINDS`]), in one read.
    async fn shop_pricing(&self) -> Result<ShopPricing, StoreError>;
    /// Writes (or replaces) one record, durably.
    async fn put_shop_record(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError>;
    /// Deletes one record; whether it was there.
    async fn delete_shop_record(&self, kind: &str, key: &str) -> Result<bool, StoreError>;
    /// Makes every write of `writes` in one atomic, durable commit, against
    /// every other writer on any instance; `false` (and nothing written)
    /// when a [`ShopWrite::Take`] found its record gone. A key is written
    /// at most once in a batch.
    async fn write_shop_records(&self, writes: &[ShopWrite]) -> Result<bool, StoreError>;
    /// Replaces one record with `next(current)` (`None` deletes it or
    /// leaves it absent), durably and atomically against every other
    /// writer of it, on any instance: when another got there first, `next`
    /// runs again on what they wrote. Returns the value now stored and
    /// whether this call changed it.
    async fn update_shop_record(
        &self,
        kind: &str,
        key: &str,
        next: &RecordChange<'_>,
    ) -> Result<(Option<serde_json::Value>, bool), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imported_records_must_read_back_as_their_kind() {
        use serde_json::json;
        let fine = serde_json::to_value(PricingSettings::default()).unwrap();
        assert_eq!(check_record(SETTINGS, SETTINGS_KEY, &fine), Ok(()));
        assert!(check_record(SETTINGS, "other", &fine).is_err());
        assert!(check_record(SETTINGS, SETTINGS_KEY, &json!("x")).is_err());
        assert_eq!(check_record(USAGE_KIND, "d1", &json!(3)), Ok(()));
        for bad in [json!(-1), json!(1.5), json!("3"), json!(null)] {
            assert!(check_record(USAGE_KIND, "d1", &bad).is_err(), "{bad}");
        }
        let discount = json!({"id": "d", "title": "t", "codes": ["bad code"]});
        let refused = check_record(DISCOUNTS, "d", &discount).unwrap_err();
        assert!(refused.starts_with("shop record discount/d: "), "{refused}");
        assert!(check_record(SHIPPING_RATES, "post", &json!({"handle": "UPPER"})).is_err());
        assert!(check_record(TAX_RATES, "DE//standard", &json!({})).is_err());
        assert!(check_record(WEBHOOK_QUEUE, "d", &json!({"id": 1})).is_err());
        let unknown = check_record("webhook", "w", &json!({})).unwrap_err();
        assert!(unknown.contains("newer release"), "{unknown}");
    }

    #[test]
    fn a_prefix_ends_where_the_next_kind_begins() {
        assert_eq!(prefix_end("shop/discount/"), "shop/discount0");
        assert!("shop/discount/zzz".as_bytes() < prefix_end("shop/discount/").as_bytes());
        assert!("shop/discount0".as_bytes() >= prefix_end("shop/discount/").as_bytes());
        assert!("shop/discount-x/a".as_bytes() < "shop/discount/".as_bytes());
    }

    #[test]
    fn meta_keys_read_back() {
        assert_eq!(
            meta_key("tax-rate", "DE//standard"),
            "shop/tax-rate/DE//standard"
        );
        assert_eq!(
            split_meta_key("shop/tax-rate/DE//standard"),
            Some(("tax-rate", "DE//standard"))
        );
        for other in ["currency", "shop/", "shop/x", "shop//k", "shop/x/"] {
            assert_eq!(split_meta_key(other), None, "{other}");
        }
    }
}
