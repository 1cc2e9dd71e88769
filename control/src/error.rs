//! The crate's error. Variants say what went wrong for the caller; the PDU
//! edge (`db_proxy::dispatch`) turns any of them into the command's error
//! result, once.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// The SQL database refused or failed a query.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Redis is configured but did not answer (outage, timeout, bad reply).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A value the caller sent cannot be stored as asked (too long, empty).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Stored data that cannot be read back as TeamTalk's types.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("password hashing: {0}")]
    Password(String),
    #[error("configuration: {0}")]
    Config(String),
    /// The failure of a batch this request was stored in (shared by all its
    /// requests).
    #[error("{0}")]
    Batch(std::sync::Arc<Error>),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A listening socket could not be bound (the port is taken, the
    /// address is not this host's).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// Too much heavy work is running and waiting already (an admission
    /// [`Gate`](crate::admission::Gate) is full): refused unprocessed, try
    /// later.
    #[error("server busy: {what} already has {waiting} waiting")]
    Busy { what: &'static str, waiting: usize },
    /// A fault of ours that is none of the above (a worker task died).
    #[error("internal: {0}")]
    Internal(String),
}
