//! The two backends behind one type: where a store's data is
//! ([`Location`]), opened for a command ([`Backend::open`]) or started for
//! serving with its throttle and background work ([`Backend::start`]),
//! stopped by [`Backend::close`].

use super::postgres::throttle::PgThrottle;
use super::postgres::{PgSettings, PgStore};
use super::sled::{Durability, SledStore};
use super::throttle::{MemoryThrottle, Throttle, ThrottleRules};
use super::traced::Traced;
use super::{Retention, Store};
use crate::clock::Clock;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a store's data is, and how to open it.
#[derive(Clone)]
pub enum Location {
    /// sled in a data directory (prepared: it exists and is private).
    Sled {
        /// The data directory.
        dir: PathBuf,
        /// When a write is acknowledged.
        durability: Durability,
        /// Memory sled may use as a cache, in bytes.
        cache_bytes: u64,
    },
    /// A PostgreSQL database.
    Postgres(PgSettings),
}

/// An opened store of either kind.
#[derive(Clone)]
pub enum Backend {
    /// sled in a data directory (one process).
    Sled(Arc<SledStore>),
    /// PostgreSQL (any number of processes).
    Postgres(Arc<PgStore>),
}

/// Whether a started store works in the background.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    /// The sweep of expired data and (PostgreSQL) the listener for other
    /// instances' change notices run until the store closes.
    Run,
    /// Nothing runs in the background: an in-process test sweeps by hand,
    /// at times it chooses on a clock it moves.
    Manual,
}

/// A store started for serving: the store, and the throttle that counts
/// log-ins and sign-ups where this backend can (in the database for
/// PostgreSQL, so every instance counts together; in memory for sled).
#[derive(Clone)]
pub struct Running {
    /// The backend, to close.
    pub backend: Backend,
    /// The store behind the traits ([`Backend::store`]).
    pub store: Arc<dyn Store>,
    /// Log-in, sign-up, guest-session and checkout counters.
    pub throttle: Arc<dyn Throttle>,
}

