//! What can go wrong in a store, independent of the backend.

use crate::domain::Rejection;

/// A failure of the storage itself. Clients see `INTERNAL`; the detail is
/// logged. Each backend turns its own errors into these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or could not be reached (I/O, a dropped
    /// connection, a write that could not be made durable). The library's
    /// own error, when there is one, is the source: logged at the edge with
    /// its whole chain, once.
    #[error("{what}")]
    Backend {
        /// What failed, and at which step.
        what: String,
        /// The library's error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A stored value could not be decoded.
    #[error("stored value under {key} is unreadable: {reason}")]
    Corrupt {
        /// Which key or row.
        key: String,
        /// What was wrong.
        reason: String,
    },
    /// The store could not be opened (one line for the operator).
    #[error("{0}")]
    Open(String),
    /// A failure, and the store call it ended (`store.checkout`): the
    /// store's spans are `debug`, so at the default `info` level the edge
    /// that logs the failure names the step from here.
    #[error("{step}")]
    Step {
        /// The store call.
        step: &'static str,
        /// What failed.
        #[source]
        source: Box<StoreError>,
    },
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

    /// The same failure, saying which store call it ended (`store.checkout`).
    pub fn at(self, step: &'static str) -> StoreError {
        StoreError::Step {
            step,
            source: Box::new(self),
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
