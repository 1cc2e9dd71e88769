//! Ids reserved for ferry's wire extensions (docs/ARCHITECTURE.md, "The wire"), and
//! the extensions defined in them.
//!
//! New commands take ids from these ranges, which no stock TeamTalk command
//! uses; new fields of existing messages are `optional` with numbers from
//! [`FIRST_EXTENSION_FIELD`] up, so stock peers skip them as unknown fields.
//! Every extension defined is listed in `PROTOCOL-EXTENSIONS.md` at the root.
//!
//! Defined: the msg-server link handshake (`Ferry.Link.proto`). With a
//! shared secret configured the relay opens a link with
//! [`CID_OTHER_LINK_CHALLENGE`] (32 random bytes) and the msg server must
//! answer, as its first PDU, [`CID_OTHER_LINK_AUTH`] carrying
//! [`link_mac`]`(secret, nonce)`; anything else closes the link. A fresh
//! nonce per link means a recorded answer is worth nothing on another.
//!
//! Defined: where an offline file lives (`Ferry.Link.proto`). A msg server
//! asks each relay with [`CID_OTHER_OFFLINE_LOCATE_REQ`] which of a list of
//! task ids its offline store holds; the relay answers
//! [`CID_OTHER_OFFLINE_LOCATE_RSP`] with those it holds. An empty request
//! is a probe (a stock file_server ignores the command and never answers).
//!
//! Defined: deleting an offline file (`Ferry.Link.proto`). When a receiver
//! deletes an offline task (stock CID_FILE_DEL_OFFLINE_REQ), the msg
//! server tells the relay that holds it with
//! [`CID_OTHER_OFFLINE_DELETE_REQ`] (task id and the session's user); the
//! relay deletes the stored file if that user is the task's receiver and
//! answers [`CID_OTHER_OFFLINE_DELETE_RSP`] with an
//! [`OfflineDeleteResult`].
//!
//! Defined: the breakpoint query (`Ferry.File.proto`). A participant of an
//! offline task sends [`CID_FILE_BREAKPOINT_REQ`] to the relay's client port
//! as its connection's first PDU (in place of a file login) and gets
//! [`CID_FILE_BREAKPOINT_RSP`]: the committed ranges, size, block size and
//! state, or a refusal ([`BreakpointResult`]) carrying nothing about the
//! task. The relay then closes the connection.
//!
//! Defined: `IMFileState.sha256` (field [`FIELD_FILE_STATE_SHA256`]): the
//! stored file's SHA-256 on the DONE that ends an offline upload or
//! download. `IMFileReq.sha256` / `IMFileTransferReq.sha256` (field
//! [`FIELD_FILE_SHA256`]): the file's SHA-256 on an offline request, for
//! instant upload. Every extension field is listed in [`EXTENSION_FIELDS`].
//!
//! Defined: files past 4 GiB. TeamTalk's sizes and offsets are u32; the
//! fields `file_size_u64` / `offset_u64` (number 100, [`FIELD_SIZE_U64`],
//! [`FIELD_OFFSET_U64`]) on the transfer request and answer (client <->
//! msg_server <-> relay), the notify, the offline file list, the file
//! login and its answer, the pull request and the pull answer carry the
//! true value when it exceeds `u32::MAX`. The stock field then carries
//! [`WIDE_SENTINEL`] (`u32::MAX`); [`split_u64`] and [`join_u64`] are the
//! two directions. A file login carrying `file_size_u64` marks a peer that
//! speaks the u64 fields; a login without it is a stock peer's, and a
//! relay refuses it a task it could not address ([`fits_stock`]).

use std::ops::RangeInclusive;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::pb::ferry::file::{BreakpointReq, BreakpointRsp};
use crate::pb::ferry::link::{
    LinkAuth, LinkChallenge, OfflineDeleteReq, OfflineDeleteRsp, OfflineLocateReq, OfflineLocateRsp,
};
use crate::registry::{CommandId, CommandInfo, Pdu, SID_FILE, SID_OTHER};

/// New file-service commands (SID_FILE).
pub const FILE_EXTENSION_COMMANDS: RangeInclusive<u16> = 0x0580..=0x05ff;
/// New other-service commands (SID_OTHER).
pub const OTHER_EXTENSION_COMMANDS: RangeInclusive<u16> = 0x0780..=0x07ff;
/// First field number an extension field may use.
pub const FIRST_EXTENSION_FIELD: u32 = 100;

/// Relay -> msg server, first PDU of an authenticated link.
pub const CID_OTHER_LINK_CHALLENGE: CommandId = CommandId::new(SID_OTHER, 0x0780);
/// Msg server -> relay, the answer to the challenge.
pub const CID_OTHER_LINK_AUTH: CommandId = CommandId::new(SID_OTHER, 0x0781);

