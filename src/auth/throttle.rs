//! Throttling log-ins and sign-ups, per email and per client address.
//!
//! **An attempt is counted before it is tried.** [`Throttle::reserve`] checks
//! every key and counts the attempt against each in one step under one lock,
//! so a burst of concurrent log-ins for one email is throttled exactly like
//! the same attempts one after another: the first `max_failures` get their
//! password checked, the rest are refused at once, before any hashing. A
//! log-in that then succeeds gives its reservation back
//! ([`Throttle::log_in_succeeded`]): the email's count is cleared and the
//! client address's one attempt forgiven.
//!
//! The counts live in this process's memory: they are a brake on guessing,
//! not state a client relies on, so they may reset at a restart (and each
//! instance counts its own when there are several). The rule itself is
//! [`FailureWindow`] in the domain. The map is bounded: past
//! [`MAX_TRACKED`] keys, finished windows are dropped first, then the oldest.

use crate::domain::account::{FailureWindow, ThrottleRule};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// The most keys tracked at once.
pub const MAX_TRACKED: usize = 100_000;

/// What a throttle key is about; each has its own limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// Log-ins for a normalised email.
    Email,
    /// Log-ins from a client IP address.
    Client,
    /// Sign-ups from a client IP address (every attempt counts).
    SignUpClient,
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
}

/// Attempt counters. The lock is held only to read or update the map, never
/// across an `.await`.
pub struct Throttle {
    rules: ThrottleRules,
    windows: Mutex<HashMap<(Subject, String), FailureWindow>>,
}

impl Throttle {
    /// Counters with these rules.
    pub fn new(rules: ThrottleRules) -> Throttle {
        Throttle {
            rules,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn rule(&self, subject: Subject) -> &ThrottleRule {
        match subject {
            Subject::Email => &self.rules.per_email,
            Subject::Client => &self.rules.per_client,
            Subject::SignUpClient => &self.rules.sign_ups_per_client,
        }
    }

    /// Counts one attempt against each of `keys`, unless one of them is
    /// blocked at `now`: then nothing is counted and the latest time until
    /// which one is blocked is returned.
    pub fn reserve(
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

    /// A log-in reserved with [`reserve`](Self::reserve) succeeded: the
    /// email's failures are forgotten and the client's attempt given back.
    pub fn log_in_succeeded(&self, email: &str, client: Option<&str>) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.remove(&(Subject::Email, email.to_string()));
        if let Some(client) = client {
            let entry = (Subject::Client, client.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn throttle() -> Throttle {
        let rule = |max_failures| ThrottleRule {
            max_failures,
            window: Duration::seconds(60),
        };
        Throttle::new(ThrottleRules {
            per_email: rule(2),
            per_client: rule(3),
            sign_ups_per_client: rule(1),
        })
    }

    const ANN: (Subject, &str) = (Subject::Email, "ann@example.com");
    const HOME: (Subject, &str) = (Subject::Client, "10.0.0.1");

    #[test]
    fn attempts_are_counted_before_they_are_tried_so_a_burst_is_cut_off() {
        let throttle = throttle();
        let now = Utc::now();
        let allowed = (0..40)
            .filter(|_| throttle.reserve(&[ANN, HOME], now).is_ok())
            .count();
        assert_eq!(allowed, 2, "a burst gets what a sequence gets");
        assert_eq!(
            throttle.reserve(&[ANN], now),
            Err(now + Duration::seconds(60))
        );
        assert!(
            throttle
                .reserve(&[ANN], now + Duration::seconds(61))
                .is_ok()
        );
    }

    #[test]
    fn a_success_clears_the_email_and_gives_the_client_its_attempt_back() {
        let throttle = throttle();
        let now = Utc::now();
        throttle.reserve(&[ANN, HOME], now).unwrap();
        throttle.reserve(&[ANN, HOME], now).unwrap();
        throttle.log_in_succeeded("ann@example.com", Some("10.0.0.1"));
        // Ann may try again; the address has one failure left on its count.
        throttle.reserve(&[ANN, HOME], now).unwrap();
        let bob = (Subject::Email, "bob@example.com");
        throttle.reserve(&[bob, HOME], now).unwrap();
        assert!(
            throttle.reserve(&[bob, HOME], now).is_err(),
            "the client address has its own limit"
        );
    }

    #[test]
    fn a_refused_attempt_counts_against_nothing() {
        let throttle = throttle();
        let now = Utc::now();
        let sign_up = (Subject::SignUpClient, "10.0.0.2");
        throttle.reserve(&[sign_up], now).unwrap();
        assert!(throttle.reserve(&[sign_up, ANN], now).is_err());
        // Ann's count was not touched by the refused attempt.
        throttle.reserve(&[ANN], now).unwrap();
        throttle.reserve(&[ANN], now).unwrap();
    }

    #[test]
    fn the_map_stays_bounded() {
        let throttle = throttle();
        let now = Utc::now();
        for i in 0..MAX_TRACKED + 10 {
            let key = i.to_string();
            let at = now + Duration::milliseconds(i as i64);
            let _ = throttle.reserve(&[(Subject::Client, &key)], at);
        }
        let len = throttle.windows.lock().unwrap().len();
        assert!(len <= MAX_TRACKED, "{len}");
    }
}
