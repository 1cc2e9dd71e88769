//! The offline upload (role CLIENT_OFFLINE_UPLOAD), driven by the relay
//! as in TeamTalk: the relay asks, the uploader answers each pull as it
//! comes. ferry asks only for what the store is missing, keeps a window of
//! pulls in flight, and checks every answer before a byte is stored.
//!
//! ```text
//! login ─> pulls for the missing blocks (≤ offline_window in flight, none crossing a block)
//! answer ─> checked (user, task, an outstanding pull, exactly its length) ─> write_at
//!   every offline_commit_bytes: data sync, then the record naming the blocks
//!   (offline_window_covers_uncommitted: asked + written-uncommitted bytes stay within
//!   the window, a commit every half window: a crash costs the uploader one window)
//! nothing left to ask or answer ─> sync + commit ─> read every block back
//!   into the SHA-256 (a bad one is asked again) ─> final commit
//!   ─> DONE carrying the SHA-256 (IMFileState.sha256, an extension), close
//! a bad answer ─> the uploader is closed with the reason; nothing of it stored
//! ```
//!
//! A reconnecting uploader (after its crash or the relay's) is asked only
//! for the blocks the store is missing.

use std::collections::VecDeque;
use std::time::Duration;

use ferry_proto::extension::{join_u64, split_u64};
use ferry_proto::frame::encode_to_bytes;
use ferry_proto::pb::im::base_define::TransferFileType;
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFilePullDataRsp, ImFileState};
use ferry_proto::registry::{CID_FILE_PULL_DATA_RSP, CID_FILE_STATE, CID_OTHER_HEARTBEAT};
use ferry_storage::{Digest, State};
use monoio::net::tcp::TcpOwnedReadHalf;

use super::Conn;
use super::files::Files;
use crate::error::ConnError;
use crate::reader::FrameReader;
use crate::stats::CoreStats;

/// Rounds of "nothing to ask, nothing in flight, not complete" (another
/// connection's write or commit still running) before giving up, one
/// [`STALL_WAIT`] apart.
const STALL_ROUNDS: u32 = 500;
const STALL_WAIT: Duration = Duration::from_millis(10);

pub(super) async fn run(
    conn: &Conn,
    reader: &mut FrameReader<TcpOwnedReadHalf>,
) -> Result<(), ConnError> {
    if conn.info.state == State::Complete {
        // Stored already (an empty file, or a finished upload): nothing to send.
        let _ = conn.outbox.send(conn.done_pdu(conn.user));
        return Ok(());
    }
    let files = Files::open(conn.offline(), &conn.id).await?;
    let mut up = Upload::new(conn, files)?;
    let idle = conn.core.config.idle_timeout;
    loop {
        up.ask()?;
        if up.asked.is_empty() && up.settle().await? {
            let done = conn.done_pdu(conn.user);
            let _ = conn.outbox.send(done);
            tracing::info!(task = %conn.id, "offline upload complete");
            return Ok(());
        }
        let next = monoio::time::timeout(idle, reader.next()).await;
        let Some(frame) = next.map_err(|_| ConnError::Timeout(idle))?? else {
            // The uploader left: keep what it sent durable for its return.
            up.files
                .flush(conn.offline(), &conn.id, &conn.core.stats)
                .await?;
            return Ok(());
        };
        match frame.header.command {
            c if c == CID_OTHER_HEARTBEAT => {
                let _ = conn.outbox.send(frame.pdu);
            }
            c if c == CID_FILE_PULL_DATA_RSP => up.answer(frame.decode()?).await?,
            c if c == CID_FILE_STATE => {
                let state: ImFileState = frame.decode()?;
                tracing::info!(task = %conn.id, state = state.state, "the uploader ended the upload");
                up.files
                    .flush(conn.offline(), &conn.id, &conn.core.stats)
                    .await?;
                return Ok(());
            }
            other => return Err(ConnError::Unexpected(other, "offline upload")),
        }
    }
}

