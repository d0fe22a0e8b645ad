//! What is kept per owner beside its carts, and the rule every cart write
//! obeys.
//!
//! Each cart is stored on its own, so a change rewrites only the cart it
//! changes. What a rule needs to know about the owner's *other* carts — how
//! many hold something, how many bytes they take, which versions are used
//! up — is in one small [`CartIndex`] per owner, written together with the
//! cart. A write reads the index and the one cart it changes, never the
//! others: [`CartIndex::apply`] decides, and says what to write
//! ([`CartWrite`]).

use super::{Cart, CartChange, Limits, change_cart};
use crate::domain::error::{ErrorCode, Rejection, UserError};
use crate::domain::names::CartName;
use crate::domain::size::{describe, stored_bytes};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The highest version a cart may reach: the largest integer a JavaScript
/// client reads exactly (2^53 − 1). Stored versions above it are refused at
/// import; a cart that reached it cannot change any more.
pub const MAX_VERSION: u64 = (1 << 53) - 1;

/// One owner's carts in brief: what the rules need of the carts a write
/// does not touch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartIndex {
    /// One entry per stored cart (emptied ones included: their versions must
    /// not restart), by name.
    pub carts: BTreeMap<CartName, CartEntry>,
    /// Highest version of any cart dropped; new carts start above it, so an
    /// old `expectedVersion` (or line id) can never match a new cart.
    pub retired_version: u64,
}

/// One stored cart in brief.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartEntry {
    /// Its version.
    pub version: u64,
    /// When it last changed (it expires a lifetime after).
    pub updated_at: DateTime<Utc>,
    /// The bytes it takes as stored ([`stored_bytes`]).
    pub bytes: u64,
    /// Whether it holds nothing at all.
    pub blank: bool,
}

impl CartEntry {
    /// The entry of a cart.
    pub fn of(cart: &Cart) -> CartEntry {
        CartEntry {
            version: cart.version,
            updated_at: cart.updated_at,
            bytes: stored_bytes(cart) as u64,
            blank: cart.is_blank(),
        }
    }

    /// Whether its cart has expired at `now` (see [`crate::domain::expiry`]).
    pub fn expired(&self, now: DateTime<Utc>, lifetime: Duration) -> bool {
        self.updated_at + lifetime <= now
    }
}

/// What a write stores: the changed cart, and the owner's other carts it
/// deletes (expired ones, and emptied ones beyond what is kept). The index
/// that [`CartIndex::apply`] updated is written with them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CartWrite {
    /// The cart as it is to be stored.
    pub cart: Cart,
    /// Carts to delete.
    pub dropped: Vec<CartName>,
}

impl CartIndex {
    /// The index of an owner with nothing stored: versions start above `floor`.
    pub fn fresh(floor: u64) -> CartIndex {
        CartIndex {
            carts: BTreeMap::new(),
            retired_version: floor,
        }
    }

