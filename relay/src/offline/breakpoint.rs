//! The breakpoint query (a ferry extension, PROTOCOL-EXTENSIONS.md): a
//! participant of an offline task asks which bytes the store holds.
//!
//! ```text
//! BREAKPOINT_REQ (0x0580) as the connection's first PDU (in place of FILE_LOGIN_REQ)
//!   task id not UUID text ─> RSP result 1 (nothing looked up), close
//!   task owned by another core ─> handed to it with the bytes read (asked again there)
//!   no store 4 / unknown task 2 / neither sender nor receiver 3 ─> RSP with the code only, close
//!   ok ─> RSP 0: committed ranges (bytes, merged), file size, block size, state ─> close
//! ```
//!
//! Why the first PDU and one query per connection: the answer comes from
//! the store shard of the core that owns the task, which a login reaches
//! by hand-off, and the query needs nothing a login sets up. An upload
//! connection's loop belongs to the relay's pulls, and a stock client never
//! sends 0x0580, so no stock flow sees the query. Answering once and
//! closing bounds the work a connection can ask for (no hand-off
//! ping-pong between cores).

use ferry_proto::extension::{BREAKPOINT_MAX_RANGES, BreakpointResult, OfflineState};
use ferry_proto::frame::{Frame, encode_to_bytes};
use ferry_proto::pb::ferry::file::{BreakpointReq, BreakpointRsp, ByteRange};
use ferry_proto::{core_for_task, text};
use ferry_storage::{State, TaskId};
use monoio::io::{AsyncWriteRent as _, AsyncWriteRentExt as _};
use monoio::net::TcpStream;

use crate::core_state::Core;
use crate::error::ConnError;
use crate::reader::FrameReader;

/// Answers the query in `frame` (the connection's first PDU), or hands the
/// connection to the core owning its task. A refusal is answered with its
/// code and ends as an error (logged with the reason).
pub(crate) async fn serve(
    core: &Core,
    mut reader: FrameReader<TcpStream>,
    frame: &Frame,
    req: &BreakpointReq,
) -> Result<(), ConnError> {
    let seq = frame.header.seq_num;
    // The id is checked before it reaches placement, the store or a path.
    let id = match TaskId::parse(&req.task_id) {
        Ok(id) => id,
        Err(e) => {
            reply(&mut reader, &refusal(BreakpointResult::BadTaskId, req), seq).await;
            tracing::debug!(error = %e, "breakpoint query's task id refused");
            return Err(ConnError::BadTaskId(text::show(&req.task_id).to_string()));
        }
    };
    let owner = core_for_task(id.as_str(), core.cores());
    if owner != core.id {
        return crate::session::hand_off(core, owner, reader, &frame.pdu);
    }
    match answer(core, &id, req.user_id) {
        Ok(rsp) => {
            let committed: u64 = rsp.committed.iter().map(|r| r.length).sum();
            tracing::info!(task = %id, user = req.user_id, state = rsp.state, ranges = rsp.committed.len(), committed, "breakpoint query answered");
            crate::stats::CoreStats::add(&core.stats.breakpoint_queries, 1);
            reply(&mut reader, &rsp, seq).await;
            Ok(())
        }
        Err(e) => {
            reply(&mut reader, &refusal(result_of(&e), req), seq).await;
            Err(e)
        }
    }
}

/// The task's committed ranges, size and state, if `user` takes part in it.
fn answer(core: &Core, id: &TaskId, user: u32) -> Result<BreakpointRsp, ConnError> {
    let Some(offline) = &core.offline else {
        return Err(ConnError::OfflineOff);
    };
    let store = offline.store.borrow();
    let task = match store.task(id) {
        Ok(task) => task,
        Err(ferry_storage::Error::NotFound(_)) => {
            return Err(ConnError::UnknownTask(id.to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    let record = task.record();
    if user != record.from_user && user != record.to_user {
        return Err(ConnError::NotParticipant {
            user,
            role: "sender or receiver",
            task: id.to_string(),
        });
    }
    let ranges = task.committed_ranges();
    let truncated = ranges.len() > BREAKPOINT_MAX_RANGES;
    let state = match task.state() {
        State::Uploading => OfflineState::Uploading,
        State::Complete => OfflineState::Complete,
        State::Damaged => OfflineState::Damaged,
    };
    let geometry = task.geometry();
    Ok(BreakpointRsp {
        result_code: BreakpointResult::Ok.code(),
        task_id: id.as_str().to_owned().into(),
        file_size: Some(geometry.file_size),
        block_size: Some(geometry.block_size),
        state: Some(state.code()),
        committed: ranges
            .into_iter()
            .take(BREAKPOINT_MAX_RANGES)
            .map(|(offset, length)| ByteRange { offset, length })
            .collect(),
        truncated: truncated.then_some(true),
    })
}

/// The result code a refusal carries.
fn result_of(e: &ConnError) -> BreakpointResult {
    match e {
        ConnError::UnknownTask(_) => BreakpointResult::UnknownTask,
        ConnError::NotParticipant { .. } => BreakpointResult::NotParticipant,
        // No store, or one that cannot answer (poisoned, failing).
        _ => BreakpointResult::NoStore,
    }
}

/// A refusal: the code and the task id as asked, nothing else.
fn refusal(result: BreakpointResult, req: &BreakpointReq) -> BreakpointRsp {
    BreakpointRsp {
        result_code: result.code(),
        task_id: req.task_id.clone(),
        ..BreakpointRsp::default()
    }
}

/// Writes the answer under the query's seq, then FIN; waits (bounded)
/// for the client to close, so the answer is not lost to a reset if it
/// sent more than the query.
async fn reply(reader: &mut FrameReader<TcpStream>, rsp: &BreakpointRsp, seq: u16) {
    let pdu = encode_to_bytes(rsp, seq, u32::MAX).expect("an answer within BREAKPOINT_MAX_RANGES");
    let io = reader.io_mut();
    let (res, _) = io.write_all(pdu).await;
    if res.is_ok() {
        let _ = io.shutdown().await;
        reader.linger(crate::session::LINGER).await;
    }
}
