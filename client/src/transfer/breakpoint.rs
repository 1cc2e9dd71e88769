//! ferry's breakpoint query (an extension, PROTOCOL-EXTENSIONS.md): which
//! bytes of an offline task a relay's store holds, asked by the task's
//! sender or receiver on a connection of its own.
//!
//! ```text
//! connect ─> BREAKPOINT_REQ(user, task) ─> BREAKPOINT_RSP ─> the relay closes
//!   result 0 ─> ranges, size, block size, state (checked: ascending, inside the file)
//!   result 2 (unknown task) or a failed connection ─> the task's next relay address
//!   any other result ─> refused (3: not a participant)
//! ```
//!
//! A TeamTalk file_server does not know the query and never answers: the
//! call then fails with `is_timeout` after [`Options::timeout`].

use std::ops::Range;

use ferry_proto::extension::{BreakpointResult, OfflineState};
use ferry_proto::pb::ferry::file::{BreakpointReq, BreakpointRsp};

use super::{FileTask, Options};
use crate::conn::Conn;
use crate::error::Error;

/// What a relay holds of an offline task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breakpoint {
    /// The file's size in bytes.
    pub size: u64,
    /// The store's block size in bytes (ranges are whole blocks, but the
    /// file's last one).
    pub block_size: u32,
    /// Where the upload stands.
    pub state: OfflineState,
    /// The committed bytes, ascending, adjacent blocks merged.
    pub committed: Vec<Range<u64>>,
    /// More ranges exist than the relay sent (a very fragmented task).
    pub truncated: bool,
}

impl Breakpoint {
    /// Bytes committed in all (of the ranges sent).
    pub fn committed_bytes(&self) -> u64 {
        self.committed.iter().map(|r| r.end - r.start).sum()
    }

    /// The whole file is stored and downloadable.
    pub fn is_complete(&self) -> bool {
        self.state == OfflineState::Complete
    }
}

/// Asks the task's relays in order which bytes of `task` they hold, as its
/// sender or receiver `me`.
///
/// Errors: `is_refused` with the relay's result code (3: `me` is neither
/// the task's sender nor its receiver; 2: no relay of the list knows the
/// task; 4: the relay keeps no offline store); `is_protocol` for an
/// answer that is not about this task or not well-formed; `is_invalid`
/// when the task names no relay; and the last connection's error
/// (`is_io`, `is_timeout`, `is_closed`) when no relay answered.
pub async fn breakpoint(task: &FileTask, me: u32, opts: &Options) -> Result<Breakpoint, Error> {
    let mut last = Error::invalid(format!("task {} names no relay address", task.task_id));
    for &at in &task.relays {
        let asked = async {
            let (conn, _events) =
                Conn::connect(at, "the relay", opts.heartbeat, opts.timeout).await?;
            conn.call::<_, BreakpointRsp>(&BreakpointReq {
                user_id: me,
                task_id: task.task_id.clone().into(),
            })
            .await
        };
        let rsp = match asked.await {
            Ok(rsp) => rsp,
            Err(e) if e.is_transient() => {
                tracing::info!(task = %task.task_id, %at, error = %e, "breakpoint query failed; next relay");
                last = e;
                continue;
            }
            Err(e) => return Err(e),
        };
        match read(task, at, rsp) {
            Err(e) if e.result_code() == Some(BreakpointResult::UnknownTask.code()) => last = e,
            other => return other,
        }
    }
    Err(last)
}

/// The answer of relay `at`, checked.
fn read(
    task: &FileTask,
    at: std::net::SocketAddr,
    rsp: BreakpointRsp,
) -> Result<Breakpoint, Error> {
    if rsp.task_id != task.task_id.as_bytes() {
        return Err(Error::protocol(format!(
            "a breakpoint answer for task {}",
            ferry_proto::text::show(&rsp.task_id)
        )));
    }
    if rsp.result_code != BreakpointResult::Ok.code() {
        let why = match BreakpointResult::from_code(rsp.result_code) {
            Some(BreakpointResult::BadTaskId) => "the task id is not UUID text",
            Some(BreakpointResult::UnknownTask) => "unknown task",
            Some(BreakpointResult::NotParticipant) => "not the task's sender or receiver",
            Some(BreakpointResult::NoStore) => "no offline store",
            Some(BreakpointResult::Ok) | None => "unknown result",
        };
        return Err(Error::refused(
            rsp.result_code,
            format!(
                "relay {at}: breakpoint query for task {}: {why}",
                task.task_id
            ),
        ));
    }
    let malformed = |what: &str| {
        Error::protocol(format!(
            "breakpoint answer of relay {at} for task {}: {what}",
            task.task_id
        ))
    };
    let (Some(size), Some(block_size), Some(state)) = (rsp.file_size, rsp.block_size, rsp.state)
    else {
        return Err(malformed("size, block size or state missing"));
    };
    let state = OfflineState::from_code(state).ok_or_else(|| malformed("unknown state"))?;
    let mut committed: Vec<Range<u64>> = Vec::with_capacity(rsp.committed.len());
    for r in &rsp.committed {
        let end = r.offset.checked_add(r.length).filter(|&e| e <= size);
        let after_last = committed.last().is_none_or(|l| l.end < r.offset);
        match end {
            Some(end) if r.length > 0 && after_last => committed.push(r.offset..end),
            _ => {
                return Err(malformed(&format!(
                    "range {}+{} (overlapping, empty, unordered or past {size} bytes)",
                    r.offset, r.length
                )));
            }
        }
    }
    Ok(Breakpoint {
        size,
        block_size,
        state,
        committed,
        truncated: rsp.truncated.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use ferry_proto::pb::ferry::file::ByteRange;

    use super::*;
    use crate::transfer::Mode;

    fn task() -> FileTask {
        FileTask {
            task_id: "6f9619ff-8b86-4d11-b42d-00c04fc964ff".into(),
            from_user_id: 1,
            to_user_id: 2,
            file_name: "a".into(),
            size: 100,
            relays: vec!["127.0.0.1:8600".parse().unwrap()],
            mode: Mode::Offline,
            offline_ready: false,
        }
    }

    fn rsp(ranges: &[(u64, u64)]) -> BreakpointRsp {
        BreakpointRsp {
            result_code: 0,
            task_id: task().task_id.into(),
            file_size: Some(100),
            block_size: Some(10),
            state: Some(0),
            committed: ranges
                .iter()
                .map(|&(offset, length)| ByteRange { offset, length })
                .collect(),
            truncated: None,
        }
    }

    #[test]
    fn answers_are_checked() {
        let (t, at) = (task(), task().relays[0]);
        let b = read(&t, at, rsp(&[(0, 20), (40, 60)])).unwrap();
        assert_eq!(b.committed, vec![0..20, 40..100]);
        assert_eq!((b.committed_bytes(), b.is_complete()), (80, false));
        for bad in [
            &[(0, 20), (10, 20)][..],
            &[(20, 0)],
            &[(90, 20)],
            &[(40, 10), (0, 10)],
        ] {
            assert!(read(&t, at, rsp(bad)).unwrap_err().is_protocol(), "{bad:?}");
        }
        let refused = BreakpointRsp {
            result_code: 3,
            ..rsp(&[])
        };
        assert_eq!(read(&t, at, refused).unwrap_err().result_code(), Some(3));
    }
}
