//! The receiving side: pulls the file into a partial local file with a
//! window of pulls in flight, in file order ([`receive_payload`] with a
//! [`Pattern`]: each answer compared with the pattern and dropped). The
//! relay answers in the order asked, so the local file is always a whole
//! prefix of the file and its length is where a resumed transfer starts
//! (a download is served at any offset; an online task ends at the relay
//! when either side leaves).
//!
//! ```text
//! have = partial file's length
//! while have < size: ask PULL_DATA_REQ(offset, min(chunk, left)) until `window` in flight
//!   answer ─> checked (result 0, this task, the expected user, the offset asked,
//!             exactly the length asked) ─> appended; have += len
//! a state meanwhile: DONE kept (the relay's after the last answer), CANCEL / REFUSE end it
//! offline: the relay's DONE carries its SHA-256 (extension) ─> the local file hashed and compared
//! ```

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ferry_proto::extension::{join_u64, split_u64};
use ferry_proto::pb::im::base_define::{ClientFileRole, ClientFileState};
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFilePullDataRsp, ImFileState};
use ferry_proto::registry::CID_FILE_STATE;
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

use super::digest;
use super::relay::{RelayConn, Retry};
use super::source::{decode, ended, same_task};
use super::{FileTask, Mode, Options, Pattern, Payload};
use crate::error::{Error, Kind};

/// Receives `task` as `me` into `path`, continuing after what `path`
/// already holds: online (a new file for a new task), it waits for the
/// sender (PEER_READY), pulls and says DONE; offline, it downloads (the
/// receiver, or the sender fetching its own upload), and a download cut
/// off (a dropped connection, a cancelled future, a crash) resumes where it
/// stopped when called again; the caller then removes the record
/// ([`crate::Session::del_offline`]). [`Options::window`] pulls of
/// [`Options::chunk`] bytes are in flight. The file is synced before this
/// returns.
///
/// Offline, the SHA-256 ferry's relay puts on DONE is compared with the
/// received file's (a stock relay sends none: not checked).
///
/// Errors: `is_mismatch` (the file received is not the file stored; it is
/// left in place), `is_file`, `is_invalid` (`path` holds more than the
/// file, the options are unusable), `is_cancelled`, and those of the relay
/// connection after the retries (`is_io`, `is_closed`, `is_timeout`,
/// `is_refused`, `is_protocol`).
pub async fn receive(task: &FileTask, me: u32, path: &Path, opts: &Options) -> Result<(), Error> {
    receive_payload(task, me, Payload::File(path), opts).await
}

/// [`receive()`] into `payload`: a file as there, or a [`Pattern`]:
/// every answer is compared with the pattern and dropped (nothing is
/// written; offline, the relay's SHA-256 is compared with the pattern's).
/// A pattern receiver starts at byte 0 on each call and resumes within the
/// call.
///
/// Errors: as [`receive()`]; `is_mismatch` also for an answer that is not
/// the pattern.
pub async fn receive_payload(
    task: &FileTask,
    me: u32,
    payload: Payload<'_>,
    opts: &Options,
) -> Result<(), Error> {
    opts.check()?;
    let mut sink = match payload {
        Payload::File(path) => Sink::open(path, task.size).await?,
        Payload::Pattern(pattern) => Sink::Pattern {
            pattern,
            task: task.task_id.clone(),
            have: 0,
        },
    };
    opts.begin(sink.have(), task.size);
    let mode = task.mode;
    let (role, answerer) = match mode {
        Mode::Offline => (ClientFileRole::ClientOfflineDownload, me),
        Mode::Online => (ClientFileRole::ClientRealtimeRecver, task.from_user_id),
    };
    if mode == Mode::Offline && sink.have() == task.size {
        return sink.finish().await;
    }
    let how = Pulling {
        task,
        me,
        answerer,
        mode,
        opts,
    };
    let mut retry = Retry::new(task, opts)?;
    let stored = loop {
        let before = sink.have();
        let attempt = async {
            let mut relay = RelayConn::login(retry.at(), task, me, role, opts).await?;
            if mode == Mode::Online {
                wait_ready(&mut relay, task, opts).await?;
            }
            let done = pull(&mut relay, &mut sink, &how).await?;
            sink.finish().await?;
            let stored = match (mode, done) {
                (Mode::Online, _) => None,
                (Mode::Offline, Some(done)) => done.sha256,
                (Mode::Offline, None) => relay_done(&mut relay, task, opts).await?,
            };
            if mode == Mode::Online {
                let done = ImFileState {
                    state: ClientFileState::ClientFileDone as i32,
                    task_id: task.task_id.clone().into(),
                    user_id: me,
                    sha256: None,
                };
                relay.conn.send(&done).await?;
            }
            // The relay ends the task and closes: by then DONE was written
            // (ours online; the relay's after the last answer offline).
            relay.until_closed(opts.timeout).await;
            Ok(stored)
        };
        match attempt.await {
            Ok(stored) => break stored,
            Err(e) => retry.failed(e, sink.have() > before).await?,
        }
    };
    if mode == Mode::Offline {
        let (stored, id) = (stored.as_deref(), &task.task_id);
        match payload {
            Payload::File(path) => digest::verify(path, stored, "the file received", id).await?,
            Payload::Pattern(p) => {
                digest::verify_pattern(&p, task.size, stored, "the bytes received", id)?
            }
        }
    }
    Ok(())
}

