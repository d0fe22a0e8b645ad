//! The built-in issuer's HMAC secret: from `CARTQL_JWT_SECRET`, or generated on
//! first start into `<data-dir>/jwt-secret` (mode 0600) and reused after that.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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
}

/// The secret to sign with: the configured one, else the data directory's
/// (created on first use, together with the directory).
pub fn resolve(
    configured: Option<&str>,
    data_dir: &Path,
) -> Result<(Vec<u8>, SecretSource), String> {
    if let Some(secret) = configured {
        return check_configured(secret).map(|s| (s, SecretSource::Configured));
    }
    crate::store::data_dir::prepare(data_dir)?;
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
pub fn load_or_create(dir: &Path) -> Result<(Vec<u8>, SecretSource), String> {
    let path = dir.join(SECRET_FILE);
    let shown = path.display();
    match fs::metadata(&path) {
        Ok(meta) => {
            if !meta.is_file() {
                return Err(format!("{shown} is not a regular file"));
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(format!(
                    "{shown} is readable by other users (mode {mode:o}); run `chmod 600 {shown}`"
                ));
            }
            let text =
                fs::read_to_string(&path).map_err(|e| format!("cannot read {shown}: {e}"))?;
            let secret =
                check_configured(text.trim()).map_err(|e| format!("{shown}: the secret {e}"))?;
            Ok((secret, SecretSource::File(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = hex::encode(rand::random::<[u8; 32]>());
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|e| format!("cannot create {shown}: {e}"))?;
            writeln!(file, "{secret}")
                .and_then(|_| file.sync_all())
                .map_err(|e| format!("cannot write {shown}: {e}"))?;
            Ok((secret.into_bytes(), SecretSource::Generated(path)))
        }
        Err(e) => Err(format!("cannot read {shown}: {e}")),
    }
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
    fn a_configured_secret_must_be_long_enough() {
        assert!(check_configured("too short").is_err());
        assert!(check_configured(&"k".repeat(32)).is_ok());
    }
}
