//! The offline upload (role CLIENT_OFFLINE_UPLOAD), driven by the relay
//! as in TeamTalk: the relay asks, the uploader answers each pull as it
//! comes. ferry asks only for what the store is missing, keeps a window of
//! pulls in flight, and checks every answer before a byte is stored.
//!
//! ```text
//! login ─> pulls for the missing blocks (≤ offline_window in flight, none crossing a block)
//! answer ─> checked (user, task, an outstanding pull, exactly its length) ─> write_at
//!   every offline_commit_bytes: data sync, then the record naming the blocks, run
//!   beside the next answers (one at a time per connection), so a sync never
//!   stalls the pulls
//!   (offline_window_covers_uncommitted: asked + written-uncommitted bytes stay within
//!   the window, a commit every half window: a crash costs the uploader one window)
//!   each piece written goes into the running SHA-256 (in file order; pieces
//!   ahead of it held up to offline.digest_hold_bytes)
//! nothing left to ask or answer ─> sync + commit ─> read back the blocks the
//!   running SHA-256 did not reach, if any (a bad one is asked again) ─> final commit
//!   ─> DONE carrying the SHA-256 (IMFileState.sha256, an extension), close
//! a bad answer ─> the uploader is closed with the reason; nothing of it stored
//! ```
//!
//! A reconnecting uploader (after its crash or the relay's) is asked only
//! for the blocks the store is missing.
//!
//! # Several connections at once
//!
//! The task's sender may upload over several connections at once (at most
//! `relay.offline_uploaders_per_task`, 4 by default; one more is refused
//! at login, LOGIN_RES 1, `TooManyUploaders` logged). They share one pool
//! of pulls ([`Uploaders`], on the task's core: every login of a task
//! lands there, so plain data, no lock): each connection takes the next
//! pull nobody has asked, up to its own window, so the missing blocks
//! spread over the connections as fast as each answers. A stock uploader's
//! single connection is the pool's only member and sees exactly the
//! single-connection upload above.
//!
//! ```text
//! connection ─> takes pulls from the pool (front: pulls a connection that left
//!   held; then the missing blocks in file order, expanded pull by pull)
//! a connection leaves (close, error, idle timeout, bad answer) ─> the pulls it
//!   held unanswered go to the front of the pool: the others ask them next
//! nothing left to ask, nothing asked of me:
//!   others still hold pulls, or write, sync or settle ─> wait (polled every 10 ms)
//!     one of them silent for offline_uploader_stall with pulls held ─> closed (a
//!     dead network path after a reconnect), its pulls back to the pool
//!   nothing in flight anywhere ─> this connection settles: sync + commit +
//!     SHA-256 (read back where the running one stopped) + final commit (blocks
//!     found missing or bad go back to the pool)
//! the task complete ─> every connection still there gets DONE (with the
//!   SHA-256) and the close, the one that settled and the ones that waited
//! ```
//!
//! Each connection keeps its own window (and with
//! `offline_window_covers_uncommitted` its own uncommitted bytes within
//! it), so the relay holds at most `offline_uploaders_per_task` windows per
//! task. Durability is unchanged: every block goes through the same data
//! sync and commit whichever connection wrote it, and a relay killed
//! mid-upload loses only what was not committed (each connection's
//! uncommitted bytes). Pulls are shared pull by pull, not block by block,
//! so the pulls in flight stay one compact region of the file: the blocks
//! a kill leaves half written are those few, not one per connection. A
//! connection waiting for the others does not read its socket (a stock
//! uploader sends nothing unasked but heartbeats, read once it is asked
//! again or gets DONE); it gives up after `idle_timeout` without progress
//! anywhere (`OthersStalled`). A leaving connection waits briefly for the
//! others' syncs and commits, so what it wrote is committed for its
//! return. The task's only connection writes its pulls at once, as before;
//! with several, a window's pulls go through each connection's writer (on
//! the epoll driver, pulls written inline let one connection starve the
//! others).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ferry_proto::extension::{join_u64, split_u64};
use ferry_proto::frame::encode_to_bytes;
use ferry_proto::pb::im::base_define::TransferFileType;
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFilePullDataRsp, ImFileState};
use ferry_proto::registry::{CID_FILE_PULL_DATA_RSP, CID_FILE_STATE, CID_OTHER_HEARTBEAT};
use ferry_storage::{State, TaskId};
use monoio::net::tcp::TcpOwnedReadHalf;
use monoio::task::JoinHandle;