impl Backend {
    /// Opens the store at `location`, without background work (commands
    /// such as `export` and `import`). Errors are one line naming the setting.
    pub async fn open(location: &Location) -> Result<Backend, String> {
        match location {
            Location::Postgres(settings) => {
                let store = PgStore::connect(settings)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Backend::Postgres(Arc::new(store)))
            }
            Location::Sled {
                dir,
                durability,
                cache_bytes,
            } => {
                let store = SledStore::open_with_cache(dir, *durability, *cache_bytes)
                    .map_err(|e| format!("--data-dir: {e}"))?;
                Ok(Backend::Sled(Arc::new(store)))
            }
        }
    }

    /// Opens the store at `location` for serving: its background work runs
    /// (the sweep of expired data by `retention`; on PostgreSQL, the
    /// listener for other instances' change notices) until [`close`](Self::close).
    pub async fn start(
        location: &Location,
        retention: Retention,
        rules: ThrottleRules,
        clock: Arc<dyn Clock>,
        background: Background,
    ) -> Result<Running, String> {
        let backend = Backend::open(location).await?;
        let run = background == Background::Run;
        let throttle: Arc<dyn Throttle> = match &backend {
            Backend::Sled(sled) => {
                if run {
                    sled.start_sweeping(retention, clock);
                }
                Arc::new(MemoryThrottle::new(rules))
            }
            Backend::Postgres(pg) => {
                if run {
                    pg.start_listening().await;
                    pg.start_sweeping(retention, clock);
                }
                Arc::new(PgThrottle::new(pg, rules))
            }
        };
        Ok(Running {
            store: backend.store(),
            backend,
            throttle,
        })
    }

    /// The store behind the traits, every call a named step ([`Traced`]).
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sled(store) => Arc::new(Traced::new(store.clone())),
            Backend::Postgres(store) => Arc::new(Traced::new(store.clone())),
        }
    }

    /// Writes the whole store to `out` as export lines (see
    /// [`snapshot`](super::snapshot)), from one consistent snapshot; returns
    /// the number of records.
    pub async fn export(&self, out: impl std::io::Write + Send) -> Result<u64, String> {
        let write = |e: std::io::Error| format!("writing the export: {e}");
        let mut writer = super::snapshot::Writer::start(out).map_err(write)?;
        match self {
            Backend::Sled(store) => store.export_to(&mut |r| writer.record(r))?,
            Backend::Postgres(store) => store.export_to(&mut |r| writer.record(r)).await?,
        }
        writer.finish().map_err(write)
    }

    /// Writes a backup of the whole store to `path` while serving (see
    /// [`backup`](super::backup)); returns the number of records. sled:
    /// a copy of the trees made while writes wait, written out after they
    /// go on. PostgreSQL: one `REPEATABLE READ` transaction, streamed to
    /// the file by a thread of its own.
    pub async fn backup(&self, path: &std::path::Path) -> Result<u64, String> {
        let path = path.to_path_buf();
        let joined = |e: tokio::task::JoinError| format!("writing the backup: {e}");
        match self {
            Backend::Sled(store) => {
                let frozen = store.freeze().await?;
                tokio::task::spawn_blocking(move || {
                    super::backup::write_file(&path, |writer| {
                        SledStore::export_frozen(&frozen, &mut |r| writer.record(r))
                    })
                })
                .await
                .map_err(joined)?
            }
            Backend::Postgres(store) => {
                // The file first (its directory lock may wait for another
                // writer): off the runtime's threads, before the export.
                let file = {
                    let path = path.clone();
                    tokio::task::spawn_blocking(move || {
                        super::files::AtomicFile::create(&path)
                            .map_err(|e| format!("{}: {e}", path.display()))
                    })
                    .await
                    .map_err(joined)??
                };
                // A bounded queue to the file's writer thread: the export
                // waits (briefly, on a slow disk) when it runs ahead.
                let (records, received) = std::sync::mpsc::sync_channel(4096);
                // `None` says the export is whole; without it the file is
                // not committed.
                let written = tokio::task::spawn_blocking(move || {
                    super::backup::write_into(&path, file, |writer| {
                        for record in received {
                            let Some(record) = record else {
                                return Ok(());
                            };
                            writer
                                .record(record)
                                .map_err(|e| format!("writing the backup: {e}"))?;
                        }
                        Err("the export stopped before its end".to_string())
                    })
                });
                let stopped = "the backup file's writer stopped";
                let exported = store
                    .export_to(&mut |r| {
                        records
                            .send(Some(r))
                            .map_err(|_| std::io::Error::other(stopped))
                    })
                    .await;
                if exported.is_ok() {
                    let _ = records.send(None);
                }
                drop(records);
                let written = written.await.map_err(joined)?;
                match (exported, written) {
                    (Ok(()), written) => written,
                    // The writer's own failure (disk full, …) says why.
                    (Err(e), Err(why)) if e.contains(stopped) => Err(why),
                    (Err(e), _) => Err(e),
                }
            }
        }
    }

    /// Hands every record of one consistent snapshot to `sink` (what
    /// [`export`](Self::export) writes), for `cartql verify`.
    pub async fn visit(
        &self,
        sink: &mut (dyn FnMut(super::snapshot::Record) -> std::io::Result<()> + Send),
    ) -> Result<(), String> {
        match self {
            Backend::Sled(store) => store.export_to(sink),
            Backend::Postgres(store) => store.export_to(sink).await,
        }
    }

    /// What is broken in the backend's own structures beside the records
    /// (sled: the sweep's index), for `cartql verify`.
    pub async fn structure_problems(&self) -> Result<Vec<String>, String> {
        match self {
            Backend::Sled(store) => store.sweep_index_problems().map_err(|e| e.to_string()),
            Backend::Postgres(_) => Ok(Vec::new()),
        }
    }

    /// Loads `records` into this store, which must be empty; all or nothing.
    pub async fn import(&self, records: &[super::snapshot::Record]) -> Result<(), String> {
        match self {
            Backend::Sled(store) => store.import(records).await,
            Backend::Postgres(store) => store.import(records).await,
        }
    }

    /// Stops background work and makes writes durable.
    pub async fn close(&self) -> Result<(), String> {
        self.store().close().await.map_err(|e| e.to_string())
    }
}
