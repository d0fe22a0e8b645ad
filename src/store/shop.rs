//! The shop's own records: what an admin sets for the whole shop (pricing
//! settings, tax rates; shipping rates and discounts next), each a JSON
//! value under a kind and a key. They live beside the currency (sled's
//! `meta` tree, PostgreSQL's `meta` table) under `shop/<kind>/<key>`, so
//! they need no table or tree of their own; the domain checks them when it
//! reads them back. Few and small: an admin writes them, every cart read
//! reads them.

use super::StoreError;
use async_trait::async_trait;

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

/// The shop's records.
#[async_trait]
pub trait ShopStore: Send + Sync + 'static {
    /// Every record of `kind`, in key order.
    async fn shop_records(
        &self,
        kind: &str,
    ) -> Result<Vec<(String, serde_json::Value)>, StoreError>;
    /// Writes (or replaces) one record, durably.
    async fn put_shop_record(
        &self,
        kind: &str,
        key: &str,
        value: &serde_json::Value,
    ) -> Result<(), StoreError>;
    /// Deletes one record; whether it was there.
    async fn delete_shop_record(&self, kind: &str, key: &str) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

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
