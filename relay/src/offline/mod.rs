//! Offline transfers served from the block store (ferry-storage): the
//! receiver is not there, so the relay keeps the file until it comes.
//! Each core owns its shard of the store (tasks are placed by
//! `ferry_proto::core_for_task`, like online ones), so the data path takes
//! no lock; the data reads, writes and syncs go through the core's runtime
//! (io_uring, or inline syscalls on the epoll driver).
//!
//! ```text
//! msg link TRANSFER_REQ (offline) ─> owning core: Store::create ─> TRANSFER_RSP 0 + task_id
//! FILE_LOGIN_REQ role 3 (upload, the task's sender; up to offline_uploaders_per_task
//!   connections at once, one more refused: LOGIN_RES 1)
//!   ─> LOGIN_RES 0; the relay pulls the missing blocks, spread over the task's
//!      uploader connections (upload.rs) ─> DONE to each, close
//! FILE_LOGIN_REQ role 4 (download, the receiver or the sender)
//!   ─> LOGIN_RES 0; the client pulls, every block verified (download.rs) ─> DONE, close
//! DONE carries the stored SHA-256 (IMFileState.sha256, field 100, an extension)
//! past 4 GiB - 1 (u64 twins at field 100, an extension): a login without
//!   IMFileLoginReq.file_size_u64 is a stock peer's and is refused such a
//!   task (LOGIN_RES 1, StockPeerTooLarge logged); a ferry peer's login
//!   answer carries the stored size, and pulls past 4 GiB - 1 carry the
//!   stock offset 0xFFFFFFFF and the true one in offset_u64
//! BREAKPOINT_REQ (extension 0x0580) as a connection's first PDU
//!   ─> BREAKPOINT_RSP: committed ranges, size, state; or a refusal code ─> close
//! ```
//!
//! # Layout
//! - `files`: a task's data and manifest files on the core's runtime, and
//!   the store's durability steps done through them (write, data sync,
//!   commit, read a block).
//! - `upload`: the relay-driven upload with a window of pulls, over one
//!   or several connections of the task's sender.
//! - `share`: the task's uploader connections and the pool of pulls they
//!   share.
//! - `download`: serving a complete file, one verified block cached.
//! - `breakpoint`: the breakpoint query (an extension): a task's committed
//!   ranges, size and state, for its participants only.

pub(crate) mod breakpoint;
mod download;
mod files;
mod share;
mod upload;

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::AsRawFd as _;
use std::rc::Rc;

use bytes::Bytes;
use ferry_proto::extension::FileServerError;
use ferry_proto::frame::encode_to_bytes;
use ferry_proto::pb::im::base_define::{ClientFileRole, ClientFileState};
use ferry_proto::pb::im::file::{ImFileLoginReq, ImFileState};
use ferry_storage::{Created, NewTask, State, Store, TaskId, TaskInfo};
use monoio::io::{Canceller, Splitable as _};
use monoio::net::TcpStream;

use crate::core_state::Core;
use crate::error::ConnError;
use crate::outbox::{Outbox, start_writer};
use crate::reader::FrameReader;
use crate::stats::CoreStats;
use crate::task::Peer;

/// One core's shard of the offline store and who is uploading to it.
pub(crate) struct Offline {
    /// Never borrowed across an `.await`: the I/O happens between calls.
    pub store: RefCell<Store>,
    /// The connections uploading each task now and the pulls they share
    /// (upload.rs, "Several connections at once"). Never borrowed across
    /// an `.await`.
    uploads: RefCell<HashMap<TaskId, share::Uploaders>>,
}

impl Offline {
    pub(crate) fn new(store: Store) -> Offline {
        Offline {
            store: RefCell::new(store),
            uploads: RefCell::new(HashMap::new()),
        }
    }

    /// Creates a task (a TRANSFER_REQ in offline mode). Synchronous: the
    /// store creates the directory and files and syncs them (rare steps).
    pub(crate) fn create(&self, new: NewTask) -> Result<Created, ferry_storage::Error> {
        let id = String::from_utf8_lossy(&new.task_id).into_owned();
        let (size, from, to) = (new.size, new.from_user, new.to_user);
        let created = self.store.borrow_mut().create(new, unix_now());
        match &created {
            Ok(c) => {
                tracing::info!(task = %id, from, to, size, instant = matches!(c, Created::Instant { .. }), "offline task created")
            }
            Err(e) => {
                tracing::warn!(task = %id, from, to, size, error = %e, "offline task refused")
            }
        }
        created
    }

