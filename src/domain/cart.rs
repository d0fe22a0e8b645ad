//! Carts: a viewer's named carts and the rules every change obeys.
//!
//! All of one viewer's carts live in one [`CartSet`], stored under one key, so
//! a single atomic write covers a change and the per-viewer limits. Every
//! change goes through [`CartSet::apply`]: it checks `expectedVersion`, the
//! limits, and bumps the version only when the lines really change.

use super::catalog::Product;
use super::error::{ErrorCode, Rejection, UserError};
use super::money::Money;
use super::names::{CartName, Sku};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Per-shop limits on carts, validated at start-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Distinct SKUs in one cart.
    pub max_lines_per_cart: usize,
    /// Units of one SKU in one cart.
    pub max_quantity_per_line: u32,
    /// Carts holding lines at once, per viewer.
    pub max_carts_per_viewer: usize,
}

/// One line of a cart: a SKU and how many. Prices are looked up when read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    /// The product's SKU.
    pub sku: Sku,
    /// How many, at least 1 in a stored cart.
    pub quantity: u32,
}

/// One named cart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    /// Its name among the viewer's carts.
    pub name: CartName,
    /// Bumped on every change of lines; 0 for a cart never written.
    pub version: u64,
    /// Lines in the order they were first added.
    pub lines: Vec<CartLine>,
    /// When the cart was first written.
    pub created_at: DateTime<Utc>,
    /// When its lines last changed.
    pub updated_at: DateTime<Utc>,
}

impl Cart {
    /// The cart a viewer sees before anything is stored under `name`.
    pub fn empty(name: CartName, now: DateTime<Utc>) -> Cart {
        Cart {
            name,
            version: 0,
            lines: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// When the cart expires if left alone.
    pub fn expires_at(&self, lifetime: Duration) -> DateTime<Utc> {
        self.updated_at + lifetime
    }

    /// The cart as seen at `now`: an expired cart reads as empty (its version stays).
    pub fn as_of(&self, now: DateTime<Utc>, lifetime: Duration) -> Cart {
        if self.expires_at(lifetime) <= now && !self.lines.is_empty() {
            return Cart {
                lines: Vec::new(),
                ..self.clone()
            };
        }
        self.clone()
    }
}

/// A change to one cart's lines. Quantities are already checked by [`check_lines`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CartChange {
    /// Add to quantities (new SKUs are appended).
    Add(Vec<CartLine>),
    /// Set quantities; 0 removes; SKUs not in the cart are appended.
    Update(Vec<CartLine>),
    /// Remove these SKUs (absent ones are ignored).
    Remove(Vec<Sku>),
    /// Remove every line.
    Clear,
    /// Make the lines exactly these.
    Replace(Vec<CartLine>),
}

/// All of one viewer's carts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartSet {
    /// Carts by name, including emptied ones (their version must not restart).
    pub carts: BTreeMap<CartName, Cart>,
    /// Highest version of any cart dropped from the set; new carts start above it
    /// so an old `expectedVersion` can never match a new cart.
    pub retired_version: u64,
}

impl CartSet {
    /// The cart called `name` as seen at `now` (empty, version 0, if none is stored).
    pub fn cart(&self, name: &CartName, now: DateTime<Utc>, lifetime: Duration) -> Cart {
        match self.carts.get(name) {
            Some(cart) => cart.as_of(now, lifetime),
            None => Cart::empty(name.clone(), now),
        }
    }

