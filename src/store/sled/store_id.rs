//! The store id: the file `store-id` beside the database names it, so a
//! database that later opens without that id (deleted, replaced, or cut back
//! to nothing by sled's recovery after damage) is refused instead of
//! silently starting empty.
//!
//! The id is written into the database first and made durable there, then
//! the file is written crash-safe ([`crate::store::files`]): after a power
//! cut the file names the database or does not exist, never the other way
//! round. A file that an older cartql left empty or cut short (it wrote it
//! in place, unsynced) is recognised and rewritten from the database's id:
//! the check compares two ids, and an empty or cut-short file names no
//! other database, so rewriting it loses no check, where refusing to start
//! would only make the operator type the id we already know. A whole id of
//! another database is still refused.

use super::SledStore;
use super::codec::encode;
use super::durability;
use crate::store::{StoreError, files};
use std::path::Path;

/// The file beside the database that names it.
pub const STORE_ID_FILE: &str = "store-id";

/// The `meta` key of the id.
const STORE_ID_KEY: &[u8] = b"store_id";

/// What the id file holds.
#[derive(Debug, PartialEq)]
enum IdFile {
    Missing,
    /// Empty, blanks or NUL bytes: a write cut short before any of the id.
    Empty,
    /// Its text, trimmed.
    Text(String),
}

/// Checks that the database opened from `<dir>/db` is the one `<dir>/store-id`
/// names, writing either side that is missing. Makes what sled wrote while
/// opening durable first, so the file never names a database a power cut
/// can still take back.
pub(super) fn check(dir: &Path, meta: &sled::Tree) -> Result<(), StoreError> {
    let path = dir.join(STORE_ID_FILE);
    let shown = path.display();
    let database = dir.join("db");
    sync_database(dir)?;
    let stored: Option<String> = SledStore::get(meta, STORE_ID_KEY)?;
    let file = read(&path)?;
    let id = match (file, stored) {
        (IdFile::Text(named), Some(stored)) if named == stored => return remove_leftover(&path),
        (IdFile::Text(named), Some(stored)) if stored.starts_with(&named) => {
            tracing::warn!(file = %shown, id = %stored, "the store id file was cut short (it was being written when the machine stopped); rewriting it from the database");
            stored
        }
        (IdFile::Text(named), Some(stored)) if ulid::Ulid::from_string(&named).is_err() => {
            return Err(StoreError::Open(format!(
                "{shown} holds {named:?}, which is not a store id: the file is damaged. The database in {} is store {stored}; if it is the right one, write its id back with `echo {stored} > {shown}`",
                database.display()
            )));
        }
        (IdFile::Text(named), Some(stored)) => {
            return Err(StoreError::Open(format!(
                "the database in {} is not the one {shown} names (store {stored}, expected {named}); was it replaced?",
                database.display()
            )));
        }
        (IdFile::Text(_), None) => {
            return Err(StoreError::Open(format!(
                "the database in {} lost its records (it opens empty, but {shown} says it held data): it may be damaged or deleted; restore it from a backup, or move the directory away to start afresh",
                database.display()
            )));
        }
        (IdFile::Empty, Some(stored)) => {
            tracing::warn!(file = %shown, id = %stored, "the store id file was empty (it was being written when the machine stopped); rewriting it from the database");
            stored
        }
        (IdFile::Missing, Some(stored)) => stored,
        (file @ (IdFile::Missing | IdFile::Empty), None) => {
            if file == IdFile::Empty {
                // An older cartql's first start, stopped before the id reached
                // the database: nothing was served from it.
                tracing::warn!(file = %shown, "the store id file was empty and the database has no id: a first start was cut short; starting afresh");
            }
            let id = ulid::Ulid::new().to_string();
            meta.insert(STORE_ID_KEY, encode(&id))?;
            meta.flush()?;
            sync_database(dir)?;
            id
        }
    };
    files::write(&path, format!("{id}\n").as_bytes())
        .map_err(|e| StoreError::Open(format!("cannot write {shown}: {e}")))
}

fn sync_database(dir: &Path) -> Result<(), StoreError> {
    durability::sync_at_open(dir).map_err(|e| {
        StoreError::Open(format!(
            "cannot make the database in {} durable (fsync): {e}",
            dir.join("db").display()
        ))
    })
}

