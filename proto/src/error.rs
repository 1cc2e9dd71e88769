//! Errors of the wire layer. Every frame a peer can send maps to one of these;
//! none panics. The connection edge turns them into a logged close.

use thiserror::Error;

use crate::registry::CommandId;

/// Why a PDU header is refused before anything is allocated for its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("PDU length {length} is shorter than the 16-byte header")]
    TooShort { length: u32 },
    #[error("PDU length {length} exceeds the maximum frame size of {max} bytes")]
    TooLong { length: u32, max: u32 },
}

/// Why a PDU body is refused.
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("{message}: required field `{field}` (#{number}) is missing")]
    MissingRequired {
        message: &'static str,
        field: &'static str,
        number: u32,
    },
    #[error("{message}: required enum field `{field}` holds undeclared value {value}")]
    InvalidEnum {
        message: &'static str,
        field: &'static str,
        value: i64,
    },
    #[error("{message}: malformed protobuf body: {source}")]
    Malformed {
        message: &'static str,
        #[source]
        source: prost::DecodeError,
    },
    #[error("unknown command {0}")]
    UnknownCommand(CommandId),
    #[error("expected {expected}, got {got}")]
    UnexpectedCommand { expected: CommandId, got: CommandId },
}

/// Why a message cannot be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("encoded PDU of {length} bytes exceeds the maximum frame size of {max} bytes")]
    TooLong { length: u64, max: u32 },
}
