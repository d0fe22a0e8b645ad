//! Products and the rules for changing them.

use super::error::{ErrorCode, Rejection, UserError};
use super::image::Image;
use super::money::{Currency, Money};
use super::names::{Handle, Sku};
use super::shipping::{Shipping, ShippingInput};
use serde::{Deserialize, Serialize};

/// The most units of stock one product may hold.
pub const MAX_STOCK: i64 = 1_000_000_000;
/// The longest product title, in characters.
pub use super::names::MAX_TITLE_BYTES;

/// A variant as stored, by SKU: the unit carts, checkout and stock deal in.
/// Price in minor units; `stock: None` means untracked. What it shares with
/// its product (handle, title, whether the product is for sale) is copied in
/// when the product is written, so pricing and checkout read one record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// The variant's key.
    pub sku: Sku,
    /// The variant's title (`M / Black`).
    pub title: String,
    /// Unit price in minor units of the shop currency.
    pub price: Money,
    /// Units on hand; `None` when stock is not tracked. Never below zero.
    pub stock: Option<i64>,
    /// Whether the variant itself is for sale.
    pub active: bool,
    /// The product it belongs to (`None` only in stores written before products had handles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Handle>,
    /// Its product's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_title: Option<String>,
    /// Whether its product is for sale (and still lists this variant).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub product_active: bool,
    /// Its value of each of the product's options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selected_options: Vec<SelectedOption>,
    /// The price before a reduction, shown struck through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare_at_price: Option<Money>,
    /// Its own picture (a colour's), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Weight, whether it is shipped, and its tax class (defaults: 0 g,
    /// shipped, `standard`; left out of the record while they are).
    #[serde(default, skip_serializing_if = "Shipping::is_default")]
    pub shipping: Shipping,
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

impl Variant {
    /// A variant that belongs to no product yet, with no options.
    pub fn new(sku: Sku, title: String, price: Money, stock: Option<i64>, active: bool) -> Variant {
        Variant {
            sku,
            title,
            price,
            stock,
            active,
            handle: None,
            product_title: None,
            product_active: true,
            selected_options: Vec::new(),
            compare_at_price: None,
            image: None,
            shipping: Shipping::default(),
        }
    }

    /// Whether it can be added to carts and bought: it and its product are for sale.
    pub fn for_sale(&self) -> bool {
        self.active && self.product_active
    }

    /// Whether a buyer can buy one now: for sale and not out of stock.
    pub fn available(&self) -> bool {
        self.for_sale() && self.stock != Some(0)
    }
}

/// One of a product's options and the values it offers (`Size`: `S`, `M`, `L`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductOption {
    /// The option's name.
    pub name: String,
    /// Its values, in display order.
    pub values: Vec<String>,
}

/// A variant's value of one option.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SelectedOption {
    /// The option's name.
    pub name: String,
    /// The value.
    pub value: String,
}

/// A product as a shopper browses it: the variants it offers, by SKU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Its key.
    pub handle: Handle,
    /// Display title.
    pub title: String,
    /// Description (plain text).
    #[serde(default)]
    pub description: String,
    /// Its options (none for a product with one variant).
    #[serde(default)]
    pub options: Vec<ProductOption>,
    /// Its variants' SKUs, in display order.
    pub variants: Vec<Sku>,
    /// Whether it is for sale.
    pub active: bool,
    /// Its images, in display order (the first is the featured one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
}

/// A change to a field that may be left alone, cleared or set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// Leave the field as it is.
    #[default]
    Keep,
    /// Set the field to this value.
    Set(T),
}

/// What `upsertProduct` may change. Fields left as `Keep` are unchanged on an
/// existing product; a new product needs a title and a price.
#[derive(Clone, Debug, Default)]
pub struct VariantPatch {
    /// New title.
    pub title: Patch<String>,
    /// New price, as a decimal string in the shop currency.
    pub price: Patch<String>,
    /// New stock (`None` = untracked).
    pub stock: Patch<Option<i64>>,
    /// New active flag.
    pub active: Patch<bool>,
    /// New weight, shipping flag or tax class (each `None` keeps it).
    pub shipping: ShippingInput,
}

