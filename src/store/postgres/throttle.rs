//! [`Throttle`] in PostgreSQL: the attempt windows of every instance in one
//! table, so a limit counts attempts made through any of them.
//!
//! `reserve` locks the keys' rows in (subject, key) order, checks them with
//! the domain's [`FailureWindow`] rule and counts the attempt against each,
//! in one transaction: check and count stay one step across instances.

use super::commit;
use super::{TxError, backend, retrying_store};
use crate::domain::account::FailureWindow;
use crate::store::StoreError;
use crate::store::throttle::{Subject, Throttle, ThrottleRules};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Attempt windows shared through the database.
pub struct PgThrottle {
    pool: PgPool,
    rules: ThrottleRules,
}

impl PgThrottle {
    /// Counters with `rules` in the store's database.
    pub fn new(store: &super::PgStore, rules: ThrottleRules) -> PgThrottle {
        PgThrottle {
            pool: store.pool.clone(),
            rules,
        }
    }
}

fn subject_name(subject: Subject) -> &'static str {
    match subject {
        Subject::Email => "email",
        Subject::Client => "client",
        Subject::SignUpClient => "sign-up-client",
        Subject::GuestSessionClient => "guest-session-client",
        Subject::CheckoutClient => "checkout-client",
    }
}

/// A key as stored: a digest, so any input (a 100 kB "email", a NUL byte)
/// fits the index, and the table holds no addresses or emails in clear.
fn digest(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The keys in lock order, without repeats.
fn sorted(keys: &[(Subject, &str)]) -> Vec<(&'static str, Subject, String)> {
    let mut sorted: Vec<_> = keys
        .iter()
        .map(|(subject, key)| (subject_name(*subject), *subject, digest(key)))
        .collect();
    sorted.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
    sorted.dedup_by(|a, b| a.0 == b.0 && a.2 == b.2);
    sorted
}

/// Locks the key's row, creating an empty one (no failures) if there is
/// none: `ON CONFLICT DO UPDATE` waits for a concurrent first attempt and
/// then locks its row, so two first attempts count as two.
async fn lock_window(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    subject: &str,
    key: &str,
) -> Result<Option<FailureWindow>, TxError> {
    let (started_at, failures): (DateTime<Utc>, i32) = sqlx::query_as(
        "INSERT INTO throttle (subject, key, started_at, failures) VALUES ($1, $2, now(), 0)
         ON CONFLICT (subject, key) DO UPDATE SET failures = throttle.failures
         RETURNING started_at, failures",
    )
    .bind(subject)
    .bind(key)
    .fetch_one(&mut **tx)
    .await?;
    Ok((failures > 0).then(|| FailureWindow {
        started_at,
        failures: u32::try_from(failures).unwrap_or(0),
    }))
}

async fn put_window(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    subject: &str,
    key: &str,
    window: Option<FailureWindow>,
) -> Result<(), TxError> {
    match window {
        Some(w) => sqlx::query(
            "INSERT INTO throttle (subject, key, started_at, failures) VALUES ($1, $2, $3, $4)
             ON CONFLICT (subject, key) DO UPDATE
             SET started_at = EXCLUDED.started_at, failures = EXCLUDED.failures",
        )
        .bind(subject)
        .bind(key)
        .bind(w.started_at)
        .bind(i32::try_from(w.failures).unwrap_or(i32::MAX)),
        None => sqlx::query("DELETE FROM throttle WHERE subject = $1 AND key = $2")
            .bind(subject)
            .bind(key),
    }
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl Throttle for PgThrottle {
    async fn reserve(
        &self,
        keys: &[(Subject, &str)],
        now: DateTime<Utc>,
    ) -> Result<Result<(), DateTime<Utc>>, StoreError> {
        let keys = sorted(keys);
        retrying_store(|| async {
            let mut tx = super::begin(&self.pool).await?;
            let mut windows = Vec::with_capacity(keys.len());
            let mut blocked = None;
            for (name, subject, key) in &keys {
                let window = lock_window(&mut tx, name, key).await?;
                let rule = self.rules.of(*subject);
                if let Some(until) = window.and_then(|w| w.blocked_until(rule, now)) {
                    blocked = blocked.max(Some(until));
                }
                windows.push(window);
            }
            if let Some(until) = blocked {
                return Ok(Err(until));
            }
            for ((name, subject, key), window) in keys.iter().zip(windows) {
                let next = FailureWindow::after_failure(window, self.rules.of(*subject), now);
                put_window(&mut tx, name, key, Some(next)).await?;
            }
            commit(tx).await?;
            Ok(Ok(()))
        })
        .await
        .map_err(|e| e.at("store.throttle_reserve"))
    }

    async fn give_back(&self, keys: &[(Subject, &str)]) -> Result<(), StoreError> {
        let keys = sorted(keys);
        retrying_store(|| async {
            let mut tx = super::begin(&self.pool).await?;
            for (name, _, key) in &keys {
                if let Some(window) = lock_window(&mut tx, name, key).await? {
                    put_window(&mut tx, name, key, window.forgive_one()).await?;
                }
            }
            commit(tx).await?;
            Ok(())
        })
        .await
        .map_err(|e| e.at("store.throttle_give_back"))
    }

    async fn clear(&self, subject: Subject, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM throttle WHERE subject = $1 AND key = $2")
            .bind(subject_name(subject))
            .bind(digest(key))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
