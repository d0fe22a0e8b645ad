//! Password hashing: argon2id on a small pool of its own threads.
//!
//! Hashing is deliberately slow (tens of milliseconds of CPU and
//! [`HASH_MEMORY_KIB`] of memory per hash). It runs on `concurrency` threads
//! that do nothing else, so the number of hashes running at once — and the
//! memory they take — is bounded by construction: the bound cannot leak
//! through a client that disconnects (its job is skipped if not started, and
//! otherwise finishes on its thread), and hashing never occupies tokio's
//! threads. Each thread allocates its 19 MiB of argon2 memory once and reuses
//! it for every hash (allocating it per hash let the allocator's per-thread
//! arenas keep hundreds of MiB resident after a flood). Worst case:
//! `concurrency × 19 MiB` (38 MiB with the default 2).
//!
//! Jobs wait in two bounded queues, and a free thread always takes a log-in
//! before a sign-up: a flood of sign-ups cannot starve log-ins. A full queue
//! answers [`PasswordError::Busy`] at once (the client sees `THROTTLED`).
//!
//! Log-ins for unknown emails are verified against a dummy hash with the same
//! parameters, so they take as long as a wrong password. The dummy is a PHC
//! string with a random salt and a random output, not the hash of anything:
//! checking a password against it costs a real hash, and no password
//! matches it (a 2^-256 chance), so no hash (nor its 19 MiB) is spent at start.

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::oneshot;

/// Memory of one hash (argon2's default `m_cost`, 19 MiB).
pub const HASH_MEMORY_KIB: u32 = argon2::Params::DEFAULT_M_COST;

/// Jobs of one kind that may wait per hashing thread before more are refused.
pub const QUEUE_PER_THREAD: usize = 16;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too many hashes are waiting; the client should retry later.
    #[error("too many password checks are waiting")]
    Busy,
    /// Hashing failed (a bug, or a stored hash that is not a PHC string).
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Which queue a job waits in; log-ins go first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// A log-in (or anything a returning customer waits for).
    LogIn,
    /// A sign-up.
    SignUp,
}

type Job = Box<dyn FnOnce(&mut Hasher) + Send>;

#[derive(Default)]
struct Queues {
    log_ins: VecDeque<(Job, Arc<dyn Fn() -> bool + Send + Sync>)>,
    sign_ups: VecDeque<(Job, Arc<dyn Fn() -> bool + Send + Sync>)>,
    closed: bool,
}

struct Pool {
    queues: Mutex<Queues>,
    ready: Condvar,
    capacity: usize,
}

/// Stops the threads when the last [`Passwords`] goes.
struct PoolHandle(Arc<Pool>);

impl Drop for PoolHandle {
    fn drop(&mut self) {
        self.0
            .queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed = true;
        self.0.ready.notify_all();
    }
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    pool: Arc<PoolHandle>,
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// `concurrency` hashing threads, and the dummy hash (no hashing).
    pub fn new(concurrency: usize) -> Result<Passwords, String> {
        let dummy_hash = dummy_hash().map_err(|e| e.to_string())?;
        let threads = concurrency.max(1);
        let pool = Arc::new(Pool {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
            capacity: threads * QUEUE_PER_THREAD,
        });
        for i in 0..threads {
            let pool = pool.clone();
            std::thread::Builder::new()
                .name(format!("cartql-argon2-{i}"))
                .spawn(move || work(&pool))
                .map_err(|e| format!("cannot start a hashing thread: {e}"))?;
        }
        Ok(Passwords {
            pool: Arc::new(PoolHandle(pool)),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The argon2id hash of `password`, in PHC string form with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(Priority::SignUp, move |hasher| hasher.hash(&password))
            .await
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
        let matches = self
            .run(Priority::LogIn, move |hasher| {
                hasher.verify(&password, &hash)
            })
            .await?;
        Ok(known && matches)
    }

    /// Queues `work` and waits for its result. If the caller stops waiting
    /// (the client went away), a job that has not started is skipped.
    pub async fn run<T: Send + 'static>(
        &self,
        priority: Priority,
        work: impl FnOnce(&mut Hasher) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (reply, answer) = oneshot::channel();
        let reply = Arc::new(Mutex::new(Some(reply)));
        let abandoned = {
            let reply = reply.clone();
            Arc::new(move || {
                reply
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .as_ref()
                    .is_none_or(|r| r.is_closed())
            }) as Arc<dyn Fn() -> bool + Send + Sync>
        };
        let job: Job = Box::new(move |hasher: &mut Hasher| {
            let result = work(hasher);
            if let Some(reply) = reply.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = reply.send(result);
            }
        });
        {
            let pool = &self.pool.0;
            let mut queues = pool.queues.lock().unwrap_or_else(|e| e.into_inner());
            let queue = match priority {
                Priority::LogIn => &mut queues.log_ins,
                Priority::SignUp => &mut queues.sign_ups,
            };
            if queue.len() >= pool.capacity {
                // Jobs whose clients went away give their places back first.
                queue.retain(|(_, abandoned)| !abandoned());
            }
            if queue.len() >= pool.capacity {
                return Err(PasswordError::Busy);
            }
            queue.push_back((job, abandoned));
            pool.ready.notify_one();
        }
        answer
            .await
            .map_err(|_| PasswordError::Failed("the hashing thread stopped".into()))?
    }
}

