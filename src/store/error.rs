//! What can go wrong in a store, independent of the backend.

use crate::domain::Rejection;

/// A failure of the storage itself. Clients see `INTERNAL`; the detail is
/// logged. Each backend turns its own errors into these.
#[derive(Debug)]
pub enum StoreError {
    /// The database failed or could not be reached (I/O, a dropped
    /// connection, a write that could not be made durable). The library's
    /// own error, when there is one, is the source: logged at the edge with
    /// its whole chain, once.
    Backend {
        /// What failed.
        what: String,
        /// The library's error.
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A stored value could not be decoded.
    Corrupt {
        /// Which key or row.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The store could not be opened (one line for the operator).
    Open(String),
    /// The connection to the database broke during the call (PostgreSQL:
    /// the server went away, the backend was terminated): a read, or a
    /// transaction that never reached its commit, may be tried again on a
    /// fresh connection. The failure itself is inside.
    Lost(Box<StoreError>),
    /// The connection broke while a write was committing (or while a
    /// statement that commits by itself ran): it may or may not have been
    /// made. Clients see `OUTCOME_UNKNOWN`, not `INTERNAL`.
    OutcomeUnknown(Box<StoreError>),
    /// A failure, and the store call it ended (`store.checkout`), attached
    /// by [`Traced`](super::traced::Traced): the store's spans are `debug`,
    /// so at the default `info` level the edge that logs the failure names
    /// the step from here.
    ///
    /// It reads `step: failure` on its own (`{e}` in an operator's message
    /// or a log line keeps what failed), and its source is the failure's
    /// cause, so a chain of causes names the failure once:
    /// `store.checkout: sled: disk full`.
    Step {
        /// The store call.
        step: &'static str,
        /// What failed.
        failure: Box<StoreError>,
    },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Said whole: an operator's message (`--currency: …`, a command's
            // error, a sweep's log line) prints this alone.
            StoreError::Backend {
                what,
                source: Some(source),
            } => write!(f, "{what}: {source}"),
            StoreError::Backend { what, source: None } => f.write_str(what),
            StoreError::Corrupt { key, reason } => {
                write!(f, "stored value under {key} is unreadable: {reason}")
            }
            StoreError::Open(message) => f.write_str(message),
            StoreError::Lost(failure) => write!(f, "the connection was lost: {failure}"),
            StoreError::OutcomeUnknown(failure) => write!(
                f,
                "the connection was lost while the write committed (its outcome is unknown): {failure}"
            ),
            StoreError::Step { step, failure } => write!(f, "{step}: {failure}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Backend { source, .. } => source
                .as_deref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            StoreError::Corrupt { .. } | StoreError::Open(_) => None,
            StoreError::Lost(failure) | StoreError::OutcomeUnknown(failure) => failure.source(),
            // The failure is in this one's message already.
            StoreError::Step { failure, .. } => failure.source(),
        }
    }
}

impl StoreError {
    /// A failure of the database with no library error behind it.
    pub fn backend(what: impl Into<String>) -> StoreError {
        StoreError::Backend {
            what: what.into(),
            source: None,
        }
    }

    /// A failure of the database caused by a library's error.
    pub fn caused(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Backend {
            what: what.into(),
            source: Some(Box::new(source)),
        }
    }

    /// Whether the connection broke during the call ([`StoreError::Lost`]).
    pub fn is_lost(&self) -> bool {
        match self {
            StoreError::Lost(_) => true,
            StoreError::Step { failure, .. } => failure.is_lost(),
            _ => false,
        }
    }

    /// Whether a write's outcome is unknown ([`StoreError::OutcomeUnknown`]).
    pub fn is_outcome_unknown(&self) -> bool {
        match self {
            StoreError::OutcomeUnknown(_) => true,
            StoreError::Step { failure, .. } => failure.is_outcome_unknown(),
            _ => false,
        }
    }

    /// A write's lost connection: the write may have been made (a
    /// statement that commits by itself may have, before the answer was
    /// lost), so its outcome is unknown.
    pub fn unknown_if_lost(self) -> StoreError {
        match self {
            StoreError::Lost(failure) => StoreError::OutcomeUnknown(failure),
            StoreError::Step { step, failure } => StoreError::Step {
                step,
                failure: Box::new(failure.unknown_if_lost()),
            },
            other => other,
        }
    }

    /// The same failure, saying which store call it ended (`store.checkout`).
    pub fn at(self, step: &'static str) -> StoreError {
        StoreError::Step {
            step,
            failure: Box::new(self),
        }
    }
}

/// Why an update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The domain refused the change; nothing was written.
    #[error("change refused")]
    Rejected(Rejection),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UpdateError {
    /// A store failure saying which store call it ended (`store.checkout`);
    /// a refusal is no failure and stays as it is.
    pub fn at(self, step: &'static str) -> UpdateError {
        match self {
            UpdateError::Store(e) => UpdateError::Store(e.at(step)),
            rejected => rejected,
        }
    }

    /// [`StoreError::unknown_if_lost`] of a store failure.
    pub fn unknown_if_lost(self) -> UpdateError {
        match self {
            UpdateError::Store(e) => UpdateError::Store(e.unknown_if_lost()),
            rejected => rejected,
        }
    }

    /// Whether the connection broke during the call.
    pub fn is_lost(&self) -> bool {
        matches!(self, UpdateError::Store(e) if e.is_lost())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;

    #[test]
    fn a_step_reads_with_its_failure_and_passes_on_the_cause() {
        let disk = std::io::Error::other("disk full");
        let failed = StoreError::caused("sled", disk).at("store.checkout");
        assert_eq!(failed.to_string(), "store.checkout: sled: disk full");
        let cause = failed.source().expect("the library's error");
        assert_eq!(cause.to_string(), "disk full");
        assert!(cause.source().is_none());
        let corrupt = StoreError::Corrupt {
            key: "k".into(),
            reason: "eof".into(),
        };
        assert_eq!(
            corrupt.at("store.variant").to_string(),
            "store.variant: stored value under k is unreadable: eof"
        );
    }

    #[test]
    fn a_refusal_takes_no_step() {
        let conflict = Rejection::VersionConflict {
            expected: 1,
            current: 2,
        };
        let refused = UpdateError::Rejected(conflict).at("store.update_cart");
        assert!(matches!(refused, UpdateError::Rejected(_)), "{refused:?}");
    }
}