fn read(path: &Path) -> Result<IdFile, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(IdFile::Missing),
        Err(e) => {
            return Err(StoreError::Open(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    Ok(match text.is_empty() {
        true => IdFile::Empty,
        false => IdFile::Text(text.to_string()),
    })
}

/// Removes a temporary file an interrupted write of the id file left (it
/// is never read; only tidier gone).
fn remove_leftover(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(files::partial_path(path)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Open(format!(
            "cannot remove {}: {e}",
            files::partial_path(path).display()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Durability;
    use super::*;
    use crate::domain::{Money, Sku, Variant};
    use crate::store::CatalogStore;

    /// Relaxed: no flusher task holds the database (and its lock) after a drop.
    fn open(dir: &Path) -> Result<SledStore, StoreError> {
        SledStore::open(dir, Durability::Relaxed)
    }

    /// A data directory whose database holds a product, and its store id.
    async fn used_directory() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path()).unwrap();
        let product = Variant::new(
            Sku::parse("A").unwrap(),
            "A".into(),
            Money::from_minor(100),
            Some(1),
            true,
        );
        store.import_catalog(&[], &[product]).await.unwrap();
        crate::store::Store::close(&store).await.unwrap();
        drop(store);
        let id = std::fs::read_to_string(dir.path().join(STORE_ID_FILE)).unwrap();
        (dir, id.trim().to_string())
    }

    fn id_file(dir: &tempfile::TempDir) -> String {
        std::fs::read_to_string(dir.path().join(STORE_ID_FILE)).unwrap()
    }

    #[tokio::test]
    async fn a_database_that_lost_its_records_is_refused_not_started_empty() {
        let (dir, _) = used_directory().await;
        drop(open(dir.path()).expect("a plain reopen works"));

        std::fs::remove_dir_all(dir.path().join("db")).unwrap();
        let err = open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("lost its records"), "{err}");

        // A new database, then an id file that names another one.
        std::fs::remove_file(dir.path().join(STORE_ID_FILE)).unwrap();
        drop(open(dir.path()).unwrap());
        let another = ulid::Ulid::new().to_string();
        std::fs::write(dir.path().join(STORE_ID_FILE), format!("{another}\n")).unwrap();
        let err = open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("was it replaced"), "{err}");
    }

    #[tokio::test]
    async fn an_empty_store_id_file_is_rewritten_from_the_database() {
        for torn in [
            "",
            "\n",
            "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        ] {
            let (dir, id) = used_directory().await;
            std::fs::write(dir.path().join(STORE_ID_FILE), torn).unwrap();
            drop(open(dir.path()).unwrap_or_else(|e| panic!("{torn:?}: {e}")));
            assert_eq!(id_file(&dir), format!("{id}\n"), "{torn:?}");
        }
    }

    #[tokio::test]
    async fn a_store_id_file_cut_short_is_rewritten_from_the_database() {
        let (dir, id) = used_directory().await;
        std::fs::write(dir.path().join(STORE_ID_FILE), &id[..11]).unwrap();
        drop(open(dir.path()).unwrap());
        assert_eq!(id_file(&dir), format!("{id}\n"));
    }

    #[tokio::test]
    async fn a_temporary_file_left_by_an_interrupted_write_is_ignored_and_removed() {
        let (dir, id) = used_directory().await;
        let leftover = files::partial_path(&dir.path().join(STORE_ID_FILE));
        std::fs::write(&leftover, "01J0000000000000000000").unwrap();
        drop(open(dir.path()).unwrap());
        assert_eq!(id_file(&dir), format!("{id}\n"));
        assert!(!leftover.exists());

        // The same when the write it belonged to never reached the id file.
        std::fs::write(&leftover, "01J0000000000000000000").unwrap();
        std::fs::remove_file(dir.path().join(STORE_ID_FILE)).unwrap();
        drop(open(dir.path()).unwrap());
        assert_eq!(id_file(&dir), format!("{id}\n"));
        assert!(!leftover.exists());
    }

    #[tokio::test]
    async fn a_damaged_store_id_file_is_explained_with_the_id_to_write_back() {
        let (dir, id) = used_directory().await;
        std::fs::write(dir.path().join(STORE_ID_FILE), "#!garbage\n").unwrap();
        let err = open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("is not a store id"), "{err}");
        assert!(err.contains(&format!("echo {id} > ")), "{err}");
        assert!(!err.contains("replaced"), "{err}");
    }

    #[tokio::test]
    async fn an_empty_store_id_file_beside_a_database_without_an_id_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(STORE_ID_FILE), "").unwrap();
        drop(open(dir.path()).unwrap());
        let id = id_file(&dir);
        assert!(ulid::Ulid::from_string(id.trim()).is_ok(), "{id:?}");
        drop(open(dir.path()).expect("and opens again"));
    }
}