/// Msg server -> relay: which of these offline tasks do you hold?
pub const CID_OTHER_OFFLINE_LOCATE_REQ: CommandId = CommandId::new(SID_OTHER, 0x0782);
/// Relay -> msg server: the ones it holds.
pub const CID_OTHER_OFFLINE_LOCATE_RSP: CommandId = CommandId::new(SID_OTHER, 0x0783);
/// Task ids one locate request names at most (a relay ignores the rest):
/// 36-byte ids, so a request stays near 40 KiB.
pub const OFFLINE_LOCATE_MAX_TASKS: usize = 1000;

/// Msg server -> relay: the receiver deleted this offline task.
pub const CID_OTHER_OFFLINE_DELETE_REQ: CommandId = CommandId::new(SID_OTHER, 0x0784);
/// Relay -> msg server: what became of it ([`OfflineDeleteResult`]).
pub const CID_OTHER_OFFLINE_DELETE_RSP: CommandId = CommandId::new(SID_OTHER, 0x0785);

impl Pdu for OfflineDeleteReq {
    const COMMAND: CommandId = CID_OTHER_OFFLINE_DELETE_REQ;
}

impl Pdu for OfflineDeleteRsp {
    const COMMAND: CommandId = CID_OTHER_OFFLINE_DELETE_RSP;
}

impl Pdu for OfflineLocateReq {
    const COMMAND: CommandId = CID_OTHER_OFFLINE_LOCATE_REQ;
}

impl Pdu for OfflineLocateRsp {
    const COMMAND: CommandId = CID_OTHER_OFFLINE_LOCATE_RSP;
}

/// Client -> relay: a breakpoint query, the first PDU of a connection.
pub const CID_FILE_BREAKPOINT_REQ: CommandId = CommandId::new(SID_FILE, 0x0580);
/// Relay -> client: the answer, under the query's seq; then the close.
pub const CID_FILE_BREAKPOINT_RSP: CommandId = CommandId::new(SID_FILE, 0x0581);

impl Pdu for LinkChallenge {
    const COMMAND: CommandId = CID_OTHER_LINK_CHALLENGE;
}

impl Pdu for LinkAuth {
    const COMMAND: CommandId = CID_OTHER_LINK_AUTH;
}

impl Pdu for BreakpointReq {
    const COMMAND: CommandId = CID_FILE_BREAKPOINT_REQ;
}

impl Pdu for BreakpointRsp {
    const COMMAND: CommandId = CID_FILE_BREAKPOINT_RSP;
}

macro_rules! extension_commands {
    ($($name:ident => $ty:ty,)*) => {
        /// Every extension command, for dispatch, logs and the fuzz target
        /// ([`crate::registry::lookup_any`] finds them after the stock ones).
        pub static COMMANDS: &[CommandInfo] = &[
            $(CommandInfo::of::<$ty>($name, stringify!($name)),)*
        ];
    };
}

extension_commands! {
    CID_FILE_BREAKPOINT_REQ => BreakpointReq,
    CID_FILE_BREAKPOINT_RSP => BreakpointRsp,
    CID_OTHER_LINK_CHALLENGE => LinkChallenge,
    CID_OTHER_LINK_AUTH => LinkAuth,
    CID_OTHER_OFFLINE_LOCATE_REQ => OfflineLocateReq,
    CID_OTHER_OFFLINE_LOCATE_RSP => OfflineLocateRsp,
    CID_OTHER_OFFLINE_DELETE_REQ => OfflineDeleteReq,
    CID_OTHER_OFFLINE_DELETE_RSP => OfflineDeleteRsp,
}

/// `IMFileState.sha256`: 32 bytes, the SHA-256 of the stored file, on the
/// DONE of an offline upload (to the uploader) and download.
pub const FIELD_FILE_STATE_SHA256: u32 = 100;
/// `sha256` on the file request (client -> msg_server) and the transfer
/// request (msg_server -> relay): the SHA-256 (32 bytes) of the file an
/// offline request is for, as its sender computed it; a relay that holds
/// those bytes from the same sender creates the task complete (instant
/// upload). Any other length is refused.
pub const FIELD_FILE_SHA256: u32 = 101;

/// `file_size_u64`: a file's size in bytes (u64) when it exceeds
/// `u32::MAX`, beside a stock `file_size` carrying [`WIDE_SENTINEL`]; on a
/// file login, present from every ferry peer (the size it knows) to say it
/// speaks the u64 fields.
pub const FIELD_SIZE_U64: u32 = 100;
/// `offset_u64`: a pull's byte offset (u64) when it exceeds `u32::MAX`,
/// beside a stock `offset` carrying [`WIDE_SENTINEL`].
pub const FIELD_OFFSET_U64: u32 = 100;

