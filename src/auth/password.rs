//! Password hashing: argon2id, off the async runtime, with bounded concurrency.
//!
//! Hashing is deliberately slow (tens of milliseconds of CPU and 19 MiB of
//! memory per hash). It runs on tokio's blocking pool, and a semaphore limits
//! how many hashes run at once, so a burst of log-ins waits for a permit
//! instead of starving the request handlers or exhausting memory.
//!
//! Log-ins for unknown emails are verified against a dummy hash made at start
//! with the same parameters, so they take as long as a wrong password.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Hashing failed (a bug or a stored hash that is not a PHC string).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// At most `concurrency` hashes at once. Makes the dummy hash (start-up cost: one hash).
    pub fn new(concurrency: usize) -> Result<Passwords, String> {
        let dummy = hex::encode(rand::random::<[u8; 16]>());
        let dummy_hash = hash_now(&dummy).map_err(|e| e.to_string())?;
        Ok(Passwords {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The argon2id hash of `password`, in PHC string form with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.blocking(move || hash_now(&password)).await
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown
    /// email) it checks against the dummy hash and answers `false`, taking as
    /// long as a real check.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self.blocking(move || verify_now(&password, &hash)).await?;
        Ok(known && matches)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| PasswordError(e.to_string()))?
    }
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| PasswordError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError(e.to_string()))
}

fn verify_now(password: &str, hash: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(hash).map_err(|e| PasswordError(e.to_string()))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::new(2).unwrap();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            passwords
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("wrong horse".into(), Some(hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let passwords = Passwords::new(1).unwrap();
        assert!(!passwords.verify("anything".into(), None).await.unwrap());
    }

    #[tokio::test]
    async fn a_stored_hash_that_is_not_phc_is_an_error() {
        let passwords = Passwords::new(1).unwrap();
        assert!(
            passwords
                .verify("x".into(), Some("plain".into()))
                .await
                .is_err()
        );
    }
}
