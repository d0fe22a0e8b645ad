//! Throttling log-ins and sign-ups, per email and per client address.
//!
//! **An attempt is counted before it is tried.** [`Throttle::reserve`] checks
//! every key and counts the attempt against each in one step, so a burst of
//! concurrent log-ins for one email is throttled exactly like the same
//! attempts one after another: the first `max_failures` get their password
//! checked, the rest are refused at once, before any hashing. An attempt that
//! then succeeds, or was never tried (the hashing queue was full), gives its
//! count back ([`Throttle::give_back`]); a successful log-in also clears its
//! email ([`Throttle::clear`]).
//!
//! [`Throttle`] is a trait so that several instances can count together (a
//! backend may keep the windows in its database); [`MemoryThrottle`] keeps
//! them in this process's memory, which suits one instance: the counts are a
//! brake, not state a client relies on, so they may reset at a restart. The
//! rule itself is [`FailureWindow`] in the domain.
//!
//! **The memory is bounded without forgetting a live window.** Each
//! [`Subject`] has a share of its own, [`MAX_TRACKED_PER_SUBJECT`] keys, so a
//! flood of one kind (guest sessions from many addresses) cannot push out
//! another (a locked-out email). Finished windows count for nothing and are
//! dropped; a window that is still running, blocking or not, is never
//! dropped for room. When a subject's share is full of running windows, an
//! attempt for a key it does not hold is refused, as if that key were
//! blocked, until the first of them ends: a flood can make new keys wait,
//! but never lifts a lock-out.

use super::StoreError;
use crate::domain::account::{FailureWindow, ThrottleRule};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// The most keys [`MemoryThrottle`] tracks at once for each [`Subject`]: five
/// subjects, so at most 500,000 windows. A window takes about 150 bytes
/// whatever its key (keys are kept as digests; measured with 500,000 keys
/// of 1 KB), so about 75 MB when every share is full.
pub const MAX_TRACKED_PER_SUBJECT: usize = 100_000;

/// What a throttle key is about; each has its own limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// Log-ins for a normalised email (failures count).
    Email,
    /// Log-ins from a client address (failures count).
    Client,
    /// Sign-ups from a client address (every attempt counts).
    SignUpClient,
    /// Guest sessions started from a client address.
    GuestSessionClient,
    /// Checkouts from a client address.
    CheckoutClient,
}

/// The limits of each subject.
#[derive(Clone, Copy, Debug)]
pub struct ThrottleRules {
    /// Failed log-ins per email.
    pub per_email: ThrottleRule,
    /// Failed log-ins per client address.
    pub per_client: ThrottleRule,
    /// Sign-up attempts per client address.
    pub sign_ups_per_client: ThrottleRule,
    /// Guest sessions per client address.
    pub guest_sessions_per_client: ThrottleRule,
    /// Checkouts per client address.
    pub checkouts_per_client: ThrottleRule,
}

impl ThrottleRules {
    /// The rule of `subject`.
    pub fn of(&self, subject: Subject) -> &ThrottleRule {
        match subject {
            Subject::Email => &self.per_email,
            Subject::Client => &self.per_client,
            Subject::SignUpClient => &self.sign_ups_per_client,
            Subject::GuestSessionClient => &self.guest_sessions_per_client,
            Subject::CheckoutClient => &self.checkouts_per_client,
        }
    }
}

/// Counts attempts per key.
#[async_trait]
pub trait Throttle: Send + Sync + 'static {
    /// Counts one attempt against each of `keys`, unless one of them is
    /// blocked at `now`: then nothing is counted and the inner `Err` is the
    /// latest time until which one is blocked. Check and count are one step.
    async fn reserve(
        &self,
        keys: &[(Subject, &str)],
        now: DateTime<Utc>,
    ) -> Result<Result<(), DateTime<Utc>>, StoreError>;

    /// Gives one counted attempt back to each of `keys` (it succeeded, or
    /// was never tried).
    async fn give_back(&self, keys: &[(Subject, &str)]) -> Result<(), StoreError>;

    /// Forgets the count of one key (a successful log-in clears its email).
    async fn clear(&self, subject: Subject, key: &str) -> Result<(), StoreError>;
}

/// [`Throttle`] in this process's memory. The lock is held only to read or
/// update the map, never across an `.await`.
pub struct MemoryThrottle {
    rules: ThrottleRules,
    /// Keys each subject may hold at once.
    capacity: usize,
    windows: Mutex<HashMap<Subject, Windows>>,
}

/// A key as tracked: its SHA-256, so every window takes the same few bytes
/// whatever the key (an email may be 255 characters of 4 bytes each).
type Digest = [u8; 32];