    /// Publishes the shard's task counts and bytes to the core's gauges
    /// (after a create, a completion, a damage, a sweep).
    pub(crate) fn publish(&self, stats: &CoreStats) {
        let st = self.store.borrow().stats();
        CoreStats::set(&stats.offline_uploading, st.uploading as u64);
        CoreStats::set(&stats.offline_complete, st.complete as u64);
        CoreStats::set(&stats.offline_damaged, st.damaged as u64);
        CoreStats::set(&stats.store_bytes, st.bytes);
        let poisoned = self.store.borrow().is_poisoned();
        CoreStats::set(&stats.store_poisoned, u64::from(poisoned));
    }
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Which side of an offline task a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Upload,
    Download,
}

impl Side {
    pub(crate) fn of(role: i32) -> Option<Side> {
        match ClientFileRole::try_from(role) {
            Ok(ClientFileRole::ClientOfflineUpload) => Some(Side::Upload),
            Ok(ClientFileRole::ClientOfflineDownload) => Some(Side::Download),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Side::Upload => "uploader",
            Side::Download => "downloader",
        }
    }
}

/// A logged-in offline connection: what its loop works with.
pub(crate) struct Conn {
    pub core: Rc<Core>,
    pub id: TaskId,
    /// The connection's (checked) user.
    pub user: u32,
    /// The peer speaks the u64 fields (its login carried `file_size_u64`).
    pub wide: bool,
    pub info: TaskInfo,
    pub outbox: Outbox,
}

impl Conn {
    pub(crate) fn offline(&self) -> &Offline {
        self.core.offline.as_ref().expect("checked at login")
    }

    /// The DONE that ends an upload or a download of this (complete) task,
    /// in `user_id`'s name, carrying the stored file's SHA-256 in the
    /// extension field `sha256` (100; stock peers skip it).
    pub(crate) fn done_pdu(&self, user_id: u32) -> Bytes {
        let sha256 = self
            .offline()
            .store
            .borrow()
            .task(&self.id)
            .ok()
            .and_then(|t| t.record().sha256);
        if sha256.is_none() {
            tracing::warn!(task = %self.id, "DONE without a stored SHA-256");
        }
        let msg = ImFileState {
            state: ClientFileState::ClientFileDone as i32,
            task_id: self.id.as_str().to_owned().into(),
            user_id,
            sha256: sha256.map(|d| Bytes::copy_from_slice(&d)),
        };
        encode_to_bytes(&msg, 0, u32::MAX).expect("small PDU")
    }
}

/// What a client or msg_server is told when the store refuses a task
/// (`file_server_error`); the cause itself is logged where it happens.
pub(crate) fn refusal(e: &ferry_storage::Error) -> FileServerError {
    use ferry_storage::Error as E;
    match e {
        E::UserQuotaExceeded(_) => FileServerError::UserQuota,
        E::QuotaExceeded(_) => FileServerError::Quota,
        E::NoSpace(_) => FileServerError::NoSpace,
        E::TooLarge(_) => FileServerError::TooLarge,
        E::InvalidArgument(_) => FileServerError::BadRequest,
        E::NotFound(_) => FileServerError::InvalidTaskId,
        E::AlreadyExists(_) => FileServerError::CreateTask,
        E::Io { .. } | E::Corruption(_) | E::Poisoned | E::Locked(_) => {
            FileServerError::StoreFailed
        }
    }
}

/// Serves an offline login to its end: checks it, answers, then runs the
/// upload or download loop. A refused login gets LOGIN_RES 1 and the reason
/// is logged where the connection ends.
pub(crate) async fn serve(
    core: &Rc<Core>,
    mut reader: FrameReader<TcpStream>,
    canceller: Canceller,
    req: &ImFileLoginReq,
    seq: u16,
    side: Side,
) -> Result<(), ConnError> {
    let checked = check_login(core, req, side);
    let (id, info) = match checked {
        Ok(ok) => ok,
        Err(e) => {
            crate::session::refuse(&mut reader, req, seq, &e).await;
            return Err(e);
        }
    };
    let cfg = core.config.clone();
    let (stream, rest) = reader.into_parts();
    let fd = stream.as_raw_fd();
    let (rd, wr) = stream.into_split();
    let out = start_writer(wr, core);
    let _ = out.send(crate::session::login_rsp(req, seq, Ok(info.size)));
    let conn = Conn {
        core: core.clone(),
        id,
        user: req.user_id,
        wide: req.file_size_u64.is_some(),
        info,
        outbox: out.clone(),
    };
    tracing::info!(task = %id, user = req.user_id, role = side.name(), size = conn.info.size, committed = conn.info.committed, blocks = conn.info.blocks, "offline login");
    let mut reader = FrameReader::new(rd, rest, cfg.max_frame, canceller.handle());
    let result = match side {
        Side::Upload => {
            let conn_id = core.conn_id();
            let peer = Peer {
                conn_id,
                outbox: out.clone(),
                canceller: Some(canceller),
                fd,
            };
            let seat = Seat::take(&conn, peer);
            let r = upload::run(&conn, conn_id, &mut reader).await;
            drop(seat);
            r
        }
        Side::Download => download::run(&conn, &mut reader).await,
    };
    core.offline
        .as_ref()
        .expect("checked at login")
        .publish(&core.stats);
    out.close();
    drop(conn);
    drop(out); // the writer flushes what is queued (DONE), then sends FIN
    if result.is_ok() {
        reader.linger(crate::session::LINGER).await;
    }
    result
}

