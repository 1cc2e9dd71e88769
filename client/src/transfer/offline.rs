//! Offline transfers: the relay keeps the file for the receiver.
//!
//! ```text
//! upload:   login OFFLINE_UPLOAD ─> answer the relay's pulls (only the blocks it is
//!           missing; a reconnect is asked for what is still missing) ─> DONE, close
//! download: login OFFLINE_DOWNLOAD ─> pull from the partial file's length (any
//!           offset is served) ─> the last answer, DONE, close
//! ```
//!
//! Recording the upload with msg_server (CID_FILE_ADD_OFFLINE_REQ) and
//! removing the record after a download (CID_FILE_DEL_OFFLINE_REQ) are the
//! session's: [`crate::Session::add_offline`], [`crate::Session::del_offline`].

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use ferry_proto::pb::im::base_define::ClientFileRole;

use super::online::same_size;
use super::relay::{RelayConn, Retry};
use super::sink::{Pulling, Sink, pull};
use super::source::{Serving, Source, serve};
use super::{FileTask, Mode, Options};
use crate::error::Error;

/// Uploads the file at `path` for the offline `task` as its sender `me`,
/// until the relay has all of it (DONE). After a dropped connection the
/// relay asks again only for what it is missing; what it had is not sent
/// again (beyond the pulls in flight when the connection dropped).
///
/// Errors: `is_file`, `is_invalid` (the file's size is not the task's), and
/// those of the relay connection after the retries (`is_io`, `is_closed`,
/// `is_timeout`, `is_refused`, `is_cancelled`, `is_protocol`).
pub async fn upload(task: &FileTask, me: u32, path: &Path, opts: &Options) -> Result<(), Error> {
    let mut src = Source::open(path).await?;
    same_size(task, src.size())?;
    let sent = AtomicU64::new(0);
    opts.report(0, task.size);
    let how = Serving {
        task,
        me,
        puller: me,
        mode: Mode::Offline,
        opts,
    };
    let mut retry = Retry::new(task, opts)?;
    loop {
        let before = sent.load(Ordering::Relaxed);
        let attempt = async {
            let role = ClientFileRole::ClientOfflineUpload;
            let mut relay = RelayConn::login(retry.at(), task, me, role, opts).await?;
            serve(&mut relay, &mut src, &how, &sent).await?;
            relay.until_closed(opts.timeout).await;
            Ok(())
        };
        match attempt.await {
            Ok(()) => break,
            Err(e) => {
                retry
                    .failed(e, sent.load(Ordering::Relaxed) > before)
                    .await?
            }
        }
    }
    opts.report(task.size, task.size);
    Ok(())
}

/// Downloads the offline `task` as `me` (its receiver, or its sender
/// fetching its own upload) into `path`, continuing after what `path`
/// already holds: a download cut off (a dropped connection, a cancelled
/// future, a crash) resumes where it stopped when called again. Pulls
/// [`Options::window`] × [`Options::chunk`] bytes in flight. The file is
/// synced before this returns.
///
/// Errors: `is_file`, `is_invalid` (`path` holds more than the file), and
/// those of the relay connection after the retries.
pub async fn download(task: &FileTask, me: u32, path: &Path, opts: &Options) -> Result<(), Error> {
    opts.check()?;
    task.size32()?;
    let mut sink = Sink::open(path, task.size).await?;
    opts.report(sink.have, task.size);
    if sink.have == task.size {
        // All here already (or an empty file): nothing to ask the relay.
        return sink.finish().await;
    }
    let how = Pulling {
        task,
        me,
        answerer: me,
        mode: Mode::Offline,
        opts,
    };
    let mut retry = Retry::new(task, opts)?;
    loop {
        let before = sink.have;
        let attempt = async {
            let role = ClientFileRole::ClientOfflineDownload;
            let mut relay = RelayConn::login(retry.at(), task, me, role, opts).await?;
            pull(&mut relay, &mut sink, &how).await?;
            sink.finish().await?;
            relay.until_closed(opts.timeout).await;
            Ok(())
        };
        match attempt.await {
            Ok(()) => return Ok(()),
            Err(e) => retry.failed(e, sink.have > before).await?,
        }
    }
}