    /// Applies `change` to the cart `name`. Returns whether anything changed;
    /// on `Err` the set is left as it was.
    pub fn apply(
        &mut self,
        name: &CartName,
        change: &CartChange,
        expected_version: Option<u64>,
        limits: &Limits,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> Result<bool, Rejection> {
        let current = self.cart(name, now, lifetime);
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Err(Rejection::VersionConflict {
                expected,
                current: current.version,
            });
        }
        let lines = changed_lines(&current.lines, change, limits)?;
        if lines == current.lines {
            return Ok(false);
        }
        if lines.len() > limits.max_lines_per_cart {
            return Err(Rejection::one(UserError::new(
                ErrorCode::CartLimitExceeded,
                &["lines"],
                format!(
                    "a cart holds at most {} different SKUs; this change would make {}",
                    limits.max_lines_per_cart,
                    lines.len()
                ),
            )));
        }
        if current.lines.is_empty() && !lines.is_empty() {
            let others = self
                .carts
                .values()
                .filter(|c| &c.name != name && !c.as_of(now, lifetime).lines.is_empty())
                .count();
            if others >= limits.max_carts_per_viewer {
                return Err(Rejection::one(UserError::new(
                    ErrorCode::CartLimitExceeded,
                    &["cart"],
                    format!(
                        "a viewer may fill at most {} carts at once; empty one of them first",
                        limits.max_carts_per_viewer
                    ),
                )));
            }
        }
        let version = current.version.max(self.retired_version) + 1;
        let created_at = if self.carts.contains_key(name) && !current.lines.is_empty() {
            current.created_at
        } else {
            now
        };
        self.carts.insert(
            name.clone(),
            Cart {
                name: name.clone(),
                version,
                lines,
                created_at,
                updated_at: now,
            },
        );
        self.prune_empty(name, limits.max_carts_per_viewer);
        Ok(true)
    }

    /// Drops carts whose lifetime ran out before `now`; returns how many.
    pub fn drop_expired(&mut self, now: DateTime<Utc>, lifetime: Duration) -> usize {
        let expired: Vec<(CartName, u64)> = self
            .carts
            .values()
            .filter(|c| c.expires_at(lifetime) <= now)
            .map(|c| (c.name.clone(), c.version))
            .collect();
        for (name, version) in &expired {
            self.carts.remove(name);
            self.retired_version = self.retired_version.max(*version);
        }
        expired.len()
    }

    /// Keeps at most `keep` empty carts besides `current`, dropping the
    /// least recently changed, so clearing carts cannot grow the set forever.
    fn prune_empty(&mut self, current: &CartName, keep: usize) {
        let mut empty: Vec<(DateTime<Utc>, CartName, u64)> = self
            .carts
            .values()
            .filter(|c| c.lines.is_empty() && &c.name != current)
            .map(|c| (c.updated_at, c.name.clone(), c.version))
            .collect();
        empty.sort();
        let excess = empty.len().saturating_sub(keep);
        for (_, name, version) in empty.into_iter().take(excess) {
            self.carts.remove(&name);
            self.retired_version = self.retired_version.max(version);
        }
    }
}

fn changed_lines(
    current: &[CartLine],
    change: &CartChange,
    limits: &Limits,
) -> Result<Vec<CartLine>, Rejection> {
    let mut lines = current.to_vec();
    match change {
        CartChange::Add(add) => {
            let mut errors = Vec::new();
            for (index, line) in add.iter().enumerate() {
                match lines.iter_mut().find(|l| l.sku == line.sku) {
                    Some(existing) => {
                        let total = existing.quantity.saturating_add(line.quantity);
                        if total > limits.max_quantity_per_line {
                            errors.push(UserError::at(
                                ErrorCode::InvalidQuantity,
                                "lines",
                                index,
                                "quantity",
                                format!(
                                    "{} would reach {total} in the cart; at most {} per line",
                                    line.sku, limits.max_quantity_per_line
                                ),
                            ));
                        }
                        existing.quantity = total;
                    }
                    None => lines.push(line.clone()),
                }
            }
            if !errors.is_empty() {
                return Err(Rejection::Invalid(errors));
            }
        }
        CartChange::Update(update) => {
            for line in update {
                match lines.iter_mut().position(|l| l.sku == line.sku) {
                    Some(i) if line.quantity == 0 => {
                        lines.remove(i);
                    }
                    Some(i) => lines[i].quantity = line.quantity,
                    None if line.quantity == 0 => {}
                    None => lines.push(line.clone()),
                }
            }
        }
        CartChange::Remove(skus) => lines.retain(|l| !skus.contains(&l.sku)),
        CartChange::Clear => lines.clear(),
        CartChange::Replace(replace) => lines = replace.clone(),
    }
    Ok(lines)
}

/// How [`check_lines`] treats quantities and repeated SKUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineMode {
    /// Quantities 1..=max are added; a repeated SKU adds up.
    Add,
    /// Quantities 0..=max are set (0 removes); a repeated SKU is refused.
    Set,
    /// Quantities 1..=max form the whole cart; a repeated SKU adds up.
    Replace,
}

