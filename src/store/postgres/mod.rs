//! The PostgreSQL backend: several cartql instances on one database.
//!
//! Tables (see `migrations/`): `variants` (the SKU catalog: stock as a
//! column, the rest as JSONB), `carts` (one row per cart: its JSONB and the
//! columns a rule needs of it), `cart_owners` (one row per owner: its retired
//! version, and the lock its writes take), `orders`, `idempotency` (+ `idempotency_counts`),
//! `accounts`, `valid_after`, `meta` (currency, version floor) and
//! `throttle`. Domain values are the serde types the sled backend stores, as
//! JSONB, so a new domain field needs no migration. Keys that are paged
//! (SKUs, order ids, owners) are `COLLATE "C"`: they sort by bytes, exactly
//! as sled's keys do, whatever the database's default collation.
//!
//! **Isolation and locking.** Every transaction runs at READ COMMITTED and
//! takes row locks (`SELECT … FOR UPDATE`, or the implicit lock of an
//! `INSERT … ON CONFLICT DO UPDATE`) on what it reads to decide a write, so
//! a read-modify-write cannot lose an update and no transaction needs
//! SERIALIZABLE's retries in the common case. Locks are always taken in one
//! order, so transactions do not deadlock with each other:
//!
//! 1. the owner's `idempotency_counts` row (idempotent writes only; it is
//!    also the per-owner lock that makes two requests with one key queue);
//! 2. `cart_owners` rows: one owner's, or for a merge both owners' in key
//!    order (the owner's `carts` rows are written only under it);
//! 3. `variants` rows in SKU order (checkout), then the stock is decremented
//!    with a conditional update (`stock >= n`) and `CHECK (stock >= 0)` is the
//!    last line of defence against overselling. An order move locks its
//!    `orders` row first (no other transaction locks order rows), then the
//!    variants it restocks in SKU order; the new stock is computed in Rust
//!    (`Moved::restocked`), as sled does, and written under those locks.
//!
//! A new idempotency record is an `INSERT` against the `(owner, key)`
//! primary key: should two requests with one key still race past the
//! look-up, the second fails on the constraint and is retried, and then
//! replays the first. Serialization failures and deadlocks (40001, 40P01),
//! which PostgreSQL may still report (e.g. a lock timeout broken by the
//! detector), are retried a bounded number of times ([`MAX_ATTEMPTS`]).
//!
//! **Version floor.** As in sled, `meta.version_floor` holds the highest
//! version of any owner's carts the sweeper deleted with its `cart_owners`
//! row, raised in the transaction that deletes; an owner without a row
//! starts above it.
//!
//! **Waiting without a connection.** A write first takes its owner's turn in
//! this instance and a write permit ([`PgStore::write_permit`]), and only then
//! a pooled connection, so one owner's concurrent writes never each hold a
//! connection while they queue on that owner's row lock, and reads always
//! find a connection. Row locks another instance holds are waited for at most
//! [`LOCK_TIMEOUT`]; then the transaction is retried, its connection back in
//! the pool meanwhile.
//!
//! **Change notices.** A write that changes an owner's carts or orders
//! sends `pg_notify('cartql_changes', tag)` for what it touched inside its
//! own transaction ([`PgStore::announce`]), so a rolled-back change never
//! notifies. The database delivers it at commit to every instance's
//! listener, the writer's own included, and that notice is the one wake of
//! a subscription: waking this instance's subscriptions after the commit
//! as well made each woken subscription read the cart twice (measured: 1.65
//! reads of a cart per write with 2,000 subscriptions), since the notice
//! came while the first read ran. The tag is a keyed
//! hash of the owner key ([`PgStore::tag`]): other database users who can
//! `LISTEN` learn that *someone* changed, not who. Each instance's [`listener`] maps tags back
//! to the owners its live subscriptions watch. Background work (the
//! [`listener`] and the [`sweeper`]) is owned by the store and stopped by
//! `close`.

mod carts;
mod catalog;
mod idempotency;
mod identity;
pub mod listener;
mod orders;
mod shop;
pub mod snapshot;
mod sweeper;
pub mod throttle;
mod upgrade;

use super::notices::{Subscribers, Touched};
use super::{Store, StoreError, UpdateError};
use crate::domain::{OwnerKey, Rejection};
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The channel change notices travel on.
pub const CHANNEL: &str = "cartql_changes";
/// The prefix of order-change notices (cart changes have none).
pub const ORDER_PREFIX: &str = "o:";
/// The notice a change of the shop's pricing records sends (owner tags are
/// hex, so none is this).
pub const PRICING_NOTICE: &str = "pricing";

