//! How often one viewer, and one client address, may write: every cart
//! mutation, checkout and merge takes a token from the viewer's bucket and
//! from its address's bucket (the rule is [`crate::domain::rate`]), or is
//! refused with `THROTTLED` and the wait.
//!
//! The buckets live in this process's memory: a brake, not state a client
//! relies on, so they may reset at a restart, and with several instances
//! each counts its own (behind a balancer a viewer gets at most the rate
//! once per instance). The maps are bounded ([`MAX_KEYS`] each): when one is
//! full, buckets that are full again are forgotten (the same as never
//! seen); a bucket still counting is never forgotten, and if none is full
//! the new key is refused rather than any old one forgotten, so a flood of
//! new keys cannot hand anyone tokens back. Viewers and addresses have a map
//! each, so a flood of one cannot push out the other.

use crate::domain::rate::{Rate, WriteRates, is_full};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Keys one map keeps at most.
pub const MAX_KEYS: usize = 100_000;

/// The write rates and their buckets.
pub struct WriteLimiter {
    rates: WriteRates,
    viewers: Mutex<Buckets>,
    clients: Mutex<Buckets>,
}

/// One map of buckets, by key.
struct Buckets {
    full_at: HashMap<String, DateTime<Utc>>,
    max: usize,
    /// Before this time no bucket of a full map is full again, so there is
    /// no point in looking for one to forget.
    none_full_before: Option<DateTime<Utc>>,
}

impl WriteLimiter {
    /// Buckets with these rates.
    pub fn new(rates: WriteRates) -> WriteLimiter {
        WriteLimiter::with_capacity(rates, MAX_KEYS)
    }

    fn with_capacity(rates: WriteRates, max: usize) -> WriteLimiter {
        let buckets = || {
            Mutex::new(Buckets {
                full_at: HashMap::new(),
                max,
                none_full_before: None,
            })
        };
        WriteLimiter {
            rates,
            viewers: buckets(),
            clients: buckets(),
        }
    }

    /// Takes one write from `viewer`'s bucket and `client`'s, or neither:
    /// `Err` is how long until both have a token. The locks are held only
    /// for the map updates, never across an `.await`.
    pub fn take(
        &self,
        viewer: &str,
        client: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), Duration> {
        let mut viewers = lock(&self.viewers);
        let viewer_next = viewers.take(viewer, &self.rates.viewer, now);
        let client_next = match client {
            None => None,
            Some(client) => {
                let mut clients = lock(&self.clients);
                let next = clients.take(client, &self.rates.client, now);
                match (&viewer_next, next) {
                    (Ok(_), Ok(next)) => {
                        clients.put(client, next);
                        None
                    }
                    (_, Err(wait)) => Some(wait),
                    (Err(_), Ok(_)) => None,
                }
            }
        };
        match (viewer_next, client_next) {
            (Ok(next), None) => {
                viewers.put(viewer, next);
                Ok(())
            }
            (Ok(_), Some(wait)) => Err(wait),
            (Err(wait), other) => Err(other.map_or(wait, |w| w.max(wait))),
        }
    }
}

