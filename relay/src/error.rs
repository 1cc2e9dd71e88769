//! Errors of the relay. A connection's error closes that connection (logged
//! with its reason); only [`RelayError`] from start-up stops the process.

use std::io;

use ferry_proto::extension::FileServerError;
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
    /// The offline store's owner lock could not be taken: another
    /// process has it (another relay, a repair: `Locked`), or `Io`.
    #[error("cannot take the offline store's lock")]
    StoreLock { source: ferry_storage::Error },
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
    #[error("link handshake: {0}")]
    LinkAuth(&'static str),
    #[error("link handshake: {0} instead of the answer to the challenge")]
    LinkAuthCommand(ferry_proto::CommandId),
    #[error("cannot encode an answer")]
    Encode(#[from] ferry_proto::EncodeError),
    #[error("{0} before login")]
    BeforeLogin(ferry_proto::CommandId),
    #[error("task id {0:?} is not UUID text")]
    BadTaskId(String),
    #[error("role {0} is not a file role")]
    BadRole(i32),
    #[error("user {user} may not join task {task}: {reason}")]
    JoinRefused {
        user: u32,
        task: String,
        reason: &'static str,
    },
    #[error("core {0} is gone")]
    CoreGone(usize),
    #[error("user {sent_user} / task {sent_task} on the connection of user {user} for task {task}")]
    ForeignIds {
        sent_user: u32,
        sent_task: String,
        user: u32,
        task: String,
    },
    #[error("pull with trans_mode {0} on an online task")]
    WrongTransMode(i32),
    #[error("more than {0} pulls in flight")]
    WindowFull(u32),
    #[error("pull before the sender joined")]
    SenderAbsent,
    #[error("file state {0} from a client")]
    BadState(i32),
    #[error("offset {0} needs 64-bit pulls")]
    OffsetTooLarge(u64),
    #[error(
        "task {task} is {size} bytes, past what a stock peer can address (4 GiB - 1): \
         its login carried no file_size_u64 (a ferry extension)"
    )]
    StockPeerTooLarge { task: String, size: u64 },
    #[error("login declares {declared} bytes for task {task} of {size} bytes")]
    SizeMismatch {
        task: String,
        declared: u64,
        size: u64,
    },
    #[error("u64 extension field")]
    Wide(#[from] ferry_proto::extension::WideMismatch),
    #[error("upload of {task} makes no progress: {missing} blocks missing, none askable")]
    Stalled { task: String, missing: usize },
    #[error("upload of {task}: the task's other connections made no progress for {waited:?}")]
    OthersStalled {
        task: String,
        waited: std::time::Duration,
    },
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
    #[error(
        "task {task} has {max} uploader connections already \
         (relay.offline_uploaders_per_task): one more is refused"
    )]
    TooManyUploaders { task: String, max: u32 },
    #[error("offline store")]
    Store(#[from] ferry_storage::Error),
    #[error("answer at offset {0} to no pull in flight")]
    UnaskedAnswer(u64),
    #[error("answer of {got} bytes to a pull of {asked} at offset {offset}")]
    WrongLength { offset: u64, asked: u32, got: usize },
    #[error("the uploader answered result_code {0}")]
    UploaderFailed(u32),
    #[error("pull of {size} bytes at {offset} of a file of {file} bytes (at most {max} a pull)")]
    BadPull {
        offset: u64,
        size: u32,
        file: u64,
        max: u32,
    },
    #[error("{0} not expected on an {1} connection")]
    Unexpected(ferry_proto::CommandId, &'static str),
}

impl ConnError {
    /// What a refused login is told of this error (`file_server_error` on
    /// LOGIN_RES, ferry's extension); the error itself is logged.
    pub(crate) fn file_server_error(&self) -> FileServerError {
        match self {
            ConnError::BadTaskId(_) | ConnError::UnknownTask(_) => FileServerError::InvalidTaskId,
            ConnError::JoinRefused { .. } | ConnError::NotParticipant { .. } => {
                FileServerError::InvalidUserForTask
            }
            ConnError::TaskState { .. } => FileServerError::TaskState,
            ConnError::StockPeerTooLarge { .. } => FileServerError::StockPeerTooLarge,
            ConnError::OfflineOff => FileServerError::NoStore,
            ConnError::Store(e) => crate::offline::refusal(e),
            ConnError::CoreGone(_) => FileServerError::Draining,
            ConnError::TooManyUploaders { .. } => FileServerError::TooManyUploaders,
            _ => FileServerError::BadRequest,
        }
    }
}
