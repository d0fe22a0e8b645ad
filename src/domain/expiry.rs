//! What the background sweep deletes at an instant: the one policy both
//! backends apply. A backend reads candidates and deletes what [`Due`]
//! names; how often it runs is the store's concern (`store::sweeper`).
//!
//! | record | due at `now` when |
//! |--------|-------------------|
//! | a cart | unchanged for its owner's lifetime: `updated_at + lifetime <= now`, the instant it reads as expired ([`Cart::as_of`](super::Cart::as_of)) |
//! | an owner's cart index | no cart is left in it (its versions are retired into the store's floor first) |
//! | an idempotency record | created more than the TTL before: `created_at < now - ttl`, so a record is kept at least the TTL |
//! | a "valid after" record | its second is before `now - lifetime`, the longest a token lives: every token it refuses has expired; external issuers' are kept ([`REVOCATIONS_KEPT`]) |
//! | a throttle window | started before `now -` [`THROTTLE_WINDOWS_KEPT`] |
//!
//! Orders and accounts are never swept: an order is the record of a sale.

use super::cart::CartIndex;
use super::names::CartName;
use super::owner::{Namespace, OwnerKey, ViewerKind};
use chrono::{DateTime, Duration, Utc};

/// How long throttle windows are kept: longer than the longest window
/// (`--login-failure-window`, at most a day), so no live window goes.
pub const THROTTLE_WINDOWS_KEPT: Duration = Duration::days(2);

/// Namespaces whose "valid after" records are never swept: the lifetime of
/// an external issuer's tokens is not ours to know.
pub const REVOCATIONS_KEPT: &[Namespace] = &[Namespace::External];

/// How long each kind of record is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    /// A guest's untouched cart.
    pub guest_cart: Duration,
    /// A customer's untouched cart.
    pub customer_cart: Duration,
    /// An idempotency record (at least).
    pub idempotency_record: Duration,
    /// A "valid after" record, after its second.
    pub revocation: Duration,
}

impl Lifetimes {
    /// Every kind of record kept for `lifetime` (tests and tools).
    pub fn uniform(lifetime: Duration) -> Lifetimes {
        Lifetimes {
            guest_cart: lifetime,
            customer_cart: lifetime,
            idempotency_record: lifetime,
            revocation: lifetime,
        }
    }

    /// How long an untouched cart of `owner` lives.
    pub fn cart(&self, owner: &OwnerKey) -> Duration {
        self.cart_of_kind(owner.kind())
    }

    /// How long an untouched cart of an owner of `kind` lives.
    pub fn cart_of_kind(&self, kind: ViewerKind) -> Duration {
        match kind {
            ViewerKind::Guest => self.guest_cart,
            ViewerKind::Customer => self.customer_cart,
        }
    }
}

/// What one sweep of an owner's carts deletes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweptCarts {
    /// The expired carts (their entries are gone from the index).
    pub dropped: Vec<CartName>,
    /// No cart is left: the index goes too, once the store's version floor
    /// is at least its `retired_version`, so versions never repeat.
    pub forget_owner: bool,
}

/// The sweep policy at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    now: DateTime<Utc>,
    lifetimes: Lifetimes,
}

impl Due {
    /// What is due at `now` with these lifetimes.
    pub fn at(now: DateTime<Utc>, lifetimes: Lifetimes) -> Due {
        Due { now, lifetimes }
    }

    /// The instant of the sweep.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// How long an untouched cart of `owner` lives.
    pub fn cart_lifetime(&self, owner: &OwnerKey) -> Duration {
        self.lifetimes.cart(owner)
    }

    /// Carts changed at or before this instant may be due (the shortest
    /// lifetime): what a backend that filters in its database reads; each
    /// owner's own lifetime then decides ([`Due::sweep_carts`]).
    pub fn carts_changed_by(&self) -> DateTime<Utc> {
        let shortest = self.lifetimes.guest_cart.min(self.lifetimes.customer_cart);
        self.now - shortest
    }

    /// Carts of owners of `kind` changed at or before this instant have
    /// expired: what a backend that keeps owners by their oldest change
    /// reads, kind by kind.
    pub fn carts_of_kind_changed_by(&self, kind: ViewerKind) -> DateTime<Utc> {
        self.now - self.lifetimes.cart_of_kind(kind)
    }

    /// Whether the sweep has anything to do with `owner`'s carts: one has
    /// expired, or none is left. Cheap, for a plain read before the owner's
    /// lock; [`Due::sweep_carts`] decides under it.
    pub fn owner_due(&self, owner: &OwnerKey, index: &CartIndex) -> bool {
        let lifetime = self.cart_lifetime(owner);
        index.carts.is_empty() || index.carts.values().any(|e| e.expired(self.now, lifetime))
    }

    /// Drops `owner`'s expired carts from `index` (retiring their versions)
    /// and says what to delete; `None` when there is nothing to write.
    pub fn sweep_carts(&self, owner: &OwnerKey, index: &mut CartIndex) -> Option<SweptCarts> {
        let dropped = index.drop_expired(self.now, self.cart_lifetime(owner));
        let forget_owner = index.carts.is_empty();
        (forget_owner || !dropped.is_empty()).then_some(SweptCarts {
            dropped,
            forget_owner,
        })
    }

    /// Idempotency records created before this instant are due (for a
    /// backend that filters in its database: `created_at < cutoff`).
    pub fn idempotency_cutoff(&self) -> DateTime<Utc> {
        self.now - self.lifetimes.idempotency_record
    }

