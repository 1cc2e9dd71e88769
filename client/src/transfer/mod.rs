//! File transfer: a task asked of msg_server, its bytes moved through a
//! relay as TeamTalk's clients move them.
//!
//! ```text
//! sender ── CID_FILE_REQUEST ──> msg_server ──> relay: task ──> IMFileRsp(task_id, relays) to the sender
//!                                          └──> IMFileNotify to the receiver
//! online:  sender  logs in as REALTIME_SENDER, answers the pulls the relay forwards
//!          receiver logs in as REALTIME_RECVER, waits PEER_READY, pulls (a window), says DONE
//! offline: sender  logs in as OFFLINE_UPLOAD (over Options::upload_connections at once),
//!          answers the relay's pulls (only the blocks it is missing) until DONE, then
//!          CID_FILE_ADD_OFFLINE_REQ: the receiver is notified
//!          receiver lists CID_FILE_HAS_OFFLINE_REQ (or the notify), logs in as OFFLINE_DOWNLOAD,
//!          pulls from what its partial file holds, then CID_FILE_DEL_OFFLINE_REQ
//! ```
//!
//! A dropped relay connection is tried again ([`Options::reconnects`]
//! times, then the next address of the task's list): an offline upload
//! resumes by answering what the relay still asks, a download from the
//! length of the partial file. An online task ends at the relay when
//! either side leaves, so a reconnect there is usually refused. What
//! survives a relay's death is below.
//!
//! # Layout
//! - `signal`: the requests to msg_server ([`Session::request_file`],
//!   offline lists, the high-level [`Session::send_file`] and
//!   [`Session::receive_file`]).
//! - `relay`: one relay connection (login with a role) and the retry rule.
//! - `source`: [`send`]: answering pulls from a local file, with retries
//!   (online sender, uploader).
//! - `sink`: [`receive`]: pulling into a partial file with a window, with
//!   retries (online receiver, downloader).
//! - `payload`: [`Payload`]: a file, or a generated [`Pattern`] that
//!   [`send_payload`] answers from and [`receive_payload`] checks
//!   (nothing on disk: a load generator's mode).
//! - `digest`: after an offline upload or download, the file's SHA-256
//!   compared with the one ferry's relay put on DONE (an extension).
//! - `breakpoint`: [`breakpoint()`]: which bytes of an offline task the
//!   relay holds (ferry's breakpoint query, an extension).
//!
//! # When a relay dies
//!
//! A connection that drops (or cannot be made) is tried again at the same
//! address [`Options::reconnects`] times (3), [`Options::backoff`] apart
//! doubling (0.5, 1 and 2 s: a relay restarted by systemd is back within
//! them; the count starts over once bytes moved), then the next
//! address of [`FileTask::relays`] is tried; a refused login moves on at
//! once. The list holds a relay's own addresses (its owning core's port,
//! then its shared port), then, for an offline download, those of every
//! other relay msg_server found holding the file. [`Progress::moved`]
//! shows what an interruption cost. What survives (tests/client_resume.rs
//! kills a `ferry relay` process to check it):
//!
//! - **An offline download**, whenever a relay that serves the file
//!   answers one of the addresses: the same relay restarted on its store,
//!   or a standby relay started on a copy of that store (msg_server lists
//!   every holder, in its `file_server` order). It goes on from the length
//!   of the partial file: nothing received is received again; the pulls
//!   in flight at the death (at most [`Options::window`] ×
//!   [`Options::chunk`] bytes) are asked again.
//! - **An offline upload**, when the relay that took it comes back on its
//!   store within the retries. The restarted relay asks only for what it
//!   had not committed, so the bytes sent again are at most its pulls in
//!   flight (`relay.offline_window` × `relay.offline_pull`, 256 KiB) plus
//!   what it wrote since its last commit began (a commit runs beside the
//!   next answers: up to twice `relay.offline_commit_bytes`, 2 × 4 MiB,
//!   plus the written part of a store block, 1 MiB): a commit is a data
//!   sync, and only synced bytes are trusted after a crash. A relay
//!   with `relay.offline_window_covers_uncommitted` (and
//!   `offline.block_size` = `offline_pull`) keeps both within one window,
//!   so at most one window is sent again, for a sync every half window.
//!   An upload over several connections ([`Options::upload_connections`])
//!   may send that again per connection (each has its own window and
//!   uncommitted bytes).
//!   The upload's
//!   bytes lived on that relay alone and its task's list names only that
//!   relay's addresses: if it does not come back in time, `send` fails (a
//!   connection error, or `is_refused` from a relay that lost the task)
//!   and the file must be requested and sent again as a new task, from the
//!   first byte. A standby started on an older copy of the store holds at
//!   most what was committed when the copy was taken, and is not in the
//!   uploader's list.
//! - **An online transfer** does not: its task lives in the relay's
//!   memory, so the relay's death ends it; a reconnect is refused
//!   (unknown task) and the sender must ask msg_server for a new task.