/// A hashing thread: log-ins first, abandoned jobs skipped.
fn work(pool: &Pool) {
    let mut hasher = Hasher::default();
    loop {
        let (job, abandoned) = {
            let mut queues = pool.queues.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if queues.closed {
                    return;
                }
                if let Some(next) = queues
                    .log_ins
                    .pop_front()
                    .or_else(|| queues.sign_ups.pop_front())
                {
                    break next;
                }
                queues = pool.ready.wait(queues).unwrap_or_else(|e| e.into_inner());
            }
        };
        if !abandoned() {
            job(&mut hasher);
        }
    }
}

/// One hashing thread's argon2 memory, allocated at its first hash and
/// reused for every later one.
#[derive(Default)]
pub struct Hasher {
    blocks: Vec<argon2::Block>,
}

impl Hasher {
    /// The argon2id hash of `password` with the default parameters and a
    /// fresh salt, in PHC string form.
    pub fn hash(&mut self, password: &str) -> Result<String, PasswordError> {
        let salt = fresh_salt()?;
        let output = self.compute(
            password,
            Algorithm::Argon2id,
            Version::V0x13,
            Params::default(),
            salt.as_salt(),
        )?;
        phc_string(&salt, output)
    }

    /// Whether `password` matches the PHC string `stored` (compared in constant time).
    pub fn verify(&mut self, password: &str, stored: &str) -> Result<bool, PasswordError> {
        let parsed = PasswordHash::new(stored).map_err(failed)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Err(PasswordError::Failed(
                "the stored hash has no salt or output".into(),
            ));
        };
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(failed)?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(failed)?
            .unwrap_or_default();
        let params = Params::try_from(&parsed).map_err(failed)?;
        let computed = self.compute(password, algorithm, version, params, salt)?;
        Ok(computed == expected)
    }

    fn compute(
        &mut self,
        password: &str,
        algorithm: Algorithm,
        version: Version,
        params: Params,
        salt: Salt<'_>,
    ) -> Result<Output, PasswordError> {
        let blocks = params.block_count();
        if self.blocks.len() != blocks {
            self.blocks = vec![argon2::Block::default(); blocks];
        }
        let mut salt_bytes = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_bytes).map_err(failed)?;
        let length = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let argon2 = Argon2::new(algorithm, version, params);
        Output::init_with(length, |out| {
            argon2
                .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut self.blocks)
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
        .map_err(failed)
    }
}

fn failed(e: impl std::fmt::Display) -> PasswordError {
    PasswordError::Failed(e.to_string())
}

fn fresh_salt() -> Result<SaltString, PasswordError> {
    SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(failed)
}

