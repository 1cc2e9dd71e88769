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
    #[error("cannot open core {core}'s shard of the offline store")]
    Store {
        core: usize,
        source: ferry_storage::Error,
    },
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
    #[error("offline transfers are not served: no store is configured")]
    OfflineOff,
    #[error("login for unknown offline task {0}")]
    UnknownTask(String),
    #[error("user {user} is not the {role} of task {task}")]
    NotParticipant {
        user: u32,
        role: &'static str,
        task: String,
    },
    #[error("task {task} is {state}: {role} refused")]
    TaskState {
        task: String,
        state: &'static str,
        role: &'static str,
    },
    #[error("offline store")]
    Store(#[from] ferry_storage::Error),
    #[error("answer at offset {0} to no pull in flight")]
    UnaskedAnswer(u32),
    #[error("answer of {got} bytes to a pull of {asked} at offset {offset}")]
    WrongLength { offset: u32, asked: u32, got: usize },
    #[error("the uploader answered result_code {0}")]
    UploaderFailed(u32),
    #[error("pull of {size} bytes at {offset} of a file of {file} bytes (at most {max} a pull)")]
    BadPull {
        offset: u32,
        size: u32,
        file: u64,
        max: u32,
    },
    #[error("{0} not expected on an offline {1} connection")]
    Unexpected(ferry_proto::CommandId, &'static str),
}

impl ConnError {
    pub(crate) fn protocol(reason: impl Into<String>) -> ConnError {
        ConnError::Protocol(reason.into())
    }
}