mod breakpoint;
mod digest;
mod payload;
mod relay;
mod signal;
mod sink;
mod source;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ferry_proto::pb::im::base_define::{IpAddr as PbIpAddr, TransferFileType};
use ferry_proto::pb::im::file::ImFileNotify;
use ferry_proto::pb::im::server::ImFileTransferRsp;
use tokio::sync::watch;

use crate::error::Error;

pub use breakpoint::{Breakpoint, breakpoint};
pub use ferry_proto::extension::OfflineState;
pub use payload::{Pattern, Payload};
pub use signal::SendOptions;
pub use sink::{receive, receive_payload};
pub use source::{send, send_payload};

#[cfg(doc)]
use crate::Session;

/// Largest file a stock TeamTalk peer can move: sizes and offsets are u32
/// on its wire (bytes). ferry-client moves larger files through a ferry
/// relay, with the u64 extension fields (PROTOCOL-EXTENSIONS.md); a relay
/// that does not answer them (a TeamTalk file_server) is refused such a
/// file at login.
pub const MAX_FILE_SIZE: u64 = u32::MAX as u64;

/// How a task moves its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Sender and receiver are both connected; the relay passes the
    /// receiver's pulls to the sender.
    Online,
    /// The relay keeps the file until the receiver downloads it.
    Offline,
}

impl Mode {
    pub(crate) fn wire(self) -> i32 {
        match self {
            Mode::Online => TransferFileType::FileTypeOnline as i32,
            Mode::Offline => TransferFileType::FileTypeOffline as i32,
        }
    }

    pub(crate) fn from_wire(mode: i32) -> Result<Mode, Error> {
        match TransferFileType::try_from(mode) {
            Ok(TransferFileType::FileTypeOnline) => Ok(Mode::Online),
            Ok(TransferFileType::FileTypeOffline) => Ok(Mode::Offline),
            Err(_) => Err(Error::protocol(format!("trans_mode {mode}"))),
        }
    }
}

/// One file transfer as msg_server described it (IMFileRsp to the sender,
/// IMFileNotify to the receiver, or an entry of the offline list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTask {
    /// The relay's task id (36-character UUID text, checked).
    pub task_id: String,
    pub from_user_id: u32,
    pub to_user_id: u32,
    /// The name as the sender's client sent it: bytes in any encoding
    /// (TeamTalk's Windows clients send their code page). Never a path to
    /// trust; see [`FileTask::display_name`].
    pub file_name: Bytes,
    /// Bytes.
    pub size: u64,
    /// The relay addresses to log in at, in order of preference.
    pub relays: Vec<SocketAddr>,
    pub mode: Mode,
    /// Offline: the upload has finished and the file can be downloaded.
    pub offline_ready: bool,
}

impl FileTask {
    /// The task an IMFileNotify offers.
    ///
    /// Errors: `is_protocol` when the task id is not a UUID, the mode is
    /// unknown or an address unreadable.
    pub fn from_notify(n: &ImFileNotify) -> Result<FileTask, Error> {
        Ok(FileTask {
            task_id: task_id(&n.task_id)?,
            from_user_id: n.from_user_id,
            to_user_id: n.to_user_id,
            file_name: n.file_name.clone(),
            size: wide_size(n.file_size, n.file_size_u64)?,
            relays: relays(&n.ip_addr_list)?,
            mode: Mode::from_wire(n.trans_mode)?,
            offline_ready: n.offline_ready != 0,
        })
    }

    /// The task a relay created for a msg_server (the answer on its link,
    /// CID_OTHER_FILE_TRANSFER_RSP), to be logged in to at `relays`: what
    /// a program playing msg_server itself (a load generator against a
    /// relay alone) hands its sender and receiver. Sizes are bytes.
    ///
    /// Errors: `is_refused` when the relay answered a failure;
    /// `is_protocol` when the task id is missing or not a UUID, the size
    /// or mode is missing or the mode unknown; `is_invalid` for an empty
    /// `relays`.
    pub fn from_transfer_rsp(
        rsp: &ImFileTransferRsp,
        relays: Vec<SocketAddr>,
    ) -> Result<FileTask, Error> {
        if rsp.result_code != 0 {
            return Err(Error::refused_because(
                rsp.result_code,
                "the relay refused the task",
                rsp.file_server_error,
            ));
        }
        if relays.is_empty() {
            return Err(Error::invalid("a task without a relay address"));
        }
        let missing = |what: &str| Error::protocol(format!("a transfer answer without {what}"));
        Ok(FileTask {
            task_id: task_id(rsp.task_id.as_deref().ok_or_else(|| missing("a task id"))?)?,
            from_user_id: rsp.from_user_id,
            to_user_id: rsp.to_user_id,
            file_name: rsp.file_name.clone().unwrap_or_default(),
            size: wide_size(
                rsp.file_size.ok_or_else(|| missing("a file size"))?,
                rsp.file_size_u64,
            )?,
            relays,
            mode: Mode::from_wire(rsp.trans_mode.ok_or_else(|| missing("a mode"))?)?,
            offline_ready: false,
        })
    }

