//! The offline download (role CLIENT_OFFLINE_DOWNLOAD): the client pulls,
//! the relay answers from the store. Every byte served comes from a block
//! whose CRC32C was checked after it was read; one verified block is kept
//! per connection, so 32 KiB pulls read a 1 MiB block once, not 32 times.
//!
//! ```text
//! PULL_DATA_REQ(offset, size) ─> checked (user, task, 1..=max_chunk bytes, inside the file)
//!   ─> PULL_DATA_RSP with min(size, bytes left), under the request's seq
//!   the answer reaching the end of the file ─> then DONE (user_id = the sender,
//!   sha256 = the stored file's digest), close
//! a block failing its check ─> the task is damaged (committed), the connection closed
//! ```
//!
//! TeamTalk's stock downloader pulls 32 KiB after 32 KiB, one in flight;
//! any offset is served, so a download can resume where it stopped.
//!
//! The payload is not copied into the answer: `file_data` is the last
//! field of IMFilePullDataRsp, so the answer is its head (header and the
//! fields before the payload) and then a slice of the verified block,
//! written together with one writev(2), at once or by the writer. The
//! block's buffer is shared with the answers still queued, and reused once
//! they are written. Reading the block once and writing slices of it beats
//! splicing from the file: every block's CRC32C must be checked in memory
//! before any of it is served, and a 32 KiB stock pull would otherwise
//! cost a splice pair per pull. A pull that spans two blocks (only a ferry
//! peer's unaligned offset) is copied into one PDU.

use bytes::{BufMut as _, Bytes};
use ferry_proto::extension::join_u64;
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFileState};
use ferry_proto::pull::rsp_prefix;
use ferry_proto::registry::{CID_FILE_PULL_DATA_REQ, CID_FILE_STATE, CID_OTHER_HEARTBEAT};
use monoio::net::tcp::TcpOwnedReadHalf;

use super::Conn;
use super::files::{Checked, Files};
use crate::error::ConnError;
use crate::reader::FrameReader;
use crate::stats::CoreStats;

pub(super) async fn run(
    conn: &Conn,
    reader: &mut FrameReader<TcpOwnedReadHalf>,
) -> Result<(), ConnError> {
    if conn.info.size == 0 {
        // Nothing to pull: DONE at once, as after the last answer.
        let done = conn.done_pdu(conn.info.from_user);
        let _ = conn.outbox.send(done);
        return Ok(());
    }
    let files = Files::open(conn.offline(), &conn.id).await?;
    let mut cache = Cache::default();
    let idle = conn.core.config.idle_timeout;
    loop {
        let next = monoio::time::timeout(idle, reader.next()).await;
        let Some(frame) = next.map_err(|_| ConnError::Timeout(idle))?? else {
            return Ok(());
        };
        match frame.header.command {
            c if c == CID_OTHER_HEARTBEAT => {
                let _ = conn.outbox.send(frame.pdu);
            }
            c if c == CID_FILE_PULL_DATA_REQ => {
                let req: ImFilePullDataReq = frame.decode()?;
                if serve(conn, &files, &mut cache, req, frame.header.seq_num).await? {
                    tracing::info!(task = %conn.id, user = conn.user, "offline download served to the end");
                    return Ok(());
                }
            }
            c if c == CID_FILE_STATE => {
                let state: ImFileState = frame.decode()?;
                tracing::info!(task = %conn.id, state = state.state, "the downloader ended the download");
                return Ok(());
            }
            other => return Err(ConnError::Unexpected(other, "offline download")),
        }
    }
}

/// Buffers of earlier blocks kept for reuse at most (answers still queued
/// may hold them; past this many the oldest is left to them).
const SPARE_BUFFERS: usize = 4;

/// The last block read and verified, sliced for the pulls that fall in it.
#[derive(Default)]
struct Cache {
    block: Option<u32>,
    bytes: Bytes,
    /// Earlier blocks' buffers: one no queued answer holds any more is
    /// read into again rather than allocated.
    spare: Vec<Bytes>,
}

impl Cache {
    /// A buffer to read the next block into: a spare nobody else holds,
    /// else a new one. The current block becomes a spare.
    fn take_buffer(&mut self) -> Vec<u8> {
        self.block = None;
        let old = std::mem::take(&mut self.bytes);
        if !old.is_empty() {
            self.spare.push(old);
        }
        match self.spare.iter().position(Bytes::is_unique) {
            Some(i) => Vec::from(self.spare.swap_remove(i)),
            None => {
                if self.spare.len() > SPARE_BUFFERS {
                    self.spare.remove(0);
                }
                Vec::new()
            }
        }
    }
}

/// Answers one pull. True when the answer reached the end of the file
/// (DONE follows it; the connection closes).
async fn serve(
    conn: &Conn,
    files: &Files,
    cache: &mut Cache,
    req: ImFilePullDataReq,
    seq: u16,
) -> Result<bool, ConnError> {
    if req.user_id != conn.user || req.task_id != conn.id.as_bytes()[..] {
        return Err(ConnError::ForeignIds {
            sent_user: req.user_id,
            sent_task: ferry_proto::text::show(&req.task_id).to_string(),
            user: conn.user,
            task: conn.id.to_string(),
        });
    }
    let size = conn.info.size;
    let max = conn.core.config.max_chunk;
    let offset = join_u64(req.offset, req.offset_u64)?;
    if req.data_size == 0 || req.data_size > max || offset >= size {
        return Err(ConnError::BadPull {
            offset,
            size: req.data_size,
            file: size,
            max,
        });
    }
    let len = u64::from(req.data_size).min(size - offset);
    let plan = conn
        .offline()
        .store
        .borrow()
        .task(&conn.id)?
        .read_plan(offset, len)?;
    let mut head = rsp_prefix(seq, conn.id.as_bytes(), conn.user, offset, len as usize);
    let single = plan.blocks().nth(1).is_none();
    let mut payload = None;
    if !single {
        head.reserve(len as usize); // copied behind the head
    }
    for (block, _, _) in plan.blocks() {
        if cache.block != Some(block) {
            let buf = cache.take_buffer();
            let stats = &conn.core.stats;
            let (res, buf) = files
                .read_verified(conn.offline(), &conn.id, block, buf, stats)
                .await;
            cache.bytes = Bytes::from(buf);
            if let Checked::Bad(_) = res? {
                return Err(ConnError::TaskState {
                    task: conn.id.to_string(),
                    state: "damaged",
                    role: "downloader",
                });
            }
            cache.block = Some(block);
        }
        let slice = plan.slice(block, &cache.bytes);
        if single {
            payload = Some(cache.bytes.slice_ref(slice));
        } else {
            head.put_slice(slice);
        }
    }
    let sent = match payload {
        Some(payload) => conn.outbox.send_budgeted_pair(head.freeze(), payload).await,
        None => conn.outbox.send_budgeted(head.freeze(), true).await,
    };
    if sent.is_err() {
        return Ok(true); // the writer is gone
    }
    CoreStats::add(&conn.core.stats.bytes_served, len);
    if offset + len < size {
        return Ok(false);
    }
    let done = conn.done_pdu(conn.info.from_user);
    let _ = conn.outbox.send(done);
    Ok(true)
}