/// How often a transaction is tried before a serialization failure,
/// deadlock or lock timeout is reported as an error.
pub const MAX_ATTEMPTS: u32 = 8;

/// How long a statement waits for a row lock before it gives up (and its
/// transaction is retried after the connection went back to the pool), so
/// no connection waits long on a lock another instance holds.
pub const LOCK_TIMEOUT: &str = "2s";

/// The migrations this binary knows, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// How to reach the database.
#[derive(Clone, Debug)]
pub struct PgSettings {
    /// `postgres://…` (sslmode and the rest as libpq spells them).
    pub url: String,
    /// Connections this instance keeps at most (the listener has one more).
    pub max_connections: u32,
    /// Secret material the owner tags of change notices are keyed with; the
    /// same on every instance (the signing secret is).
    pub notice_secret: Vec<u8>,
}

/// A store in one PostgreSQL database. Cheap to share behind an `Arc`.
pub struct PgStore {
    pub(super) pool: PgPool,
    options: PgConnectOptions,
    /// This instance's live subscriptions to carts and to orders.
    subscribers: Subscribers,
    /// Tags of the owners this instance's subscriptions watch → the owner.
    tags: Mutex<HashMap<String, OwnerKey>>,
    notice_key: [u8; 32],
    /// Whether the listener is connected and listening (readiness).
    listening: AtomicBool,
    /// The listener and the sweeper, while they run.
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// One cart write at a time per owner in this instance (see [`carts`]).
    pub(super) owner_locks: crate::store::owner_locks::OwnerLocks,
    /// The shop's pricing, read again after a pricing change of this
    /// instance or a notice of one from another (see [`shop`]).
    pub(super) pricing: crate::store::shop::PricingCache,
    /// Permits for write transactions: fewer than the pool's connections, so
    /// reads (the revocation check every request makes, cart reads) always
    /// find a connection however many writes wait.
    writes: tokio::sync::Semaphore,
}

impl PgStore {
    /// Connects, applies the embedded migrations (under sqlx's advisory
    /// lock, so several instances may start at once) and refuses a database
    /// that a newer cartql has migrated. Errors are one line without the
    /// password.
    pub async fn connect(settings: &PgSettings) -> Result<PgStore, StoreError> {
        let options = parse_url(&settings.url)?.options([("lock_timeout", LOCK_TIMEOUT)]);
        let unreachable = |e: sqlx::Error| {
            StoreError::Open(format!(
                "cannot connect to PostgreSQL at {}: {}",
                describe(&options),
                one_line(&e)
            ))
        };
        // One connection first: its error says why (refused, auth, TLS, no
        // such database), where a pool would only say it timed out.
        let first = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::ConnectOptions::connect(&options),
        )
        .await
        .map_err(|_| {
            StoreError::Open(format!(
                "cannot connect to PostgreSQL at {}: no answer within 10 s",
                describe(&options)
            ))
        })?
        .map_err(unreachable)?;
        sqlx::Connection::close(first).await.map_err(unreachable)?;
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(|e| {
                StoreError::Open(format!(
                    "cannot connect to PostgreSQL at {}: {}",
                    describe(&options),
                    one_line(&e)
                ))
            })?;
        migrate(&pool).await?;
        upgrade::split_cart_sets(&pool).await?;
        let notice_key: [u8; 32] = Sha256::new()
            .chain_update(b"cartql change notices\0")
            .chain_update(&settings.notice_secret)
            .finalize()
            .into();
        Ok(PgStore {
            pool,
            options,
            subscribers: Subscribers::default(),
            tags: Mutex::new(HashMap::new()),
            notice_key,
            listening: AtomicBool::new(false),
            tasks: Mutex::new(Vec::new()),
            owner_locks: Default::default(),
            pricing: Default::default(),
            writes: tokio::sync::Semaphore::new(write_permits(settings.max_connections)),
        })
    }

    /// Whether the change listener is connected (notices are heard).
    pub(super) fn is_listening(&self) -> bool {
        self.listening.load(Ordering::SeqCst)
    }

    /// The opaque tag of `owner` in change notices.
    pub fn tag(&self, owner: &OwnerKey) -> String {
        let digest = Sha256::new()
            .chain_update(self.notice_key)
            .chain_update(owner.as_str().as_bytes())
            .finalize();
        hex::encode(&digest[..16])
    }

    /// Sends the change notices of what `touched` names inside `tx`, to be
    /// delivered at commit to every instance's listener (a rolled-back
    /// change never notifies): an owner's tag for its carts, the tag
    /// prefixed [`ORDER_PREFIX`] for its orders. The writer's own
    /// subscriptions are woken by the same notice, as every other instance's.
    pub(super) async fn announce(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        touched: &Touched,
    ) -> Result<(), sqlx::Error> {
        if touched.is_empty() {
            return Ok(());
        }
        let carts = touched.carts().iter().map(|owner| self.tag(owner));
        let orders = touched.orders().iter();
        let orders = orders.map(|owner| format!("{ORDER_PREFIX}{}", self.tag(owner)));
        let tags: Vec<String> = carts.chain(orders).collect();
        sqlx::query("SELECT pg_notify($1, tag) FROM unnest($2::text[]) AS tag")
            .bind(CHANNEL)
            .bind(&tags)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub(super) fn track(&self, task: tokio::task::JoinHandle<()>) {
        lock(&self.tasks).push(task);
    }

    /// Starts a transaction (see [`begin`]).
    pub(super) async fn begin(&self) -> Result<Transaction<'static, Postgres>, TxError> {
        Ok(begin(&self.pool).await?)
    }

    /// Waits for a write permit (see [`PgStore::writes`]).
    pub(super) async fn write_permit(
        &self,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, StoreError> {
        self.writes
            .acquire()
            .await
            .map_err(|_| StoreError::backend("postgres: the store is closing"))
    }
}

