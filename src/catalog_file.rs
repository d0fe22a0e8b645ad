//! Catalog files: a JSON list of products to load into the store.
//!
//! ```json
//! [{"handle": "tee", "title": "T-shirt", "description": "Organic cotton",
//!   "options": [{"name": "Size", "values": ["M", "L"]}],
//!   "variants": [{"sku": "TEE-M", "selectedOptions": [{"name": "Size", "value": "M"}],
//!                 "price": "19.99", "compareAtPrice": "24.99", "stock": 25,
//!                 "image": {"url": "https://images.example.com/tee-m.jpg"}}],
//!   "images": [{"url": "https://images.example.com/tee.jpg", "altText": "The tee",
//!               "width": 1200, "height": 1500}]},
//!  {"sku": "MUG", "title": "Mug", "price": "9.50"}]
//! ```
//!
//! An entry with `variants` is a product with options; an entry with a
//! `sku` is a product of one variant (its handle made from the SKU), the
//! format of earlier versions. `stock` may be `null` or left out
//! (untracked); `active` defaults to `true`. Each entry is the product
//! whole, as `upsertProduct` with every field given: no `images` means none
//! (a stored product's images are not kept), as no `stock` means untracked. The whole file is checked
//! before anything is written: one bad entry and nothing is loaded, with an
//! error naming the entry and the field.

use crate::domain::catalog::Product;
use crate::domain::image::ImageInput;
use crate::domain::product::{ProductInput, VariantInput, upsert};
use crate::domain::shipping::ShippingInput;
use crate::domain::{Currency, Handle, Sku, Variant};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};

/// The largest catalog file accepted.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A product of one variant (the format of earlier versions).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Plain {
    sku: String,
    title: String,
    price: String,
    #[serde(default)]
    stock: Option<i64>,
    #[serde(default = "yes")]
    active: bool,
}

