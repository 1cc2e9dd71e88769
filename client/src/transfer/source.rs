//! The sending side: answers each pull the relay sends (the online
//! receiver's, forwarded; or the relay's own during an offline upload) with
//! the bytes of the local file at the asked offset, under the pull's seq.
//!
//! ```text
//! PULL_DATA_REQ(task, user, mode, offset, size) ─> checked (this task, the expected
//!   puller, the mode, 1..=max bytes inside the file) ─> file read ─> PULL_DATA_RSP
//! FILE_STATE DONE ─> finished;  CANCEL / REFUSE ─> cancelled;  close ─> closed
//! ```

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_proto::pb::im::base_define::ClientFileState;
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFilePullDataRsp, ImFileState};
use ferry_proto::registry::{CID_FILE_PULL_DATA_REQ, CID_FILE_STATE};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::relay::RelayConn;
use super::{FileTask, Mode, Options};
use crate::error::{Error, Kind};

/// The largest pull answered (bytes): the answer must fit one PDU.
const MAX_PULL: u32 = ferry_proto::frame::DEFAULT_MAX_FRAME - (4 << 10);

/// The local file being sent.
pub(crate) struct Source {
    file: tokio::fs::File,
    path: PathBuf,
    size: u64,
    buf: Vec<u8>,
}

impl Source {
    /// Opens `path`; its size in bytes is [`Source::size`].
    pub(crate) async fn open(path: &Path) -> Result<Source, Error> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::file("opening", path, e))?;
        let meta = file
            .metadata()
            .await
            .map_err(|e| Error::file("reading the size of", path, e))?;
        if !meta.is_file() {
            return Err(Error::invalid(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        Ok(Source {
            file,
            path: path.to_owned(),
            size: meta.len(),
            buf: Vec::new(),
        })
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    async fn read(&mut self, offset: u64, len: usize) -> Result<bytes::Bytes, Error> {
        self.file
            .seek(SeekFrom::Start(offset))
            .await
            .map_err(|e| Error::file("seeking in", &self.path, e))?;
        self.buf.resize(len, 0);
        self.file
            .read_exact(&mut self.buf)
            .await
            .map_err(|e| Error::file("reading", &self.path, e))?;
        Ok(bytes::Bytes::copy_from_slice(&self.buf))
    }
}

/// Who pulls and how the bytes go.
pub(crate) struct Serving<'a> {
    pub task: &'a FileTask,
    /// This client's user id (the answers carry it).
    pub me: u32,
    /// The user id pulls must carry: the online receiver, or this user for
    /// the relay's upload pulls.
    pub puller: u32,
    pub mode: Mode,
    pub opts: &'a Options,
}

/// Answers pulls until the relay says DONE. `sent` is raised to the end
/// of the furthest range answered (for progress and retries).
///
/// Errors: `is_cancelled` (CANCEL or REFUSE), `is_closed` (the connection
/// ended first), `is_timeout` (no pull within `peer_timeout`),
/// `is_protocol` (a pull outside the file, for another task or user, or
/// anything unexpected), `is_file`.
pub(crate) async fn serve(
    relay: &mut RelayConn,
    src: &mut Source,
    how: &Serving<'_>,
    sent: &std::sync::atomic::AtomicU64,
) -> Result<(), Error> {
    let wait: Duration = how.opts.peer_timeout;
    loop {
        let frame = relay.next(wait).await?;
        let cmd = frame.header.command;
        if cmd == CID_FILE_STATE {
            let state: ImFileState = decode(&frame)?;
            return ended(how.task, &state);
        }
        if cmd != CID_FILE_PULL_DATA_REQ {
            return Err(Error::protocol(format!("{cmd} from the relay to a sender")));
        }
        let req: ImFilePullDataReq = decode(&frame)?;
        check(how, src.size, &req)?;
        let data = src
            .read(u64::from(req.offset), req.data_size as usize)
            .await?;
        let rsp = ImFilePullDataRsp {
            result_code: 0,
            task_id: how.task.task_id.clone().into(),
            user_id: how.me,
            offset: req.offset,
            file_data: data,
        };
        relay.conn.reply(&rsp, frame.header.seq_num).await?;
        let end = u64::from(req.offset) + u64::from(req.data_size);
        let before = sent.fetch_max(end, std::sync::atomic::Ordering::Relaxed);
        how.opts.report(before.max(end), src.size);
    }
}

fn check(how: &Serving<'_>, size: u64, req: &ImFilePullDataReq) -> Result<(), Error> {
    if req.task_id != how.task.task_id.as_bytes() || req.user_id != how.puller {
        return Err(Error::protocol(format!(
            "a pull of user {} for task {} (expected user {} for {})",
            req.user_id,
            ferry_proto::text::show(&req.task_id),
            how.puller,
            how.task.task_id
        )));
    }
    if req.trans_mode != how.mode.wire() {
        return Err(Error::protocol(format!(
            "a pull with trans_mode {} on a {:?} task",
            req.trans_mode, how.mode
        )));
    }
    let end = u64::from(req.offset) + u64::from(req.data_size);
    if req.data_size == 0 || req.data_size > MAX_PULL || end > size {
        return Err(Error::protocol(format!(
            "a pull of {} bytes at {} (the file has {size}, at most {MAX_PULL} a pull)",
            req.data_size, req.offset
        )));
    }
    Ok(())
}

/// A file state that ends a transfer: DONE is success.
pub(crate) fn ended(task: &FileTask, state: &ImFileState) -> Result<(), Error> {
    if state.task_id != task.task_id.as_bytes() {
        return Err(Error::protocol(format!(
            "a file state for task {}",
            ferry_proto::text::show(&state.task_id)
        )));
    }
    match ClientFileState::try_from(state.state) {
        Ok(ClientFileState::ClientFileDone) => Ok(()),
        Ok(ClientFileState::ClientFileCancel) => Err(cancelled("cancelled", state.user_id)),
        Ok(ClientFileState::ClientFileRefuse) => Err(cancelled("refused", state.user_id)),
        _ => Err(Error::protocol(format!(
            "file state {} where the transfer ends",
            state.state
        ))),
    }
}

fn cancelled(state: &'static str, user: u32) -> Error {
    Error::new(Kind::Cancelled {
        state,
        by: format!("user {user}"),
    })
}

pub(crate) fn decode<T: ferry_proto::Pdu>(frame: &ferry_proto::Frame) -> Result<T, Error> {
    frame
        .decode()
        .map_err(|e| Error::protocol(format!("{} from the relay: {e}", T::COMMAND)))
}
