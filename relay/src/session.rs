//! A client connection to the file server: login, then the relay loop.
//!
//! ```text
//! accept ─> FILE_LOGIN_REQ (within login_timeout; heartbeats echoed)
//!   or BREAKPOINT_REQ (extension) ─> answered, close (offline/breakpoint.rs)
//!   task id not a UUID / unknown task / wrong user / task ended ─> LOGIN_RES 1, close
//!   task past 4 GiB - 1 and no file_size_u64 (a stock peer), or a size that
//!     disagrees (check_login_size) ─> LOGIN_RES 1 with its reason, close
//!   role held by another connection of the same user ─> that one is severed, this one takes over
//!   task owned by another core ─> handed to it with the bytes read (it logs in again there)
//!   ok ─> LOGIN_RES 0 (with file_size_u64 for a ferry peer); when both
//!     sides are in, PEER_READY to the receiver
//! relay loop (idle_timeout): see handler.rs
//! end (any reason) ─> the other side is told CANCEL unless the task ended, task freed
//! ```

use std::cell::RefCell;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use ferry_proto::extension::{CID_FILE_BREAKPOINT_REQ, split_u64};
use ferry_proto::frame::{Frame, encode_to_bytes};
use ferry_proto::pb::ferry::file::BreakpointReq;
use ferry_proto::pb::im::base_define::{ClientFileRole, ClientFileState, TransferFileType};
use ferry_proto::pb::im::file::{ImFileLoginReq, ImFileLoginRsp, ImFilePullDataReq, ImFileState};
use ferry_proto::registry::{CID_FILE_LOGIN_REQ, CID_FILE_PULL_DATA_RSP, CID_OTHER_HEARTBEAT};
use ferry_proto::{core_for_task, text, validate_task_id};
use monoio::io::{AsyncWriteRentExt, Canceller, Splitable};
use monoio::net::TcpStream;
use monoio::net::tcp::TcpOwnedReadHalf;
use tracing::Instrument as _;

use crate::core_state::{Core, CoreMsg};
use crate::error::ConnError;
use crate::handler::{self, Flow, Joined};
use crate::offline;
use crate::outbox::start_writer;
use crate::reader::{FrameReader, Incoming, SpliceRule};
use crate::stats::CoreStats;
use crate::task::{Peer, Pull, Role, Task};

/// Serves one client connection to its end; never fails the core.
pub(crate) async fn serve(core: Rc<Core>, stream: TcpStream, buffered: BytesMut) {
    let peer = stream.peer_addr().ok();
    let span = tracing::info_span!("client", core = core.id, ?peer);
    CoreStats::add(&core.stats.connections, 1);
    let result = run(&core, stream, buffered).instrument(span.clone()).await;
    CoreStats::sub(&core.stats.connections, 1);
    let _enter = span.enter();
    match result {
        Ok(()) => tracing::debug!("closed"),
        Err(ConnError::Io(e)) if is_cancel(&e) => tracing::debug!("closed by its task"),
        Err(ConnError::Io(e)) => tracing::info!(error = %e, "closed: io error"),
        Err(e) => {
            CoreStats::add(&core.stats.rejected, 1);
            tracing::warn!(reason = %error_chain(&e), "closed");
        }
    }
}

