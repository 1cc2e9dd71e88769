//! The client's one error type: opaque, asked with predicates
//! (`is_refused`, `is_timeout`, …) so new causes can be added without
//! breaking callers.

use std::time::Duration;

use ferry_proto::extension::FileServerError;

/// What went wrong talking to a ferry (or TeamTalk) server.
#[derive(Debug, thiserror::Error)]
#[error("{kind}")]
pub struct Error {
    kind: Kind,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Kind {
    #[error("i/o with {what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{what} did not answer within {after:?}")]
    Timeout { what: &'static str, after: Duration },
    #[error("the connection is closed")]
    Closed,
    #[error("refused: result {code}{}{}", reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(), server_error.map(|c| format!(": {}", server_error_name(c))).unwrap_or_default())]
    Refused {
        code: u32,
        reason: Option<String>,
        /// The relay's `file_server_error` (a ferry extension).
        server_error: Option<u32>,
    },
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("discovery: {0}")]
    Discovery(String),
    #[error("{what}: {source}")]
    File {
        what: String,
        source: std::io::Error,
    },
    #[error("the transfer was {state} by {by}")]
    Cancelled { state: &'static str, by: String },
    #[error("{0}")]
    Invalid(String),
    #[error("SHA-256 mismatch: {what} {path} hashes to {local}, the relay stored {stored}")]
    Mismatch {
        /// "the file sent", "the file received".
        what: &'static str,
        path: String,
        /// Lowercase hex.
        local: String,
        /// Lowercase hex.
        stored: String,
    },
    #[error("the bytes received at offset {offset} of task {task} are not the pattern sent")]
    NotPattern { task: String, offset: u64 },
}

impl Error {
    pub(crate) fn new(kind: Kind) -> Error {
        Error { kind }
    }

    pub(crate) fn io(what: &'static str, source: std::io::Error) -> Error {
        Error::new(Kind::Io { what, source })
    }

    pub(crate) fn protocol(text: impl Into<String>) -> Error {
        Error::new(Kind::Protocol(text.into()))
    }

    /// Reading or writing the local file `path` failed (`doing`: what).
    pub(crate) fn file(doing: &str, path: &std::path::Path, source: std::io::Error) -> Error {
        Error::new(Kind::File {
            what: format!("{doing} {}", path.display()),
            source,
        })
    }

    pub(crate) fn closed() -> Error {
        Error::new(Kind::Closed)
    }

    pub(crate) fn invalid(text: impl Into<String>) -> Error {
        Error::new(Kind::Invalid(text.into()))
    }

    pub(crate) fn refused(code: u32, reason: impl Into<String>) -> Error {
        Error::refused_because(code, reason, None)
    }

    /// [`Error::refused`] with the relay's `file_server_error`, if any.
    pub(crate) fn refused_because(
        code: u32,
        reason: impl Into<String>,
        server_error: Option<u32>,
    ) -> Error {
        Error::new(Kind::Refused {
            code,
            reason: Some(reason.into()),
            server_error,
        })
    }

    /// The server answered with a failure result (a wrong password, a
    /// busy server, a refused message); see [`Error::result_code`].
    pub fn is_refused(&self) -> bool {
        matches!(self.kind, Kind::Refused { .. })
    }

    /// The server did not answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, Kind::Timeout { .. })
    }

    /// The connection ended (closed by the server, kicked, or dropped).
    pub fn is_closed(&self) -> bool {
        matches!(self.kind, Kind::Closed)
    }

    /// Connecting, reading or writing failed.
    pub fn is_io(&self) -> bool {
        matches!(self.kind, Kind::Io { .. })
    }

    /// The server sent something this client cannot read.
    pub fn is_protocol(&self) -> bool {
        matches!(self.kind, Kind::Protocol(_))
    }

    /// login_server's answer was missing, failed or unreadable.
    pub fn is_discovery(&self) -> bool {
        matches!(self.kind, Kind::Discovery(_))
    }

    /// Reading or writing a local file failed (the file to send, the file
    /// being received); the path is in the message.
    pub fn is_file(&self) -> bool {
        matches!(self.kind, Kind::File { .. })
    }

    /// The other side (or the relay on its behalf) cancelled or refused a
    /// transfer (IMFileState CANCEL or REFUSE).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.kind, Kind::Cancelled { .. })
    }

    /// The caller asked for something that cannot be done: a file of
    /// 4 GiB or more (TeamTalk's sizes and offsets are u32), a chunk of 0
    /// bytes, a task without a relay address.
    pub fn is_invalid(&self) -> bool {
        matches!(self.kind, Kind::Invalid(_))
    }

    /// The file's SHA-256 differs from the one the relay stored (the DONE
    /// of an offline upload or download): the bytes on one side are not
    /// the bytes on the other. A received file that fails is left in place
    /// for the caller to discard; the paths and both digests are in the
    /// message. Also: a [`crate::transfer::Pattern`] receiver got bytes
    /// that are not the pattern (the offset is in the message).
    pub fn is_mismatch(&self) -> bool {
        matches!(self.kind, Kind::Mismatch { .. } | Kind::NotPattern { .. })
    }

    /// Worth trying again on a new connection: the connection failed,
    /// closed or went silent.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            Kind::Io { .. } | Kind::Closed | Kind::Timeout { .. }
        )
    }

    /// The failure result the server answered with, when refused.
    pub fn result_code(&self) -> Option<u32> {
        match self.kind {
            Kind::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Why a ferry relay refused a task or a file login (its
    /// `file_server_error`, passed on by msg_server for a file request):
    /// a quota, no space, too large, no offline store… `None` when the
    /// refusal carried none (a TeamTalk server never sends one) or a code
    /// this client does not know ([`Error::file_server_error_code`]).
    pub fn file_server_error(&self) -> Option<FileServerError> {
        self.file_server_error_code()
            .and_then(FileServerError::from_code)
    }

    /// The raw `file_server_error` code of a refusal, known or not.
    pub fn file_server_error_code(&self) -> Option<u32> {
        match self.kind {
            Kind::Refused { server_error, .. } => server_error,
            _ => None,
        }
    }
}

fn server_error_name(code: u32) -> String {
    match FileServerError::from_code(code) {
        Some(e) => format!("{e:?}"),
        None => format!("file server error {code:#x}"),
    }
}