fn digest(key: &str) -> Digest {
    use sha2::Digest as _;
    sha2::Sha256::digest(key.as_bytes()).into()
}

/// The running windows of one subject.
#[derive(Default)]
struct Windows {
    by_key: HashMap<Digest, FailureWindow>,
    /// The same windows by start. Every window of a subject lasts as long,
    /// so the first ones here are the first to finish.
    by_start: BTreeSet<(DateTime<Utc>, Digest)>,
    /// Whether being full was logged since there was last room.
    full_logged: bool,
}

impl Windows {
    fn len(&self) -> usize {
        self.by_key.len()
    }

    fn get(&self, key: &Digest) -> Option<FailureWindow> {
        self.by_key.get(key).copied()
    }

    fn put(&mut self, key: Digest, window: FailureWindow) {
        if let Some(old) = self.by_key.insert(key, window) {
            self.by_start.remove(&(old.started_at, key));
        }
        self.by_start.insert((window.started_at, key));
    }

    fn remove(&mut self, key: &Digest) {
        if let Some(window) = self.by_key.remove(key) {
            self.by_start.remove(&(window.started_at, *key));
        }
    }

    /// Drops the windows that are over at `now` (each costs O(log n), once).
    fn drop_finished(&mut self, rule: &ThrottleRule, now: DateTime<Utc>) {
        while let Some((_, key)) = self.by_start.first() {
            let over = self.by_key.get(key).is_none_or(|w| w.is_over(rule, now));
            if !over {
                break;
            }
            if let Some((_, key)) = self.by_start.pop_first() {
                self.by_key.remove(&key);
            }
        }
    }

    /// When the first running window ends, and a key's place is free.
    fn first_end(&self, rule: &ThrottleRule) -> Option<DateTime<Utc>> {
        self.by_start
            .first()
            .map(|(started_at, _)| *started_at + rule.window)
    }
}

impl MemoryThrottle {
    /// Counters with these rules, [`MAX_TRACKED_PER_SUBJECT`] keys each.
    pub fn new(rules: ThrottleRules) -> MemoryThrottle {
        MemoryThrottle::with_capacity(rules, MAX_TRACKED_PER_SUBJECT)
    }