/// Checks client input lines (`sku`, `quantity`) against the limits and the
/// catalog: malformed or unknown SKUs, inactive products (unless the line
/// removes them), quantities out of range, SKUs repeated where that is
/// ambiguous. All problems are reported at once, by input index.
pub fn check_lines(
    input: &[(String, i64)],
    mode: LineMode,
    limits: &Limits,
    catalog: &HashMap<Sku, Product>,
) -> Result<Vec<CartLine>, Rejection> {
    let mut errors = Vec::new();
    let mut lines: Vec<CartLine> = Vec::new();
    let min = if mode == LineMode::Set { 0 } else { 1 };
    let max = i64::from(limits.max_quantity_per_line);
    for (index, (raw_sku, quantity)) in input.iter().enumerate() {
        let at = |code, field, message: String| UserError::at(code, "lines", index, field, message);
        let sku = match Sku::parse(raw_sku) {
            Ok(sku) => sku,
            Err(why) => {
                errors.push(at(ErrorCode::UnknownSku, "sku", why));
                continue;
            }
        };
        if !(min..=max).contains(quantity) {
            errors.push(at(
                ErrorCode::InvalidQuantity,
                "quantity",
                format!("quantity must be {min} to {max}, got {quantity}"),
            ));
            continue;
        }
        match catalog.get(&sku) {
            None => {
                errors.push(at(
                    ErrorCode::UnknownSku,
                    "sku",
                    format!("no product has SKU {sku}"),
                ));
                continue;
            }
            Some(product) if !product.active && *quantity > 0 => {
                errors.push(at(
                    ErrorCode::ProductInactive,
                    "sku",
                    format!("{sku} is not for sale"),
                ));
                continue;
            }
            Some(_) => {}
        }
        let quantity = *quantity as u32;
        match lines.iter_mut().find(|l| l.sku == sku) {
            Some(_) if mode == LineMode::Set => {
                errors.push(at(
                    ErrorCode::DuplicateSku,
                    "sku",
                    format!("{sku} appears more than once"),
                ));
            }
            Some(existing) => {
                existing.quantity = existing.quantity.saturating_add(quantity);
                if existing.quantity > limits.max_quantity_per_line {
                    errors.push(at(
                        ErrorCode::InvalidQuantity,
                        "quantity",
                        format!(
                            "{sku} adds up to {} here; at most {max} per line",
                            existing.quantity
                        ),
                    ));
                }
            }
            None => lines.push(CartLine { sku, quantity }),
        }
    }
    if errors.is_empty() {
        Ok(lines)
    } else {
        Err(Rejection::Invalid(errors))
    }
}

/// A cart line with its price from the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedLine {
    /// The stored line.
    pub line: CartLine,
    /// The product as it is now.
    pub product: Product,
    /// Its current price.
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub line_total: Money,
}

/// A cart's lines priced from the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedCart {
    /// Priced lines in cart order.
    pub lines: Vec<PricedLine>,
    /// Sum of quantities.
    pub total_quantity: u64,
    /// Sum of line totals.
    pub subtotal: Money,
}

/// Why a cart could not be priced. Both mean stored data broke an invariant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PricingError {
    /// A line names a product the catalog no longer has.
    #[error("cart line {0} names a product that is not in the catalog")]
    MissingProduct(Sku),
    /// A total does not fit in an i64.
    #[error("cart total overflows")]
    Overflow,
}

/// Prices `lines` with the products in `catalog`.
pub fn price_lines(
    lines: &[CartLine],
    catalog: &HashMap<Sku, Product>,
) -> Result<PricedCart, PricingError> {
    let mut priced = Vec::with_capacity(lines.len());
    let mut subtotal = Money::ZERO;
    let mut total_quantity = 0u64;
    for line in lines {
        let product = catalog
            .get(&line.sku)
            .ok_or_else(|| PricingError::MissingProduct(line.sku.clone()))?;
        let line_total = product
            .price
            .checked_mul(line.quantity)
            .ok_or(PricingError::Overflow)?;
        subtotal = subtotal
            .checked_add(line_total)
            .ok_or(PricingError::Overflow)?;
        total_quantity += u64::from(line.quantity);
        priced.push(PricedLine {
            line: line.clone(),
            product: product.clone(),
            unit_price: product.price,
            line_total,
        });
    }
    Ok(PricedCart {
        lines: priced,
        total_quantity,
        subtotal,
    })
}

#[cfg(test)]
mod tests;