/// ECANCELED: our reader was stopped on purpose (the task ended).
pub(crate) fn is_cancel(e: &io::Error) -> bool {
    e.raw_os_error() == Some(125)
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

async fn run(core: &Rc<Core>, stream: TcpStream, buffered: BytesMut) -> Result<(), ConnError> {
    let cfg = core.config.clone();
    let canceller = Canceller::new();
    let mut reader = FrameReader::new(stream, buffered, cfg.max_frame, canceller.handle());
    let first = monoio::time::timeout(cfg.login_timeout, read_first(&mut reader)).await;
    let (login, req) = match first.map_err(|_| ConnError::Timeout(cfg.login_timeout))?? {
        None => return Ok(()),
        Some(First::Login(login, req)) => (login, req),
        Some(First::Breakpoint(query, req)) => {
            return offline::breakpoint::serve(core, reader, &query, &req).await;
        }
    };
    let seq = login.header.seq_num;

    let task_id = match validate_task_id(&req.task_id) {
        Ok(id) => id,
        Err(e) => {
            tracing::debug!(error = %e, "login's task id refused");
            let e = ConnError::BadTaskId(text::show(&req.task_id).to_string());
            refuse(&mut reader, &req, seq, &e).await;
            return Err(e);
        }
    };
    let owner = core_for_task(task_id, core.cores());
    if owner != core.id {
        return hand_off(core, owner, reader, &login.pdu);
    }
    let role = match ClientFileRole::try_from(req.file_role) {
        Ok(ClientFileRole::ClientRealtimeSender) => Role::Sender,
        Ok(ClientFileRole::ClientRealtimeRecver) => Role::Receiver,
        _ if offline::Side::of(req.file_role).is_some() => {
            let side = offline::Side::of(req.file_role).expect("checked");
            return offline::serve(core, reader, canceller, &req, seq, side).await;
        }
        _ => {
            let e = ConnError::BadRole(req.file_role);
            refuse(&mut reader, &req, seq, &e).await;
            return Err(e);
        }
    };
    let Some(task) = core.task(task_id) else {
        let e = ConnError::UnknownTask(task_id.to_string());
        refuse(&mut reader, &req, seq, &e).await;
        return Err(e);
    };
    let joinable = may_join(&task.borrow(), role, req.user_id);
    if let Err(reason) = joinable {
        let e = ConnError::JoinRefused {
            user: req.user_id,
            task: task_id.to_string(),
            reason,
        };
        refuse(&mut reader, &req, seq, &e).await;
        return Err(e);
    }
    let size = task.borrow().spec.file_size;
    if let Err(e) = check_login_size(task_id, size, req.file_size_u64) {
        refuse(&mut reader, &req, seq, &e).await;
        return Err(e);
    }

    // Joined: split the socket, start the writer, answer, maybe PEER_READY.
    let (stream, rest) = reader.into_parts();
    let fd = stream.as_raw_fd();
    let (rd, wr) = stream.into_split();
    let outbox = start_writer(wr, core);
    let _ = outbox.send(login_rsp(&req, seq, Ok(size)));
    let conn_id = core.conn_id();
    let cancel = canceller.handle();
    join(
        &task,
        role,
        Peer {
            conn_id,
            outbox: outbox.clone(),
            canceller: Some(canceller),
            fd,
        },
        core,
    );
    tracing::info!(task = %task_id, user = req.user_id, ?role, file = %text::show(&task.borrow().spec.file_name), "joined");

    let joined = Joined {
        task: task.clone(),
        role,
        user_id: req.user_id,
        outbox,
    };
    let mut reader = FrameReader::new(rd, rest, cfg.max_frame, cancel);
    if role == Role::Sender && core.splice {
        reader = reader.with_splice(SpliceRule {
            command_id: CID_FILE_PULL_DATA_RSP.command_id,
            min_len: SPLICE_MIN,
        });
    }
    let streaming = (role == Role::Sender).then(|| core.streaming());
    let result = relay_loop(core, &joined, &mut reader).await;
    drop(streaming);
    leave(core, &task, role, conn_id, result.is_ok());
    joined.outbox.close();
    drop(joined); // the writer flushes, then sends FIN
    let ended_by_task = match &result {
        Ok(()) => true,
        Err(ConnError::Io(e)) => is_cancel(e),
        Err(_) => false,
    };
    if ended_by_task {
        // Read (and drop) what the peer still sends until it closes too, so
        // the close is a FIN after our last PDU (CANCEL, DONE), not a reset
        // that could destroy it in flight.
        reader.linger(LINGER).await;
    }
    result
}

/// How long a connection whose task ended waits for its peer to close.
pub(crate) const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

async fn relay_loop(
    core: &Rc<Core>,
    joined: &Joined,
    reader: &mut FrameReader<TcpOwnedReadHalf>,
) -> Result<(), ConnError> {
    let idle = core.config.idle_timeout;
    let mut conduit = None;
    loop {
        let incoming =
            match monoio::time::timeout(idle, reader.next_incoming(core.splice_now())).await {
                Err(_) => return Err(ConnError::Timeout(idle)),
                Ok(incoming) => incoming?,
            };
        let flow = match incoming {
            None => return Ok(()),
            Some(Incoming::Frame(pdu)) => handler::handle(core, joined, pdu).await?,
            Some(Incoming::Payload(start)) => {
                handler::pull_rsp_spliced(core, joined, start, reader.io_mut(), &mut conduit)
                    .await?
            }
        };
        if flow == Flow::Close {
            return Ok(());
        }
    }
}

/// Pull responses from this size up are spliced (when splicing is on):
/// below it, one read and one write cost less than the extra operations.
const SPLICE_MIN: usize = 16 << 10;

/// What a client connection opens with (after any heartbeats).
enum First {
    /// A file login: the transfer follows.
    Login(Frame, ImFileLoginReq),
    /// A breakpoint query (extension): answered, then the connection ends.
    Breakpoint(Frame, BreakpointReq),
}

/// Reads until the login request or a breakpoint query, echoing
/// heartbeats; `None` at EOF.
async fn read_first(reader: &mut FrameReader<TcpStream>) -> Result<Option<First>, ConnError> {
    loop {
        let Some(frame) = reader.next().await? else {
            return Ok(None);
        };
        match frame.header.command {
            c if c.command_id == CID_OTHER_HEARTBEAT.command_id => {
                let (res, _) = reader.io_mut().write_all(frame.pdu).await;
                res?;
            }
            c if c.command_id == CID_FILE_LOGIN_REQ.command_id => {
                let req = ferry_proto::schema::decode::<ImFileLoginReq>(frame.body())?;
                return Ok(Some(First::Login(frame, req)));
            }
            c if c.command_id == CID_FILE_BREAKPOINT_REQ.command_id => {
                let req = ferry_proto::schema::decode::<BreakpointReq>(frame.body())?;
                return Ok(Some(First::Breakpoint(frame, req)));
            }
            other => return Err(ConnError::BeforeLogin(other)),
        }
    }
}

/// Whether `user` may take `role` in `task` now: the role's own user, into
/// an empty slot of a task not yet started, or in place of the connection
/// holding the slot (a reconnect supersedes its predecessor).
fn may_join(task: &Task, role: Role, user: u32) -> Result<(), &'static str> {
    if task.user_for(role) != user {
        return Err("user is not this role's participant");
    }
    let taken = match role {
        Role::Sender => task.sender.is_some(),
        Role::Receiver => task.receiver.is_some(),
    };
    if !taken && task.started {
        return Err("the task has ended for this role");
    }
    Ok(())
}

