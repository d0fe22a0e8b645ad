//! Write rates: how often one viewer, and one client address, may write.
//!
//! A token bucket per key, kept as the generic cell rate algorithm keeps it:
//! one time per key, the moment the bucket is full again. A write costs one
//! token; tokens come back at `per_minute`; a full bucket holds `burst`. A
//! bucket that is full again is the same as no bucket at all, so it may be
//! forgotten — and only such a bucket may be: forgetting any other would
//! hand its owner tokens back.

use chrono::{DateTime, Duration, Utc};

/// One rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Writes per minute, on average.
    pub per_minute: u32,
    /// Writes at once from a full bucket.
    pub burst: u32,
}

/// The write rates of a shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteRates {
    /// Per viewer (its owner key).
    pub viewer: Rate,
    /// Per client address, whatever tokens it uses.
    pub client: Rate,
}

impl WriteRates {
    /// The defaults of the configuration.
    pub const DEFAULT: WriteRates = WriteRates {
        viewer: Rate {
            per_minute: 120,
            burst: 30,
        },
        client: Rate {
            per_minute: 600,
            burst: 120,
        },
    };
}

impl Rate {
    /// The time one token takes to come back.
    fn interval(&self) -> Duration {
        Duration::microseconds(60_000_000 / i64::from(self.per_minute.max(1)))
    }

    /// Takes one token from the bucket that is full again at `full_at`
    /// (`None`: a full bucket) at `now`. `Ok` is the bucket's new time;
    /// `Err` is how long until a token is there (nothing is taken).
    pub fn take(
        &self,
        full_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, Duration> {
        let interval = self.interval();
        let next = full_at.map_or(now, |at| at.max(now)) + interval;
        let allowance = interval * self.burst.max(1) as i32;
        let ahead = next - now;
        if ahead > allowance {
            Err(ahead - allowance)
        } else {
            Ok(next)
        }
    }
}

/// Whether a bucket that is full again at `full_at` is full at `now` (and
/// may be forgotten).
pub fn is_full(full_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    full_at <= now
}

/// A wait in words for a `THROTTLED` message ("1 s", "25 s", "3 min").
pub fn describe_wait(wait: Duration) -> String {
    let seconds = (wait.num_milliseconds() + 999) / 1000;
    match seconds {
        ..=1 => "1 s".into(),
        2..=119 => format!("{seconds} s"),
        _ => format!("{} min", (seconds + 59) / 60),
    }
}

/// `THROTTLED`: what was refused and how long to wait, in one format for
/// every limit (write rates, sign-ups, log-ins, guest sessions, checkouts).
pub fn throttled(what: &str, wait: Duration) -> crate::domain::UserError {
    crate::domain::UserError::new(
        crate::domain::ErrorCode::Throttled,
        &[],
        format!("{what}; try again in {}", describe_wait(wait)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::now;

    const TEN_A_MINUTE: Rate = Rate {
        per_minute: 10,
        burst: 3,
    };

    #[test]
    fn a_full_bucket_gives_its_burst_at_once_then_one_token_per_interval() {
        let t = now();
        let mut bucket = None;
        for _ in 0..3 {
            bucket = Some(TEN_A_MINUTE.take(bucket, t).expect("within the burst"));
        }
        let wait = TEN_A_MINUTE.take(bucket, t).unwrap_err();
        assert_eq!(wait, Duration::seconds(6), "one token every 6 s");
        assert!(TEN_A_MINUTE.take(bucket, t + Duration::seconds(5)).is_err());
        let later = t + Duration::seconds(6);
        bucket = Some(TEN_A_MINUTE.take(bucket, later).unwrap());
        assert!(TEN_A_MINUTE.take(bucket, later).is_err());
    }

    #[test]
    fn a_refused_write_takes_nothing_and_a_bucket_refills_to_full() {
        let t = now();
        let mut bucket = None;
        for _ in 0..3 {
            bucket = Some(TEN_A_MINUTE.take(bucket, t).unwrap());
        }
        for _ in 0..100 {
            assert!(TEN_A_MINUTE.take(bucket, t).is_err());
        }
        let full_again = bucket.unwrap();
        assert_eq!(full_again, t + Duration::seconds(18));
        assert!(!is_full(full_again, t + Duration::seconds(17)));
        assert!(is_full(full_again, t + Duration::seconds(18)));
        // Full again: the burst is back, as for a bucket never seen.
        let mut again = Some(full_again);
        for _ in 0..3 {
            again = Some(TEN_A_MINUTE.take(again, full_again).unwrap());
        }
        assert!(TEN_A_MINUTE.take(again, full_again).is_err());
    }

    #[test]
    fn waits_read_as_words() {
        assert_eq!(describe_wait(Duration::milliseconds(200)), "1 s");
        assert_eq!(describe_wait(Duration::milliseconds(24_100)), "25 s");
        assert_eq!(describe_wait(Duration::seconds(150)), "3 min");
    }
}
