//! # ferry-proto
//!
//! TeamTalk's wire protocol, byte for byte: the 16-byte PDU header, the nine
//! proto2 packages, their required-field rules and the command table, plus
//! ferry's extensions in the ids reserved for them ([`extension`]). No I/O
//! and no async runtime: the relay (monoio) and the control plane (tokio)
//! each write their own connection loop on top of this.
//!
//! # Layout
//!
//! - [`attach`]: TeamTalk's `attach_data` routing cookie, and reading or
//!   rewriting one field of a body without its message type.
//! - [`frame`]: the header, the allocation-free [`frame::check`] of a receive
//!   buffer (incomplete / complete / invalid), [`frame::Frame`] and encoding.
//! - [`pb`]: prost types generated from `proto/*.proto` (`bytes` as `Bytes`).
//! - [`schema`]: proto2 `required` and closed-enum checks on the wire bytes,
//!   and [`schema::decode`], the one way a received body becomes a message.
//! - [`registry`]: (service id, command id) -> name and message (stock;
//!   [`registry::lookup_any`] adds the extensions); `CID_*` and `SID_*`
//!   constants; the [`registry::Pdu`] trait.
//! - [`pull`]: [`pull::PullDataRspHead`], a pull response checked without
//!   touching (or copying) its payload, for relays.
//! - [`task`]: task id validation and [`task::core_for_task`] placement.
//! - [`text`]: text fields are bytes (`string` is generated as `Bytes`);
//!   [`text::show`] for logs, [`text::utf8`] where a `str` is needed.
//! - [`extension`]: command and field ids reserved for ferry's extensions,
//!   and those defined: the link handshake, the breakpoint query, the
//!   SHA-256 on DONE (`IMFileState.sha256`); their [`extension::COMMANDS`].
//! - [`error`]: [`FrameError`], [`DecodeError`], [`EncodeError`].
//!
//! A receive loop looks like: `Frame::take(&mut buf, max)` until it yields a
//! frame, `frame.decode::<T>()` (or `registry::lookup` for dispatch), handle.

pub mod attach;
pub mod error;
pub mod extension;
pub mod frame;
pub mod pb;
pub mod pull;
pub mod registry;
pub mod schema;
pub mod task;
pub mod text;

pub use error::{DecodeError, EncodeError, FrameError};
pub use frame::{Check, Frame, Header, check};
pub use registry::{CommandId, CommandInfo, Pdu};
pub use task::{core_for_task, validate_task_id};