/// Checks a login's `file_size_u64` (`declared`, bytes) against its task's
/// `size`: a stock peer (none declared) is refused a file past 4 GiB - 1,
/// which it could not address; a ferry peer is refused a task whose size
/// it has wrong. Online and offline logins alike.
///
/// Errors: [`ConnError::StockPeerTooLarge`], [`ConnError::SizeMismatch`].
pub(crate) fn check_login_size(
    task: &str,
    size: u64,
    declared: Option<u64>,
) -> Result<(), ConnError> {
    match declared {
        None if !ferry_proto::extension::fits_stock(size) => Err(ConnError::StockPeerTooLarge {
            task: task.to_string(),
            size,
        }),
        Some(declared) if declared != size => Err(ConnError::SizeMismatch {
            task: task.to_string(),
            declared,
            size,
        }),
        _ => Ok(()),
    }
}

/// Puts `peer` in its slot. When both sides are in for the first time the
/// receiver gets PEER_READY. When `peer` supersedes a connection, that one
/// is severed and the transfer goes on: a new sender is asked again for
/// every outstanding pull, a new receiver gets PEER_READY and the old
/// receiver's pulls become orphans.
fn join(task: &Rc<RefCell<Task>>, role: Role, peer: Peer, core: &Core) {
    let mut t = task.borrow_mut();
    let superseded = t.slot(role).replace(peer);
    let taking_over = superseded.is_some();
    if let Some(mut old) = superseded {
        old.sever();
        CoreStats::add(&core.stats.superseded, 1);
        tracing::info!(task = %t.id, ?role, old_conn = old.conn_id, "a new login supersedes the connection in this role");
    }
    if t.sender.is_none() || t.receiver.is_none() {
        return;
    }
    let first = !t.started;
    t.started = true;
    match role {
        Role::Sender if taking_over => {
            // Ask the new sender for everything the old one left unanswered.
            let again: Vec<Bytes> = t.pulls.iter().map(|p| pull_req(&t, p)).collect();
            let sender = t.sender.as_ref().expect("just joined");
            for pdu in again {
                let _ = sender.outbox.send(pdu);
            }
        }
        Role::Receiver if taking_over => {
            for pull in t.pulls.iter_mut() {
                pull.orphan = true;
            }
        }
        _ => {}
    }
    if first || (role == Role::Receiver && taking_over) {
        let ready = ImFileState {
            state: ClientFileState::ClientFilePeerReady as i32,
            task_id: t.id.to_string().into(),
            user_id: t.spec.from_user,
            sha256: None,
        };
        let pdu = encode_to_bytes(&ready, 0, u32::MAX).expect("small PDU");
        if let Some(receiver) = &t.receiver {
            let _ = receiver.outbox.send(pdu);
        }
    }
}