    /// The index of these carts.
    pub fn of<'a>(carts: impl IntoIterator<Item = &'a Cart>, retired_version: u64) -> CartIndex {
        CartIndex {
            carts: carts
                .into_iter()
                .map(|cart| (cart.name.clone(), CartEntry::of(cart)))
                .collect(),
            retired_version,
        }
    }

    /// The bytes all the owner's stored carts take.
    pub fn total_bytes(&self) -> u64 {
        self.carts.values().map(|e| e.bytes).sum()
    }

    /// When the least recently changed cart last changed (the first to
    /// expire); `None` when no cart is left.
    pub fn oldest_change(&self) -> Option<DateTime<Utc>> {
        self.carts.values().map(|e| e.updated_at).min()
    }

    /// The highest version any of the owner's carts has had.
    pub fn highest_version(&self) -> u64 {
        self.carts
            .values()
            .map(|e| e.version)
            .fold(self.retired_version, u64::max)
    }

    /// Applies `change` to the cart `name`, stored as `stored`. Returns what
    /// to write, or `None` when the cart would not change (nothing is
    /// written, the index is untouched). On `Err` nothing changes.
    ///
    /// The rules: `expectedVersion`; the per-line and per-cart limits of the
    /// change itself; the line limit; the number of carts that hold
    /// something; the cart's byte budget and the owner's (a change that does
    /// not make a cart bigger is never refused for its size, so a cart over a
    /// lowered budget can still be emptied). A write also drops the owner's
    /// expired carts and emptied carts beyond the limit, retiring their
    /// versions.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &mut self,
        stored: Option<&Cart>,
        name: &CartName,
        change: &CartChange,
        expected_version: Option<u64>,
        limits: &Limits,
        now: DateTime<Utc>,
        lifetime: Duration,
    ) -> Result<Option<CartWrite>, Rejection> {
        let current = match stored {
            Some(cart) => cart.as_of(now, lifetime),
            None => Cart::empty(name.clone(), now),
        };
        if let Some(expected) = expected_version
            && expected != current.version
        {
            return Err(Rejection::VersionConflict {
                expected,
                current: current.version,
            });
        }
        let version = current.version.max(self.retired_version).saturating_add(1);
        let mut next = current.clone();
        change_cart(&mut next, change, version, limits)?;
        if next.same_content(&current) {
            return Ok(None);
        }
        if version > MAX_VERSION {
            return Err(limit(
                "cart",
                format!(
                    "the cart has reached the highest version ({MAX_VERSION}) and cannot change"
                ),
            ));
        }
        if next.lines.len() > limits.max_lines_per_cart {
            return Err(limit(
                "lines",
                format!(
                    "a cart holds at most {} lines; this change would make {}",
                    limits.max_lines_per_cart,
                    next.lines.len()
                ),
            ));
        }
        let mut others = self.clone();
        let old = others.carts.remove(name);
        let mut dropped = others.drop_expired(now, lifetime);
        if current.is_blank() && !next.is_blank() {
            let filled = others.carts.values().filter(|e| !e.blank).count();
            if filled >= limits.max_carts_per_viewer {
                return Err(limit(
                    "cart",
                    format!(
                        "a viewer may fill at most {} carts at once; empty one of them first",
                        limits.max_carts_per_viewer
                    ),
                ));
            }
        }
        if stored.is_none() || current.is_blank() {
            next.created_at = now;
        }
        next.version = version;
        next.updated_at = now;
        let entry = CartEntry::of(&next);
        let grew = entry.bytes > old.map_or(0, |e| e.bytes);
        if grew && entry.bytes > limits.max_cart_bytes as u64 {
            return Err(limit(
                "cart",
                format!(
                    "a cart may take at most {} (--max-cart-bytes, counted in UTF-8 bytes as stored); this change would make it {}",
                    describe(limits.max_cart_bytes),
                    describe(entry.bytes as usize)
                ),
            ));
        }
        let total = others.total_bytes() + entry.bytes;
        if grew && total > limits.max_owner_bytes as u64 {
            return Err(limit(
                "cart",
                format!(
                    "a viewer's carts may take at most {} together (--max-owner-bytes, counted in UTF-8 bytes as stored); this change would make them {}; empty or shorten another cart first",
                    describe(limits.max_owner_bytes),
                    describe(total as usize)
                ),
            ));
        }
        dropped.extend(others.prune_blank(limits.max_carts_per_viewer));
        others.carts.insert(name.clone(), entry);
        *self = others;
        Ok(Some(CartWrite {
            cart: next,
            dropped,
        }))
    }

    /// Drops the entries of carts whose lifetime ran out before `now`,
    /// retiring their versions; returns their names.
    pub fn drop_expired(&mut self, now: DateTime<Utc>, lifetime: Duration) -> Vec<CartName> {
        let expired: Vec<CartName> = self
            .carts
            .iter()
            .filter(|(_, e)| e.expired(now, lifetime))
            .map(|(name, _)| name.clone())
            .collect();
        self.retire(&expired);
        expired
    }

    /// Keeps at most `keep` emptied carts, dropping the least recently
    /// changed, so clearing carts cannot grow the index forever.
    fn prune_blank(&mut self, keep: usize) -> Vec<CartName> {
        let mut blank: Vec<(DateTime<Utc>, &CartName)> = self
            .carts
            .iter()
            .filter(|(_, e)| e.blank)
            .map(|(name, e)| (e.updated_at, name))
            .collect();
        blank.sort();
        let excess = blank.len().saturating_sub(keep);
        let pruned: Vec<CartName> = blank
            .into_iter()
            .take(excess)
            .map(|(_, name)| name.clone())
            .collect();
        self.retire(&pruned);
        pruned
    }

    /// Removes these entries, keeping their versions retired.
    pub fn retire(&mut self, names: &[CartName]) {
        for name in names {
            if let Some(entry) = self.carts.remove(name) {
                self.retired_version = self.retired_version.max(entry.version);
            }
        }
    }
}

fn limit(field: &str, message: String) -> Rejection {
    Rejection::one(UserError::new(
        ErrorCode::CartLimitExceeded,
        &[field],
        message,
    ))
}

#[cfg(test)]
mod tests;
