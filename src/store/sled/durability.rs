//! Group commit: one flusher task makes writes durable for many writers.
//!
//! sled 0.34.7 hangs when many tasks call `flush_async` at once (every
//! `sled-io` thread ends up waiting in `make_stable_inner`), and one flush per
//! write is slow anyway. So writers take a ticket after their write and wait
//! until a flush that *started after* the ticket was taken has finished. The
//! single flusher task reads the newest ticket, flushes once, and releases
//! every writer up to that ticket. Nothing is locked across an `.await`.
//!
//! A flush is sled's `flush` followed by an fsync of sled's files
//! ([`SledFiles`]): on Linux sled's flush ends in `sync_file_range`, which
//! leaves the data in the drive's cache and writes no metadata
//! (spacejam/sled#1452), so on its own it survives a process crash but not
//! a power cut. The fsync runs once per batch: every writer in the batch
//! shares its cost.

use crate::store::StoreError;
use crate::store::files;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, watch};

/// When a write is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// After it is on disk: flushed and fsynced (default).
    Strict,
    /// At once; the group commit makes writes durable in the background
    /// every [`RELAXED_FLUSH_EVERY`], so a crash or a power cut may lose the
    /// writes of the last moments (see the README's Durability section).
    Relaxed,
}

/// How often relaxed mode makes what was written durable.
pub const RELAXED_FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

#[derive(Clone, Debug, Default)]
struct Flushed {
    /// The newest ticket covered by a finished flush.
    ticket: u64,
    /// The error of that flush, if it failed.
    error: Option<Arc<str>>,
}

struct Shared {
    issued: AtomicU64,
    wake: Notify,
    stopping: AtomicBool,
    flushed: watch::Sender<Flushed>,
}

/// One durability step: everything written before it began is on disk when it returns.
type Step = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What a flush works on: the database and its files; taken away when the
/// group commit is dropped, so the database's handle (and its lock) go at
/// once, not when the flusher task next runs.
type FlushTarget = Arc<Mutex<Option<(sled::Db, SledFiles)>>>;

/// A handle writers use to wait for durability. Dropping the last handle stops the flusher.
pub struct GroupCommit {
    shared: Arc<Shared>,
    database: Option<FlushTarget>,
}

impl GroupCommit {
    /// Starts the flusher task for `db`, the database in `data_dir/db`, on
    /// the current tokio runtime. Opens sled's log file once, for every
    /// fsync to come. With `every`, it also makes everything durable that
    /// often on its own (relaxed mode, where no writer waits).
    pub fn start(
        db: sled::Db,
        data_dir: &Path,
        every: Option<std::time::Duration>,
    ) -> Result<GroupCommit, StoreError> {
        let db_dir = data_dir.join("db");
        let files = SledFiles::open(&db_dir).map_err(|e| {
            StoreError::Open(format!("cannot open {} for fsync: {e}", db_dir.display()))
        })?;
        let database: FlushTarget = Arc::new(Mutex::new(Some((db, files))));
        let flushed = database.clone();
        let mut commit = GroupCommit::with_step(Arc::new(move || {
            let mut guard = flushed.lock().unwrap_or_else(|e| e.into_inner());
            let Some((db, files)) = guard.as_mut() else {
                return Err("the store is closed".into());
            };
            // Blobs already written first, so that sled's flush cannot put a
            // record on the disk whose blob is not there yet; then sled's
            // flush, then what it wrote (blobs it made meanwhile, the log).
            files.sync_blobs().map_err(|e| format!("fsync: {e}"))?;
            db.flush().map_err(|e| format!("sled: {e}"))?;
            files.sync().map_err(|e| format!("fsync: {e}"))
        }));
        commit.database = Some(database);
        if let Some(every) = every {
            tokio::spawn(tick(Arc::downgrade(&commit.shared), every));
        }
        Ok(commit)
    }

    fn with_step(step: Step) -> GroupCommit {
        let shared = Arc::new(Shared {
            issued: AtomicU64::new(0),
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            flushed: watch::Sender::new(Flushed::default()),
        });
        tokio::spawn(flusher(step, shared.clone()));
        GroupCommit {
            shared,
            database: None,
        }
    }

