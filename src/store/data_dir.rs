//! The data directory: private to the user cartql runs as.
//!
//! It holds accounts with their password hashes, every cart and order, and
//! (unless `CARTQL_JWT_SECRET` is set) the token signing key. cartql creates
//! it with mode 0700, creates every file with a 0077 umask (so 0600), and
//! refuses to start on a directory that other users can read or write: on a
//! shared host a co-tenant could otherwise read the accounts or replace the
//! database.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Makes files and directories this process creates private to its user
/// (umask 0077). Called once, first thing, by every command.
pub fn restrict_new_files() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Creates `dir` (mode 0700) if it does not exist; refuses one that is not a
/// directory or that other users may read, write or enter.
pub fn prepare(dir: &Path) -> Result<(), String> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(format!("{shown} is not a directory")),
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "{shown} is open to other users (mode {mode:o}): it holds accounts, carts and orders; run `chmod 700 {shown}`"
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create(dir).map_err(|e| format!("cannot create {shown}: {e}"))
        }
        Err(e) => Err(format!("cannot read {shown}: {e}")),
    }
}

/// Creates `dir` and its missing parents (mode 0700), and makes each new
/// entry durable (an fsync of the directory that holds it): a power cut
/// after the first start must not take the data directory back while
/// files inside it were fsynced.
fn create(dir: &Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut next = Some(dir);
    while let Some(path) = next.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        missing.push(path);
        next = path.parent();
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    for created in missing.iter().rev() {
        let parent = match created.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        super::files::sync_dir(parent)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_is_private_and_an_open_one_is_refused() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("a/b");
        prepare(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        prepare(&dir).unwrap();
        for open in [0o755, 0o750, 0o707, 0o701] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(open)).unwrap();
            let error = prepare(&dir).unwrap_err();
            assert!(error.contains("chmod 700"), "{open:o}: {error}");
        }
        let file = temp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(prepare(&file).unwrap_err().contains("not a directory"));
    }
}