    fn with_capacity(rules: ThrottleRules, capacity: usize) -> MemoryThrottle {
        MemoryThrottle {
            rules,
            capacity,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn rule(&self, subject: Subject) -> &ThrottleRule {
        self.rules.of(subject)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Subject, Windows>> {
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn reserve_now(
        &self,
        keys: &[(Subject, &str)],
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        let keys = digests(keys);
        let mut subjects = self.lock();
        for (subject, _) in &keys {
            let windows = subjects.entry(*subject).or_default();
            windows.drop_finished(self.rule(*subject), now);
        }
        let blocked = keys
            .iter()
            .filter_map(|(subject, key)| {
                subjects
                    .get(subject)?
                    .get(key)?
                    .blocked_until(self.rule(*subject), now)
            })
            .max();
        if let Some(until) = blocked.or_else(|| self.no_room(&mut subjects, &keys, now)) {
            return Err(until);
        }
        for (subject, key) in keys {
            let windows = subjects.entry(subject).or_default();
            let next = FailureWindow::after_failure(windows.get(&key), self.rule(subject), now);
            windows.put(key, next);
        }
        Ok(())
    }

    /// `Some(until)` when a subject's share has no room for the keys of
    /// `keys` it does not hold: it is full of running windows, and the
    /// first of them ends at `until`. Nothing is dropped to make room.
    fn no_room(
        &self,
        subjects: &mut HashMap<Subject, Windows>,
        keys: &[(Subject, Digest)],
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut new_keys: Vec<(Subject, Digest)> = keys
            .iter()
            .filter(|(subject, key)| subjects.get(subject).is_none_or(|w| w.get(key).is_none()))
            .copied()
            .collect();
        new_keys.sort_unstable();
        new_keys.dedup();
        let mut refused = None;
        for (subject, windows) in subjects.iter_mut() {
            let wanted = new_keys.iter().filter(|(s, _)| s == subject).count();
            if wanted == 0 {
                continue;
            }
            if windows.len() + wanted <= self.capacity {
                windows.full_logged = false;
                continue;
            }
            let rule = self.rule(*subject);
            refused = refused.max(Some(windows.first_end(rule).unwrap_or(now + rule.window)));
            if !windows.full_logged {
                windows.full_logged = true;
                tracing::warn!(
                    subject = ?subject,
                    keys = windows.len(),
                    "throttle: every tracked window of this subject is running; attempts for new keys are refused until one ends"
                );
            }
        }
        refused
    }

    fn give_back_now(&self, keys: &[(Subject, &str)]) {
        let mut subjects = self.lock();
        for (subject, key) in digests(keys) {
            let Some(windows) = subjects.get_mut(&subject) else {
                continue;
            };
            match windows.get(&key).and_then(FailureWindow::forgive_one) {
                Some(window) => windows.put(key, window),
                None => windows.remove(&key),
            }
        }
    }

    fn clear_now(&self, subject: Subject, key: &str) {
        if let Some(windows) = self.lock().get_mut(&subject) {
            windows.remove(&digest(key));
        }
    }
}

fn digests(keys: &[(Subject, &str)]) -> Vec<(Subject, Digest)> {
    keys.iter()
        .map(|(subject, key)| (*subject, digest(key)))
        .collect()
}

#[async_trait]
impl Throttle for MemoryThrottle {
    async fn reserve(
        &self,
        keys: &[(Subject, &str)],
        now: DateTime<Utc>,
    ) -> Result<Result<(), DateTime<Utc>>, StoreError> {
        Ok(self.reserve_now(keys, now))
    }

    async fn give_back(&self, keys: &[(Subject, &str)]) -> Result<(), StoreError> {
        self.give_back_now(keys);
        Ok(())
    }

    async fn clear(&self, subject: Subject, key: &str) -> Result<(), StoreError> {
        self.clear_now(subject, key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn throttle() -> MemoryThrottle {
        let rule = |max_failures| ThrottleRule {
            max_failures,
            window: Duration::seconds(60),
        };
        MemoryThrottle::new(ThrottleRules {
            per_email: rule(2),
            per_client: rule(3),
            sign_ups_per_client: rule(1),
            guest_sessions_per_client: rule(1),
            checkouts_per_client: rule(1),
        })
    }

    const ANN: (Subject, &str) = (Subject::Email, "ann@example.com");
    const HOME: (Subject, &str) = (Subject::Client, "10.0.0.1");

    #[test]
    fn attempts_are_counted_before_they_are_tried_so_a_burst_is_cut_off() {
        let throttle = throttle();
        let now = Utc::now();
        let allowed = (0..40)
            .filter(|_| throttle.reserve_now(&[ANN, HOME], now).is_ok())
            .count();
        assert_eq!(allowed, 2, "a burst gets what a sequence gets");
        assert_eq!(
            throttle.reserve_now(&[ANN], now),
            Err(now + Duration::seconds(60))
        );
        assert!(
            throttle
                .reserve_now(&[ANN], now + Duration::seconds(61))
                .is_ok()
        );
    }

    #[test]
    fn a_success_clears_the_email_and_gives_the_client_its_attempt_back() {
        let throttle = throttle();
        let now = Utc::now();
        throttle.reserve_now(&[ANN, HOME], now).unwrap();
        throttle.reserve_now(&[ANN, HOME], now).unwrap();
        throttle.clear_now(Subject::Email, "ann@example.com");
        throttle.give_back_now(&[HOME]);
        // Ann may try again; the address has one failure left on its count.
        throttle.reserve_now(&[ANN, HOME], now).unwrap();
        let bob = (Subject::Email, "bob@example.com");
        throttle.reserve_now(&[bob, HOME], now).unwrap();
        assert!(
            throttle.reserve_now(&[bob, HOME], now).is_err(),
            "the client address has its own limit"
        );
    }

    #[test]
    fn a_refused_attempt_counts_against_nothing() {
        let throttle = throttle();
        let now = Utc::now();
        let sign_up = (Subject::SignUpClient, "10.0.0.2");
        throttle.reserve_now(&[sign_up], now).unwrap();
        assert!(throttle.reserve_now(&[sign_up, ANN], now).is_err());
        // Ann's count was not touched by the refused attempt.
        throttle.reserve_now(&[ANN], now).unwrap();
        throttle.reserve_now(&[ANN], now).unwrap();
    }

    fn tracked(throttle: &MemoryThrottle, subject: Subject) -> usize {
        throttle.lock().get(&subject).map_or(0, Windows::len)
    }

    #[test]
    fn a_flood_of_new_keys_never_lifts_a_blocking_window() {
        // Ann is locked out; then more distinct emails than the map holds
        // fail once each, within her window. (Before, the map dropped the
        // oldest half of its windows when full: Ann's lock-out with them.)
        let throttle = throttle();
        let now = Utc::now();
        throttle.reserve_now(&[ANN], now).unwrap();
        throttle.reserve_now(&[ANN], now).unwrap();
        let until = now + Duration::seconds(60);
        for i in 0..MAX_TRACKED_PER_SUBJECT + 500 {
            let email = format!("flood{i}@example.com");
            let at = now + Duration::microseconds(i as i64);
            let _ = throttle.reserve_now(&[(Subject::Email, &email)], at);
        }
        let later = now + Duration::seconds(30);
        assert_eq!(throttle.reserve_now(&[ANN], later), Err(until));
        assert!(tracked(&throttle, Subject::Email) <= MAX_TRACKED_PER_SUBJECT);
    }

    #[test]
    fn a_guest_session_flood_never_evicts_a_log_in_window() {
        // One failed log-in from HOME (3 allowed), then more guest sessions
        // from distinct addresses than any share holds.
        let throttle = throttle();
        let now = Utc::now();
        throttle.reserve_now(&[HOME], now).unwrap();
        for i in 0..MAX_TRACKED_PER_SUBJECT + 500 {
            let client = format!("guest-{i}");
            let at = now + Duration::microseconds(i as i64);
            let _ = throttle.reserve_now(&[(Subject::GuestSessionClient, &client)], at);
        }
        assert_eq!(
            tracked(&throttle, Subject::GuestSessionClient),
            MAX_TRACKED_PER_SUBJECT
        );
        // HOME's count survived: two more failures, then blocked.
        let later = now + Duration::seconds(1);
        throttle.reserve_now(&[HOME], later).unwrap();
        throttle.reserve_now(&[HOME], later).unwrap();
        assert_eq!(
            throttle.reserve_now(&[HOME], later),
            Err(now + Duration::seconds(60))
        );
        // And log-ins from new keys still have room of their own.
        throttle
            .reserve_now(&[(Subject::Email, "new@example.com")], later)
            .unwrap();
    }

    #[test]
    fn a_full_share_refuses_new_keys_until_its_first_window_ends() {
        let throttle = MemoryThrottle::with_capacity(throttle().rules, 3);
        let t0 = Utc::now();
        for (i, key) in ["a", "b", "c"].iter().enumerate() {
            let at = t0 + Duration::seconds(i as i64);
            throttle.reserve_now(&[(Subject::Client, key)], at).unwrap();
        }
        // Full of running windows, none of them blocking: a new key is
        // refused until "a" (the first) ends; nothing is forgotten for it.
        let d = (Subject::Client, "d");
        assert_eq!(
            throttle.reserve_now(&[d], t0 + Duration::seconds(10)),
            Err(t0 + Duration::seconds(60))
        );
        // Refused as a whole: the email of the same attempt is not counted.
        assert!(throttle.reserve_now(&[ANN, d], t0).is_err());
        assert_eq!(tracked(&throttle, Subject::Email), 0);
        // Keys it holds still count.
        throttle
            .reserve_now(&[(Subject::Client, "b")], t0 + Duration::seconds(10))
            .unwrap();
        // Another subject has its own share.
        throttle.reserve_now(&[ANN], t0).unwrap();
        // Once "a" is over, its place goes to "d".
        throttle
            .reserve_now(&[d], t0 + Duration::seconds(60))
            .unwrap();
        assert_eq!(tracked(&throttle, Subject::Client), 3);
        assert!(
            throttle
                .reserve_now(&[(Subject::Client, "e")], t0 + Duration::seconds(60))
                .is_err()
        );
    }

    #[test]
    fn finished_windows_are_dropped_and_the_map_stays_bounded() {
        let throttle = MemoryThrottle::with_capacity(throttle().rules, 100);
        let now = Utc::now();
        for i in 0..250 {
            let key = i.to_string();
            let at = now + Duration::seconds(i);
            let _ = throttle.reserve_now(&[(Subject::SignUpClient, &key)], at);
            assert!(tracked(&throttle, Subject::SignUpClient) <= 100);
        }
        // A window lasts 60 s: at 250 s only those begun after 190 s run.
        assert_eq!(tracked(&throttle, Subject::SignUpClient), 60);
        let much_later = now + Duration::hours(1);
        throttle
            .reserve_now(&[(Subject::SignUpClient, "late")], much_later)
            .unwrap();
        assert_eq!(tracked(&throttle, Subject::SignUpClient), 1);
        // Giving back and clearing keep both indexes in step.
        throttle.give_back_now(&[(Subject::SignUpClient, "late")]);
        throttle.clear_now(Subject::SignUpClient, "late");
        let subjects = throttle.lock();
        let windows = &subjects[&Subject::SignUpClient];
        assert_eq!((windows.by_key.len(), windows.by_start.len()), (0, 0));
    }
}