    /// Waits until everything written before this call is on disk.
    pub async fn wait(&self) -> Result<(), StoreError> {
        let ticket = self.shared.ask();
        let mut rx = self.shared.flushed.subscribe();
        let flushed = rx
            .wait_for(|f| f.ticket >= ticket)
            .await
            .map_err(|_| StoreError::backend("the flusher stopped"))?;
        match &flushed.error {
            Some(e) => Err(StoreError::backend(format!("flushing to disk failed: {e}"))),
            None => Ok(()),
        }
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(database) = &self.database {
            drop(database.lock().unwrap_or_else(|e| e.into_inner()).take());
        }
    }
}

impl Shared {
    /// Asks for a flush of everything written so far; returns its ticket.
    fn ask(&self) -> u64 {
        let ticket = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        self.wake.notify_one();
        ticket
    }
}

/// Asks for a flush every `every` while the group commit lives.
async fn tick(shared: std::sync::Weak<Shared>, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match shared.upgrade() {
            Some(shared) if !shared.stopping.load(Ordering::SeqCst) => {
                shared.ask();
            }
            _ => return,
        }
    }
}

/// How many times the flusher lets other tasks run before a flush.
const GATHER_YIELDS: usize = 8;

async fn flusher(step: Step, shared: Arc<Shared>) {
    let mut done = 0;
    // After a failed step every later one fails too: once an fsync has
    // failed, Linux may have dropped the pages it could not write and mark
    // them clean, so a later fsync that succeeds proves nothing about them
    // (PostgreSQL's "fsyncgate", 2018). Writes are refused as not durable
    // until a restart, which recovers from what is really on disk.
    let mut failed: Option<Arc<str>> = None;
    loop {
        let target = shared.issued.load(Ordering::SeqCst);
        if target == done {
            if shared.stopping.load(Ordering::SeqCst) {
                return;
            }
            shared.wake.notified().await;
            continue;
        }
        // Let the tasks that are ready run first: under load they are
        // writers about to take a ticket, and one flush then covers them
        // too. Measured with wrk (64 connections, strict adds, three paired
        // runs): 27.7-29.1k -> 30.3-32.6k writes/s, p99 5.2-5.5 -> 4.1-4.9 ms.
        for _ in 0..GATHER_YIELDS {
            tokio::task::yield_now().await;
        }
        let target = shared.issued.load(Ordering::SeqCst);
        if failed.is_none() {
            let step = step.clone();
            let started = std::time::Instant::now();
            let result = tokio::task::spawn_blocking(move || step()).await;
            metrics::histogram!("cartql_store_flush_duration_seconds")
                .record(started.elapsed().as_secs_f64());
            let error = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(e) => Some(format!("flush task failed: {e}")),
            };
            if let Some(e) = error {
                tracing::error!(error = %e, "making the database durable failed; strict writes are refused until a restart");
                failed = Some(Arc::from(format!(
                    "{e} (every write since is refused: restart cartql)"
                )));
            }
        }
        done = target;
        shared.flushed.send_replace(Flushed {
            ticket: target,
            error: failed.clone(),
        });
    }
}

/// sled's files, for making what sled has written durable.
///
/// sled 0.34.7 keeps a database in the directory it is given
/// (`<data-dir>/db`):
///
/// | file          | holds                                                      |
/// |---------------|------------------------------------------------------------|
/// | `db`          | the log: every write, in segments of 512 KiB               |
/// | `blobs/<lsn>` | one page (a node, or one update) too large for the log: over 131,020 bytes serialized (a segment / 4, less headers); the log holds a pointer to it |
/// | `conf`        | the storage parameters, written at the first open           |
/// | `snap.<lsn>`  | the page table, written at open (recovery) only: fsynced and renamed by sled, its directory never fsynced |
///
/// Acknowledged data lives in `db` and `blobs/`. sled's `flush` writes the
/// log with `pwrite` and `sync_file_range`; its own `fsync` of the log runs
/// only in its background thread (every `flush_every_ms`), and it never
/// fsyncs a blob file or a directory. cartql's values can reach the blob
/// size: a cart set of ten carts of 100 lines with attributes is a few
/// hundred KiB, so blobs are synced too.
///
/// fsync acts on the file, not on the descriptor, so our own descriptor
/// of `db` (opened after sled's, under sled's lock, and kept) makes sled's
/// writes durable.
pub(super) struct SledFiles {
    log: File,
    blobs: PathBuf,
    /// Blob files synced, by name, with the length they had: a blob that
    /// was still being written when the directory was read is synced again
    /// at the next flush, once it has grown (sled never rewrites one).
    synced_blobs: HashMap<OsString, u64>,
}