/// An outstanding pull asked again: the receiver's request as it was.
fn pull_req(t: &Task, pull: &Pull) -> Bytes {
    let (offset, offset_u64) = split_u64(pull.offset);
    let req = ImFilePullDataReq {
        offset_u64,
        task_id: t.id.to_string().into(),
        user_id: t.spec.to_user,
        trans_mode: TransferFileType::FileTypeOnline as i32,
        offset,
        data_size: pull.size,
    };
    encode_to_bytes(&req, pull.seq, u32::MAX).expect("small PDU")
}

/// This side is gone: unless the task already ended, tell the other side
/// (CANCEL), close it, and free the task.
fn leave(core: &Core, task: &Rc<RefCell<Task>>, role: Role, conn_id: u64, clean: bool) {
    let mut t = task.borrow_mut();
    if t.slot(role).as_ref().is_none_or(|p| p.conn_id != conn_id) {
        return; // the task already let us go
    }
    *t.slot(role) = None;
    let user = t.user_for(role);
    let id = t.id.clone();
    if let Some(mut other) = t.slot(role.other()).take() {
        let cancel = ImFileState {
            state: ClientFileState::ClientFileCancel as i32,
            task_id: id.to_string().into(),
            user_id: user,
            sha256: None,
        };
        let _ = other
            .outbox
            .send(encode_to_bytes(&cancel, 0, u32::MAX).expect("small PDU"));
        other.outbox.close();
        other.close();
        tracing::info!(task = %id, clean, "peer left; the other side was told CANCEL");
    }
    drop(t);
    core.remove_task(&id);
}

/// Passes the connection, with every byte read from it, to `owner`.
pub(crate) fn hand_off(
    core: &Core,
    owner: usize,
    reader: FrameReader<TcpStream>,
    login: &[u8],
) -> Result<(), ConnError> {
    let (stream, rest) = reader.into_parts();
    let mut buffered = BytesMut::with_capacity(login.len() + rest.len());
    buffered.extend_from_slice(login);
    buffered.extend_from_slice(&rest);
    let stream = crate::handoff::into_std(stream);
    core.inboxes[owner]
        .send(CoreMsg::Handoff { stream, buffered })
        .map_err(|_| ConnError::CoreGone(owner))?;
    tracing::debug!(owner, "handed off to the task's core");
    Ok(())
}

/// Answers a refused login (see [`login_rsp`]).
pub(crate) async fn refuse(
    reader: &mut FrameReader<TcpStream>,
    req: &ImFileLoginReq,
    seq: u16,
    why: &ConnError,
) {
    let pdu = login_rsp(req, seq, Err(why));
    let _ = reader.io_mut().write_all(pdu).await;
}

/// The answer to login `req`: accepted (result 0) with the task's size in
/// bytes, sent as `file_size_u64` (ferry's extension) only to a ferry
/// peer, whose login carried one; or refused (result 1, with why:
/// `file_server_error`, an extension stock clients skip).
pub(crate) fn login_rsp(req: &ImFileLoginReq, seq: u16, answer: Result<u64, &ConnError>) -> Bytes {
    let (result_code, file_size_u64, file_server_error) = match answer {
        Ok(size) => (0, req.file_size_u64.map(|_| size), None),
        Err(why) => (1, None, Some(why.file_server_error().code())),
    };
    encode_to_bytes(
        &ImFileLoginRsp {
            file_size_u64,
            result_code,
            task_id: req.task_id.clone(),
            file_server_error,
        },
        seq,
        u32::MAX,
    )
    .expect("small PDU")
}