/// Whether `req` may take `side` of its task now.
fn check_login(
    core: &Core,
    req: &ImFileLoginReq,
    side: Side,
) -> Result<(TaskId, TaskInfo), ConnError> {
    let Some(offline) = &core.offline else {
        return Err(ConnError::OfflineOff);
    };
    let id = TaskId::parse(&req.task_id)?;
    let info = match offline.store.borrow().stat(&id) {
        Ok(info) => info,
        Err(ferry_storage::Error::NotFound(_)) => {
            return Err(ConnError::UnknownTask(id.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    let allowed = match side {
        Side::Upload => req.user_id == info.from_user,
        // The receiver, or the sender fetching its own upload again.
        Side::Download => req.user_id == info.to_user || req.user_id == info.from_user,
    };
    if !allowed {
        return Err(ConnError::NotParticipant {
            user: req.user_id,
            role: side.name(),
            task: id.to_string(),
        });
    }
    crate::session::check_login_size(id.as_str(), info.size, req.file_size_u64)?;
    if side == Side::Upload {
        let max = core.config.offline_uploaders_per_task;
        let now = offline.uploads.borrow().get(&id).map_or(0, |u| u.len());
        if now >= max as usize {
            return Err(ConnError::TooManyUploaders {
                task: id.to_string(),
                max,
            });
        }
    }
    let refused = matches!(
        (side, info.state),
        (_, State::Damaged) | (Side::Download, State::Uploading)
    );
    if refused {
        return Err(ConnError::TaskState {
            task: id.to_string(),
            state: info.state.as_str(),
            role: side.name(),
        });
    }
    Ok((id, info))
}

/// A connection's place among its task's uploaders, from its login to
/// its end (whatever ends it): leaving gives the pulls it held back to the
/// task's other connections.
struct Seat<'a> {
    conn: &'a Conn,
    conn_id: u64,
}

impl<'a> Seat<'a> {
    /// Joins the task's uploaders (`check_login` kept them within the
    /// bound, with no await since); the first one lists the missing blocks.
    fn take(conn: &'a Conn, peer: Peer) -> Seat<'a> {
        let conn_id = peer.conn_id;
        let offline = conn.offline();
        let mut uploads = offline.uploads.borrow_mut();
        let u = uploads.entry(conn.id).or_insert_with(|| {
            let missing = offline
                .store
                .borrow()
                .task(&conn.id)
                .map(|t| t.missing())
                .unwrap_or_default();
            share::Uploaders::new(missing)
        });
        u.join(peer);
        if u.len() > 1 {
            tracing::info!(task = %conn.id, conn = conn_id, connections = u.len(), "another uploader connection joins the task");
        }
        Seat { conn, conn_id }
    }
}

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        let (conn, offline) = (self.conn, self.conn.offline());
        let mut uploads = offline.uploads.borrow_mut();
        let Some(u) = uploads.get_mut(&conn.id) else {
            return;
        };
        let Some((member, held)) = u.leave(self.conn_id) else {
            return;
        };
        let others = u.len();
        if others == 0 {
            // The next login lists the missing blocks from the store again.
            uploads.remove(&conn.id);
            // Pieces held for the running SHA-256 are not kept for a return
            // that may never come.
            if let Ok(task) = offline.store.borrow_mut().task_mut(&conn.id) {
                task.park_digest();
            }
        } else if held > 0 {
            CoreStats::add(&conn.core.stats.offline_pulls_reasked, held as u64);
        }
        tracing::debug!(task = %conn.id, conn = self.conn_id, carried = member.carried, held, others, "uploader connection leaves");
    }
}