use super::files::Files;
use super::share::Uploaders;
use super::{Conn, Offline};
use crate::error::ConnError;
use crate::reader::FrameReader;
use crate::stats::CoreStats;

/// Settles in a row that found blocks missing and none askable before
/// giving up; past the second, one [`WAIT`] apart.
const STUCK_ROUNDS: u32 = 500;
/// How often a connection with nothing to ask looks at the others' turn.
const WAIT: Duration = Duration::from_millis(10);
/// Rounds a leaving connection waits for the others' syncs and commits.
const LEAVE_ROUNDS: u32 = 50;

pub(super) async fn run(
    conn: &Conn,
    conn_id: u64,
    reader: &mut FrameReader<TcpOwnedReadHalf>,
) -> Result<(), ConnError> {
    if conn.info.state == State::Complete {
        // Stored already (an empty file, or a finished upload): nothing to send.
        let _ = conn.outbox.send(conn.done_pdu(conn.user));
        return Ok(());
    }
    let files = Rc::new(Files::open(conn.offline(), &conn.id).await?);
    let mut up = Upload::new(conn, conn_id, files);
    let idle = conn.core.config.idle_timeout;
    // Since when this connection waits for the others, and their progress then.
    let mut waiting: Option<(Instant, u64)> = None;
    loop {
        up.ask()?;
        if up.nothing_asked() {
            match up.finish().await? {
                Turn::Done => {
                    let done = conn.done_pdu(conn.user);
                    let _ = conn.outbox.send(done);
                    tracing::info!(task = %conn.id, conn = conn_id, "offline upload complete");
                    return Ok(());
                }
                Turn::Ask => {
                    waiting = None;
                    continue;
                }
                Turn::Wait => {
                    let progress = up.with_shared(|u| u.progress);
                    match waiting {
                        Some((since, seen)) if seen == progress => {
                            if since.elapsed() > idle {
                                return Err(ConnError::OthersStalled {
                                    task: conn.id.to_string(),
                                    waited: idle,
                                });
                            }
                        }
                        _ => waiting = Some((Instant::now(), progress)),
                    }
                    monoio::time::sleep(WAIT).await;
                    continue;
                }
            }
        }
        waiting = None;
        let next = monoio::time::timeout(idle, reader.next()).await;
        let Some(frame) = next.map_err(|_| ConnError::Timeout(idle))?? else {
            // The uploader left: keep what it sent durable for its return.
            up.flush_on_leaving().await?;
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
                up.flush_on_leaving().await?;
                return Ok(());
            }
            other => return Err(ConnError::Unexpected(other, "offline upload")),
        }
    }
}

/// What a connection with nothing asked of it does next.
enum Turn {
    /// The task is complete: DONE.
    Done,
    /// There is something to ask (again).
    Ask,
    /// The others are still at work.
    Wait,
}

/// One uploader connection's pulls.
struct Upload<'a> {
    conn: &'a Conn,
    /// This connection's id among the task's [`Uploaders`].
    conn_id: u64,
    files: Rc<Files>,
    /// Bytes this connection wrote since its last commit began.
    unsynced: u64,
    /// The commit running beside the answers, if any.
    committing: Option<Committing>,
    /// `offline_window_covers_uncommitted`: the bytes asked and not
    /// answered plus `unsynced` stay within this (the window in bytes).
    covered: Option<u64>,
    /// Bytes written between two commits: `offline_commit_bytes`, at most
    /// half of `covered`.
    commit_every: u64,
    seq: u16,
}

impl<'a> Upload<'a> {
    fn new(conn: &'a Conn, conn_id: u64, files: Rc<Files>) -> Upload<'a> {
        let config = &conn.core.config;
        let covered = config
            .offline_window_covers_uncommitted
            .then(|| u64::from(config.offline_window) * u64::from(config.offline_pull));
        let commit_every = match covered {
            Some(window) => config.offline_commit_bytes.min((window / 2).max(1)),
            None => config.offline_commit_bytes,
        };
        Upload {
            conn,
            conn_id,
            files,
            unsynced: 0,
            committing: None,
            covered,
            commit_every,
            seq: 0,
        }
    }

    fn offline(&self) -> &'a Offline {
        self.conn.offline()
    }