    /// The name for people: lossy UTF-8, control characters escaped.
    pub fn display_name(&self) -> String {
        ferry_proto::text::show(&self.file_name).to_string()
    }
}

/// A size from its stock u32 field and its u64 twin (a ferry extension).
///
/// Errors: `is_protocol` when they disagree.
pub(crate) fn wide_size(stock: u32, wide: Option<u64>) -> Result<u64, Error> {
    ferry_proto::extension::join_u64(stock, wide)
        .map_err(|e| Error::protocol(format!("a file size: {e}")))
}

/// A task id from the wire, checked.
pub(crate) fn task_id(raw: &[u8]) -> Result<String, Error> {
    ferry_proto::validate_task_id(raw)
        .map(str::to_owned)
        .map_err(|e| Error::protocol(format!("task id {}: {e}", ferry_proto::text::show(raw))))
}

/// Relay addresses from the wire (text IPs, u32 ports), checked.
pub(crate) fn relays(list: &[PbIpAddr]) -> Result<Vec<SocketAddr>, Error> {
    list.iter()
        .map(|a| {
            let ip = std::str::from_utf8(&a.ip)
                .ok()
                .and_then(|s| s.parse::<IpAddr>().ok());
            match (ip, u16::try_from(a.port)) {
                (Some(ip), Ok(port)) if port != 0 => Ok(SocketAddr::new(ip, port)),
                _ => Err(Error::protocol(format!(
                    "relay address {}:{}",
                    ferry_proto::text::show(&a.ip),
                    a.port
                ))),
            }
        })
        .collect()
}

/// Bytes moved of a transfer, for a progress bar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the file sent or received so far (a resumed transfer
    /// starts at what it already had).
    pub done: u64,
    /// The file's size in bytes.
    pub total: u64,
    /// Payload bytes this transfer put on or took off the wire so far:
    /// the file data of every pull answered (a sender) or every answer
    /// received (a receiver), counted again when a reconnect moves them
    /// again. `moved - (total - first done)` is what interruptions cost;
    /// a transfer that started over after one would show a whole prefix
    /// here twice.
    pub moved: u64,
}

/// How a transfer moves its bytes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes a pull asks for (online receive, download). TeamTalk's
    /// Windows client asks 34 KiB; ferry's relay allows up to 1 MiB
    /// (`relay.max_chunk`). Default 256 KiB.
    pub chunk: u32,
    /// Pulls in flight (online receive, download). Stock clients keep 1;
    /// ferry's relay closes an online receiver with more than
    /// `relay.window` (16 by default). Default 8.
    pub window: u32,
    /// How long a connect, a login or one pull's answer may take.
    /// Default 30 s.
    pub timeout: Duration,
    /// How long a sender waits for the next pull (the online receiver may
    /// take a while to accept). Default 10 min.
    pub peer_timeout: Duration,
    /// Reconnects to one relay address after a dropped connection before
    /// the next address is tried. Default 3.
    pub reconnects: u32,
    /// The wait before the first reconnect to an address, doubled before
    /// each next one. Default 500 ms: with 3 reconnects an address is
    /// tried for 3.5 s (0.5 + 1 + 2), which outlasts a relay restarted by
    /// deploy/systemd's unit (`RestartSec=2s`) even when the relay hands
    /// out its shared port alone.
    pub backoff: Duration,
    /// Heartbeat interval on relay connections. Default 5 s.
    pub heartbeat: Duration,
    /// Connections an offline upload uses at once (at most one per
    /// [`UPLOAD_LANE_BYTES`] of the file, so a small file still goes in one
    /// round trip). ferry's relay spreads the missing blocks over them and
    /// asks the others for what one that drops held; past its bound
    /// (`relay.offline_uploaders_per_task`, 4) a connection is refused and
    /// the others carry the file. Several help where one TCP connection's
    /// window or one path, not the relay's disk, limits an upload.
    /// Default 1: TeamTalk's file_server and ferry relays before parallel
    /// uploads take a second upload login as a reconnect replacing the
    /// first, so the connections would sever each other; set it for a
    /// ferry relay (`ferry send --connections`). 1 to 64.
    pub upload_connections: u32,
    progress: Option<Arc<watch::Sender<Progress>>>,
}

/// File bytes per offline upload connection at least: a file gets
/// `size / UPLOAD_LANE_BYTES` connections at most (rounded up), within
/// [`Options::upload_connections`].
pub const UPLOAD_LANE_BYTES: u64 = 4 << 20;

