//! The relay loop's commands, for a connection that joined a task. Every
//! check beyond TeamTalk's (offset and size inside the file, size within
//! max_chunk, a response must answer an outstanding pull, at most `window`
//! pulls in flight) closes the offending connection with its reason.

use std::cell::RefCell;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use bytes::BytesMut;
use ferry_proto::extension::join_u64;
use ferry_proto::frame::{HEADER_LEN, Header, set_seq};
use ferry_proto::pb::im::base_define::{ClientFileState, TransferFileType};
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFileState};
use ferry_proto::pull::PullDataRspHead;
use ferry_proto::registry::{
    CID_FILE_PULL_DATA_REQ, CID_FILE_PULL_DATA_RSP, CID_FILE_STATE, CID_OTHER_HEARTBEAT,
};
use ferry_proto::schema::decode;
use ferry_proto::text;
use monoio::buf::IoBufMut as _;
use monoio::io::AsyncReadRent as _;
use monoio::net::tcp::TcpOwnedReadHalf;

use crate::conduit::Conduit;
use crate::core_state::Core;
use crate::error::ConnError;
use crate::outbox::{Outbox, shared_stream};
use crate::reader::PayloadStart;
use crate::stats::CoreStats;
use crate::task::{Pull, Role, Task};

/// A connection that is in a task.
pub(crate) struct Joined {
    pub task: Rc<RefCell<Task>>,
    pub role: Role,
    pub user_id: u32,
    pub outbox: Outbox,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close,
}

pub(crate) async fn handle(core: &Core, j: &Joined, pdu: BytesMut) -> Result<Flow, ConnError> {
    let header = Header::parse(pdu[..HEADER_LEN].try_into().expect("header"));
    let cid = header.command.command_id;
    match (cid, j.role) {
        (c, _) if c == CID_OTHER_HEARTBEAT.command_id => {
            let _ = j.outbox.send(pdu.freeze());
            Ok(Flow::Continue)
        }
        (c, Role::Receiver) if c == CID_FILE_PULL_DATA_REQ.command_id => {
            pull_req(core, j, header, pdu)
        }
        (c, Role::Sender) if c == CID_FILE_PULL_DATA_RSP.command_id => pull_rsp(core, j, pdu).await,
        (c, _) if c == CID_FILE_STATE.command_id => state(core, j, pdu),
        _ => Err(ConnError::Unexpected(header.command, j.role.name())),
    }
}

/// Receiver asks for a range: checked, remembered, forwarded to the sender.
fn pull_req(core: &Core, j: &Joined, header: Header, pdu: BytesMut) -> Result<Flow, ConnError> {
    let pdu = pdu.freeze();
    let req: ImFilePullDataReq = decode(pdu.slice(HEADER_LEN..))?;
    let mut t = j.task.borrow_mut();
    check_ids(&t, j, req.user_id, &req.task_id)?;
    if req.trans_mode != TransferFileType::FileTypeOnline as i32 {
        return Err(ConnError::WrongTransMode(req.trans_mode));
    }
    let max_chunk = core.config.max_chunk;
    let file = t.spec.file_size;
    // Past 4 GiB - 1 in the u64 twin: only a ferry receiver joined such a
    // task (session::check_login_size).
    let offset = join_u64(req.offset, req.offset_u64)?;
    if req.data_size == 0 || req.data_size > max_chunk || offset + u64::from(req.data_size) > file {
        return Err(ConnError::BadPull {
            offset,
            size: req.data_size,
            file,
            max: max_chunk,
        });
    }
    if t.pulls.len() >= core.config.window as usize {
        return Err(ConnError::WindowFull(core.config.window));
    }
    let Some(sender) = &t.sender else {
        return Err(ConnError::SenderAbsent);
    };
    let alone = t.pulls.is_empty();
    if sender.outbox.send_forward(pdu, alone).is_err() {
        return Ok(Flow::Close);
    }
    t.pulls.push_back(Pull {
        offset,
        size: req.data_size,
        seq: header.seq_num,
        orphan: false,
    });
    CoreStats::add(&core.stats.pulls_in_flight, 1);
    core.answer_due(|now, limit| t.pace.pull_forwarded(now, alone, limit));
    Ok(Flow::Continue)
}

/// Sender answers a pull: checked against it, stamped with the request's
/// seq, forwarded as received (back-pressure waits here).
async fn pull_rsp(core: &Core, j: &Joined, mut pdu: BytesMut) -> Result<Flow, ConnError> {
    let head = PullDataRspHead::parse(&pdu[HEADER_LEN..])?;
    let (receiver, latency_bound) = {
        let mut t = j.task.borrow_mut();
        let pull = answer(core, &mut t, j, &head)?;
        if pull.orphan {
            CoreStats::add(&core.stats.bytes_dropped, head.data_len as u64);
            return Ok(Flow::Continue);
        }
        set_seq(&mut pdu, pull.seq);
        match &t.receiver {
            Some(r) => (r.outbox.clone(), t.pulls.is_empty()),
            None => return Ok(Flow::Close),
        }
    };
    if receiver
        .send_budgeted(pdu.freeze(), latency_bound)
        .await
        .is_err()
    {
        return Ok(Flow::Close);
    }
    answered(core, j);
    CoreStats::add(&core.stats.bytes_relayed, head.data_len as u64);
    Ok(Flow::Continue)
}

