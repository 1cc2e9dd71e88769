//! One connection to a relay (TeamTalk's file_server) in one role of a
//! task, and the rule for trying again: a dropped connection is
//! reconnected [`Options::reconnects`] times, [`Options::backoff`] apart
//! doubling (the count starts over once bytes moved), then the next
//! address of the task's list is tried at once; a
//! refused login moves to the next address at once; anything else (a
//! protocol error, a cancel, a local file error) ends the transfer.

use std::net::SocketAddr;
use std::time::Duration;

use ferry_proto::Frame;
use ferry_proto::pb::im::base_define::ClientFileRole;
use ferry_proto::pb::im::file::{ImFileLoginReq, ImFileLoginRsp};
use tokio::sync::mpsc;

use super::{FileTask, MAX_FILE_SIZE, Options};
use crate::conn::Conn;
use crate::error::{Error, Kind};

/// A logged-in relay connection.
pub(crate) struct RelayConn {
    pub conn: Conn,
    /// What the relay sent that answers no request of ours: its pulls (to
    /// a sender or uploader), file states.
    events: mpsc::Receiver<Frame>,
}

impl RelayConn {
    /// Connects to `at` and logs in to `task` as `user` in `role`.
    ///
    /// Errors: `is_io` / `is_timeout` (transient); `is_refused` when the
    /// relay answers result 1 (unknown task, wrong user, task ended);
    /// `is_protocol` for an answer about another task.
    pub(crate) async fn login(
        at: SocketAddr,
        task: &FileTask,
        user: u32,
        role: ClientFileRole,
        opts: &Options,
    ) -> Result<RelayConn, Error> {
        let (conn, events) = Conn::connect(at, "the relay", opts.heartbeat, opts.timeout).await?;
        let rsp: ImFileLoginRsp = conn
            .call(&ImFileLoginReq {
                // Says this peer speaks the u64 fields (a ferry extension).
                file_size_u64: Some(task.size),
                user_id: user,
                task_id: task.task_id.clone().into(),
                file_role: role as i32,
            })
            .await?;
        if rsp.task_id != task.task_id.as_bytes() {
            return Err(Error::protocol(format!(
                "relay login answered for task {}",
                ferry_proto::text::show(&rsp.task_id)
            )));
        }
        if rsp.result_code != 0 {
            return Err(Error::refused_because(
                rsp.result_code,
                format!("relay {at} refused the login to task {}", task.task_id),
                rsp.file_server_error,
            ));
        }
        if task.size > MAX_FILE_SIZE && rsp.file_size_u64 != Some(task.size) {
            // A relay that did not answer the u64 field (a TeamTalk
            // file_server) cannot address this file's offsets.
            return Err(Error::invalid(format!(
                "relay {at} does not move files past {MAX_FILE_SIZE} bytes; task {} has {}",
                task.task_id, task.size
            )));
        }
        tracing::debug!(task = %task.task_id, %at, ?role, "logged in to the relay");
        Ok(RelayConn { conn, events })
    }

    /// The next frame the relay sent on its own, within `wait`.
    ///
    /// Errors: `is_closed` once the connection ended, `is_timeout`.
    pub(crate) async fn next(&mut self, wait: Duration) -> Result<Frame, Error> {
        match tokio::time::timeout(wait, self.events.recv()).await {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err(Error::new(Kind::Closed)),
            Err(_) => Err(Error::new(Kind::Timeout {
                what: "the relay",
                after: wait,
            })),
        }
    }
}

impl RelayConn {
    /// Reads (and drops) what the relay still sends until it closes the
    /// connection, at most `wait`: closing first could reset the
    /// connection under a last PDU still in flight.
    pub(crate) async fn until_closed(&mut self, wait: Duration) {
        let _ =
            tokio::time::timeout(wait, async { while self.events.recv().await.is_some() {} }).await;
    }
}

/// Where the next attempt goes, following the module's rule:
///
/// ```ignore
/// let mut retry = Retry::new(task, opts)?;
/// loop {
///     match attempt(retry.at()).await {
///         Ok(v) => break v,
///         Err(e) => retry.failed(e, progressed).await?,
///     }
/// }
/// ```
pub(crate) struct Retry<'a> {
    task: &'a FileTask,
    opts: &'a Options,
    index: usize,
    /// Failures in a row at this address without bytes moving.
    failures: u32,
}

impl<'a> Retry<'a> {
    /// Errors: `is_invalid` when the task names no relay address.
    pub(crate) fn new(task: &'a FileTask, opts: &'a Options) -> Result<Retry<'a>, Error> {
        if task.relays.is_empty() {
            return Err(Error::invalid(format!(
                "task {} names no relay address",
                task.task_id
            )));
        }
        Ok(Retry {
            task,
            opts,
            index: 0,
            failures: 0,
        })
    }

    /// The address to try now.
    pub(crate) fn at(&self) -> SocketAddr {
        self.task.relays[self.index]
    }

    /// An attempt failed with `e` (`progressed`: bytes moved during it).
    /// Ok after waiting when another attempt is due; `e` when the transfer
    /// is over: not worth retrying, or every address used up.
    pub(crate) async fn failed(&mut self, e: Error, progressed: bool) -> Result<(), Error> {
        if !e.is_transient() && !e.is_refused() {
            return Err(e);
        }
        if progressed {
            self.failures = 0;
        }
        self.failures += 1;
        let next_address = e.is_refused() || self.failures > self.opts.reconnects;
        tracing::info!(task = %self.task.task_id, at = %self.at(), error = %e, failures = self.failures, next_address, "relay connection failed");
        if next_address {
            self.index += 1;
            self.failures = 0;
            if self.index == self.task.relays.len() {
                return Err(e);
            }
            return Ok(());
        }
        tokio::time::sleep(self.opts.backoff * 2u32.pow(self.failures.min(6) - 1)).await;
        Ok(())
    }
}