/// The relay's DONE after the last answer of a download, and the SHA-256
/// it carries. A relay that closes or stays silent instead (`timeout`)
/// leaves the file unchecked: every byte arrived already.
///
/// Errors: `is_cancelled`, `is_protocol` (another state or command).
async fn relay_done(
    relay: &mut RelayConn,
    task: &FileTask,
    opts: &Options,
) -> Result<Option<Bytes>, Error> {
    let frame = match relay.next(opts.timeout).await {
        Ok(frame) => frame,
        Err(e) if e.is_closed() || e.is_timeout() => {
            tracing::debug!(task = %task.task_id, error = %e, "no DONE after the download");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    if frame.header.command != CID_FILE_STATE {
        return Err(Error::protocol(format!(
            "{} from the relay after the last answer",
            frame.header.command
        )));
    }
    let state: ImFileState = decode(&frame)?;
    ended(task, &state)?;
    Ok(state.sha256)
}

/// Waits for PEER_READY (the sender is in), within `peer_timeout`.
async fn wait_ready(relay: &mut RelayConn, task: &FileTask, opts: &Options) -> Result<(), Error> {
    let frame = relay.next(opts.peer_timeout).await?;
    if frame.header.command != CID_FILE_STATE {
        return Err(Error::protocol(format!(
            "{} from the relay before PEER_READY",
            frame.header.command
        )));
    }
    let state: ImFileState = decode(&frame)?;
    if state.state == ClientFileState::ClientFilePeerReady as i32
        && state.task_id == task.task_id.as_bytes()
    {
        return Ok(());
    }
    ended(task, &state)?;
    Err(Error::protocol("DONE before the transfer began"))
}

/// Where a transfer's bytes go: the partial local file, or a pattern
/// they are checked against.
enum Sink {
    File {
        file: tokio::fs::File,
        path: PathBuf,
        /// Bytes of the file it holds (a prefix).
        have: u64,
    },
    Pattern {
        pattern: Pattern,
        /// For the error message.
        task: String,
        /// Bytes checked so far (a prefix).
        have: u64,
    },
}

impl Sink {
    /// Opens (or creates) `path` to continue at its end.
    async fn open(path: &Path, size: u64) -> Result<Sink, Error> {
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(path)
            .await
            .map_err(|e| Error::file("opening", path, e))?;
        let have = file
            .seek(std::io::SeekFrom::End(0))
            .await
            .map_err(|e| Error::file("seeking in", path, e))?;
        if have > size {
            return Err(Error::invalid(format!(
                "{} holds {have} bytes, more than the file's {size}",
                path.display()
            )));
        }
        Ok(Sink::File {
            file,
            path: path.to_owned(),
            have,
        })
    }

    /// Bytes received so far (a prefix of the file).
    fn have(&self) -> u64 {
        match self {
            Sink::File { have, .. } | Sink::Pattern { have, .. } => *have,
        }
    }

    /// Appends `data`; once this returns it is in the file (tokio's file
    /// finishes a write in the background unless flushed), so `have` is
    /// what a resumed transfer finds even if this one is dropped now. A
    /// pattern sink checks `data` instead.
    async fn append(&mut self, data: &[u8]) -> Result<(), Error> {
        match self {
            Sink::File { file, path, have } => {
                file.write_all(data)
                    .await
                    .map_err(|e| Error::file("writing", path, e))?;
                file.flush()
                    .await
                    .map_err(|e| Error::file("writing", path, e))?;
                *have += data.len() as u64;
            }
            Sink::Pattern {
                pattern,
                task,
                have,
            } => {
                if let Some(offset) = pattern.first_difference(*have, data) {
                    return Err(Error::new(Kind::NotPattern {
                        task: task.clone(),
                        offset,
                    }));
                }
                *have += data.len() as u64;
            }
        }
        Ok(())
    }

    /// Flushes and syncs what was written.
    async fn finish(&mut self) -> Result<(), Error> {
        let Sink::File { file, path, .. } = self else {
            return Ok(());
        };
        file.flush()
            .await
            .map_err(|e| Error::file("writing", path, e))?;
        file.sync_data()
            .await
            .map_err(|e| Error::file("syncing", path, e))
    }
}

/// Who pulls and what the answers carry.
struct Pulling<'a> {
    task: &'a FileTask,
    /// This client's user id (the pulls carry it).
    me: u32,
    /// The user id answers carry: the online sender, or this user on a
    /// download.
    answerer: u32,
    mode: Mode,
    opts: &'a Options,
}

/// Pulls the rest of the file into `sink`. The relay's DONE, when it
/// already arrived.
///
/// Errors: `is_cancelled`, `is_closed`, `is_timeout`, `is_protocol` (an
/// answer that is not exactly what was asked), `is_refused` (an answer
/// with a failure result), `is_file`.
async fn pull(
    relay: &mut RelayConn,
    sink: &mut Sink,
    how: &Pulling<'_>,
) -> Result<Option<ImFileState>, Error> {
    let size = how.task.size;
    let (chunk, window) = (u64::from(how.opts.chunk), how.opts.window as usize);
    let mut next = sink.have();
    let mut in_flight = VecDeque::with_capacity(window);
    let mut done_seen = None;
    while sink.have() < size {
        while next < size && in_flight.len() < window {
            let len = chunk.min(size - next);
            // Past 4 GiB - 1 the offset rides in the u64 twin; the login
            // checked that the relay speaks it.
            let (offset, offset_u64) = split_u64(next);
            let asked = relay
                .conn
                .ask(&ImFilePullDataReq {
                    offset_u64,
                    task_id: how.task.task_id.clone().into(),
                    user_id: how.me,
                    trans_mode: how.mode.wire(),
                    offset,
                    data_size: len as u32,
                })
                .await?;
            in_flight.push_back((next, len, asked));
            next += len;
        }
        let (offset, len, asked) = in_flight.pop_front().expect("a pull is in flight");
        let answer = asked.answer();
        tokio::pin!(answer);
        let frame = loop {
            tokio::select! {
                f = &mut answer => break f?,
                state = relay.next(how.opts.timeout), if done_seen.is_none() => {
                    let frame = state?;
                    if frame.header.command != CID_FILE_STATE {
                        return Err(Error::protocol(format!(
                            "{} from the relay to a receiver",
                            frame.header.command
                        )));
                    }
                    let state: ImFileState = decode(&frame)?;
                    ended(how.task, &state)?;
                    done_seen = Some(state);
                }
            }
        };
        let rsp: ImFilePullDataRsp = decode(&frame)?;
        check(how, &rsp, offset, len)?;
        sink.append(&rsp.file_data).await?;
        how.opts.report(sink.have(), size, len);
    }
    Ok(done_seen)
}

fn check(how: &Pulling<'_>, rsp: &ImFilePullDataRsp, offset: u64, len: u64) -> Result<(), Error> {
    if rsp.result_code != 0 {
        return Err(Error::refused(
            rsp.result_code,
            format!("the pull at {offset} of task {}", how.task.task_id),
        ));
    }
    same_task(
        how.task,
        "an answer",
        &rsp.task_id,
        rsp.user_id,
        how.answerer,
    )?;
    if join_u64(rsp.offset, rsp.offset_u64) != Ok(offset) || rsp.file_data.len() as u64 != len {
        return Err(Error::protocol(format!(
            "an answer of {} bytes at {} to a pull of {len} at {offset}",
            rsp.file_data.len(),
            rsp.offset
        )));
    }
    Ok(())
}
