//! The sending side: answers each pull the relay sends (the online
//! receiver's, forwarded; or the relay's own during an offline upload) with
//! the bytes of the local file at the asked offset, under the pull's seq
//! (or, [`send_payload`] with a [`Pattern`], the pattern's bytes there).
//! An uploader that reconnects is asked only for what the relay is still
//! missing; an online sender's reconnect is usually refused (the relay
//! ends an online task when either side leaves).
//!
//! ```text
//! PULL_DATA_REQ(task, user, mode, offset, size) ─> checked (this task, the expected
//!   puller, the mode, 1..=max bytes inside the file) ─> file read ─> PULL_DATA_RSP
//! FILE_STATE DONE ─> finished;  CANCEL / REFUSE ─> cancelled;  close ─> closed
//! offline DONE with the relay's SHA-256 (extension) ─> the local file hashed and compared
//! ```

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ferry_proto::extension::join_u64;
use ferry_proto::pb::im::base_define::{ClientFileRole, ClientFileState};
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFileState};
use ferry_proto::pull::rsp_prefix;
use ferry_proto::registry::{CID_FILE_PULL_DATA_REQ, CID_FILE_STATE};
use futures_util::future::join_all;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::digest;
use super::relay::{RelayConn, Retry};
use super::{FileTask, Mode, Options, Pattern, Payload};
use crate::error::{Error, Kind};

/// The largest pull answered (bytes): the answer must fit one PDU.
const MAX_PULL: u32 = ferry_proto::frame::DEFAULT_MAX_FRAME - (4 << 10);

/// What is being sent: a local file, or a generated pattern.
enum Source {
    File {
        file: tokio::fs::File,
        path: PathBuf,
        size: u64,
        buf: Vec<u8>,
    },
    Pattern {
        pattern: Pattern,
        size: u64,
    },
}

impl Source {
    /// The source of `payload`, which must have the task's size.
    async fn of(payload: Payload<'_>, task: &FileTask) -> Result<Source, Error> {
        let src = match payload {
            Payload::File(path) => Source::open(path).await?,
            Payload::Pattern(pattern) => Source::Pattern {
                pattern,
                size: task.size,
            },
        };
        if src.size() != task.size {
            let what = match payload {
                Payload::File(path) => path.display().to_string(),
                Payload::Pattern(_) => "the pattern".into(),
            };
            return Err(Error::invalid(format!(
                "{what} has {} bytes, the task {}",
                src.size(),
                task.size
            )));
        }
        Ok(src)
    }

    /// Opens `path` (a regular file).
    async fn open(path: &Path) -> Result<Source, Error> {
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
        Ok(Source::File {
            file,
            path: path.to_owned(),
            size: meta.len(),
            buf: Vec::new(),
        })
    }

    fn size(&self) -> u64 {
        match self {
            Source::File { size, .. } | Source::Pattern { size, .. } => *size,
        }
    }

    async fn read(&mut self, offset: u64, len: usize) -> Result<Bytes, Error> {
        match self {
            Source::File {
                file, path, buf, ..
            } => {
                file.seek(SeekFrom::Start(offset))
                    .await
                    .map_err(|e| Error::file("seeking in", path, e))?;
                buf.resize(len, 0);
                file.read_exact(buf)
                    .await
                    .map_err(|e| Error::file("reading", path, e))?;
                Ok(Bytes::copy_from_slice(buf))
            }
            Source::Pattern { pattern, .. } => {
                let mut data = vec![0u8; len];
                pattern.fill(offset, &mut data);
                Ok(Bytes::from(data))
            }
        }
    }
}