impl Default for Options {
    fn default() -> Options {
        Options {
            chunk: 256 << 10,
            window: 8,
            timeout: Duration::from_secs(30),
            peer_timeout: Duration::from_secs(600),
            reconnects: 3,
            backoff: Duration::from_millis(500),
            heartbeat: Duration::from_secs(5),
            upload_connections: 1,
            progress: None,
        }
    }
}

impl Options {
    /// These options with `window` pulls in flight.
    pub fn with_window(mut self, window: u32) -> Options {
        self.window = window;
        self
    }

    /// These options with offline uploads over up to `connections`
    /// connections at once ([`Options::upload_connections`]).
    pub fn with_upload_connections(mut self, connections: u32) -> Options {
        self.upload_connections = connections;
        self
    }

    /// The connections an offline upload of `size` bytes opens.
    pub(crate) fn upload_lanes(&self, size: u64) -> usize {
        let by_size = size.div_ceil(UPLOAD_LANE_BYTES).max(1);
        by_size.min(u64::from(self.upload_connections.max(1))) as usize
    }

    /// These options with pulls of `chunk` bytes.
    pub fn with_chunk(mut self, chunk: u32) -> Options {
        self.chunk = chunk;
        self
    }

    /// Progress of the transfers run with these options from now on:
    /// the receiver sees the latest [`Progress`] (bytes done / total).
    pub fn watch_progress(&mut self) -> watch::Receiver<Progress> {
        let (tx, rx) = watch::channel(Progress::default());
        self.progress = Some(Arc::new(tx));
        rx
    }

    /// A transfer begins with `done` of `total` bytes: [`Progress::moved`]
    /// starts over at 0.
    pub(crate) fn begin(&self, done: u64, total: u64) {
        if let Some(p) = &self.progress {
            p.send_replace(Progress {
                done,
                total,
                moved: 0,
            });
        }
    }

    /// `done` of `total` bytes are there, `payload` more bytes moved.
    pub(crate) fn report(&self, done: u64, total: u64, payload: u64) {
        if let Some(p) = &self.progress {
            p.send_modify(|p| {
                p.done = done;
                p.total = total;
                p.moved += payload;
            });
        }
    }

    /// The pull settings are usable.
    pub(crate) fn check(&self) -> Result<(), Error> {
        // A pull's answer must fit one PDU under the client's frame limit.
        let max = ferry_proto::frame::DEFAULT_MAX_FRAME - (4 << 10);
        if self.chunk == 0 || self.chunk > max {
            return Err(Error::invalid(format!(
                "chunk of {} bytes (1..={max})",
                self.chunk
            )));
        }
        if self.window == 0 {
            return Err(Error::invalid("a window of 0 pulls"));
        }
        if !(1..=64).contains(&self.upload_connections) {
            return Err(Error::invalid(format!(
                "{} upload connections (1..=64)",
                self.upload_connections
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_answer_becomes_a_task_or_says_why_not() {
        let id = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let rsp = ImFileTransferRsp {
            file_server_error: None,
            file_size_u64: None,
            result_code: 0,
            from_user_id: 1,
            to_user_id: 2,
            file_name: Some(Bytes::from_static(b"a.bin")),
            file_size: Some(4096),
            task_id: Some(Bytes::from_static(id.as_bytes())),
            trans_mode: Some(TransferFileType::FileTypeOffline as i32),
            attach_data: None,
        };
        let at: SocketAddr = "127.0.0.1:8600".parse().unwrap();
        let task = FileTask::from_transfer_rsp(&rsp, vec![at]).unwrap();
        assert_eq!(
            (task.task_id.as_str(), task.size, task.mode, task.relays),
            (id, 4096, Mode::Offline, vec![at])
        );
        assert_eq!((task.from_user_id, task.to_user_id), (1, 2));

        let refused = ImFileTransferRsp {
            result_code: 1,
            ..rsp.clone()
        };
        assert!(
            FileTask::from_transfer_rsp(&refused, vec![at])
                .unwrap_err()
                .is_refused()
        );
        for bad in [
            ImFileTransferRsp {
                task_id: None,
                ..rsp.clone()
            },
            ImFileTransferRsp {
                task_id: Some(Bytes::from_static(b"../../etc")),
                ..rsp.clone()
            },
            ImFileTransferRsp {
                file_size: None,
                ..rsp.clone()
            },
            ImFileTransferRsp {
                trans_mode: Some(7),
                ..rsp.clone()
            },
        ] {
            let e = FileTask::from_transfer_rsp(&bad, vec![at]).unwrap_err();
            assert!(e.is_protocol(), "{bad:?}: {e}");
        }
        assert!(
            FileTask::from_transfer_rsp(&rsp, Vec::new())
                .unwrap_err()
                .is_invalid()
        );
    }
}
