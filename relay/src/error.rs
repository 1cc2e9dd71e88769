//! Errors of the relay. A connection's error closes that connection (logged
//! with its reason); only [`RelayError`] from start-up stops the process.

use std::io;

use ferry_proto::{DecodeError, FrameError};
use thiserror::Error;

/// Why the relay could not start.
#[derive(Debug, Error)]
pub enum RelayError {
    #[error("cannot listen on {what} {addr}")]
    Bind {
        what: &'static str,
        addr: std::net::SocketAddr,
        source: io::Error,
    },
    #[error("cannot start worker thread for core {core}")]
    Worker { core: usize, source: io::Error },
    #[error("invalid relay configuration: {0}")]
    Config(String),
}

/// Why a connection was closed. Logged once, at the connection's edge.
#[derive(Debug, Error)]
pub(crate) enum ConnError {
    #[error("io error")]
    Io(#[from] io::Error),
    #[error("bad frame")]
    Frame(#[from] FrameError),
    #[error("bad message")]
    Decode(#[from] DecodeError),
    #[error("peer closed the connection in the middle of a frame")]
    Truncated,
    #[error("{0}")]
    Protocol(String),
    #[error("no traffic for {0:?}")]
    Timeout(std::time::Duration),
}

impl ConnError {
    pub(crate) fn protocol(reason: impl Into<String>) -> ConnError {
        ConnError::Protocol(reason.into())
    }
}