    /// Whether an idempotency record created at `created_at` is due.
    pub fn idempotency_record(&self, created_at: DateTime<Utc>) -> bool {
        created_at < self.idempotency_cutoff()
    }

    /// "Valid after" records of a second before this one are due, unless
    /// their namespace is in [`REVOCATIONS_KEPT`] (for a backend that
    /// filters in its database: `valid_after < cutoff`).
    pub fn revocation_cutoff(&self) -> i64 {
        (self.now - self.lifetimes.revocation).timestamp()
    }

    /// Whether `owner`'s "valid after" record of second `valid_after` is due.
    pub fn revocation(&self, owner: &OwnerKey, valid_after: i64) -> bool {
        !REVOCATIONS_KEPT.contains(&owner.namespace()) && valid_after < self.revocation_cutoff()
    }

    /// Throttle windows started before this instant are due.
    pub fn throttle_cutoff(&self) -> DateTime<Utc> {
        self.now - THROTTLE_WINDOWS_KEPT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cart::CartEntry;
    use crate::domain::testing::now;

    fn lifetimes() -> Lifetimes {
        Lifetimes {
            guest_cart: Duration::days(7),
            customer_cart: Duration::days(30),
            idempotency_record: Duration::hours(24),
            revocation: Duration::days(90),
        }
    }

    fn owner(key: &str) -> OwnerKey {
        OwnerKey::parse(key).unwrap()
    }

    fn index(changed: &[(&str, DateTime<Utc>)]) -> CartIndex {
        let mut index = CartIndex::fresh(0);
        for (n, (name, at)) in changed.iter().enumerate() {
            let entry = CartEntry {
                version: n as u64 + 1,
                updated_at: *at,
                bytes: 10,
                blank: false,
            };
            index.carts.insert(CartName::parse(name).unwrap(), entry);
        }
        index
    }

    #[test]
    fn a_cart_is_due_exactly_when_its_owners_lifetime_has_run_out() {
        let due = Due::at(now(), lifetimes());
        let guest = owner("guest:ann");
        let at_the_boundary = index(&[("default", now() - Duration::days(7))]);
        assert!(due.owner_due(&guest, &at_the_boundary));
        let a_second_before =
            index(&[("default", now() - Duration::days(7) + Duration::seconds(1))]);
        assert!(!due.owner_due(&guest, &a_second_before));
        assert!(
            !due.owner_due(&owner("customer:ann"), &at_the_boundary),
            "a customer's cart lives longer"
        );
        assert!(
            !due.owner_due(&owner("external:ann"), &at_the_boundary),
            "an external customer is a customer"
        );
        assert_eq!(due.carts_changed_by(), now() - Duration::days(7));
    }

    #[test]
    fn a_sweep_drops_expired_carts_and_forgets_an_owner_left_without_any() {
        let due = Due::at(now(), lifetimes());
        let guest = owner("guest:ann");
        let mut both = index(&[
            ("default", now() - Duration::days(8)),
            ("wishlist", now() - Duration::days(1)),
        ]);
        let swept = due.sweep_carts(&guest, &mut both).unwrap();
        assert_eq!(swept.dropped, [CartName::parse("default").unwrap()]);
        assert!(!swept.forget_owner);
        assert_eq!(both.carts.len(), 1);
        assert_eq!(
            both.retired_version, 1,
            "the dropped cart's version is retired"
        );
        assert_eq!(
            due.sweep_carts(&guest, &mut both),
            None,
            "nothing more to do"
        );
        let mut empty = CartIndex::fresh(5);
        assert!(due.owner_due(&guest, &empty));
        let swept = due.sweep_carts(&guest, &mut empty).unwrap();
        assert!(swept.dropped.is_empty() && swept.forget_owner);
    }

    #[test]
    fn an_idempotency_record_is_kept_at_least_its_ttl() {
        let due = Due::at(now(), lifetimes());
        let ttl = Duration::hours(24);
        assert!(
            !due.idempotency_record(now() - ttl),
            "exactly the TTL: kept"
        );
        assert!(due.idempotency_record(now() - ttl - Duration::nanoseconds(1)));
        assert!(!due.idempotency_record(now()));
        assert_eq!(due.idempotency_cutoff(), now() - ttl);
    }

    #[test]
    fn a_revocation_goes_once_its_tokens_have_expired_but_an_external_one_stays() {
        let due = Due::at(now(), lifetimes());
        let cutoff = (now() - Duration::days(90)).timestamp();
        assert_eq!(due.revocation_cutoff(), cutoff);
        for key in ["guest:ann", "customer:ann"] {
            assert!(due.revocation(&owner(key), cutoff - 1), "{key}");
            assert!(
                !due.revocation(&owner(key), cutoff),
                "{key} at the boundary"
            );
        }
        assert!(!due.revocation(&owner("external:ann"), 0));
    }

    #[test]
    fn throttle_windows_are_kept_two_days() {
        let due = Due::at(now(), lifetimes());
        assert_eq!(due.throttle_cutoff(), now() - Duration::days(2));
    }

    #[test]
    fn uniform_lifetimes_apply_to_every_owner() {
        let one = Lifetimes::uniform(Duration::hours(1));
        assert_eq!(one.cart(&owner("guest:a")), Duration::hours(1));
        assert_eq!(one.cart(&owner("customer:a")), Duration::hours(1));
        assert_eq!(one.idempotency_record, Duration::hours(1));
    }
}