impl VariantPatch {
    /// Applies the patch to `existing` (or creates the product), checking every field.
    pub fn apply(
        &self,
        sku: &Sku,
        existing: Option<Variant>,
        currency: &Currency,
    ) -> Result<Variant, Rejection> {
        let mut errors = Vec::new();
        let title = match (&self.title, &existing) {
            (Patch::Set(t), _) => check_title(t).map_err(|e| errors.push(e)).ok(),
            (Patch::Keep, Some(p)) => Some(p.title.clone()),
            (Patch::Keep, None) => {
                errors.push(invalid(&["title"], "a new product needs a title"));
                None
            }
        };
        let price = match (&self.price, &existing) {
            (Patch::Set(text), _) => match currency.parse_amount(text) {
                Ok(m) => Some(m),
                Err(e) => {
                    errors.push(invalid(&["price"], format!("price '{}' {e}", short(text))));
                    None
                }
            },
            (Patch::Keep, Some(p)) => Some(p.price),
            (Patch::Keep, None) => {
                errors.push(invalid(&["price"], "a new product needs a price"));
                None
            }
        };
        let stock = match (&self.stock, &existing) {
            (Patch::Set(s), _) => check_stock(*s).map_err(|e| errors.push(e)).ok(),
            (Patch::Keep, Some(p)) => Some(p.stock),
            (Patch::Keep, None) => Some(None),
        };
        let active = match (&self.active, &existing) {
            (Patch::Set(a), _) => *a,
            (Patch::Keep, Some(p)) => p.active,
            (Patch::Keep, None) => true,
        };
        let current = existing.as_ref().map(|v| v.shipping.clone());
        let shipping = self
            .shipping
            .apply(&current.unwrap_or_default(), &[])
            .map_err(|bad| errors.extend(bad))
            .ok();
        match (title, price, stock, shipping) {
            (Some(title), Some(price), Some(stock), Some(shipping)) if errors.is_empty() => {
                Ok(match existing {
                    Some(existing) => Variant {
                        title,
                        price,
                        stock,
                        active,
                        shipping,
                        ..existing
                    },
                    None => Variant {
                        shipping,
                        ..Variant::new(sku.clone(), title, price, stock, active)
                    },
                })
            }
            _ => Err(Rejection::Invalid(errors)),
        }
    }
}

/// Adds `delta` to a product's tracked stock; refuses to go below zero or above [`MAX_STOCK`].
pub fn adjust_stock(product: &Variant, delta: i64) -> Result<Variant, Rejection> {
    let Some(stock) = product.stock else {
        return Err(Rejection::one(UserError::new(
            ErrorCode::StockNotTracked,
            &["sku"],
            format!(
                "stock of {} is not tracked; set it with upsertProduct first",
                product.sku
            ),
        )));
    };
    let next = stock
        .checked_add(delta)
        .filter(|n| (0..=MAX_STOCK).contains(n));
    match next {
        Some(n) => Ok(Variant {
            stock: Some(n),
            ..product.clone()
        }),
        None if stock.saturating_add(delta) < 0 => Err(Rejection::one(UserError::new(
            shortage(stock),
            &["delta"],
            format!(
                "{} has {stock} in stock; cannot remove {}",
                product.sku,
                delta.unsigned_abs()
            ),
        ))),
        None => Err(Rejection::one(invalid(
            &["delta"],
            format!("stock may not exceed {MAX_STOCK}"),
        ))),
    }
}

/// Tracked stock after `units` come back to `stock`: never above `cap`, and
/// no overflow at any input (a stock above the cap comes down to it). The
/// one restock rule: both backends return a cancelled order's units with it.
pub fn restock_bound(stock: i64, units: u32, cap: i64) -> i64 {
    stock.saturating_add(i64::from(units)).min(cap)
}

/// The variant with `units` back in its tracked stock, bounded by
/// [`MAX_STOCK`]; `None` when its stock is not tracked (nothing to write).
pub fn restocked(product: &Variant, units: u32) -> Option<Variant> {
    let stock = product.stock?;
    Some(Variant {
        stock: Some(restock_bound(stock, units, MAX_STOCK)),
        ..product.clone()
    })
}