/// Sends the file at `path` for `task` as its sender `me`: online,
/// answering the receiver's pulls until it says DONE; offline, uploading
/// until the relay has all of it (DONE), after which the caller records it
/// ([`crate::Session::add_offline`]). A dropped connection is retried as
/// `relay.rs` says; an upload resumed so sends again at most the pulls that
/// were in flight. The file must have the task's size (bytes).
///
/// Offline, the SHA-256 ferry's relay puts on DONE is compared with the
/// local file's (a stock relay sends none: not checked). An offline upload
/// uses up to [`Options::upload_connections`] connections at once, each
/// answering the pulls the relay sends it and each ending with the relay's
/// DONE; it succeeds when one of them got DONE (one refused or failed for
/// good leaves the file to the others).
///
/// Errors: `is_cancelled` (the receiver refused, cancelled or left),
/// `is_mismatch` (the relay stored other bytes than the file holds now),
/// `is_file`, `is_invalid` (the file's size is not the task's, or
/// `upload_connections` is not 1 to 64), and those
/// of the relay connection after the retries (`is_io`, `is_closed`,
/// `is_timeout`, `is_refused`, `is_protocol`).
pub async fn send(task: &FileTask, me: u32, path: &Path, opts: &Options) -> Result<(), Error> {
    send_payload(task, me, Payload::File(path), opts).await
}

/// [`send()`] from `payload`: a file as there, or a [`Pattern`] of the
/// task's size (answered from memory; offline, the relay's SHA-256 is
/// compared with the pattern's).
///
/// Errors: as [`send()`].
pub async fn send_payload(
    task: &FileTask,
    me: u32,
    payload: Payload<'_>,
    opts: &Options,
) -> Result<(), Error> {
    if !(1..=64).contains(&opts.upload_connections) {
        return Err(Error::invalid(format!(
            "{} upload connections (1..=64)",
            opts.upload_connections
        )));
    }
    let src = Source::of(payload, task).await?;
    let (role, puller) = match task.mode {
        Mode::Offline => (ClientFileRole::ClientOfflineUpload, me),
        Mode::Online => (ClientFileRole::ClientRealtimeSender, task.to_user_id),
    };
    let how = Serving {
        task,
        me,
        role,
        puller,
        mode: task.mode,
        opts,
    };
    let sent = AtomicU64::new(0);
    opts.begin(0, task.size);
    let lanes = match task.mode {
        Mode::Offline => opts.upload_lanes(task.size),
        Mode::Online => 1,
    };
    let stored = if lanes == 1 {
        lane(src, &how, &sent).await?
    } else {
        // Several connections of one upload: the relay spreads the pulls
        // over them, and each ends with the relay's DONE. One that fails
        // for good (refused past the relay's bound, its retries used up)
        // leaves the rest to the others.
        let mut sources = vec![src];
        for _ in 1..lanes {
            sources.push(Source::of(payload, task).await?);
        }
        let ends = join_all(sources.into_iter().map(|src| lane(src, &how, &sent))).await;
        let mut first_error = None;
        let mut stored = None;
        for (i, end) in ends.into_iter().enumerate() {
            match end {
                Ok(s) => stored = stored.or(Some(s)),
                Err(e) => {
                    tracing::info!(task = %task.task_id, connection = i, error = %e, "an upload connection ended early; the others finished");
                    first_error.get_or_insert(e);
                }
            }
        }
        match (stored, first_error) {
            (Some(s), _) => s,
            (None, Some(e)) => return Err(e),
            (None, None) => unreachable!("at least one lane"),
        }
    };
    if task.mode == Mode::Offline {
        let (stored, id) = (stored.as_deref(), &task.task_id);
        match payload {
            Payload::File(path) => digest::verify(path, stored, "the file sent", id).await?,
            Payload::Pattern(p) => {
                digest::verify_pattern(&p, task.size, stored, "the bytes sent", id)?
            }
        }
    }
    opts.report(task.size, task.size, 0);
    Ok(())
}

/// One connection's part of a send: logs in and answers pulls until DONE,
/// reconnecting as `relay.rs` says. Returns the SHA-256 DONE carried.
async fn lane(
    mut src: Source,
    how: &Serving<'_>,
    sent: &AtomicU64,
) -> Result<Option<Bytes>, Error> {
    let (task, opts) = (how.task, how.opts);
    // This connection's payload bytes: whether an attempt moved any.
    let moved = AtomicU64::new(0);
    let mut retry = Retry::new(task, opts)?;
    loop {
        let before = moved.load(Ordering::Relaxed);
        let attempt = async {
            let mut relay = RelayConn::login(retry.at(), task, how.me, how.role, opts).await?;
            let stored = serve(&mut relay, &mut src, how, sent, &moved).await?;
            // The relay closes after DONE: leave after it.
            relay.until_closed(opts.timeout).await;
            Ok(stored)
        };
        match attempt.await {
            Ok(stored) => return Ok(stored),
            Err(e) => {
                retry
                    .failed(e, moved.load(Ordering::Relaxed) > before)
                    .await?
            }
        }
    }
}