/// Write transactions one instance runs at once: a quarter of the pool is
/// kept for reads (at least one connection, when the pool has two).
pub fn write_permits(max_connections: u32) -> usize {
    let max = max_connections as usize;
    (max - max / 4).max(1).min(max.saturating_sub(1).max(1))
}

/// Parses `--database-url`, with a one-line error that does not repeat it
/// (it may hold a password).
pub fn parse_url(url: &str) -> Result<PgConnectOptions, StoreError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::Open(
            "--database-url: not a PostgreSQL URL (postgres://user@host:port/database)".into(),
        ));
    }
    PgConnectOptions::from_str(url)
        .map(|o| o.application_name("cartql"))
        .map_err(|e| StoreError::Open(format!("--database-url: {}", one_line(&e))))
}

/// `host:port/database` of a connection, for messages.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("(default)")
    )
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace('\n', " ")
}

/// Starts a transaction on `pool` that a caller dropped half-way cannot
/// leave open. Every transaction cartql runs starts here.
///
/// sqlx 0.8's `Pool::begin` counts a transaction only once BEGIN's answer
/// has arrived: a caller dropped while it waits (a request whose client
/// hung up) leaves its connection inside a transaction that nothing rolls
/// back, and the pool lends that connection on. The next borrower's plain
/// statements then run inside it and are never committed: a sign-up
/// answered with a token whose account was gone (sqlx issue 4393, fixed
/// in 0.9.1). Here BEGIN runs on a task of its own, which finishes it
/// whatever happens to the caller; a transaction nobody takes is dropped
/// on that task, and a dropped transaction is rolled back.
pub(super) async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move { pool.begin().await })
        .await
        .map_err(|_| sqlx::Error::WorkerCrashed)?
}

/// Applies the embedded migrations, after refusing a database that holds a
/// migration this binary does not know (a newer cartql wrote it).
async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let applied: Vec<i64> = match sqlx::query_scalar("SELECT version FROM _sqlx_migrations")
        .fetch_all(pool)
        .await
    {
        Ok(versions) => versions,
        // 42P01: no such table yet (a new database).
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Vec::new(),
        Err(e) => return Err(backend(e)),
    };
    newer_migration(&applied).map_or(Ok(()), |version| Err(too_new(version)))?;
    MIGRATOR.run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::VersionMissing(version) => too_new(version),
        e => StoreError::Open(format!("applying database migrations: {}", one_line(&e))),
    })
}

/// The first applied migration this binary does not know.
fn newer_migration(applied: &[i64]) -> Option<i64> {
    applied
        .iter()
        .copied()
        .find(|v| !MIGRATOR.iter().any(|m| m.version == *v))
}

