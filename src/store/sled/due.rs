//! The sweep's own index on sled (`cart_due`): one key per owner that has
//! a cart index, `kind, slot, owner key`, with an empty value. The slot is
//! the start of the hour in which the owner's least recently changed cart
//! last changed (0 for an owner left without carts: due at once), so the
//! sweep reads only the owners whose carts may have expired
//! ([`Due::carts_of_kind_changed_by`]) instead of every owner's index: a
//! million idle carts are not read through sled's cache every
//! `--sweep-interval`.
//!
//! The key moves only when the slot does (a write that changes the owner's
//! least recently changed cart in a later hour than its last change, or
//! drops it; a merge), and always with the index it mirrors: in the same
//! transaction, or, when a cart is written plainly
//! ([`SledStore::commit_one`](super::SledStore)), the new key before the
//! index and the old one removed after. sled recovers a prefix of its
//! writes, so a crash can leave an extra key (the sweep finds the owner's
//! index elsewhere and deletes it) but never an owner without one.

use super::codec::decode;
use crate::domain::expiry::Due;
use crate::domain::{CartIndex, OwnerKey, ViewerKind};

/// A slot is this many seconds long: the key of an owner written many
/// times an hour moves once in it.
const SLOT_SECONDS: i64 = 3600;

/// The start of a slot, in seconds since the epoch.
pub(super) type Slot = u64;

/// The slot of an owner with this index.
pub(super) fn slot_of(index: &CartIndex) -> Slot {
    match index.oldest_change() {
        None => 0,
        Some(at) => (at.timestamp().max(0) / SLOT_SECONDS * SLOT_SECONDS) as Slot,
    }
}

/// The first byte of an owner's key: its kind (each kind has its lifetime).
fn kind_byte(kind: ViewerKind) -> u8 {
    match kind {
        ViewerKind::Guest => b'g',
        ViewerKind::Customer => b'c',
    }
}

/// The key of `owner` in slot `slot`.
pub(super) fn key(owner: &OwnerKey, slot: Slot) -> Vec<u8> {
    let bytes = owner.as_str().as_bytes();
    let mut key = Vec::with_capacity(9 + bytes.len());
    key.push(kind_byte(owner.kind()));
    key.extend_from_slice(&slot.to_be_bytes());
    key.extend_from_slice(bytes);
    key
}

/// The slot and owner a key names; `None` for a key this release did not write.
pub(super) fn parse(key: &[u8]) -> Option<(Slot, OwnerKey)> {
    let (&kind, rest) = key.split_first()?;
    let (slot, owner) = rest.split_at_checked(8)?;
    let owner = OwnerKey::parse(std::str::from_utf8(owner).ok()?)?;
    let slot = Slot::from_be_bytes(slot.try_into().ok()?);
    (kind == kind_byte(owner.kind())).then_some((slot, owner))
}

/// The keys of owners of `kind` whose carts may have expired by `due`:
/// slots that start at or before the instant their carts must have
/// changed by. An owner whose oldest cart changed later in the same hour is
/// read and left alone.
pub(super) fn may_be_due(due: &Due, kind: ViewerKind) -> std::ops::Range<Vec<u8>> {
    let by = due.carts_of_kind_changed_by(kind).timestamp();
    let start = vec![kind_byte(kind)];
    let mut end = start.clone();
    // Past every slot at or before `by` (none when `by` is before 1970).
    end.extend_from_slice(&((by.max(-1) + 1) as Slot).to_be_bytes());
    start..end
}

/// The key each owner with an index must have, read from `cart_index`
/// (an index this release cannot read gets slot 0: the next sweep reads it
/// and says so). Keys under no owner are skipped.
pub(super) fn expected_keys(
    cart_index: &sled::Tree,
) -> impl Iterator<Item = Result<Vec<u8>, sled::Error>> + '_ {
    cart_index.iter().filter_map(|entry| {
        let (key, bytes) = match entry {
            Ok(entry) => entry,
            Err(e) => return Some(Err(e)),
        };
        let owner = OwnerKey::parse(std::str::from_utf8(&key).ok()?)?;
        let slot = decode::<CartIndex>(&key, &bytes).map_or(0, |index| slot_of(&index));
        Some(Ok(self::key(&owner, slot)))
    })
}

/// How an owner's key moves with a write of its index: from the slot of
/// the index as read (`None`: the owner had none, so no key), to the slot
/// of the index as written (`None`: the index is deleted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct DueMove {
    pub(super) from: Option<Slot>,
    pub(super) to: Option<Slot>,
}

impl DueMove {
    /// The move of a write that turns `was` into `index` (`None`: none).
    pub(super) fn between(was: Option<&CartIndex>, index: Option<&CartIndex>) -> DueMove {
        DueMove {
            from: was.map(slot_of),
            to: index.map(slot_of),
        }
    }

    /// The key to write before the index, when the key moves.
    pub(super) fn added(&self, owner: &OwnerKey) -> Option<Vec<u8>> {
        self.to
            .filter(|to| Some(*to) != self.from)
            .map(|to| key(owner, to))
    }