impl Buckets {
    /// What taking a token from `key` would leave (nothing is changed).
    fn take(
        &mut self,
        key: &str,
        rate: &Rate,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, Duration> {
        let current = self.full_at.get(key).copied();
        if current.is_none() && self.full_at.len() >= self.max && !self.make_room(now) {
            // Every bucket kept is still counting: refuse the newcomer
            // rather than forget one of them.
            let wait = self
                .none_full_before
                .map_or(Duration::seconds(1), |at| at - now);
            return Err(wait.max(Duration::seconds(1)));
        }
        rate.take(current, now)
    }

    fn put(&mut self, key: &str, full_at: DateTime<Utc>) {
        match self.full_at.get_mut(key) {
            Some(at) => *at = full_at,
            None => {
                self.full_at.insert(key.to_string(), full_at);
                // A newcomer may be full again before every bucket kept.
                if let Some(at) = &mut self.none_full_before {
                    *at = (*at).min(full_at);
                }
            }
        }
    }

    /// Forgets buckets that are full again; whether there is room now. A
    /// map with none to forget is not scanned again before one can be.
    fn make_room(&mut self, now: DateTime<Utc>) -> bool {
        if self.none_full_before.is_some_and(|at| now < at) {
            return false;
        }
        self.full_at.retain(|_, at| !is_full(*at, now));
        self.none_full_before = self.full_at.values().min().copied();
        self.full_at.len() < self.max
    }
}

fn lock(buckets: &Mutex<Buckets>) -> std::sync::MutexGuard<'_, Buckets> {
    // The map is consistent after every critical section.
    buckets.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rate::Rate;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    const RATES: WriteRates = WriteRates {
        viewer: Rate {
            per_minute: 60,
            burst: 2,
        },
        client: Rate {
            per_minute: 60,
            burst: 3,
        },
    };

    #[test]
    fn a_viewer_gets_its_burst_then_waits() {
        let limiter = WriteLimiter::new(RATES);
        let t = now();
        assert!(limiter.take("guest:a", Some("10.0.0.1"), t).is_ok());
        assert!(limiter.take("guest:a", Some("10.0.0.1"), t).is_ok());
        assert_eq!(
            limiter.take("guest:a", Some("10.0.0.1"), t),
            Err(Duration::seconds(1))
        );
        assert!(
            limiter
                .take("guest:a", Some("10.0.0.1"), t + Duration::seconds(1))
                .is_ok()
        );
    }

    #[test]
    fn an_address_is_limited_whatever_tokens_it_uses_and_a_refusal_takes_from_neither() {
        let limiter = WriteLimiter::new(RATES);
        let t = now();
        for viewer in ["guest:a", "guest:b", "guest:c"] {
            assert!(limiter.take(viewer, Some("10.0.0.1"), t).is_ok());
        }
        assert!(limiter.take("guest:d", Some("10.0.0.1"), t).is_err());
        // guest:d was refused by its address: its own bucket is untouched.
        assert!(limiter.take("guest:d", Some("10.0.0.2"), t).is_ok());
        assert!(limiter.take("guest:d", Some("10.0.0.2"), t).is_ok());
        assert!(limiter.take("guest:d", Some("10.0.0.3"), t).is_err());
        // The refusal by the viewer's bucket took nothing from 10.0.0.3.
        for viewer in ["guest:e", "guest:f", "guest:g"] {
            assert!(limiter.take(viewer, Some("10.0.0.3"), t).is_ok());
        }
    }

    #[test]
    fn a_flood_of_new_keys_never_forgets_a_bucket_that_is_still_counting() {
        let limiter = WriteLimiter::with_capacity(RATES, 100);
        let t = now();
        limiter.take("guest:victim", None, t).unwrap();
        limiter.take("guest:victim", None, t).unwrap();
        assert!(limiter.take("guest:victim", None, t).is_err());
        for i in 0..500 {
            let _ = limiter.take(&format!("guest:flood{i}"), None, t);
        }
        assert!(lock(&limiter.viewers).full_at.len() <= 100);
        assert!(
            limiter.take("guest:victim", None, t).is_err(),
            "the flood did not refill the victim's bucket"
        );
        // Once buckets are full again, they make room for new keys.
        let later = t + Duration::seconds(5);
        assert!(limiter.take("guest:newcomer", None, later).is_ok());
    }

    #[test]
    fn viewers_and_addresses_have_maps_of_their_own() {
        let limiter = WriteLimiter::with_capacity(RATES, 10);
        let t = now();
        for i in 0..10 {
            let _ = limiter.take(&format!("guest:{i}"), None, t);
        }
        // The viewer map is full of counting buckets; a new viewer waits …
        assert!(limiter.take("guest:new", Some("10.0.0.9"), t).is_err());
        // … but the address map was not touched by that flood.
        assert_eq!(lock(&limiter.clients).full_at.len(), 0);
    }
}
