//! Business rules: pure functions and validated types, no I/O.
//!
//! - [`money`]: integer minor units and the shop currency.
//! - [`names`]: `Sku` and `CartName`, which can only hold valid values.
//! - [`catalog`]: variants (by SKU), products (by handle) and stock changes.
//! - [`product`]: products with options and variants, checked as a whole.
//! - [`image`]: product and variant images: https URLs, alt text, sizes.
//! - [`shipping`]: a variant's weight, whether it is shipped, its tax class.
//! - [`pricing`]: what the buyer pays: discounts, shipping and tax, exact
//!   (not wired to the API yet; issue "What the buyer pays").
//! - [`cart`]: a viewer's carts, the changes mutations make, and pricing.
//! - [`order`]: orders and the checkout rule.
//! - [`idempotency`]: request fingerprints and idempotency keys.
//! - [`expiry`]: what the background sweep deletes, and when.
//! - [`error`]: business failures (`userErrors`) and rejections.
//! - [`attributes`]: attributes on lines and carts, notes, and their limits.
//! - [`buyer`]: the buyer's e-mail, phone, country and address, checked.
//! - [`account`]: email and password rules, the failed-log-in window.
//! - [`merge`]: moving a guest's carts into a customer's at log-in.
//! - [`owner`]: owner keys and viewer kinds: whose data a record is.
//! - [`rate`]: write rates, a token bucket per viewer and per client address.
//! - [`shop`]: the shop's currency, cart limits and lifetimes.
//! - [`size`]: how many bytes a stored value takes (what byte budgets count).
//! - [`webhook`]: events for the shop's other systems: endpoints, deliveries,
//!   the retry schedule, signatures and the address rule.

pub mod account;
pub mod attributes;
pub mod buyer;
pub mod cart;
pub mod catalog;
pub mod error;
pub mod expiry;
pub mod idempotency;
pub mod image;
pub mod merge;
pub mod money;
pub mod names;
pub mod order;
pub mod owner;
pub mod pricing;
pub mod product;
pub mod rate;
pub mod shipping;
pub mod shop;
pub mod size;
#[cfg(test)]
mod testing;
pub mod webhook;

pub use cart::{
    Cart, CartChange, CartIndex, CartLine, CartSet, CartWrite, Limits, LineInput, NewLine,
};
pub use catalog::{Patch, Variant, VariantPatch};
pub use error::{ErrorCode, Rejection, UserError};
pub use money::{Currency, Money};
pub use names::{CartName, Handle, Sku};
pub use owner::{Namespace, OwnerKey, ViewerKind};
pub use shop::ShopSettings;
