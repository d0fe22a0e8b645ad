//! Backups while serving: the whole store in the export format
//! ([`snapshot`](super::snapshot)), written by the running server into
//! `--backup-dir`, on demand (`createBackup`) and every `--backup-every`,
//! keeping the newest `--backup-keep`.
//!
//! Each file is one instant of the store: on sled a copy of the trees made
//! while every write waited ([`SledStore::freeze`](super::sled::SledStore::freeze));
//! on PostgreSQL one `REPEATABLE READ` transaction, as `cartql export`. It
//! is written under a temporary name (`….partial`, mode 0600), fsynced and
//! renamed only when complete, so a name without `.partial` is always a
//! whole backup; a crash leaves at most a `.partial`, which the next backup
//! deletes.

use super::backend::Backend;
use super::files::AtomicFile;
use super::snapshot::Writer;
use crate::clock::Clock;
use chrono::{DateTime, Utc};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What every backup file's name starts with.
const PREFIX: &str = "cartql-backup-";
/// What every backup file's name ends with.
const SUFFIX: &str = ".jsonl";

/// One backup made.
#[derive(Clone, Debug)]
pub struct BackupReport {
    /// Where it is.
    pub file: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// How many records it holds.
    pub records: u64,
    /// When the copy began: every write acknowledged before is in it.
    pub started_at: DateTime<Utc>,
    /// When the file was complete.
    pub finished_at: DateTime<Utc>,
}

/// Backups of one store into one directory.
pub struct Backups {
    backend: Backend,
    dir: PathBuf,
    keep: usize,
    /// One backup at a time.
    running: tokio::sync::Mutex<()>,
}

impl Backups {
    /// Backups of `backend` into `dir` (created private if missing; one
    /// others may use is refused), keeping the newest `keep`.
    pub fn new(backend: Backend, dir: &Path, keep: usize) -> Result<Backups, String> {
        super::data_dir::prepare(dir).map_err(|e| format!("--backup-dir: {e}"))?;
        Ok(Backups {
            backend,
            dir: dir.to_path_buf(),
            keep: keep.max(1),
            running: tokio::sync::Mutex::new(()),
        })
    }

    /// Makes one backup now (after the one under way, if any), then deletes
    /// the oldest beyond `--backup-keep` and any leftover `.partial`. It
    /// runs as a task of its own: a caller that goes away (a request cut
    /// by its timeout) does not cut it short.
    pub async fn create(self: &Arc<Self>, clock: Arc<dyn Clock>) -> Result<BackupReport, String> {
        let backups = self.clone();
        tokio::spawn(async move { backups.create_now(clock).await })
            .await
            .map_err(|e| format!("the backup task failed: {e}"))?
    }

    async fn create_now(&self, clock: Arc<dyn Clock>) -> Result<BackupReport, String> {
        let _one = self.running.lock().await;
        let now = || clock.now();
        let started_at = now();
        let name = format!(
            "{PREFIX}{}{SUFFIX}",
            started_at.format("%Y%m%dT%H%M%S%.3fZ")
        );
        let file = self.dir.join(name);
        let records = self.backend.backup(&file).await?;
        let bytes = std::fs::metadata(&file)
            .map_err(|e| format!("{}: {e}", file.display()))?
            .len();
        let finished_at = now();
        let (dir, keep) = (self.dir.clone(), self.keep);
        match tokio::task::spawn_blocking(move || prune(&dir, keep)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "deleting old backups failed")
            }
            Err(e) => tracing::warn!(error = %e, "deleting old backups failed"),
        }
        Ok(BackupReport {
            file,
            bytes,
            records,
            started_at,
            finished_at,
        })
    }
}

/// Writes an export to `path` crash-safely: the header, what `fill` writes,
/// the end line, then fsync and rename. Returns the number of records.
pub fn write_file(
    path: &Path,
    fill: impl FnOnce(&mut Writer<&mut BufWriter<AtomicFile>>) -> Result<(), String>,
) -> Result<u64, String> {
    let file = AtomicFile::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    write_into(path, file, fill)
}

/// [`write_file`] into a file already created (its directory locked).
pub fn write_into(
    path: &Path,
    file: AtomicFile,
    fill: impl FnOnce(&mut Writer<&mut BufWriter<AtomicFile>>) -> Result<(), String>,
) -> Result<u64, String> {
    let shown = path.display();
    let failed = |e: std::io::Error| format!("{shown}: {e}");
    let mut out = BufWriter::new(file);
    let mut writer = Writer::start(&mut out).map_err(failed)?;
    // On an error the temporary file is dropped, which removes it.
    fill(&mut writer)?;
    let records = writer.finish().map_err(failed)?;
    let file = out.into_inner().map_err(|e| failed(e.into_error()))?;
    file.commit().map_err(failed)?;
    Ok(records)
}

/// Deletes the oldest complete backups in `dir` beyond the newest `keep`
/// (names sort by time), and every `.partial` left by a crash; returns how
/// many files it deleted. Other files are left alone. It holds the
/// directory's lock, as a backup being written does, so a `.partial` it
/// sees is no other writer's.
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<usize> {
    let locked = std::fs::File::open(dir)?;
    locked.lock()?;
    let mut complete = Vec::new();
    let mut deleted = 0;
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !name.starts_with(PREFIX) {
            continue;
        }
        if name.ends_with(".partial") {
            std::fs::remove_file(dir.join(&name))?;
            deleted += 1;
        } else if name.ends_with(SUFFIX) {
            complete.push(name);
        }
    }
    complete.sort();
    let excess = complete.len().saturating_sub(keep);
    for name in &complete[..excess] {
        std::fs::remove_file(dir.join(name))?;
        deleted += 1;
    }
    if deleted > 0 {
        super::files::sync_dir(dir)?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruning_keeps_the_newest_and_drops_leftover_partials_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            "cartql-backup-20261207T100000.000Z.jsonl",
            "cartql-backup-20261207T110000.000Z.jsonl",
            "cartql-backup-20261207T120000.000Z.jsonl",
            "cartql-backup-20261207T130000.000Z.jsonl.partial",
            "notes.txt",
        ];
        for name in names {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        assert_eq!(prune(dir.path(), 2).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "cartql-backup-20261207T110000.000Z.jsonl",
                "cartql-backup-20261207T120000.000Z.jsonl",
                "notes.txt"
            ]
        );
    }
}
