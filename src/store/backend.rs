//! Which backend a configuration selects: PostgreSQL with `--database-url`,
//! else sled in `--data-dir`; opened, with its background work started by
//! the server only.

use super::Store;
use super::postgres::{PgSettings, PgStore};
use super::sled::{Durability, SledStore};
use crate::config::StoreConfig;
use std::sync::Arc;

/// An opened store of either kind.
#[derive(Clone)]
pub enum Backend {
    /// sled in a data directory (one process).
    Sled(Arc<SledStore>),
    /// PostgreSQL (any number of processes).
    Postgres(Arc<PgStore>),
}

impl Backend {
    /// Opens the store `config` names. Errors are one line naming the setting.
    /// Without the shared secret (`export`, `import`: nothing they write
    /// needs it), change notices would not reach live subscriptions; commands
    /// that change what a subscription shows pass `needs_secret`.
    pub async fn open(
        config: &StoreConfig,
        durability: Durability,
        needs_secret: bool,
    ) -> Result<Backend, String> {
        match &config.database_url {
            Some(url) => {
                let secret = match (config.jwt_secret.as_deref(), needs_secret) {
                    (Some(secret), _) => secret,
                    (None, false) => "",
                    (None, true) => return Err(
                        "--database-url: set CARTQL_JWT_SECRET (the same on every instance); a key generated per instance would not verify the others' tokens".into(),
                    ),
                };
                let settings = PgSettings {
                    url: url.clone(),
                    max_connections: config.database_max_connections,
                    notice_secret: secret.as_bytes().to_vec(),
                };
                let store = PgStore::connect(&settings)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Backend::Postgres(Arc::new(store)))
            }
            None => {
                let dir = &config.data_dir;
                super::data_dir::prepare(dir).map_err(|e| format!("--data-dir: {e}"))?;
                let cache = config.cache_mib.saturating_mul(1 << 20);
                let store = SledStore::open_with_cache(dir, durability, cache)
                    .map_err(|e| format!("--data-dir: {e}"))?;
                Ok(Backend::Sled(Arc::new(store)))
            }
        }
    }

    /// The store behind the traits.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sled(store) => store.clone(),
            Backend::Postgres(store) => store.clone(),
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