/// What a stock u32 size or offset field carries when the value does not
/// fit (the extension field then carries it): `u32::MAX`, not 0. A stock
/// peer reading 0 would take the file for an empty one and finish at once
/// with nothing (TeamTalk's file_server even loops on a zero size); reading
/// `u32::MAX` it expects the largest file it can address and asks for it,
/// which ferry's relay refuses at login with a reason. A ferry peer never
/// reads the stock field alone when the extension is present.
pub const WIDE_SENTINEL: u32 = u32::MAX;

/// The largest file a stock peer can address: offsets and sizes are u32.
pub const STOCK_MAX_FILE_SIZE: u64 = u32::MAX as u64;

/// A size or offset as (stock u32 field, extension field): the value itself
/// and no extension when it fits u32, else [`WIDE_SENTINEL`] and the value.
pub fn split_u64(value: u64) -> (u32, Option<u64>) {
    match u32::try_from(value) {
        Ok(v) => (v, None),
        Err(_) => (WIDE_SENTINEL, Some(value)),
    }
}

/// Whether a file of `size` bytes can be moved by a stock peer (every
/// offset and the size fit u32).
pub fn fits_stock(size: u64) -> bool {
    size <= STOCK_MAX_FILE_SIZE
}

/// A stock u32 field and its u64 extension that disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stock field {stock} disagrees with its u64 extension {wide}")]
pub struct WideMismatch {
    /// What the stock field carried.
    pub stock: u32,
    /// What the extension carried.
    pub wide: u64,
}

/// The value a (stock u32 field, u64 extension) pair carries: the stock
/// field when the extension is absent; else the extension, provided the
/// stock field is the value itself (it fits u32) or [`WIDE_SENTINEL`] (it
/// does not). Anything else is refused rather than guessed at.
pub fn join_u64(stock: u32, wide: Option<u64>) -> Result<u64, WideMismatch> {
    match wide {
        None => Ok(u64::from(stock)),
        Some(w) if split_u64(w).0 == stock => Ok(w),
        Some(w) => Err(WideMismatch { stock, wide: w }),
    }
}

/// `file_server_error` on the transfer answer (relay -> msg_server), the
/// file request's answer (msg_server -> client) and the file login's
/// answer (relay -> client): why `result_code` is 1, a [`FileServerError`].
pub const FIELD_FILE_SERVER_ERROR: u32 = 101;

/// Every field ferry added to a stock message: (message, field number,
/// field name). A test checks that the generated schemas agree and that no
/// other field of a stock message lies at [`FIRST_EXTENSION_FIELD`] or up.
pub const EXTENSION_FIELDS: &[(&str, u32, &str)] = &[
    ("IM.File.IMFileState", FIELD_FILE_STATE_SHA256, "sha256"),
    ("IM.File.IMFileLoginReq", FIELD_SIZE_U64, "file_size_u64"),
    ("IM.File.IMFileLoginRsp", FIELD_SIZE_U64, "file_size_u64"),
    ("IM.File.IMFilePullDataReq", FIELD_OFFSET_U64, "offset_u64"),
    ("IM.File.IMFilePullDataRsp", FIELD_OFFSET_U64, "offset_u64"),
    ("IM.File.IMFileReq", FIELD_SIZE_U64, "file_size_u64"),
    ("IM.File.IMFileReq", FIELD_FILE_SHA256, "sha256"),
    (
        "IM.File.IMFileRsp",
        FIELD_FILE_SERVER_ERROR,
        "file_server_error",
    ),
    (
        "IM.File.IMFileLoginRsp",
        FIELD_FILE_SERVER_ERROR,
        "file_server_error",
    ),
    (
        "IM.Server.IMFileTransferRsp",
        FIELD_FILE_SERVER_ERROR,
        "file_server_error",
    ),
    ("IM.Server.IMFileTransferReq", FIELD_FILE_SHA256, "sha256"),
    ("IM.File.IMFileNotify", FIELD_SIZE_U64, "file_size_u64"),
    (
        "IM.File.IMFileAddOfflineReq",
        FIELD_SIZE_U64,
        "file_size_u64",
    ),
    (
        "IM.Server.IMFileTransferReq",
        FIELD_SIZE_U64,
        "file_size_u64",
    ),
    (
        "IM.Server.IMFileTransferRsp",
        FIELD_SIZE_U64,
        "file_size_u64",
    ),
    (
        "IM.BaseDefine.OfflineFileInfo",
        FIELD_SIZE_U64,
        "file_size_u64",
    ),
];