fn check_title(title: &str) -> Result<String, UserError> {
    super::names::Title::parse(title)
        .map(super::names::Title::into_string)
        .map_err(|why| invalid(&["title"], why))
}

fn check_stock(stock: Option<i64>) -> Result<Option<i64>, UserError> {
    match stock {
        Some(n) if !(0..=MAX_STOCK).contains(&n) => Err(invalid(
            &["stock"],
            format!("stock is 0 to {MAX_STOCK}, or null for untracked"),
        )),
        other => Ok(other),
    }
}

/// The code of a shortage, the same for a cart warning and a refusal:
/// `OUT_OF_STOCK` when none are left, `INSUFFICIENT_STOCK` while some are.
pub fn shortage(stock: i64) -> ErrorCode {
    if stock <= 0 {
        ErrorCode::OutOfStock
    } else {
        ErrorCode::InsufficientStock
    }
}

fn invalid(field: &[&str], message: impl Into<String>) -> UserError {
    UserError::new(ErrorCode::InvalidProduct, field, message)
}

fn short(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn sku() -> Sku {
        Sku::parse("MUG").unwrap()
    }

    fn full_patch() -> VariantPatch {
        VariantPatch {
            title: Patch::Set("  Mug ".into()),
            price: Patch::Set("9.50".into()),
            stock: Patch::Set(Some(3)),
            active: Patch::Keep,
            shipping: ShippingInput::default(),
        }
    }

    #[test]
    fn a_new_product_needs_title_and_price_and_is_active_by_default() {
        let product = full_patch().apply(&sku(), None, &usd()).unwrap();
        assert_eq!(product.title, "Mug");
        assert_eq!(product.price, Money::from_minor(950));
        assert!(product.active);
        let errors = VariantPatch::default()
            .apply(&sku(), None, &usd())
            .unwrap_err()
            .into_user_errors();
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn a_patch_changes_only_the_fields_it_sets() {
        let product = full_patch().apply(&sku(), None, &usd()).unwrap();
        let patch = VariantPatch {
            active: Patch::Set(false),
            ..Default::default()
        };
        let next = patch.apply(&sku(), Some(product.clone()), &usd()).unwrap();
        assert_eq!(
            next,
            Variant {
                active: false,
                ..product
            }
        );
    }

    #[test]
    fn bad_fields_are_all_reported() {
        let patch = VariantPatch {
            title: Patch::Set("\u{7}".into()),
            price: Patch::Set("-3".into()),
            stock: Patch::Set(Some(-1)),
            active: Patch::Keep,
            shipping: ShippingInput::default(),
        };
        let errors = patch
            .apply(&sku(), None, &usd())
            .unwrap_err()
            .into_user_errors();
        let fields: Vec<_> = errors.iter().map(|e| e.field[0].as_str()).collect();
        assert_eq!(fields, ["title", "price", "stock"]);
    }

    #[test]
    fn restocking_adds_the_units_up_to_the_cap() {
        assert_eq!(restock_bound(3, 2, 10), 5);
        assert_eq!(restock_bound(8, 2, 10), 10, "exactly at the cap");
        assert_eq!(restock_bound(9, 2, 10), 10, "one past it stops there");
        assert_eq!(
            restock_bound(12, 1, 10),
            10,
            "above the cap comes down to it"
        );
        assert_eq!(restock_bound(0, 0, 10), 0);
    }

    #[test]
    fn restocking_never_overflows() {
        assert_eq!(restock_bound(i64::MAX, u32::MAX, i64::MAX), i64::MAX);
        assert_eq!(restock_bound(i64::MAX - 1, 1, i64::MAX), i64::MAX);
        assert_eq!(
            restock_bound(MAX_STOCK, u32::MAX, MAX_STOCK),
            MAX_STOCK,
            "the largest return on a full shelf"
        );
        assert_eq!(restock_bound(0, u32::MAX, i64::MAX), i64::from(u32::MAX));
        assert_eq!(
            restock_bound(i64::MIN, u32::MAX, 10),
            i64::MIN + i64::from(u32::MAX)
        );
    }

    #[test]
    fn a_restocked_variant_keeps_everything_but_its_stock_and_untracked_stock_stays_untracked() {
        let product = full_patch().apply(&sku(), None, &usd()).unwrap();
        let back = restocked(&product, 4).unwrap();
        assert_eq!(
            back,
            Variant {
                stock: Some(7),
                ..product.clone()
            }
        );
        let full = Variant {
            stock: Some(MAX_STOCK - 1),
            ..product.clone()
        };
        assert_eq!(restocked(&full, 5).unwrap().stock, Some(MAX_STOCK));
        let untracked = Variant {
            stock: None,
            ..product
        };
        assert_eq!(restocked(&untracked, 4), None);
    }

    #[test]
    fn stock_never_goes_below_zero() {
        let product = full_patch().apply(&sku(), None, &usd()).unwrap();
        assert_eq!(adjust_stock(&product, -3).unwrap().stock, Some(0));
        let err = adjust_stock(&product, -4).unwrap_err().into_user_errors();
        assert_eq!(err[0].code, ErrorCode::InsufficientStock, "3 are left");
        let none_left = adjust_stock(&product, -3).unwrap();
        let err = adjust_stock(&none_left, -1).unwrap_err().into_user_errors();
        assert_eq!(err[0].code, ErrorCode::OutOfStock, "none are left");
        assert!(adjust_stock(&product, i64::MIN).is_err());
        assert!(adjust_stock(&product, i64::MAX).is_err());
        let untracked = Variant {
            stock: None,
            ..product
        };
        assert_eq!(
            adjust_stock(&untracked, 1).unwrap_err().into_user_errors()[0].code,
            ErrorCode::StockNotTracked
        );
    }

    #[test]
    fn records_stored_before_images_still_read_and_records_without_images_are_stored_as_before() {
        let old_product = serde_json::json!({"handle": "tee", "title": "Tee", "description": "",
            "options": [], "variants": ["TEE-M"], "active": true});
        let old_variant = serde_json::json!({"sku": "TEE-M", "title": "M", "price": 1999,
            "stock": 3, "active": true, "handle": "tee"});
        // PostgreSQL keeps JSON, sled MessagePack with field names.
        let product: Product = serde_json::from_value(old_product.clone()).unwrap();
        let variant: Variant = serde_json::from_value(old_variant.clone()).unwrap();
        assert!(product.images.is_empty());
        assert_eq!(variant.image, None);
        let packed: Product =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&old_product).unwrap()).unwrap();
        assert_eq!(packed, product);
        let packed: Variant =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&old_variant).unwrap()).unwrap();
        assert_eq!(packed, variant);
        // Written back, they are what they were: no `images`, no `image`.
        assert_eq!(serde_json::to_value(&product).unwrap(), old_product);
        assert_eq!(serde_json::to_value(&variant).unwrap(), old_variant);
    }

    #[test]
    fn images_round_trip_through_both_encodings() {
        let image = crate::domain::image::Image::parse(
            &crate::domain::image::ImageInput {
                url: "https://images.example.com/mug.jpg".into(),
                alt_text: Some("A mug".into()),
                width: Some(600),
                height: None,
            },
            &[],
        )
        .unwrap();
        let variant = Variant {
            image: Some(image.clone()),
            ..full_patch().apply(&sku(), None, &usd()).unwrap()
        };
        let json = serde_json::to_value(&variant).unwrap();
        assert_eq!(
            json["image"],
            serde_json::json!({"url": "https://images.example.com/mug.jpg", "alt_text": "A mug", "width": 600})
        );
        assert_eq!(serde_json::from_value::<Variant>(json).unwrap(), variant);
        let packed = rmp_serde::to_vec_named(&variant).unwrap();
        assert_eq!(rmp_serde::from_slice::<Variant>(&packed).unwrap(), variant);
        let product = Product {
            handle: Handle::parse("mug").unwrap(),
            title: "Mug".into(),
            description: String::new(),
            options: Vec::new(),
            variants: vec![sku()],
            active: true,
            images: vec![image.clone(), image],
        };
        let packed = rmp_serde::to_vec_named(&product).unwrap();
        assert_eq!(rmp_serde::from_slice::<Product>(&packed).unwrap(), product);
    }
}
