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
//! rule itself is [`FailureWindow`] in the domain. The map is bounded: past
//! [`MAX_TRACKED`] keys, finished windows are dropped first, then the oldest.

use crate::domain::account::{FailureWindow, ThrottleRule};
use crate::store::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// The most keys tracked at once.
pub const MAX_TRACKED: usize = 100_000;

/// What a throttle key is about; each has its own limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    windows: Mutex<HashMap<(Subject, String), FailureWindow>>,
}

impl MemoryThrottle {
    /// Counters with these rules.
    pub fn new(rules: ThrottleRules) -> MemoryThrottle {
        MemoryThrottle {
            rules,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn rule(&self, subject: Subject) -> &ThrottleRule {
        self.rules.of(subject)
    }

    fn reserve_now(
        &self,
        keys: &[(Subject, &str)],
        now: DateTime<Utc>,
    ) -> Result<(), DateTime<Utc>> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let blocked = keys
            .iter()
            .filter_map(|(subject, key)| {
                windows
                    .get(&(*subject, key.to_string()))
                    .and_then(|w| w.blocked_until(self.rule(*subject), now))
            })
            .max();
        if let Some(until) = blocked {
            return Err(until);
        }
        if windows.len() + keys.len() > MAX_TRACKED {
            self.prune(&mut windows, now);
        }
        for (subject, key) in keys {
            let entry = (*subject, key.to_string());
            let next = FailureWindow::after_failure(
                windows.get(&entry).copied(),
                self.rule(*subject),
                now,
            );
            windows.insert(entry, next);
        }
        Ok(())
    }

    fn give_back_now(&self, keys: &[(Subject, &str)]) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        for (subject, key) in keys {
            let entry = (*subject, key.to_string());
            match windows
                .get(&entry)
                .copied()
                .and_then(FailureWindow::forgive_one)
            {
                Some(window) => windows.insert(entry, window),
                None => windows.remove(&entry),
            };
        }
    }

    fn prune(&self, windows: &mut HashMap<(Subject, String), FailureWindow>, now: DateTime<Utc>) {
        windows.retain(|(subject, _), w| !w.is_over(self.rule(*subject), now));
        if windows.len() >= MAX_TRACKED {
            let mut starts: Vec<DateTime<Utc>> = windows.values().map(|w| w.started_at).collect();
            starts.sort();
            let cutoff = starts[starts.len() / 2];
            windows.retain(|_, w| w.started_at > cutoff);
        }
    }
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
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.remove(&(subject, key.to_string()));
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
        throttle
            .windows
            .lock()
            .unwrap()
            .remove(&(Subject::Email, "ann@example.com".into()));
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

    #[test]
    fn the_map_stays_bounded() {
        let throttle = throttle();
        let now = Utc::now();
        for i in 0..MAX_TRACKED + 10 {
            let key = i.to_string();
            let at = now + Duration::milliseconds(i as i64);
            let _ = throttle.reserve_now(&[(Subject::Client, &key)], at);
        }
        let len = throttle.windows.lock().unwrap().len();
        assert!(len <= MAX_TRACKED, "{len}");
    }
}