    /// The key to remove after the index, when the key moves.
    pub(super) fn removed(&self, owner: &OwnerKey) -> Option<Vec<u8>> {
        self.from
            .filter(|from| Some(*from) != self.to)
            .map(|from| key(owner, from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::expiry::Lifetimes;
    use crate::domain::{Cart, CartName};
    use chrono::{DateTime, Duration, TimeZone, Utc};

    fn owner(key: &str) -> OwnerKey {
        OwnerKey::parse(key).unwrap()
    }

    fn index_changed_at(times: &[DateTime<Utc>]) -> CartIndex {
        let carts: Vec<Cart> = times
            .iter()
            .enumerate()
            .map(|(i, at)| {
                let mut cart = Cart::empty(CartName::parse(&format!("c{i}")).unwrap(), *at);
                cart.version = i as u64 + 1;
                cart
            })
            .collect();
        CartIndex::of(&carts, 0)
    }

    #[test]
    fn the_slot_is_the_hour_of_the_least_recently_changed_cart() {
        let at = |h, m| Utc.with_ymd_and_hms(2026, 12, 8, h, m, 0).unwrap();
        let index = index_changed_at(&[at(10, 59), at(9, 30), at(11, 0)]);
        assert_eq!(slot_of(&index), at(9, 0).timestamp() as Slot);
        assert_eq!(slot_of(&CartIndex::default()), 0, "no cart: due at once");
    }

    #[test]
    fn keys_round_trip_and_sort_by_kind_then_slot() {
        let guest = owner("guest:abc");
        let customer = owner("customer:42");
        for (who, slot) in [(&guest, 0), (&guest, 7_200), (&customer, u64::MAX)] {
            assert_eq!(parse(&key(who, slot)), Some((slot, who.clone())));
        }
        assert!(key(&guest, 3_600) < key(&guest, 7_200));
        assert!(key(&owner("guest:zzz"), 3_600) < key(&guest, 7_200));
        assert!(parse(b"g").is_none());
        assert!(parse(b"g1234567").is_none());
        let mut forged = key(&guest, 0);
        forged[0] = b'c';
        assert!(parse(&forged).is_none(), "a kind that is not the owner's");
        assert!(parse(&[b'g', 0, 0, 0, 0, 0, 0, 0, 0, 0xff]).is_none());
    }

    #[test]
    fn the_range_holds_exactly_the_slots_that_started_by_the_cutoff() {
        let now = Utc.with_ymd_and_hms(2026, 12, 8, 12, 30, 0).unwrap();
        let lifetimes = Lifetimes {
            guest_cart: Duration::hours(2),
            customer_cart: Duration::hours(5),
            ..Lifetimes::uniform(Duration::hours(1))
        };
        let due = Due::at(now, lifetimes);
        let guest = owner("guest:abc");
        let customer = owner("customer:42");
        let hour = |h| {
            Utc.with_ymd_and_hms(2026, 12, 8, h, 0, 0)
                .unwrap()
                .timestamp() as Slot
        };
        let guests = may_be_due(&due, ViewerKind::Guest);
        let customers = may_be_due(&due, ViewerKind::Customer);
        // Guests changed by 10:30 may be due: the 10:00 slot is read, 11:00 not.
        assert!(guests.contains(&key(&guest, 0)));
        assert!(guests.contains(&key(&guest, hour(10))));
        assert!(!guests.contains(&key(&guest, hour(11))));
        assert!(!guests.contains(&key(&customer, 0)));
        // Customers changed by 07:30.
        assert!(customers.contains(&key(&customer, hour(7))));
        assert!(!customers.contains(&key(&customer, hour(8))));
        assert!(!customers.contains(&key(&guest, 0)));
    }

    #[test]
    fn a_key_moves_only_when_its_slot_does() {
        let guest = owner("guest:abc");
        let at = |h, m| Utc.with_ymd_and_hms(2026, 12, 8, h, m, 0).unwrap();
        let was = index_changed_at(&[at(9, 10)]);
        let same_hour = index_changed_at(&[at(9, 50)]);
        let next_hour = index_changed_at(&[at(10, 5)]);
        let stays = DueMove::between(Some(&was), Some(&same_hour));
        assert_eq!((stays.added(&guest), stays.removed(&guest)), (None, None));
        let moves = DueMove::between(Some(&was), Some(&next_hour));
        assert_eq!(moves.added(&guest), Some(key(&guest, slot_of(&next_hour))));
        assert_eq!(moves.removed(&guest), Some(key(&guest, slot_of(&was))));
        let deleted = DueMove::between(Some(&was), None);
        assert_eq!(deleted.added(&guest), None);
        assert_eq!(deleted.removed(&guest), Some(key(&guest, slot_of(&was))));
        let new_owner = DueMove::between(None, Some(&was));
        assert_eq!(new_owner.added(&guest), Some(key(&guest, slot_of(&was))));
        assert_eq!(new_owner.removed(&guest), None, "no key to remove");
    }
}
