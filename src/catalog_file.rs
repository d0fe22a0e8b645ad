//! Catalog files: a JSON list of products to load into the store.
//!
//! ```json
//! [{"sku": "TEE-M", "title": "T-shirt, M", "price": "19.99", "stock": 25, "active": true}]
//! ```
//!
//! `stock` may be `null` or left out (untracked); `active` defaults to `true`.
//! The whole file is checked before anything is written: one bad entry and
//! nothing is loaded, with an error naming the entry and the field.

use crate::domain::{Currency, Patch, Product, ProductPatch, Sku};
use serde::Deserialize;
use std::collections::HashSet;

/// The largest catalog file accepted.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    sku: String,
    title: String,
    price: String,
    #[serde(default)]
    stock: Option<i64>,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

/// Parses and checks a catalog file's text.
pub fn parse(text: &str, currency: &Currency) -> Result<Vec<Product>, String> {
    let entries: Vec<Entry> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON list of products: {e}"))?;
    let mut seen = HashSet::new();
    let mut products = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let sku = Sku::parse(&entry.sku).map_err(|why| format!("product #{index}: sku: {why}"))?;
        if !seen.insert(sku.clone()) {
            return Err(format!(
                "product #{index}: sku {sku} appears more than once"
            ));
        }
        let patch = ProductPatch {
            title: Patch::Set(entry.title),
            price: Patch::Set(entry.price),
            stock: Patch::Set(entry.stock),
            active: Patch::Set(entry.active),
        };
        let product = patch.apply(&sku, None, currency).map_err(|rejection| {
            let errors: Vec<String> = rejection
                .into_user_errors()
                .into_iter()
                .map(|e| format!("{}: {}", e.field.join("."), e.message))
                .collect();
            format!("product #{index} ({sku}): {}", errors.join("; "))
        })?;
        products.push(product);
    }
    Ok(products)
}

/// The demo catalog `serve --demo` loads into an empty store.
pub const DEMO: &str = include_str!("../playground/demo-catalog.json");

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn the_demo_catalog_is_valid() {
        let products = parse(DEMO, &usd()).unwrap();
        assert!(products.len() >= 5);
        assert!(products.iter().any(|p| p.stock.is_none()));
        assert!(products.iter().any(|p| !p.active));
    }

    #[test]
    fn bad_files_name_the_entry_and_field() {
        let cases = [
            ("{}", "not a JSON list"),
            ("[{\"sku\":\"A\"}]", "missing field"),
            (
                "[{\"sku\":\"A\",\"title\":\"t\",\"price\":\"1\",\"colour\":\"red\"}]",
                "unknown field",
            ),
            (
                "[{\"sku\":\"bad sku\",\"title\":\"t\",\"price\":\"1\"}]",
                "product #0: sku",
            ),
            (
                "[{\"sku\":\"A\",\"title\":\"t\",\"price\":\"1\"},{\"sku\":\"A\",\"title\":\"t\",\"price\":\"1\"}]",
                "more than once",
            ),
            (
                "[{\"sku\":\"A\",\"title\":\"t\",\"price\":\"1.999\"}]",
                "product #0 (A): price",
            ),
            (
                "[{\"sku\":\"A\",\"title\":\"t\",\"price\":\"1\",\"stock\":-5}]",
                "stock",
            ),
            (
                "[{\"sku\":\"A\",\"title\":\"t\",\"price\":19.99}]",
                "invalid type",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text, &usd()).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
