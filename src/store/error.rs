//! What can go wrong in a store, independent of the backend.

use crate::domain::Rejection;

/// A failure of the storage itself. Clients see `INTERNAL`; the detail is
/// logged. Each backend turns its own errors into these.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or could not be reached (I/O, a dropped
    /// connection, a write that could not be made durable).
    #[error("database error: {0}")]
    Backend(String),
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
