//! Throttling failed log-ins, per email and per client address.
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
    /// A normalised email.
    Email,
    /// A client IP address.
    Client,
}

/// Failed log-in counters. The lock is held only to read or update the map,
/// never across an `.await`.
pub struct LoginThrottle {
    per_email: ThrottleRule,
    per_client: ThrottleRule,
    windows: Mutex<HashMap<(Subject, String), FailureWindow>>,
}

impl LoginThrottle {
    /// Counters with these rules.
    pub fn new(per_email: ThrottleRule, per_client: ThrottleRule) -> LoginThrottle {
        LoginThrottle {
            per_email,
            per_client,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn rule(&self, subject: Subject) -> &ThrottleRule {
        match subject {
            Subject::Email => &self.per_email,
            Subject::Client => &self.per_client,
        }
    }

    /// The latest time until which one of `keys` is blocked, if any is at `now`.
    pub fn blocked_until(
        &self,
        keys: &[(Subject, &str)],
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|(subject, key)| {
                windows
                    .get(&(*subject, key.to_string()))
                    .and_then(|w| w.blocked_until(self.rule(*subject), now))
            })
            .max()
    }

    /// Counts one failure for each of `keys`.
    pub fn record_failure(&self, keys: &[(Subject, &str)], now: DateTime<Utc>) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_TRACKED {
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
    }

    /// Forgets the failures of one key (after a successful log-in).
    pub fn clear(&self, subject: Subject, key: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.remove(&(subject, key.to_string()));
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

    fn throttle() -> LoginThrottle {
        let rule = |max_failures| ThrottleRule {
            max_failures,
            window: Duration::seconds(60),
        };
        LoginThrottle::new(rule(2), rule(3))
    }

    #[test]
    fn an_email_is_blocked_after_its_limit_and_cleared_by_a_success() {
        let throttle = throttle();
        let now = Utc::now();
        let keys = [
            (Subject::Email, "ann@example.com"),
            (Subject::Client, "10.0.0.1"),
        ];
        throttle.record_failure(&keys, now);
        assert_eq!(throttle.blocked_until(&keys, now), None);
        throttle.record_failure(&keys, now);
        assert_eq!(
            throttle.blocked_until(&keys, now),
            Some(now + Duration::seconds(60))
        );
        throttle.clear(Subject::Email, "ann@example.com");
        assert_eq!(throttle.blocked_until(&keys, now), None);
        throttle.record_failure(&[(Subject::Client, "10.0.0.1")], now);
        let other = [
            (Subject::Email, "bob@example.com"),
            (Subject::Client, "10.0.0.1"),
        ];
        assert!(
            throttle.blocked_until(&other, now).is_some(),
            "the client address has its own, larger limit"
        );
        assert_eq!(
            throttle.blocked_until(&other, now + Duration::seconds(61)),
            None
        );
    }

    #[test]
    fn the_map_stays_bounded() {
        let throttle = throttle();
        let now = Utc::now();
        for i in 0..MAX_TRACKED + 10 {
            let key = i.to_string();
            let at = now + Duration::milliseconds(i as i64);
            throttle.record_failure(&[(Subject::Client, &key)], at);
        }
        let len = throttle.windows.lock().unwrap().len();
        assert!(len <= MAX_TRACKED, "{len}");
    }
}
