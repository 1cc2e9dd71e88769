//! The one error type of the crate. Its variants are what the caller acts
//! on (STYLE.md point 3): `Io` may be retried by a caller that knows the
//! step is idempotent, `Corruption` means stored bytes cannot be trusted
//! (re-ask the block or refuse the download), `Poisoned` means a sync
//! failed earlier and nothing this store says about durability holds any
//! more until the process restarts.

use std::io;

/// Everything a store call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O error on `path` (nothing is known to be
    /// corrupt; the step did not happen or happened partly).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path the operation was on.
        path: String,
        #[source]
        /// The operating system's error.
        source: io::Error,
    },
    /// Stored bytes failed a check (record CRC, block CRC32C, magic,
    /// version, sizes that disagree). Never served as good data.
    #[error("corruption: {0}")]
    Corruption(String),
    /// The caller asked for something malformed: a task id that is not UUID
    /// text, a piece outside its block, an offset past the end, a name over
    /// the limit.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// No such task (or blob).
    #[error("not found: {0}")]
    NotFound(String),
    /// The task exists already, or the piece or block was already written.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// Accepting the task would pass the total quota (bytes, all stored
    /// files); refused before any byte is written.
    #[error("quota exceeded: {0}")]
    QuotaExceeded(String),
    /// Accepting the task would pass its sender's quota (bytes); refused
    /// before any byte is written. The sender can free room; others can
    /// still store.
    #[error("user quota exceeded: {0}")]
    UserQuotaExceeded(String),
    /// The file is larger than `max_file_size` (bytes).
    #[error("file too large: {0}")]
    TooLarge(String),
    /// The file system would keep less than `min_free_bytes` free;
    /// refused before any byte is written.
    #[error("no space: {0}")]
    NoSpace(String),
    /// A sync failed earlier: the store refuses everything until restart,
    /// because the kernel may have dropped the dirty pages it reported.
    #[error("store poisoned after a failed sync; restart to recover")]
    Poisoned,
    /// Another process owns the store (its `LOCK`, see `lock.rs`): a relay
    /// serving it, or a repair running on it.
    #[error("the store is in use: {0}")]
    Locked(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an `io::Error` with the path it happened on.
    pub fn io(path: impl AsRef<std::path::Path>, source: io::Error) -> Error {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// True for [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption(_))
    }
}