    /// `f` on the task's shared upload state (never across an await).
    fn with_shared<T>(&self, f: impl FnOnce(&mut Uploaders) -> T) -> T {
        let mut uploads = self.offline().uploads.borrow_mut();
        f(uploads
            .get_mut(&self.conn.id)
            .expect("a connection is a member until it leaves"))
    }

    fn nothing_asked(&self) -> bool {
        let me = self.conn_id;
        self.with_shared(|u| u.member(me).asked.is_empty())
    }

    /// Sends pulls until the window is full or nothing is left to ask.
    fn ask(&mut self) -> Result<(), ConnError> {
        let config = &self.conn.core.config;
        let window = config.offline_window as usize;
        let max_pull = config.offline_pull;
        loop {
            // Written at once (one send(2)) by a task's only connection, as
            // before parallel uploads, or as the one pull in flight. With
            // several connections a window's pulls go through the writer:
            // on the epoll driver a connection writing its own pulls inline
            // starved its task's others (8 answers in the time another
            // answered 6,000; through the writer 2,048 each of 8,192).
            let me = self.conn_id;
            let alone = self.with_shared(|u| u.len() == 1 || u.member(me).asked.is_empty());
            let Some((offset, len)) = self.take_pull(window, max_pull)? else {
                return Ok(());
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
            if self.conn.outbox.send_forward(pdu, alone).is_err() {
                // The writer is gone (closed for silence, or a write failed):
                // the pull goes back to the others when this one leaves.
                return Err(ConnError::Io(std::io::ErrorKind::BrokenPipe.into()));
            }
        }
    }

    /// The next pull for this connection, recorded as asked of it: `None`
    /// when its window is full or nobody's pull is left.
    fn take_pull(&self, window: usize, max_pull: u32) -> Result<Option<(u64, u32)>, ConnError> {
        let offline = self.offline();
        let store = offline.store.borrow();
        let task = store.task(&self.conn.id)?;
        let unsynced = self.unsynced + self.committing.as_ref().map_or(0, |c| c.bytes);
        let (me, covered) = (self.conn_id, self.covered);
        Ok(self.with_shared(|u| {
            let asked = &u.member(me).asked;
            if asked.len() >= window {
                return None;
            }
            if let Some(bytes) = covered {
                // Room for a whole pull beside what is asked and uncommitted.
                let asked: u64 = asked.iter().map(|a| u64::from(a.1)).sum();
                if asked + unsynced + u64::from(max_pull) > bytes {
                    return None;
                }
            }
            let pull = u.take_pull(task, max_pull)?;
            u.asked(me, pull);
            Some(pull)
        }))
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
        let me = self.conn_id;
        let got = rsp.file_data.len();
        // Taken off the connection's pulls only when the answer fits: a
        // refused one stays asked, so it goes back to the others.
        let (offset, len) = self.with_shared(|u| {
            let asked = &mut u.member(me).asked;
            let i = asked
                .iter()
                .position(|a| a.0 == at)
                .ok_or(ConnError::UnaskedAnswer(at))?;
            let (offset, len) = asked[i];
            if got != len as usize {
                return Err(ConnError::WrongLength {
                    offset,
                    asked: len,
                    got,
                });
            }
            asked.remove(i);
            Ok((offset, len))
        })?;
        let stats = &conn.core.stats;
        let stored = {
            let _busy = Busy::enter(self.offline(), &conn.id);
            self.files
                .put(conn.offline(), &conn.id, offset, rsp.file_data)
                .await
        };
        match stored {
            Ok(()) => {}
            // Written meanwhile by another connection.
            Err(ConnError::Store(ferry_storage::Error::AlreadyExists(why))) => {
                tracing::debug!(task = %conn.id, %why, "answer not needed any more");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        CoreStats::add(&stats.bytes_stored, u64::from(len));
        self.with_shared(|u| {
            u.stuck = 0;
            u.progress += 1;
            let m = u.member(me);
            m.last_heard = Instant::now();
            m.carried += u64::from(len);
        });
        self.unsynced += u64::from(len);
        if self.committing.as_ref().is_some_and(|c| c.done.get()) {
            self.join_commit().await?;
        }
        if self.unsynced >= self.commit_every {
            // One commit at a time per connection: the next waits for the
            // last, so what a crash can cost stays bounded (the commit
            // running and the bytes written since it began, each about
            // offline_commit_bytes).
            self.join_commit().await?;
            self.begin_commit();
        }
        Ok(())
    }

    /// Starts a data sync and commit of what is written, beside the next
    /// answers: the connection goes on reading and writing while the
    /// syncs run. Blocks written meanwhile wait for the next one (the
    /// store marks what a sync covers when it begins), so durability is
    /// as with the commit awaited in line.
    fn begin_commit(&mut self) {
        let (core, files, id) = (self.conn.core.clone(), self.files.clone(), self.conn.id);
        let done = Rc::new(Cell::new(false));
        let finished = done.clone();
        // Counted as work in flight from now, not from the task's first poll.
        let busy = Busy::enter(self.offline(), &id);
        let handle = monoio::spawn(async move {
            let offline = core.offline.as_ref().expect("an upload has a store");
            let res = files.flush(offline, &id, &core.stats).await;
            drop(busy);
            finished.set(true);
            res.map(drop)
        });
        self.committing = Some(Committing {
            handle,
            done,
            bytes: std::mem::take(&mut self.unsynced),
        });
    }

    /// Waits for the commit running beside the answers, if any; its
    /// failure (the store poisoned) is this connection's.
    async fn join_commit(&mut self) -> Result<(), ConnError> {
        match self.committing.take() {
            Some(c) => c.handle.await,
            None => Ok(()),
        }
    }

    /// Makes the task's written blocks durable (a data sync and a commit),
    /// counted as work in flight for the task's other connections; the
    /// commit running beside the answers first.
    async fn flush(&mut self) -> Result<u32, ConnError> {
        self.join_commit().await?;
        let conn = self.conn;
        let _busy = Busy::enter(self.offline(), &conn.id);
        self.files
            .flush(conn.offline(), &conn.id, &conn.core.stats)
            .await
    }

    /// The connection leaves: what it wrote is made durable for its return.
    /// A flush skips the data sync while another connection's runs (that
    /// one covers only the blocks written before it began), so this waits
    /// for the task's other syncs and commits first, a few rounds at most:
    /// connections still uploading commit the rest themselves.
    async fn flush_on_leaving(&mut self) -> Result<(), ConnError> {
        self.join_commit().await?;
        for _ in 0..LEAVE_ROUNDS {
            if self.with_shared(|u| u.busy.get() == 0) {
                break;
            }
            monoio::time::sleep(WAIT).await;
        }
        self.flush().await.map(drop)
    }

    /// Nothing is asked of this connection and nothing is left to ask:
    /// commits what it wrote, then, if no other connection has anything
    /// in flight, settles the task (see [`Upload::settle`]).
    async fn finish(&mut self) -> Result<Turn, ConnError> {
        let conn = self.conn;
        self.unsynced = 0;
        self.flush().await?;
        if conn.offline().store.borrow().task(&conn.id)?.state() == State::Complete {
            return Ok(Turn::Done);
        }
        let me = self.conn_id;
        let stall = conn.core.config.offline_uploader_stall;
        // `None`: this connection settles.
        let turn = self.with_shared(|u| {
            if !u.pool_empty() {
                return Some(Turn::Ask);
            }
            if u.settling || u.busy.get() > 0 || u.others_asked(me) {
                for cut in u.cut_silent(me, stall) {
                    CoreStats::add(&conn.core.stats.offline_uploaders_cut, 1);
                    tracing::info!(task = %conn.id, conn = cut, ?stall, "an uploader connection holding pulls is silent: closed, its pulls asked of the others");
                }
                return Some(Turn::Wait);
            }
            u.settling = true;
            None
        });
        if let Some(turn) = turn {
            return Ok(turn);
        }
        let _settling = Settling(self.offline(), conn.id);
        self.settle().await
    }

    /// Nothing is asked anywhere and nothing is being written: commits
    /// what is written, and when every block is committed, digests the
    /// file and completes it. Blocks found missing or bad go back to the
    /// pool ([`Turn::Ask`]).
    async fn settle(&mut self) -> Result<Turn, ConnError> {
        let conn = self.conn;
        self.flush().await?;
        let (state, needs_digest, missing) = {
            let store = conn.offline().store.borrow();
            let t = store.task(&conn.id)?;
            (t.state(), t.needs_digest(), t.missing())
        };
        if state == State::Complete {
            return Ok(Turn::Done);
        }
        if needs_digest {
            return self.digest().await;
        }
        let stuck = self.with_shared(|u| {
            u.stuck += 1;
            u.stuck
        });
        if stuck > STUCK_ROUNDS {
            return Err(ConnError::Stalled {
                task: conn.id.to_string(),
                missing: missing.len(),
            });
        }
        if stuck == 2 {
            // Pieces a dropped connection left in these blocks: ask all of them.
            let mut store = conn.offline().store.borrow_mut();
            let t = store.task_mut(&conn.id)?;
            for &b in &missing {
                t.reset_block(b);
            }
        } else if stuck > 2 {
            monoio::time::sleep(WAIT).await;
        }
        self.with_shared(|u| u.refill(missing));
        Ok(Turn::Ask)
    }

    /// Completes the SHA-256: the running digest (every byte, when the
    /// pieces came in order) and the blocks it did not reach read back
    /// (each CRC checked on the way); then commits the digest: the task is
    /// complete. A block that fails its check is missing again and goes
    /// back to the pool.
    async fn digest(&mut self) -> Result<Turn, ConnError> {
        let conn = self.conn;
        let (offline, id, stats) = (conn.offline(), &conn.id, &conn.core.stats);
        let count = offline.store.borrow().task(id)?.geometry().block_count();
        let mut digest = offline.store.borrow_mut().task_mut(id)?.take_digest();
        let mut buf = Vec::new();
        let first = digest.next_block();
        CoreStats::add(
            &stats.digest_blocks_read,
            u64::from(count.saturating_sub(first)),
        );
        for block in first..count {
            let res;
            (res, buf) = self.files.read(offline, id, block, buf).await;
            res?;
            let fed = digest.update(offline.store.borrow().task(id)?, block, &buf);
            match fed {
                Ok(()) => {}
                Err(e) if e.is_corruption() => {
                    self.files.condemn(offline, id, block, &e, stats).await?;
                    self.with_shared(|u| u.refill(vec![block]));
                    return Ok(Turn::Ask);
                }
                Err(e) => return Err(e.into()),
            }
        }
        offline
            .store
            .borrow_mut()
            .task_mut(id)?
            .set_digest(digest)?;
        self.flush().await?;
        offline.store.borrow_mut().note_complete(id)?;
        let complete = offline.store.borrow().task(id)?.state() == State::Complete;
        Ok(if complete { Turn::Done } else { Turn::Ask })
    }
}

/// A data sync and commit running beside a connection's answers.
struct Committing {
    handle: JoinHandle<Result<(), ConnError>>,
    /// Set when it has finished (joining it then does not wait).
    done: Rc<Cell<bool>>,
    /// Bytes written before it began, which it makes durable.
    bytes: u64,
}

/// A write, sync or commit of one of the task's connections in flight:
/// counted up in the task's [`Uploaders::busy`] while it lives, and down
/// in the same counter when dropped (never in a newer entry's).
struct Busy(Option<Rc<Cell<u32>>>);

impl Busy {
    fn enter(offline: &Offline, id: &TaskId) -> Busy {
        let busy = offline.uploads.borrow().get(id).map(|u| u.busy.clone());
        if let Some(b) = &busy {
            b.set(b.get() + 1);
        }
        Busy(busy)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if let Some(b) = &self.0 {
            b.set(b.get().saturating_sub(1));
        }
    }
}

/// The task's final settle, run by one connection.
struct Settling<'a>(&'a Offline, TaskId);

impl Drop for Settling<'_> {
    fn drop(&mut self) {
        if let Some(u) = self.0.uploads.borrow_mut().get_mut(&self.1) {
            u.settling = false;
            u.progress += 1;
        }
    }
}
