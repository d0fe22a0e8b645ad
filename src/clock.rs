//! The time, from one place, so tests can control it.
//!
//! Everything that decides with the time (cart expiry, token issue times,
//! throttling windows, idempotency records) asks a [`Clock`]. The server runs
//! on [`SystemClock`]; in-process tests use [`TokioClock`], which follows
//! tokio's clock: with `tokio::time::pause()` a test moves time forward with
//! `tokio::time::advance` instead of sleeping, and timers (a subscription
//! waiting for its cart to expire) move with it.

use chrono::{DateTime, Utc};

/// The current time.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a given time and runs with tokio's clock, so a
/// paused tokio runtime stops it and `tokio::time::advance` moves it.
#[derive(Clone, Copy, Debug)]
pub struct TokioClock {
    start: DateTime<Utc>,
    started: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> TokioClock {
        TokioClock {
            start,
            started: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = chrono::Duration::from_std(self.started.elapsed()).unwrap_or_default();
        self.start + elapsed
    }
}

/// How long from `now` until `at` (zero if it has passed), for tokio timers.
pub fn until(now: DateTime<Utc>, at: DateTime<Utc>) -> std::time::Duration {
    (at - now).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_moves_with_tokios_time() {
        let start = Utc::now();
        let clock = TokioClock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(std::time::Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + chrono::Duration::seconds(90));
    }
}
