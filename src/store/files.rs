//! Files cartql writes itself (the store id, the generated signing key,
//! `cartql export --output`), written so that a crash or a power cut leaves
//! either the file as it was or the whole new one, never an empty or
//! half-written one.
//!
//! The recipe is the usual one: write the new contents under a temporary
//! name in the same directory (`<name>.partial`), fsync the file, rename it
//! over the target, fsync the directory. The rename is atomic; the first
//! fsync keeps a power cut from leaving the new name on a file whose data
//! never reached the disk, the second from forgetting the rename itself.
//!
//! A temporary file left by a crash is never read; the next write of the
//! same file replaces it. Writers hold an exclusive `flock` on the directory
//! while they write, so two cartql processes writing one file at once (a
//! first `cartql serve` and a `cartql token` both generating the signing
//! key) never share a temporary file, and one can check under the lock
//! that the other has not written the file meanwhile.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The suffix of the temporary file beside the target.
const PARTIAL: &str = ".partial";

/// Replaces `path` with `bytes` (mode 0600), crash-safe.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Where a write of `path` keeps its contents until they are complete.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(PARTIAL);
    path.with_file_name(name)
}

/// Makes a rename, creation or deletion in `dir` durable (fsync of the directory).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    sync_dir_file(&File::open(dir)?)
}

/// An fsync of an open directory. Some filesystems cannot fsync a
/// directory and say `EINVAL`; as PostgreSQL does, that is not an error
/// (there is nothing more to do on them).
fn sync_dir_file(dir: &File) -> io::Result<()> {
    match dir.sync_all() {
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => Ok(()),
        result => result,
    }
}

/// A file being written under its temporary name; [`commit`](Self::commit)
/// puts it in place. Dropped without a commit, it removes the temporary file.
/// Its directory stays locked from `create` to the drop, so a writer that
/// must not overwrite another's file (the signing key) checks for it in
/// between.
pub struct AtomicFile {
    target: PathBuf,
    partial: PathBuf,
    file: File,
    /// The directory, locked (`flock`) until this value is dropped.
    dir: File,
    committed: bool,
}

impl AtomicFile {
    /// Starts writing `path`: locks its directory and opens `<path>.partial`
    /// afresh (mode 0600; a leftover from a crash is removed first).
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = File::open(parent)?;
        dir.lock()?;
        let partial = partial_path(path);
        match fs::remove_file(&partial) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)?;
        Ok(AtomicFile {
            target: path.to_path_buf(),
            partial,
            file,
            dir,
            committed: false,
        })
    }

    /// Makes the contents durable, renames them over the target and makes
    /// the rename durable.
    pub fn commit(mut self) -> io::Result<()> {
        self.file.sync_all()?;
        fs::rename(&self.partial, &self.target)?;
        self.committed = true;
        sync_dir_file(&self.dir)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_write_replaces_the_file_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id");
        write(&path, b"first\n").unwrap();
        write(&path, b"second\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "second\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!partial_path(&path).exists());
    }

    #[test]
    fn a_temporary_file_left_by_a_crash_is_replaced_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id");
        let leftover = partial_path(&path);
        fs::write(&leftover, "half of an old wri").unwrap();
        fs::set_permissions(&leftover, fs::Permissions::from_mode(0o644)).unwrap();
        write(&path, b"new\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert!(!leftover.exists());
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "not the leftover's mode");
    }

    #[test]
    fn an_abandoned_write_removes_its_temporary_file_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.jsonl");
        write(&path, b"old\n").unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"incomplete").unwrap();
        drop(file);
        assert_eq!(fs::read_to_string(&path).unwrap(), "old\n");
        assert!(!partial_path(&path).exists());
    }

    #[test]
    fn the_temporary_name_is_the_file_name_and_partial() {
        assert_eq!(
            partial_path(Path::new("backup.jsonl")),
            Path::new("backup.jsonl.partial")
        );
        assert_eq!(
            partial_path(Path::new("/data/store-id")),
            Path::new("/data/store-id.partial")
        );
    }
}