fn too_new(version: i64) -> StoreError {
    StoreError::Open(format!(
        "the database was migrated by a newer cartql (migration {version} is unknown to this one); run that version or newer"
    ))
}

/// A database failure as a store error; a broken connection is
/// [`StoreError::Lost`].
pub(super) fn backend(e: sqlx::Error) -> StoreError {
    let lost = connection_lost(&e);
    let error = StoreError::caused("postgres", e);
    match lost {
        true => StoreError::Lost(Box::new(error)),
        false => error,
    }
}

/// Whether `e` says the connection broke (the server or its backend went
/// away: `pg_terminate_backend`, a restart, a network cut), not that the
/// statement failed: SQLSTATE class 08 (connection exception), 57P01–57P03
/// (the server shutting down or terminating the backend), and the I/O and
/// protocol errors of a socket closed under a query.
pub(super) fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Commits `tx` and records how long the COMMIT took (the database's WAL
/// flush and its answer) in `cartql_store_commit_duration_seconds`: what a
/// write waits for durability, the PostgreSQL side of sled's flush timings.
pub(super) async fn timed_commit(tx: Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    let started = std::time::Instant::now();
    let result = tx.commit().await;
    metrics::histogram!("cartql_store_commit_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    result
}

/// Commits `tx`. A broken connection here leaves the outcome unknown (the
/// commit may have been made and only its answer lost): that is
/// [`StoreError::OutcomeUnknown`], never retried.
pub(super) async fn commit(tx: Transaction<'_, Postgres>) -> Result<(), TxError> {
    match timed_commit(tx).await {
        Ok(()) => Ok(()),
        Err(e) if connection_lost(&e) => Err(TxError::Store(StoreError::OutcomeUnknown(Box::new(
            StoreError::caused("postgres: commit", e),
        )))),
        Err(e) => Err(e.into()),
    }
}

/// Why one attempt at a transaction gave up.
#[derive(Debug)]
pub(super) enum TxError {
    /// The domain refused; nothing was written.
    Rejected(Rejection),
    /// The store failed.
    Store(StoreError),
    /// A serialization failure, deadlock, lock timeout or lost race on a
    /// unique key: try again.
    Retry(String),
    /// The connection broke before the commit (nothing was written): try
    /// again once, on a fresh connection.
    Lost(StoreError),
}

impl From<sqlx::Error> for TxError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && matches!(
                db.code().as_deref(),
                Some("40001" | "40P01" | "23505" | "55P03")
            )
        {
            return TxError::Retry(one_line(&e));
        }
        match backend(e) {
            StoreError::Lost(failure) => TxError::Lost(*failure),
            other => TxError::Store(other),
        }
    }
}

impl From<StoreError> for TxError {
    /// A read inside an attempt that lost its connection: nothing of the
    /// attempt was committed (a lost commit is `OutcomeUnknown`, never
    /// `Lost`), so it is tried again like any lost statement.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Lost(failure) => TxError::Lost(*failure),
            e => TxError::Store(e),
        }
    }
}

/// Runs `attempt` until it does not ask for a retry, at most [`MAX_ATTEMPTS`]
/// times, with a short growing pause between. The step a failure ended is
/// the caller's to name: a trait call's is [`Traced`](crate::store::traced::Traced)'s.
pub(super) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, UpdateError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TxError>>,
{
    let mut tries = 0;
    let mut reconnected = false;
    loop {
        tries += 1;
        match attempt().await {
            Err(TxError::Retry(reason)) if tries < MAX_ATTEMPTS => pause(tries, &reason).await,
            // Once: the pool hands out a connection it checked.
            Err(TxError::Lost(failure)) if !reconnected => {
                tracing::info!(error = %failure, "the connection broke before the commit; trying again on another");
                reconnected = true;
            }
            result => return finish(result),
        }
    }
}

/// Waits a little (randomised, growing with `tries`) before a retry.
pub(super) async fn pause(tries: u32, reason: &str) {
    tracing::debug!(%reason, tries, "transaction retried");
    let pause = rand::random_range(1..=(5u64 << tries.min(6)));
    tokio::time::sleep(Duration::from_millis(pause)).await;
}