/// A product with options and variants.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WithVariants {
    handle: String,
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    options: Vec<OptionEntry>,
    variants: Vec<VariantEntry>,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    images: Vec<ImageEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionEntry {
    name: String,
    values: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct VariantEntry {
    sku: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    selected_options: Vec<SelectedEntry>,
    price: String,
    #[serde(default)]
    compare_at_price: Option<String>,
    #[serde(default)]
    stock: Option<i64>,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    image: Option<ImageEntry>,
    #[serde(default)]
    weight_grams: i64,
    #[serde(default = "yes")]
    requires_shipping: bool,
    #[serde(default = "standard")]
    tax_class: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectedEntry {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ImageEntry {
    url: String,
    #[serde(default)]
    alt_text: Option<String>,
    #[serde(default)]
    width: Option<i64>,
    #[serde(default)]
    height: Option<i64>,
}

impl From<ImageEntry> for ImageInput {
    fn from(entry: ImageEntry) -> Self {
        ImageInput {
            url: entry.url,
            alt_text: entry.alt_text,
            width: entry.width,
            height: entry.height,
        }
    }
}

fn standard() -> String {
    "standard".into()
}

fn yes() -> bool {
    true
}

/// The products and variants of a catalog file.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Products by handle.
    pub records: Vec<Product>,
    /// Their variants.
    pub variants: Vec<Variant>,
}

/// Parses and checks a catalog file's text.
pub fn parse(text: &str, currency: &Currency) -> Result<Catalog, String> {
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON list of products: {e}"))?;
    let mut catalog = Catalog::default();
    let mut handles = HashSet::new();
    let mut skus = HashSet::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let at = |e: String| format!("product #{index}: {e}");
        let (handle, input) = if entry.get("variants").is_some() {
            let product: WithVariants =
                serde_json::from_value(entry).map_err(|e| at(e.to_string()))?;
            let handle =
                Handle::parse(&product.handle).map_err(|why| at(format!("handle: {why}")))?;
            (handle, with_variants(product))
        } else {
            let plain: Plain = serde_json::from_value(entry).map_err(|e| at(e.to_string()))?;
            let sku = Sku::parse(&plain.sku).map_err(|why| at(format!("sku: {why}")))?;
            (Handle::from_sku(&sku), plain_product(plain))
        };
        if !handles.insert(handle.clone()) {
            return Err(at(format!("handle {handle} appears more than once")));
        }
        let (record, variants) =
            upsert(&handle, &input, None, &HashMap::new(), currency).map_err(|rejection| {
                let errors: Vec<String> = rejection
                    .into_user_errors()
                    .into_iter()
                    .map(|e| format!("{}: {}", e.field.join("."), e.message))
                    .collect();
                format!("product #{index} ({handle}): {}", errors.join("; "))
            })?;
        for variant in &variants {
            if !skus.insert(variant.sku.clone()) {
                return Err(at(format!("sku {} appears more than once", variant.sku)));
            }
        }
        catalog.records.push(record);
        catalog.variants.extend(variants);
    }
    Ok(catalog)
}

fn plain_product(plain: Plain) -> ProductInput {
    ProductInput {
        title: plain.title,
        description: None,
        options: Vec::new(),
        variants: vec![VariantInput {
            sku: plain.sku,
            title: None,
            selected_options: Vec::new(),
            price: plain.price,
            compare_at_price: None,
            stock: Some(plain.stock),
            active: true,
            image: None,
            shipping: ShippingInput::default(),
        }],
        active: plain.active,
        images: Some(Vec::new()),
    }
}

fn with_variants(product: WithVariants) -> ProductInput {
    ProductInput {
        title: product.title,
        description: product.description,
        options: product
            .options
            .into_iter()
            .map(|o| (o.name, o.values))
            .collect(),
        variants: product
            .variants
            .into_iter()
            .map(|v| VariantInput {
                sku: v.sku,
                title: v.title,
                selected_options: v
                    .selected_options
                    .into_iter()
                    .map(|s| (s.name, s.value))
                    .collect(),
                price: v.price,
                compare_at_price: v.compare_at_price,
                stock: Some(v.stock),
                active: v.active,
                image: v.image.map(ImageInput::from),
                // An entry is the variant whole: left out means the default.
                shipping: ShippingInput {
                    weight_grams: Some(v.weight_grams),
                    requires_shipping: Some(v.requires_shipping),
                    tax_class: Some(v.tax_class),
                },
            })
            .collect(),
        active: product.active,
        images: Some(product.images.into_iter().map(ImageInput::from).collect()),
    }
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
    fn the_demo_catalog_is_valid_and_has_a_product_with_size_and_colour() {
        let catalog = parse(DEMO, &usd()).unwrap();
        assert!(catalog.variants.len() >= 5);
        assert!(catalog.variants.iter().any(|p| p.stock.is_none()));
        assert!(catalog.variants.iter().any(|p| !p.for_sale()));
        assert!(catalog.records.iter().any(|r| {
            let names: Vec<&str> = r.options.iter().map(|o| o.name.as_str()).collect();
            names == ["Size", "Colour"]
        }));
    }

    #[test]
    fn the_demo_catalog_has_product_and_variant_images() {
        let catalog = parse(DEMO, &usd()).unwrap();
        let hoodie = catalog
            .records
            .iter()
            .find(|r| r.handle.as_str() == "hoodie")
            .unwrap();
        assert!(hoodie.images.len() >= 2);
        assert!(
            catalog
                .records
                .iter()
                .flat_map(|r| &r.images)
                .all(|i| i.url().starts_with("https://images.example.com/"))
        );
        assert!(catalog.variants.iter().any(|v| v.image.is_some()));
        assert!(catalog.records.iter().any(|r| r.images.is_empty()));
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
                "product #0 (a): variants.0.price",
            ),
            (
                "[{\"sku\":\"A\",\"title\":\"t\",\"price\":\"1\",\"stock\":-5}]",
                "stock",
            ),
            (
                "[{\"sku\":\"A\",\"title\":\"t\",\"price\":19.99}]",
                "invalid type",
            ),
            (
                "[{\"handle\":\"h\",\"title\":\"t\",\"variants\":[{\"sku\":\"A\",\"price\":\"1\",\"taxClass\":\"Books!\"}]}]",
                "product #0 (h): variants.0.taxClass",
            ),
            (
                "[{\"handle\":\"h\",\"title\":\"t\",\"variants\":[{\"sku\":\"A\",\"price\":\"1\",\"weightGrams\":-3}]}]",
                "product #0 (h): variants.0.weightGrams",
            ),
            (
                "[{\"handle\":\"Bad Handle\",\"title\":\"t\",\"variants\":[]}]",
                "product #0: handle",
            ),
            (
                "[{\"handle\":\"t\",\"title\":\"t\",\"options\":[{\"name\":\"Size\",\"values\":[\"M\"]}],\"variants\":[{\"sku\":\"A\",\"price\":\"1\",\"selectedOptions\":[{\"name\":\"Size\",\"value\":\"XL\"}]}]}]",
                "variants.0.selectedOptions",
            ),
            (
                "[{\"handle\":\"a\",\"title\":\"t\",\"variants\":[{\"sku\":\"A\",\"price\":\"1\"}]},{\"sku\":\"A\",\"title\":\"t\",\"price\":\"1\"}]",
                "more than once",
            ),
            (
                "[{\"handle\":\"a\",\"title\":\"t\",\"images\":[{\"url\":\"http://x.example/a.jpg\"}],\"variants\":[{\"sku\":\"A\",\"price\":\"1\"}]}]",
                "product #0 (a): images.0.url",
            ),
            (
                "[{\"handle\":\"a\",\"title\":\"t\",\"variants\":[{\"sku\":\"A\",\"price\":\"1\",\"image\":{\"url\":\"https://x.example/a.jpg\",\"width\":0}}]}]",
                "variants.0.image.width",
            ),
            (
                "[{\"handle\":\"a\",\"title\":\"t\",\"images\":[{\"src\":\"https://x.example/a.jpg\"}],\"variants\":[{\"sku\":\"A\",\"price\":\"1\"}]}]",
                "unknown field",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text, &usd()).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