/// Who pulls and how the bytes go.
struct Serving<'a> {
    task: &'a FileTask,
    /// This client's user id (the answers carry it).
    me: u32,
    /// The role each connection logs in with.
    role: ClientFileRole,
    /// The user id pulls must carry: the online receiver, or this user for
    /// the relay's upload pulls.
    puller: u32,
    mode: Mode,
    opts: &'a Options,
}

/// Answers pulls until the relay says DONE; returns the SHA-256 the DONE
/// carried, if any (ferry's relay, offline). `sent` is raised to the end
/// of the furthest range answered (for progress); `moved` counts this
/// connection's payload bytes (for its retries).
///
/// Errors: `is_cancelled` (CANCEL or REFUSE), `is_closed` (the connection
/// ended first), `is_timeout` (no pull within `peer_timeout`),
/// `is_protocol` (a pull outside the file, for another task or user, or
/// anything unexpected), `is_file`.
async fn serve(
    relay: &mut RelayConn,
    src: &mut Source,
    how: &Serving<'_>,
    sent: &AtomicU64,
    moved: &AtomicU64,
) -> Result<Option<Bytes>, Error> {
    let wait: Duration = how.opts.peer_timeout;
    loop {
        let frame = relay.next(wait).await?;
        let cmd = frame.header.command;
        if cmd == CID_FILE_STATE {
            let state: ImFileState = decode(&frame)?;
            ended(how.task, &state)?;
            return Ok(state.sha256);
        }
        if cmd != CID_FILE_PULL_DATA_REQ {
            return Err(Error::protocol(format!("{cmd} from the relay to a sender")));
        }
        let req: ImFilePullDataReq = decode(&frame)?;
        let at = check(how, src.size(), &req)?;
        let data = src.read(at, req.data_size as usize).await?;
        // The payload last, offset_u64 before it: a relay forwards such an
        // answer without reading its payload (ferry_proto::pull).
        let task_id = how.task.task_id.as_bytes();
        let seq = frame.header.seq_num;
        let mut rsp = rsp_prefix(seq, task_id, how.me, at, data.len());
        rsp.extend_from_slice(&data);
        relay.conn.send_pdu(rsp.freeze()).await?;
        let end = at + u64::from(req.data_size);
        moved.fetch_add(u64::from(req.data_size), Ordering::Relaxed);
        let before = sent.fetch_max(end, Ordering::Relaxed);
        how.opts
            .report(before.max(end), src.size(), u64::from(req.data_size));
    }
}

/// Checks a pull against the task and the file; its offset (bytes, from
/// the stock field or its u64 twin).
fn check(how: &Serving<'_>, size: u64, req: &ImFilePullDataReq) -> Result<u64, Error> {
    same_task(how.task, "a pull", &req.task_id, req.user_id, how.puller)?;
    if req.trans_mode != how.mode.wire() {
        return Err(Error::protocol(format!(
            "a pull with trans_mode {} on a {:?} task",
            req.trans_mode, how.mode
        )));
    }
    let offset = join_u64(req.offset, req.offset_u64)
        .map_err(|e| Error::protocol(format!("a pull's offset: {e}")))?;
    let end = offset + u64::from(req.data_size);
    if req.data_size == 0 || req.data_size > MAX_PULL || end > size {
        return Err(Error::protocol(format!(
            "a pull of {} bytes at {offset} (the file has {size}, at most {MAX_PULL} a pull)",
            req.data_size
        )));
    }
    Ok(offset)
}

/// `what` (a pull, an answer) names `task` and the `expected` user.
pub(crate) fn same_task(
    task: &FileTask,
    what: &str,
    task_id: &[u8],
    user: u32,
    expected: u32,
) -> Result<(), Error> {
    if task_id == task.task_id.as_bytes() && user == expected {
        return Ok(());
    }
    Err(Error::protocol(format!(
        "{what} of user {user} for task {} (expected user {expected} for {})",
        ferry_proto::text::show(task_id),
        task.task_id
    )))
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