/// A `uint32` code on the wire as a Rust enum: `from_code` (unknown codes
/// are `None`, so a later value never makes an older peer refuse the whole
/// answer) and `code`.
macro_rules! wire_code {
    (
        $(#[$doc:meta])*
        pub enum $name:ident {
            $( $(#[$vdoc:meta])* $variant:ident = $value:literal, )*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$vdoc])* $variant = $value, )*
        }

        impl $name {
            /// The value a code field carries, if ferry knows it.
            pub fn from_code(code: u32) -> Option<$name> {
                match code {
                    $( $value => Some($name::$variant), )*
                    _ => None,
                }
            }

            /// The wire value.
            pub fn code(self) -> u32 {
                self as u32
            }
        }
    };
}

wire_code! {
    /// `BreakpointRsp.result_code`. A refusal carries no range, size or state.
    pub enum BreakpointResult {
        /// The answer carries the task's ranges, size, block size and state.
        Ok = 0,
        /// The task id is not UUID text; nothing was looked up.
        BadTaskId = 1,
        /// No offline task with this id (never created, expired or deleted).
        UnknownTask = 2,
        /// The asker is neither the task's sender nor its receiver.
        NotParticipant = 3,
        /// The relay keeps no offline store.
        NoStore = 4,
    }
}

wire_code! {
    /// `OfflineDeleteRsp.result_code`.
    pub enum OfflineDeleteResult {
        /// The stored file and its record are gone.
        Deleted = 0,
        /// The task id is not UUID text; nothing was looked up.
        BadTaskId = 1,
        /// This relay holds no offline task with this id.
        UnknownTask = 2,
        /// The user named is not the task's receiver: nothing was deleted.
        NotReceiver = 3,
        /// The relay keeps no offline store.
        NoStore = 4,
        /// The store failed to delete (the relay logs why); the file expires
        /// by its TTL.
        Failed = 5,
    }
}

wire_code! {
    /// Why a relay refused (`file_server_error`, field 101 of the transfer
    /// answer, the file request's answer and the file login's answer).
    /// Codes below 0x100 are TeamTalk's `IM.BaseDefine.FileServerError`,
    /// which its file_server declares and never sends; 0x100 and up are
    /// ferry's. An unknown code still means "refused".
    pub enum FileServerError {
        /// TeamTalk's CREATE_TASK_ERROR: the task could not be made (a
        /// cause not listed below).
        CreateTask = 0x02,
        /// TeamTalk's INVALID_USER_FOR_TASK: the user is not the task's
        /// sender or receiver, or the role is taken by another user.
        InvalidUserForTask = 0x04,
        /// TeamTalk's PULL_DATA_WITH_INVALID_TASK_ID: no such task (never
        /// made, ended, expired or deleted) or an id that is not UUID text.
        InvalidTaskId = 0x05,
        /// The sending user's offline files would pass `storage.user_quota_bytes`.
        UserQuota = 0x100,
        /// All stored files would pass `offline.quota_bytes`.
        Quota = 0x101,
        /// The disk would keep less than `storage.min_free_bytes` free.
        NoSpace = 0x102,
        /// Larger than `storage.max_file_size`.
        TooLarge = 0x103,
        /// The relay keeps no offline store (offline transfers refused).
        NoStore = 0x104,
        /// The store failed (an I/O error, or it stopped after a failed
        /// sync); the relay logs why.
        StoreFailed = 0x105,
        /// The relay is draining for shutdown; ask another.
        Draining = 0x106,
        /// The request is malformed: sizes that disagree, a SHA-256 that is
        /// not 32 bytes, an unknown mode or role.
        BadRequest = 0x107,
        /// The task is not in a state for this: a download of an upload not
        /// finished, or of a damaged file.
        TaskState = 0x108,
        /// A stock peer (no `file_size_u64` on its login) asked for a file
        /// past 4 GiB - 1, which it cannot address.
        StockPeerTooLarge = 0x109,
        /// The task has `relay.offline_uploaders_per_task` upload
        /// connections already.
        TooManyUploaders = 0x10a,
    }
}

wire_code! {
    /// `BreakpointRsp.state`: where an offline upload stands.
    pub enum OfflineState {
        /// Blocks are missing (or the digest is not computed yet).
        Uploading = 0,
        /// Every block committed and the SHA-256 recorded: downloadable.
        Complete = 1,
        /// A committed block failed its check: downloads are refused.
        Damaged = 2,
    }
}

/// At most this many ranges in one answer (`truncated` says when more
/// exist): 100,000 ranges of at most 24 bytes each stay well inside the
/// default 4 MiB frame. Only a task whose committed blocks alternate with
/// missing ones over a huge file comes near it.
pub const BREAKPOINT_MAX_RANGES: usize = 100_000;

/// Bytes of a challenge's nonce.
pub const LINK_NONCE_LEN: usize = 32;
/// What the MAC binds besides the nonce: the purpose and its version.
const LINK_CONTEXT: &[u8] = b"ferry-link-v1\0";

fn link_hmac(secret: &[u8], nonce: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(LINK_CONTEXT);
    mac.update(nonce);
    mac
}

/// HMAC-SHA256(secret, "ferry-link-v1" 0x00 nonce): the msg server's answer.
pub fn link_mac(secret: &[u8], nonce: &[u8]) -> [u8; 32] {
    link_hmac(secret, nonce).finalize().into_bytes().into()
}

/// Whether `mac` answers `nonce` under `secret`, compared in constant time.
pub fn verify_link_mac(secret: &[u8], nonce: &[u8], mac: &[u8]) -> bool {
    link_hmac(secret, nonce).verify_slice(mac).is_ok()
}

/// Whether `command_id` lies in a range reserved for ferry's extensions.
pub fn is_extension_command(command_id: u16) -> bool {
    FILE_EXTENSION_COMMANDS.contains(&command_id) || OTHER_EXTENSION_COMMANDS.contains(&command_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::COMMANDS as STOCK;
    use crate::schema::ALL_SCHEMAS;

    #[test]
    fn link_mac_matches_an_independent_hmac() {
        // python3: hmac.new(secret, b"ferry-link-v1\x00" + bytes(range(32)), sha256)
        let secret = b"correct horse battery staple";
        let nonce: Vec<u8> = (0..32).collect();
        let want = "568d715ef55580bbd0407fc9e1d4fffbd7e72c47977d312ab8515a6b18606f68";
        let got: String = link_mac(secret, &nonce)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want);
        assert!(verify_link_mac(secret, &nonce, &link_mac(secret, &nonce)));
        assert!(!verify_link_mac(
            b"another secret!!",
            &nonce,
            &link_mac(secret, &nonce)
        ));
        let mut flipped = link_mac(secret, &nonce);
        flipped[31] ^= 1;
        assert!(!verify_link_mac(secret, &nonce, &flipped));
        assert!(!verify_link_mac(secret, &nonce, &flipped[..31]));
    }

    #[test]
    fn link_commands_lie_in_the_reserved_space() {
        for c in [
            CID_OTHER_LINK_CHALLENGE,
            CID_OTHER_LINK_AUTH,
            CID_OTHER_OFFLINE_LOCATE_REQ,
            CID_OTHER_OFFLINE_LOCATE_RSP,
            CID_OTHER_OFFLINE_DELETE_REQ,
            CID_OTHER_OFFLINE_DELETE_RSP,
        ] {
            assert!(is_extension_command(c.command_id));
            assert!(crate::registry::lookup(c).is_none(), "not a stock command");
        }
    }

    #[test]
    fn wire_codes_round_trip_and_unknown_ones_are_none() {
        for code in 0..=5 {
            assert_eq!(OfflineDeleteResult::from_code(code).unwrap().code(), code);
        }
        for code in 0..=4 {
            assert_eq!(BreakpointResult::from_code(code).unwrap().code(), code);
        }
        for code in 0..=2 {
            assert_eq!(OfflineState::from_code(code).unwrap().code(), code);
        }
        assert_eq!(OfflineDeleteResult::from_code(6), None);
        assert_eq!(BreakpointResult::from_code(5), None);
        assert_eq!(OfflineState::from_code(3), None);
        assert_eq!(
            OfflineDeleteResult::from_code(3),
            Some(OfflineDeleteResult::NotReceiver)
        );
    }

    #[test]
    fn extension_commands_lie_in_the_reserved_space() {
        assert_eq!(COMMANDS.len(), 8);
        for c in COMMANDS {
            assert!(is_extension_command(c.id.command_id), "{}", c.name);
            assert_eq!(c.id.command_id >> 8, c.id.service_id, "{}", c.name);
            assert!(
                crate::registry::lookup(c.id).is_none(),
                "{} is not a stock command",
                c.name
            );
            let found = crate::registry::lookup_any(c.id).map(|i| i.name);
            assert_eq!(found, Some(c.name));
            assert_eq!(c.id.info().map(|i| i.id), Some(c.id));
        }
        let ids: Vec<CommandId> = COMMANDS.iter().map(|c| c.id).collect();
        for id in [
            CID_FILE_BREAKPOINT_REQ,
            CID_FILE_BREAKPOINT_RSP,
            CID_OTHER_LINK_CHALLENGE,
            CID_OTHER_LINK_AUTH,
        ] {
            assert!(ids.contains(&id), "{id} is registered");
        }
        assert!(FILE_EXTENSION_COMMANDS.contains(&CID_FILE_BREAKPOINT_REQ.command_id));
        assert!(FILE_EXTENSION_COMMANDS.contains(&CID_FILE_BREAKPOINT_RSP.command_id));
        assert_eq!(
            CID_FILE_BREAKPOINT_REQ.to_string(),
            "CID_FILE_BREAKPOINT_REQ (0x0005/0x0580)"
        );
    }

    #[test]
    fn no_stock_command_or_field_lies_in_the_reserved_space() {
        assert!(
            STOCK.iter().all(|c| !is_extension_command(c.id.command_id)),
            "a stock command id in the extension ranges"
        );
        let mut listed = 0;
        for schema in ALL_SCHEMAS {
            if schema.name.starts_with("Ferry.") {
                continue; // ferry's own packages: every field is ferry's
            }
            for f in schema.fields {
                let extension = EXTENSION_FIELDS
                    .iter()
                    .find(|(m, n, _)| *m == schema.name && *n == f.number);
                match extension {
                    Some((_, _, name)) => {
                        listed += 1;
                        assert_eq!(f.name, *name, "{}.{}", schema.name, f.number);
                        assert!(f.number >= FIRST_EXTENSION_FIELD);
                        assert!(!f.required, "{}.{} must be optional", schema.name, f.name);
                    }
                    None => assert!(
                        f.number < FIRST_EXTENSION_FIELD,
                        "{}.{} = {} is a stock field in the extension space",
                        schema.name,
                        f.name,
                        f.number
                    ),
                }
            }
        }
        assert_eq!(listed, EXTENSION_FIELDS.len(), "every listed field exists");
    }

    #[test]
    fn result_codes_and_states_round_trip() {
        for r in [
            BreakpointResult::Ok,
            BreakpointResult::BadTaskId,
            BreakpointResult::UnknownTask,
            BreakpointResult::NotParticipant,
            BreakpointResult::NoStore,
        ] {
            assert_eq!(BreakpointResult::from_code(r.code()), Some(r));
        }
        assert_eq!(BreakpointResult::from_code(5), None);
        for s in [
            OfflineState::Uploading,
            OfflineState::Complete,
            OfflineState::Damaged,
        ] {
            assert_eq!(OfflineState::from_code(s.code()), Some(s));
        }
        assert_eq!(OfflineState::from_code(3), None);
    }

    /// A stock peer's IMFileState (three fields, no 100) decodes a DONE
    /// carrying the digest, and ferry's reads the digest back.
    #[test]
    fn a_stock_decoder_skips_the_digest_field() {
        use crate::pb::im::file::ImFileState;

        #[derive(Clone, PartialEq, prost::Message)]
        struct StockFileState {
            #[prost(int32, required, tag = "1")]
            state: i32,
            #[prost(bytes = "vec", required, tag = "2")]
            task_id: Vec<u8>,
            #[prost(uint32, required, tag = "3")]
            user_id: u32,
        }

        let done = ImFileState {
            state: 3,
            task_id: "6f9619ff-8b86-4d11-b42d-00c04fc964ff".into(),
            user_id: 7,
            sha256: Some(vec![0xab; 32].into()),
        };
        let body = prost::Message::encode_to_vec(&done);
        let stock = <StockFileState as prost::Message>::decode(&body[..]).unwrap();
        assert_eq!(
            (stock.state, stock.user_id, &stock.task_id[..]),
            (3, 7, &b"6f9619ff-8b86-4d11-b42d-00c04fc964ff"[..])
        );
        let back: ImFileState = crate::schema::decode(body.into()).unwrap();
        assert_eq!(back.sha256.as_deref(), Some(&[0xab; 32][..]));
    }

    #[test]
    fn sizes_and_offsets_split_and_join() {
        let four_gib = 1u64 << 32;
        for v in [0, 1, u64::from(u32::MAX) - 1, u64::from(u32::MAX)] {
            assert_eq!(split_u64(v), (v as u32, None), "{v} fits the stock field");
            assert_eq!(join_u64(v as u32, None), Ok(v));
            assert_eq!(
                join_u64(v as u32, Some(v)),
                Ok(v),
                "a redundant twin agrees"
            );
            assert!(fits_stock(v));
        }
        for v in [four_gib, 5 * (1 << 30), u64::MAX] {
            assert_eq!(split_u64(v), (WIDE_SENTINEL, Some(v)));
            assert_eq!(join_u64(WIDE_SENTINEL, Some(v)), Ok(v));
            assert!(!fits_stock(v));
            // The wrapped value a u32 cast would give is refused, not taken.
            let wrapped = v as u32;
            if wrapped != WIDE_SENTINEL {
                assert_eq!(
                    join_u64(wrapped, Some(v)),
                    Err(WideMismatch {
                        stock: wrapped,
                        wide: v
                    })
                );
            }
        }
        assert!(join_u64(7, Some(8)).is_err());
        assert_eq!(WIDE_SENTINEL, u32::MAX);
    }

    /// Stock-shaped decoders (the TeamTalk fields only) read every message
    /// carrying a u64 twin: the stock fields unchanged, the sentinel where
    /// the value does not fit; ferry's decoders read the twin back; and a
    /// message whose value fits is byte for byte what a stock peer sends.
    #[test]
    fn stock_decoders_skip_the_u64_fields() {
        use crate::pb::im::base_define::OfflineFileInfo;
        use crate::pb::im::file::{
            ImFileLoginReq, ImFileLoginRsp, ImFileNotify, ImFilePullDataReq, ImFilePullDataRsp,
            ImFileReq,
        };
        use crate::pb::im::server::{ImFileTransferReq, ImFileTransferRsp};

        #[derive(Clone, PartialEq, prost::Message)]
        struct StockPullReq {
            #[prost(bytes = "vec", required, tag = "1")]
            task_id: Vec<u8>,
            #[prost(uint32, required, tag = "2")]
            user_id: u32,
            #[prost(int32, required, tag = "3")]
            trans_mode: i32,
            #[prost(uint32, required, tag = "4")]
            offset: u32,
            #[prost(uint32, required, tag = "5")]
            data_size: u32,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct StockPullRsp {
            #[prost(uint32, required, tag = "1")]
            result_code: u32,
            #[prost(bytes = "vec", required, tag = "2")]
            task_id: Vec<u8>,
            #[prost(uint32, required, tag = "3")]
            user_id: u32,
            #[prost(uint32, required, tag = "4")]
            offset: u32,
            #[prost(bytes = "vec", required, tag = "5")]
            file_data: Vec<u8>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct StockLoginReq {
            #[prost(uint32, required, tag = "1")]
            user_id: u32,
            #[prost(bytes = "vec", required, tag = "2")]
            task_id: Vec<u8>,
            #[prost(int32, required, tag = "3")]
            file_role: i32,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct StockLoginRsp {
            #[prost(uint32, required, tag = "1")]
            result_code: u32,
            #[prost(bytes = "vec", required, tag = "2")]
            task_id: Vec<u8>,
        }
        /// IMFileReq, IMFileTransferReq: fields 1-5 alike.
        #[derive(Clone, PartialEq, prost::Message)]
        struct StockFileReq {
            #[prost(uint32, required, tag = "1")]
            from_user_id: u32,
            #[prost(uint32, required, tag = "2")]
            to_user_id: u32,
            #[prost(bytes = "vec", required, tag = "3")]
            file_name: Vec<u8>,
            #[prost(uint32, required, tag = "4")]
            file_size: u32,
            #[prost(int32, required, tag = "5")]
            trans_mode: i32,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct StockTransferRsp {
            #[prost(uint32, required, tag = "1")]
            result_code: u32,
            #[prost(uint32, optional, tag = "5")]
            file_size: Option<u32>,
            #[prost(bytes = "vec", optional, tag = "6")]
            task_id: Option<Vec<u8>>,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct StockNotify {
            #[prost(uint32, required, tag = "4")]
            file_size: u32,
            #[prost(bytes = "vec", required, tag = "5")]
            task_id: Vec<u8>,
            #[prost(uint32, required, tag = "8")]
            offline_ready: u32,
        }
        #[derive(Clone, PartialEq, prost::Message)]
        struct StockOfflineFileInfo {
            #[prost(uint32, required, tag = "1")]
            from_user_id: u32,
            #[prost(bytes = "vec", required, tag = "2")]
            task_id: Vec<u8>,
            #[prost(bytes = "vec", required, tag = "3")]
            file_name: Vec<u8>,
            #[prost(uint32, required, tag = "4")]
            file_size: u32,
        }

        fn body<M: prost::Message>(m: &M) -> Vec<u8> {
            m.encode_to_vec()
        }
        fn stock<S: prost::Message + Default>(b: &[u8]) -> S {
            S::decode(b).expect("a stock peer decodes it")
        }

        let five_gib: u64 = 5 << 30;
        let task = "6f9619ff-8b86-4d11-b42d-00c04fc964ff";
        let (off32, off64) = split_u64(five_gib - 4096);
        let (size32, size64) = split_u64(five_gib);

        let pull = ImFilePullDataReq {
            task_id: task.into(),
            user_id: 7,
            trans_mode: 2,
            offset: off32,
            data_size: 4096,
            offset_u64: off64,
        };
        let b = body(&pull);
        let s: StockPullReq = stock(&b);
        assert_eq!((s.offset, s.data_size, s.user_id), (u32::MAX, 4096, 7));
        let back: ImFilePullDataReq = crate::schema::decode(b.into()).unwrap();
        assert_eq!(join_u64(back.offset, back.offset_u64), Ok(five_gib - 4096));

        // The answer as the relay writes it: the twin before file_data.
        let rsp = ImFilePullDataRsp {
            result_code: 0,
            task_id: task.into(),
            user_id: 7,
            offset: off32,
            file_data: vec![9u8; 4096].into(),
            offset_u64: off64,
        };
        let b = body(&rsp);
        let s: StockPullRsp = stock(&b);
        assert_eq!((s.offset, s.file_data.len()), (u32::MAX, 4096));
        let head = crate::pull::PullDataRspHead::parse(&b).unwrap();
        assert_eq!((head.offset, head.data_len), (u32::MAX, 4096));
        let back: ImFilePullDataRsp = crate::schema::decode(b.into()).unwrap();
        assert_eq!(join_u64(back.offset, back.offset_u64), Ok(five_gib - 4096));

        let login = ImFileLoginReq {
            user_id: 7,
            task_id: task.into(),
            file_role: 3,
            file_size_u64: Some(five_gib),
        };
        let s: StockLoginReq = stock(&body(&login));
        assert_eq!(
            (s.user_id, s.file_role, &s.task_id[..]),
            (7, 3, task.as_bytes())
        );
        let login_rsp = ImFileLoginRsp {
            file_server_error: None,
            result_code: 0,
            task_id: task.into(),
            file_size_u64: Some(five_gib),
        };
        let s: StockLoginRsp = stock(&body(&login_rsp));
        assert_eq!((s.result_code, &s.task_id[..]), (0, task.as_bytes()));

        let req = ImFileReq {
            from_user_id: 1,
            to_user_id: 2,
            file_name: "big.iso".into(),
            file_size: size32,
            trans_mode: 2,
            file_size_u64: size64,
            sha256: Some(vec![7; 32].into()),
        };
        let s: StockFileReq = stock(&body(&req));
        assert_eq!((s.file_size, s.trans_mode, s.to_user_id), (u32::MAX, 2, 2));
        let transfer = ImFileTransferReq {
            from_user_id: 1,
            to_user_id: 2,
            file_name: "big.iso".into(),
            file_size: size32,
            trans_mode: 2,
            file_size_u64: size64,
            sha256: Some(vec![7; 32].into()),
            attach_data: None,
        };
        let b = body(&transfer);
        let s: StockFileReq = stock(&b);
        assert_eq!(s.file_size, u32::MAX);
        let back: ImFileTransferReq = crate::schema::decode(b.into()).unwrap();
        assert_eq!(join_u64(back.file_size, back.file_size_u64), Ok(five_gib));
        let transfer_rsp = ImFileTransferRsp {
            file_server_error: None,
            result_code: 0,
            from_user_id: 1,
            to_user_id: 2,
            file_name: None,
            file_size: Some(size32),
            task_id: Some(task.into()),
            trans_mode: Some(2),
            file_size_u64: size64,
            attach_data: None,
        };
        let s: StockTransferRsp = stock(&body(&transfer_rsp));
        assert_eq!((s.result_code, s.file_size), (0, Some(u32::MAX)));
        let notify = ImFileNotify {
            from_user_id: 1,
            to_user_id: 2,
            file_name: "big.iso".into(),
            file_size: size32,
            task_id: task.into(),
            ip_addr_list: Vec::new(),
            trans_mode: 2,
            offline_ready: 1,
            file_size_u64: size64,
        };
        let s: StockNotify = stock(&body(&notify));
        assert_eq!((s.file_size, s.offline_ready), (u32::MAX, 1));
        let info = OfflineFileInfo {
            from_user_id: 1,
            task_id: task.into(),
            file_name: "big.iso".into(),
            file_size: size32,
            file_size_u64: size64,
        };
        let s: StockOfflineFileInfo = stock(&body(&info));
        assert_eq!((s.file_size, &s.file_name[..]), (u32::MAX, &b"big.iso"[..]));

        // A value that fits: no twin, the very bytes a stock peer sends.
        let small = ImFilePullDataReq {
            offset: 65536,
            offset_u64: split_u64(65536).1,
            ..pull
        };
        let stock_small = StockPullReq {
            task_id: task.into(),
            user_id: 7,
            trans_mode: 2,
            offset: 65536,
            data_size: 4096,
        };
        assert_eq!(body(&small), body(&stock_small));
    }
}