/// One uploader connection's pulls.
struct Upload<'a> {
    conn: &'a Conn,
    files: Files,
    /// Missing blocks not asked for yet, in file order.
    blocks: VecDeque<u32>,
    /// Pulls of the block being asked for: (file offset, bytes).
    pulls: VecDeque<(u64, u32)>,
    /// Pulls sent and not answered, at most `offline_window`.
    asked: VecDeque<(u64, u32)>,
    /// Bytes written since the last commit.
    unsynced: u64,
    /// `offline_window_covers_uncommitted`: the bytes asked and not
    /// answered plus `unsynced` stay within this (the window in bytes).
    covered: Option<u64>,
    /// Bytes written between two commits: `offline_commit_bytes`, at most
    /// half of `covered`.
    commit_every: u64,
    seq: u16,
    /// Settles in a row that found nothing to ask.
    stalls: u32,
}

impl<'a> Upload<'a> {
    fn new(conn: &'a Conn, files: Files) -> Result<Upload<'a>, ConnError> {
        let blocks = conn.offline().store.borrow().task(&conn.id)?.missing();
        let config = &conn.core.config;
        let covered = config
            .offline_window_covers_uncommitted
            .then(|| u64::from(config.offline_window) * u64::from(config.offline_pull));
        let commit_every = match covered {
            Some(window) => config.offline_commit_bytes.min((window / 2).max(1)),
            None => config.offline_commit_bytes,
        };
        Ok(Upload {
            conn,
            files,
            blocks: blocks.into(),
            pulls: VecDeque::new(),
            asked: VecDeque::new(),
            unsynced: 0,
            covered,
            commit_every,
            seq: 0,
            stalls: 0,
        })
    }

    /// Sends pulls until the window is full or nothing is left to ask.
    fn ask(&mut self) -> Result<(), ConnError> {
        let window = self.conn.core.config.offline_window as usize;
        let max_pull = u64::from(self.conn.core.config.offline_pull);
        while self.asked.len() < window {
            if let Some(bytes) = self.covered {
                // Room for a whole pull beside what is asked and uncommitted.
                let asked: u64 = self.asked.iter().map(|a| u64::from(a.1)).sum();
                if asked + self.unsynced + max_pull > bytes {
                    break;
                }
            }
            let Some((offset, len)) = self.next_pull()? else {
                break;
            };
            let (offset32, offset_u64) = split_u64(offset);
            if offset_u64.is_some() && !self.conn.wide {
                // Refused at login; never a wrapped offset to a stock peer.
                return Err(ConnError::OffsetTooLarge(offset));
            }
            self.seq = self.seq.wrapping_add(1);
            let req = ImFilePullDataReq {
                task_id: self.conn.id.as_str().to_owned().into(),
                user_id: self.conn.user,
                trans_mode: TransferFileType::FileTypeOffline as i32,
                offset: offset32,
                data_size: len,
                offset_u64,
            };
            let pdu = encode_to_bytes(&req, self.seq, u32::MAX).expect("small PDU");
            if self.conn.outbox.send(pdu).is_err() {
                break; // the writer is gone; the read side sees the end
            }
            self.asked.push_back((offset, len));
        }
        Ok(())
    }

    /// The next pull the store still needs, block by block.
    fn next_pull(&mut self) -> Result<Option<(u64, u32)>, ConnError> {
        let max_pull = self.conn.core.config.offline_pull;
        let store = self.conn.offline().store.borrow();
        let task = store.task(&self.conn.id)?;
        loop {
            if let Some((offset, len)) = self.pulls.pop_front() {
                if task.needs(offset, len) && !self.asked.iter().any(|a| a.0 == offset) {
                    return Ok(Some((offset, len)));
                }
                continue;
            }
            let Some(block) = self.blocks.pop_front() else {
                return Ok(None);
            };
            self.pulls.extend(task.geometry().pulls(block, max_pull));
        }
    }

    /// An answer: checked against the pull it answers, then stored.
    async fn answer(&mut self, rsp: ImFilePullDataRsp) -> Result<(), ConnError> {
        let conn = self.conn;
        if rsp.user_id != conn.user || rsp.task_id != conn.id.as_bytes()[..] {
            return Err(ConnError::ForeignIds {
                sent_user: rsp.user_id,
                sent_task: ferry_proto::text::show(&rsp.task_id).to_string(),
                user: conn.user,
                task: conn.id.to_string(),
            });
        }
        if rsp.result_code != 0 {
            return Err(ConnError::UploaderFailed(rsp.result_code));
        }
        let at = join_u64(rsp.offset, rsp.offset_u64)?;
        let Some(i) = self.asked.iter().position(|a| a.0 == at) else {
            return Err(ConnError::UnaskedAnswer(at));
        };
        let (offset, len) = self.asked.remove(i).expect("found");
        if rsp.file_data.len() != len as usize {
            return Err(ConnError::WrongLength {
                offset,
                asked: len,
                got: rsp.file_data.len(),
            });
        }
        let stats = &conn.core.stats;
        match self
            .files
            .put(conn.offline(), &conn.id, offset, rsp.file_data)
            .await
        {
            Ok(()) => {}
            // Written meanwhile by a connection this one superseded.
            Err(ConnError::Store(ferry_storage::Error::AlreadyExists(why))) => {
                tracing::debug!(task = %conn.id, %why, "answer not needed any more");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        CoreStats::add(&stats.bytes_stored, u64::from(len));
        self.stalls = 0;
        self.unsynced += u64::from(len);
        if self.unsynced >= self.commit_every {
            self.unsynced = 0;
            self.files.flush(conn.offline(), &conn.id, stats).await?;
        }
        Ok(())
    }

    /// Nothing is asked or in flight: commits what is written, and when
    /// every block is committed, digests the file and completes it. True
    /// once the task is complete; false when more must be asked (blocks
    /// found missing or bad are queued).
    async fn settle(&mut self) -> Result<bool, ConnError> {
        let conn = self.conn;
        let stats = &conn.core.stats;
        self.unsynced = 0;
        self.files.flush(conn.offline(), &conn.id, stats).await?;
        let (state, needs_digest, missing) = {
            let store = conn.offline().store.borrow();
            let t = store.task(&conn.id)?;
            (t.state(), t.needs_digest(), t.missing())
        };
        if state == State::Complete {
            return Ok(true);
        }
        if needs_digest {
            return self.digest().await;
        }
        self.stalls += 1;
        if self.stalls > STALL_ROUNDS {
            return Err(ConnError::Stalled {
                task: conn.id.to_string(),
                missing: missing.len(),
            });
        }
        if self.stalls == 2 {
            // Pieces a dropped connection left in these blocks: ask all of them.
            let mut store = conn.offline().store.borrow_mut();
            let t = store.task_mut(&conn.id)?;
            for &b in &missing {
                t.reset_block(b);
            }
        } else if self.stalls > 2 {
            monoio::time::sleep(STALL_WAIT).await; // another connection's write or commit
        }
        self.blocks = missing.into();
        Ok(false)
    }

    /// Reads every block back into the SHA-256 (checking each CRC on the
    /// way), then commits the digest: the task is complete. A block that
    /// fails its check is missing again and asked for; false then.
    async fn digest(&mut self) -> Result<bool, ConnError> {
        let conn = self.conn;
        let (offline, id, stats) = (conn.offline(), &conn.id, &conn.core.stats);
        let count = offline.store.borrow().task(id)?.geometry().block_count();
        let mut digest = Digest::new();
        let mut buf = Vec::new();
        for block in 0..count {
            let res;
            (res, buf) = self.files.read(offline, id, block, buf).await;
            res?;
            let fed = digest.update(offline.store.borrow().task(id)?, block, &buf);
            match fed {
                Ok(()) => {}
                Err(e) if e.is_corruption() => {
                    self.files.condemn(offline, id, block, &e, stats).await?;
                    self.blocks.push_back(block);
                    return Ok(false);
                }
                Err(e) => return Err(e.into()),
            }
        }
        offline
            .store
            .borrow_mut()
            .task_mut(id)?
            .set_digest(digest)?;
        self.files.flush(offline, id, stats).await?;
        offline.store.borrow_mut().note_complete(id)?;
        Ok(offline.store.borrow().task(id)?.state() == State::Complete)
    }
}