/// The result of a transaction's last attempt, as the store traits say it.
pub(super) fn finish<T>(result: Result<T, TxError>) -> Result<T, UpdateError> {
    let error = match result {
        Ok(value) => return Ok(value),
        Err(TxError::Rejected(r)) => return Err(UpdateError::Rejected(r)),
        Err(TxError::Store(e)) => e,
        // Lost twice before any commit: nothing was written, so not `Lost`
        // (a caller would take that as a write that may have been made).
        Err(TxError::Lost(e)) => e,
        Err(TxError::Retry(reason)) => StoreError::backend(format!(
            "postgres: gave up after {MAX_ATTEMPTS} attempts: {reason}"
        )),
    };
    Err(UpdateError::Store(error))
}

/// [`retrying`] for calls that cannot be refused.
pub(super) async fn retrying_store<T, F, Fut>(attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TxError>>,
{
    retrying(attempt).await.map_err(|e| match e {
        UpdateError::Store(e) => e,
        UpdateError::Rejected(r) => StoreError::backend(format!("unexpected refusal: {r:?}")),
    })
}

/// Decodes a JSONB value into a domain type, naming `key` in the error.
pub(super) fn from_json<T: DeserializeOwned>(
    key: impl std::fmt::Display,
    value: serde_json::Value,
) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// Encodes a domain value as JSONB.
pub(super) fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    // Our own plain data types always serialise.
    serde_json::to_value(value).expect("domain values serialise to JSON")
}

/// The tasks' and tags' maps are consistent after every critical section.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl Store for PgStore {
    async fn ready(&self) -> Result<(), StoreError> {
        // A health check must answer soon, also while connections time out.
        tokio::time::timeout(
            Duration::from_secs(3),
            sqlx::query("SELECT 1").execute(&self.pool),
        )
        .await
        .map_err(|_| StoreError::backend("postgres: no answer within 3 s"))?
        .map_err(backend)?;
        if !self.listening.load(Ordering::SeqCst) {
            return Err(StoreError::backend(
                "postgres: the change listener is not connected",
            ));
        }
        Ok(())
    }

    async fn cart_and_variants(
        &self,
        owner: &OwnerKey,
        name: &crate::domain::CartName,
    ) -> Result<(Option<crate::domain::Cart>, super::CartVariants), StoreError> {
        self.read_cart_and_variants(owner, name).await
    }

    async fn valid_after_cart_and_variants(
        &self,
        owner: &OwnerKey,
        name: &crate::domain::CartName,
    ) -> Result<
        (
            Option<i64>,
            Option<crate::domain::Cart>,
            super::CartVariants,
        ),
        StoreError,
    > {
        self.read_valid_after_cart_and_variants(owner, name).await
    }

    async fn close(&self) -> Result<(), StoreError> {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        self.pool.close().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_connection_is_told_from_a_failed_statement() {
        let io = || sqlx::Error::Io(std::io::Error::other("connection reset"));
        assert!(connection_lost(&io()));
        assert!(connection_lost(&sqlx::Error::Protocol(
            "unexpected EOF".into()
        )));
        assert!(!connection_lost(&sqlx::Error::RowNotFound));
        assert!(!connection_lost(&sqlx::Error::PoolTimedOut));
        assert!(backend(io()).is_lost());
        assert!(!backend(sqlx::Error::RowNotFound).is_lost());
        // Before the commit: tried again; lost twice, a plain failure
        // (nothing was written, so not a write of unknown outcome).
        assert!(matches!(TxError::from(io()), TxError::Lost(_)));
        let twice = finish::<()>(Err(TxError::from(io()))).unwrap_err();
        assert!(
            matches!(twice, UpdateError::Store(ref e) if !e.is_lost() && !e.is_outcome_unknown())
        );
    }

    #[test]
    fn urls_that_are_not_postgres_are_refused_without_echoing_them() {
        let err = parse_url("mysql://u:secret@h/db").unwrap_err().to_string();
        assert!(err.contains("not a PostgreSQL URL"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        assert!(parse_url("postgres://u@127.0.0.1:5432/db?sslmode=require").is_ok());
        assert!(parse_url("postgres://u@h/db?sslmode=sometimes").is_err());
    }

    #[test]
    fn writes_leave_connections_for_reads() {
        assert_eq!(write_permits(1), 1);
        assert_eq!(write_permits(2), 1);
        assert_eq!(write_permits(4), 3);
        assert_eq!(write_permits(10), 8);
        assert_eq!(write_permits(1000), 750);
    }

    #[test]
    fn a_database_with_an_unknown_migration_is_too_new() {
        assert_eq!(newer_migration(&[1, 2]), None);
        assert_eq!(newer_migration(&[1, 2, 99]), Some(99));
    }
}