impl SledFiles {
    /// Opens the log of the database in `db_dir` (read-only: only for fsync).
    pub(super) fn open(db_dir: &Path) -> io::Result<SledFiles> {
        Ok(SledFiles {
            log: File::open(db_dir.join("db"))?,
            blobs: db_dir.join("blobs"),
            synced_blobs: HashMap::new(),
        })
    }

    /// Makes everything sled wrote before the call durable: `fdatasync` of
    /// each blob file not yet synced at its current length, `fsync` of the
    /// blob directory when it gained a file, then `fdatasync` of the log.
    /// Blobs first: a log record that points to a blob must not reach the
    /// disk before the blob (sled's recovery stops at a blob it cannot read,
    /// and the database may then not open at all).
    pub(super) fn sync(&mut self) -> io::Result<()> {
        self.sync_blobs()?;
        self.log.sync_data()
    }

    pub(super) fn sync_blobs(&mut self) -> io::Result<()> {
        let mut new_names = false;
        let mut present = Vec::new();
        for entry in std::fs::read_dir(&self.blobs)? {
            let entry = entry?;
            let name = entry.file_name();
            let len = match entry.metadata() {
                Ok(meta) => meta.len(),
                // Removed by sled meanwhile: an obsolete page.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if self.synced_blobs.get(&name) != Some(&len) {
                match File::open(entry.path()) {
                    Ok(file) => file.sync_data()?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new_names |= self.synced_blobs.insert(name.clone(), len).is_none();
            }
            present.push(name);
        }
        if new_names {
            files::sync_dir(&self.blobs)?;
        }
        if present.len() < self.synced_blobs.len() {
            self.synced_blobs.retain(|name, _| present.contains(name));
        }
        Ok(())
    }
}

/// Makes durable what sled wrote while opening the database in
/// `<data_dir>/db`: the log (a first start creates it; a recovery may cut
/// off a torn tail), `conf`, a new snapshot's rename, the blob directory,
/// and the directory entries of `db/` itself. Runs at every open, in both
/// durability modes: a power cut right after a start must not take back
/// the database a `store-id` file was written for.
pub(super) fn sync_at_open(data_dir: &Path) -> io::Result<()> {
    let db_dir = data_dir.join("db");
    SledFiles::open(&db_dir)?.sync()?;
    match File::open(db_dir.join("conf")) {
        Ok(conf) => conf.sync_all()?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    files::sync_dir(&db_dir)?;
    files::sync_dir(data_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_writers_all_get_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let commit = Arc::new(GroupCommit::start(db.clone(), dir.path(), None).unwrap());
        let mut tasks = Vec::new();
        for i in 0..64u32 {
            let (db, commit) = (db.clone(), commit.clone());
            tasks.push(tokio::spawn(async move {
                db.insert(i.to_be_bytes(), &b"v"[..]).unwrap();
                commit.wait().await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(db.len(), 64);
    }

    #[tokio::test]
    async fn after_a_failed_flush_every_later_write_is_refused() {
        let calls = Arc::new(AtomicU64::new(0));
        let counted = calls.clone();
        let commit = GroupCommit::with_step(Arc::new(move || {
            match counted.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(()),
                1 => Err("fsync: Input/output error (os error 5)".into()),
                _ => Ok(()),
            }
        }));
        commit.wait().await.unwrap();
        let first = commit.wait().await.unwrap_err().to_string();
        assert!(first.contains("Input/output error"), "{first}");
        let later = commit.wait().await.unwrap_err().to_string();
        assert!(later.contains("restart cartql"), "{later}");
        assert_eq!(calls.load(Ordering::SeqCst), 2, "no step after the failure");
    }

    /// A value over sled's blob size (a segment / 4) goes to `blobs/`, and
    /// a flush syncs that file and its directory entry.
    #[tokio::test]
    async fn a_large_value_lands_in_a_blob_file_that_the_flush_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let mut files = SledFiles::open(&dir.path().join("db")).unwrap();
        db.insert(b"cart", vec![7u8; 200_000]).unwrap();
        db.flush().unwrap();
        files.sync().unwrap();
        assert_eq!(files.synced_blobs.len(), 1, "{:?}", files.synced_blobs);
        let (name, len) = files.synced_blobs.iter().next().unwrap();
        assert!(*len > 200_000, "{name:?}: {len} bytes");
        db.insert(b"small", &b"v"[..]).unwrap();
        db.flush().unwrap();
        files.sync().unwrap();
        assert_eq!(files.synced_blobs.len(), 1, "nothing new to sync");
    }
}