/// A large pull response whose payload is still on the sender's socket:
/// checked like [`pull_rsp`], then its head is queued to the receiver and
/// the payload moved into the conduit here while the receiver's writer
/// drains it into the receiver's socket. The payload never enters user
/// space; the pipe is the only buffer (back-pressure as for any write).
pub(crate) async fn pull_rsp_spliced(
    core: &Core,
    j: &Joined,
    mut start: PayloadStart,
    socket: &mut TcpOwnedReadHalf,
    conduit: &mut Option<Rc<Conduit>>,
) -> Result<Flow, ConnError> {
    let info = &start.info;
    let (pull, latency_bound) = {
        let mut t = j.task.borrow_mut();
        let pull = answer(core, &mut t, j, info)?;
        (pull, t.pulls.is_empty())
    };
    if pull.orphan {
        let idle = core.config.idle_timeout;
        monoio::time::timeout(idle, discard(socket, start.remaining))
            .await
            .map_err(|_| ConnError::Timeout(idle))??;
        CoreStats::add(&core.stats.bytes_dropped, info.data_len as u64);
        return Ok(Flow::Continue);
    }
    set_seq(&mut start.head, pull.seq);
    let receiver = match &j.task.borrow().receiver {
        Some(r) => r.outbox.clone(),
        None => return Ok(Flow::Close),
    };
    let conduit = match conduit {
        Some(c) => c.clone(),
        None => conduit.insert(Conduit::new()?).clone(),
    };
    if receiver
        .send_spliced(
            start.head.freeze(),
            conduit.clone(),
            start.remaining,
            latency_bound,
        )
        .await
        .is_err()
    {
        return Ok(Flow::Close);
    }
    let stream = shared_stream(&socket.0);
    let idle = core.config.idle_timeout;
    let fill = conduit.fill(stream.as_raw_fd(), start.remaining, || {
        stream.readable(false)
    });
    match monoio::time::timeout(idle, fill).await {
        Err(_) => {
            conduit.break_off();
            return Err(ConnError::Timeout(idle));
        }
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(Flow::Close), // receiver gone
        Ok(Err(e)) => {
            conduit.break_off();
            return Err(e.into());
        }
        Ok(Ok(())) => {}
    }
    answered(core, j);
    CoreStats::add(&core.stats.bytes_relayed, info.data_len as u64);
    CoreStats::add(&core.stats.bytes_spliced, start.remaining as u64);
    Ok(Flow::Continue)
}

/// A response is on its way to the receiver: with `busy_poll`, spin for
/// the next pull if that is worth it.
fn answered(core: &Core, j: &Joined) {
    core.answer_due(|now, limit| {
        let mut t = j.task.borrow_mut();
        let none_left = t.pulls.is_empty();
        t.pace.answer_forwarded(now, none_left, limit)
    });
}

/// Reads and drops the next `len` bytes of `socket` (the payload of an
/// answer to an orphaned pull, still on the socket).
async fn discard(socket: &mut TcpOwnedReadHalf, mut len: usize) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(len.min(DISCARD_CHUNK));
    while len > 0 {
        buf.clear();
        let room = len.min(DISCARD_CHUNK);
        let (res, b) = socket.read(buf.slice_mut(0..room)).await;
        buf = b.into_inner();
        match res? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => len -= n,
        }
    }
    Ok(())
}

/// Bytes read per call while discarding.
const DISCARD_CHUNK: usize = 64 << 10;

/// Checks a response's head against the task and takes the pull it answers.
fn answer(
    core: &Core,
    t: &mut Task,
    j: &Joined,
    head: &PullDataRspHead,
) -> Result<Pull, ConnError> {
    check_ids(t, j, head.user_id, &head.task_id)?;
    let offset = head.wide_offset()?;
    let Some(pull) = t.answer(offset) else {
        return Err(ConnError::UnaskedAnswer(offset));
    };
    CoreStats::sub(&core.stats.pulls_in_flight, 1);
    if head.data_len > pull.size as usize {
        return Err(ConnError::WrongLength {
            offset: pull.offset,
            asked: pull.size,
            got: head.data_len,
        });
    }
    Ok(pull)
}

/// CANCEL / REFUSE / DONE: forwarded to the other side; the task ends and
/// both connections close once what is queued to them is written.
fn state(core: &Core, j: &Joined, pdu: BytesMut) -> Result<Flow, ConnError> {
    let pdu = pdu.freeze();
    let msg: ImFileState = decode(pdu.slice(HEADER_LEN..))?;
    let mut t = j.task.borrow_mut();
    check_ids(&t, j, msg.user_id, &msg.task_id)?;
    let ending = [
        ClientFileState::ClientFileCancel,
        ClientFileState::ClientFileRefuse,
        ClientFileState::ClientFileDone,
    ];
    if !ending.iter().any(|s| *s as i32 == msg.state) {
        return Err(ConnError::BadState(msg.state));
    }
    let mine = t.slot(j.role).take();
    if let Some(mut other) = t.slot(j.role.other()).take() {
        let _ = other.outbox.send(pdu);
        other.close();
    }
    let id = t.id.clone();
    drop(t);
    drop(mine);
    core.remove_task(&id);
    tracing::info!(task = %id, state = msg.state, "task ended by the {:?}", j.role);
    Ok(Flow::Close)
}

fn check_ids(t: &Task, j: &Joined, user_id: u32, task_id: &[u8]) -> Result<(), ConnError> {
    if user_id != j.user_id || task_id != t.id.as_bytes() {
        return Err(ConnError::ForeignIds {
            sent_user: user_id,
            sent_task: text::show(task_id).to_string(),
            user: j.user_id,
            task: t.id.to_string(),
        });
    }
    Ok(())
}
