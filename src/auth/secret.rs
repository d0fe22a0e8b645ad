//! The built-in issuer's HMAC secret: from `CARTQL_JWT_SECRET`, or generated on
//! first start into `<data-dir>/jwt-secret` (mode 0600, crash-safe: see
//! [`crate::store::files`]) and reused after that.

use crate::store::files;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The shortest secret accepted, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;
/// The file name of the generated secret inside the data directory.
pub const SECRET_FILE: &str = "jwt-secret";

/// Where the secret came from, for the start-up log.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// `--jwt-secret` / `CARTQL_JWT_SECRET`.
    Configured,
    /// Read from this file.
    File(PathBuf),
    /// Generated now into this file.
    Generated(PathBuf),
    /// Generated now into this file, which was empty: an older cartql was
    /// stopped by a crash while writing it (before it signed anything).
    Regenerated(PathBuf),
}

/// The secret to sign with: the configured one, else the data directory's
/// (created on first use). The caller has prepared the directory
/// ([`start::signing_secret`](crate::start::signing_secret) does).
pub fn resolve(
    configured: Option<&str>,
    data_dir: &Path,
) -> Result<(Vec<u8>, SecretSource), String> {
    if let Some(secret) = configured {
        return check_configured(secret).map(|s| (s, SecretSource::Configured));
    }
    load_or_create(data_dir)
}

/// Checks a configured secret.
pub fn check_configured(secret: &str) -> Result<Vec<u8>, String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "must be at least {MIN_SECRET_BYTES} bytes, got {}; generate one with `openssl rand -hex 32`",
            secret.len()
        ));
    }
    Ok(secret.as_bytes().to_vec())
}

/// Reads `<dir>/jwt-secret`, creating it with a fresh random secret if absent.
/// Refuses a file that others can read, or one that is too short.
///
/// An empty file (or one of only blanks or NUL bytes) is replaced by a new
/// secret: cartql writes the file whole (see [`crate::store::files`]), so
/// only an older cartql stopped by a crash between creating the file and
/// its fsync leaves one, and it had signed nothing with it yet.
pub fn load_or_create(dir: &Path) -> Result<(Vec<u8>, SecretSource), String> {
    let path = dir.join(SECRET_FILE);
    match read(&path)? {
        Stored::Secret(secret) => Ok((secret, SecretSource::File(path))),
        Stored::Missing | Stored::Blank => create(&path),
    }
}

/// What the secret file holds.
enum Stored {
    Missing,
    /// Empty, or only blanks and NUL bytes: a write cut short.
    Blank,
    Secret(Vec<u8>),
}

fn read(path: &Path) -> Result<Stored, String> {
    let shown = path.display();
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Stored::Missing),
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    };
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{shown} is readable by other users (mode {mode:o}); run `chmod 600 {shown}`"
        ));
    }
    let bytes = fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
        return Ok(Stored::Blank);
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("{shown} is not text"))?;
    let secret = check_configured(text.trim()).map_err(|e| format!("{shown}: the secret {e}"))?;
    Ok(Stored::Secret(secret))
}

/// Writes a fresh secret, unless another cartql process wrote one first
/// (checked under the directory lock [`files::AtomicFile`] holds): then
/// that one is used.
fn create(path: &Path) -> Result<(Vec<u8>, SecretSource), String> {
    let shown = path.display();
    let cannot_write = |e: std::io::Error| format!("cannot write {shown}: {e}");
    let mut file = files::AtomicFile::create(path).map_err(cannot_write)?;
    let source = match read(path)? {
        Stored::Secret(secret) => return Ok((secret, SecretSource::File(path.to_path_buf()))),
        Stored::Missing => SecretSource::Generated(path.to_path_buf()),
        Stored::Blank => SecretSource::Regenerated(path.to_path_buf()),
    };
    let secret = hex::encode(rand::random::<[u8; 32]>());
    writeln!(file, "{secret}")
        .and_then(|()| file.commit())
        .map_err(cannot_write)?;
    Ok((secret.into_bytes(), source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_secret_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (first, source) = load_or_create(dir.path()).unwrap();
        assert!(matches!(source, SecretSource::Generated(_)));
        let mode = fs::metadata(dir.path().join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (second, source) = load_or_create(dir.path()).unwrap();
        assert_eq!(first, second);
        assert!(matches!(source, SecretSource::File(_)));
    }

    #[test]
    fn a_readable_short_or_odd_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRET_FILE);
        fs::write(&path, "x".repeat(40)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            load_or_create(dir.path())
                .unwrap_err()
                .contains("chmod 600")
        );
        fs::write(&path, "short").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            load_or_create(dir.path())
                .unwrap_err()
                .contains("at least 32 bytes")
        );
        fs::remove_file(&path).unwrap();
        fs::create_dir(&path).unwrap();
        assert!(
            load_or_create(dir.path())
                .unwrap_err()
                .contains("not a regular file")
        );
    }

    #[test]
    fn an_empty_secret_file_left_by_a_crash_is_replaced_by_a_new_secret() {
        for torn in ["", "\n", "\0\0\0\0\0\0\0\0"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(SECRET_FILE);
            fs::write(&path, torn).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let (secret, source) = load_or_create(dir.path()).unwrap();
            assert_eq!(source, SecretSource::Regenerated(path.clone()), "{torn:?}");
            let stored = fs::read_to_string(&path).unwrap();
            assert_eq!(stored.trim().as_bytes(), &secret[..]);
            assert_eq!(load_or_create(dir.path()).unwrap().0, secret);
        }
    }

    #[test]
    fn a_temporary_file_left_by_a_crash_is_not_taken_for_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let leftover = files::partial_path(&dir.path().join(SECRET_FILE));
        fs::write(&leftover, "k".repeat(64)).unwrap();
        let (secret, source) = load_or_create(dir.path()).unwrap();
        assert!(matches!(source, SecretSource::Generated(_)));
        assert_ne!(secret, "k".repeat(64).into_bytes());
        assert!(!leftover.exists());
    }

    #[test]
    fn a_configured_secret_must_be_long_enough() {
        assert!(check_configured("too short").is_err());
        assert!(check_configured(&"k".repeat(32)).is_ok());
    }
}