/// The PHC string of an argon2id hash with the default parameters.
fn phc_string(salt: &SaltString, output: Output) -> Result<String, PasswordError> {
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&Params::default()).map_err(failed)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// What unknown emails are checked against: the PHC string of a hash with
/// the default parameters, a random salt and a random output.
fn dummy_hash() -> Result<String, PasswordError> {
    let output = Output::new(&rand::random::<[u8; 32]>()).map_err(failed)?;
    phc_string(&fresh_salt()?, output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::new(2).unwrap();
        let hash = passwords.hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hash.contains(&format!("m={HASH_MEMORY_KIB}")));
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

    #[test]
    fn hashes_are_argon2id_phc_strings_that_the_crate_itself_verifies() {
        use argon2::password_hash::PasswordVerifier;
        let mut hasher = Hasher::default();
        let hash = hasher.hash("correct horse").unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        // And hashes made by the crate's own API verify here.
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::encode_b64(&[3u8; 16]).unwrap();
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &salt)
            .unwrap()
            .to_string();
        assert!(hasher.verify("battery staple", &theirs).unwrap());
        assert!(!hasher.verify("battery stable", &theirs).unwrap());
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does_and_matches_nothing() {
        let mut hasher = Hasher::default();
        let real = hasher.hash("a password").unwrap();
        let dummy = dummy_hash().unwrap();
        let (parsed_real, parsed_dummy) = (
            PasswordHash::new(&real).unwrap(),
            PasswordHash::new(&dummy).unwrap(),
        );
        assert_eq!(parsed_dummy.algorithm, parsed_real.algorithm);
        assert_eq!(parsed_dummy.version, parsed_real.version);
        assert_eq!(
            Params::try_from(&parsed_dummy).unwrap(),
            Params::try_from(&parsed_real).unwrap()
        );
        assert_eq!(
            parsed_dummy.hash.unwrap().len(),
            parsed_real.hash.unwrap().len()
        );
        assert_eq!(
            parsed_dummy.salt.unwrap().len(),
            parsed_real.salt.unwrap().len()
        );
        assert!(!hasher.verify("a password", &dummy).unwrap());
        assert!(!hasher.verify("", &dummy).unwrap());
        assert_ne!(dummy, dummy_hash().unwrap(), "random each time");
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

    /// Occupies the one thread of `passwords` until the returned sender is used.
    async fn block(passwords: &Passwords) -> mpsc::Sender<()> {
        let (release, wait) = mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let passwords = passwords.clone();
        tokio::spawn(async move {
            passwords
                .run(Priority::SignUp, move |_| {
                    let _ = started.send(());
                    let _ = wait.recv();
                    Ok(())
                })
                .await
        });
        running.await.unwrap();
        release
    }

    #[tokio::test]
    async fn log_ins_are_served_before_waiting_sign_ups() {
        let passwords = Passwords::new(1).unwrap();
        let release = block(&passwords).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for (i, priority) in [Priority::SignUp, Priority::SignUp, Priority::LogIn]
            .into_iter()
            .enumerate()
        {
            let (passwords, order) = (passwords.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                passwords
                    .run(priority, move |_| {
                        order.lock().unwrap().push(i);
                        Ok(())
                    })
                    .await
            }));
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        release.send(()).unwrap();
        for task in waiting {
            task.await.unwrap().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [2, 0, 1]);
    }

    #[tokio::test]
    async fn a_job_whose_client_left_is_not_run_and_a_full_queue_refuses() {
        let passwords = Passwords::new(1).unwrap();
        let release = block(&passwords).await;
        let ran = Arc::new(AtomicUsize::new(0));
        // A client that gives up while its job waits.
        let counter = ran.clone();
        let gone = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            passwords.run(Priority::SignUp, move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }),
        )
        .await;
        assert!(gone.is_err());
        // Fill the sign-up queue (the abandoned job gives its place back);
        // the next one is refused without waiting.
        let mut queued = Vec::new();
        for _ in 0..QUEUE_PER_THREAD {
            let (passwords, counter) = (passwords.clone(), ran.clone());
            queued.push(tokio::spawn(async move {
                passwords
                    .run(Priority::SignUp, move |_| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let refused = passwords.run(Priority::SignUp, |_| Ok(())).await;
        assert!(matches!(refused, Err(PasswordError::Busy)));
        release.send(()).unwrap();
        for task in queued {
            task.await.unwrap().unwrap();
        }
        assert_eq!(ran.load(Ordering::SeqCst), QUEUE_PER_THREAD);
    }
}
