//! Online transfers: both sides connected to the relay at once.
//!
//! ```text
//! sender:   login REALTIME_SENDER ─> answer forwarded pulls ─> DONE (the receiver's)
//! receiver: login REALTIME_RECVER ─> PEER_READY ─> pull the file ─> DONE
//! ```
//!
//! The relay ends an online task when either side leaves, so after a
//! dropped connection the reconnect is usually refused and the transfer
//! fails; the receiver's partial file then holds what arrived.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_proto::pb::im::base_define::{ClientFileRole, ClientFileState};
use ferry_proto::pb::im::file::ImFileState;
use ferry_proto::registry::CID_FILE_STATE;

use super::relay::{RelayConn, Retry};
use super::sink::{Pulling, Sink, pull};
use super::source::{Serving, Source, decode, serve};
use super::{FileTask, Mode, Options};
use crate::error::Error;

/// Sends the file at `path` for the online `task` as its sender `me`:
/// answers the receiver's pulls until it says DONE. The file must have
/// the task's size.
///
/// Errors: `is_cancelled` (the receiver refused, cancelled or left),
/// `is_file`, `is_invalid` (the file's size is not the task's), and those
/// of the relay connection after the retries (`is_io`, `is_closed`,
/// `is_timeout`, `is_refused`, `is_protocol`).
pub async fn send_online(
    task: &FileTask,
    me: u32,
    path: &Path,
    opts: &Options,
) -> Result<(), Error> {
    let mut src = Source::open(path).await?;
    same_size(task, src.size())?;
    let sent = AtomicU64::new(0);
    opts.report(0, task.size);
    let how = Serving {
        task,
        me,
        puller: task.to_user_id,
        mode: Mode::Online,
        opts,
    };
    let mut retry = Retry::new(task, opts)?;
    loop {
        let before = sent.load(Ordering::Relaxed);
        let attempt = async {
            let role = ClientFileRole::ClientRealtimeSender;
            let mut relay = RelayConn::login(retry.at(), task, me, role, opts).await?;
            serve(&mut relay, &mut src, &how, &sent).await
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) => {
                retry
                    .failed(e, sent.load(Ordering::Relaxed) > before)
                    .await?
            }
        }
    }
}

/// Receives the online `task` as its receiver `me` into `path`, continuing
/// after what `path` already holds (a new file for a new task): waits for
/// the sender (PEER_READY), pulls with [`Options::window`] pulls of
/// [`Options::chunk`] bytes in flight, then says DONE. The file is synced
/// before this returns.
///
/// Errors: as [`send_online`]; `is_invalid` when `path` holds more than
/// the file.
pub async fn receive_online(
    task: &FileTask,
    me: u32,
    path: &Path,
    opts: &Options,
) -> Result<(), Error> {
    opts.check()?;
    task.size32()?;
    let mut sink = Sink::open(path, task.size).await?;
    opts.report(sink.have, task.size);
    let how = Pulling {
        task,
        me,
        answerer: task.from_user_id,
        mode: Mode::Online,
        opts,
    };
    let mut retry = Retry::new(task, opts)?;
    loop {
        let before = sink.have;
        let attempt = async {
            let role = ClientFileRole::ClientRealtimeRecver;
            let mut relay = RelayConn::login(retry.at(), task, me, role, opts).await?;
            wait_ready(&mut relay, task, opts).await?;
            pull(&mut relay, &mut sink, &how).await?;
            sink.finish().await?;
            let done = ImFileState {
                state: ClientFileState::ClientFileDone as i32,
                task_id: task.task_id.clone().into(),
                user_id: me,
            };
            relay.conn.send(&done).await?;
            // The relay ends the task and closes: by then DONE was written.
            relay.until_closed(opts.timeout).await;
            Ok(())
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) => retry.failed(e, sink.have > before).await?,
        }
    }
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
    super::source::ended(task, &state)?;
    Err(Error::protocol("DONE before the transfer began"))
}

pub(crate) fn same_size(task: &FileTask, size: u64) -> Result<(), Error> {
    if size != task.size {
        return Err(Error::invalid(format!(
            "the file has {size} bytes, the task {}",
            task.size
        )));
    }
    Ok(())
}
