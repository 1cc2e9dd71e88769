//! The msg_server side of a relay's msg link (TeamTalk's port 8601), for
//! programs that play msg_server themselves: a load generator against a
//! relay alone asks the relay for tasks (CID_OTHER_FILE_TRANSFER_REQ, as
//! msg_server does for each file request) and hands them to its own
//! senders and receivers. Stock PDUs only, so TeamTalk's file_server
//! serves it unchanged; with ferry's link secret (an extension,
//! `relay.link_secret`), the relay's challenge is answered first.
//!
//! ```text
//! connect ─> [challenge (extension) ─> LinkAuth] ─> TRANSFER_REQ(from, to, name, size, mode)
//!         <─ TRANSFER_RSP(result, task_id)  (answered under the request's seq)
//! ```
//!
//! The relay closes the link after a task it could not create (TeamTalk's
//! file_server does); requests after that fail `is_closed`.
//!
//! [`RelayLink::delete_offline`] plays msg_server's part when a receiver
//! deletes an offline file: ferry's delete extension, which a stock
//! file_server ignores (its files expire).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ferry_proto::extension::{CID_OTHER_LINK_CHALLENGE, link_mac};
use ferry_proto::pb::ferry::link::{LinkAuth, LinkChallenge, OfflineDeleteReq};
use ferry_proto::pb::im::server::{
    ImFileServerIpReq, ImFileServerIpRsp, ImFileTransferReq, ImFileTransferRsp,
};

use crate::conn::Conn;
use crate::error::{Error, Kind};
use crate::transfer::{FileTask, Mode};

/// Heartbeat interval on the link (TeamTalk's msg_server: 5 s; the relay
/// closes a link silent for 30 s).
const HEARTBEAT: Duration = Duration::from_secs(5);

/// A msg link to one relay; requests may be in flight from many tasks at
/// once (each answer comes back under its request's seq).
pub struct RelayLink {
    conn: Conn,
    /// Where clients log in for the tasks of this link.
    relays: Vec<SocketAddr>,
}

impl RelayLink {
    /// Connects to the relay's msg link at `link` within `timeout` (which
    /// also bounds every request's answer) and, with `secret`, answers the
    /// relay's challenge (ferry's extension; wait at most `timeout` for
    /// it). The tasks it creates are logged in to at `relays` (the relay's
    /// client port, or ports, in order of preference).
    ///
    /// The link is checked with msg_server's first question (the relay's
    /// address list, CID_OTHER_FILE_SERVER_IP_REQ).
    ///
    /// Errors: `is_io`, `is_timeout` (no connection, no answer, or no
    /// challenge from a relay without a secret), `is_refused` (the relay
    /// wants a secret and none was given), `is_refused` (a wrong secret: the relay
    /// closed the link),
    /// `is_protocol` (something else than the challenge came first),
    /// `is_invalid` (no `relays`).
    pub async fn connect(
        link: SocketAddr,
        secret: Option<&[u8]>,
        relays: Vec<SocketAddr>,
        timeout: Duration,
    ) -> Result<RelayLink, Error> {
        if relays.is_empty() {
            return Err(Error::invalid("a relay link without a client address"));
        }
        let (conn, mut events) =
            Conn::connect(link, "the relay's msg link", HEARTBEAT, timeout).await?;
        if let Some(secret) = secret {
            let frame = tokio::time::timeout(timeout, events.recv())
                .await
                .map_err(|_| {
                    Error::new(Kind::Timeout {
                        what: "the relay's link challenge (is relay.link_secret set?)",
                        after: timeout,
                    })
                })?
                .ok_or_else(|| Error::new(Kind::Closed))?;
            if frame.header.command != CID_OTHER_LINK_CHALLENGE {
                return Err(Error::protocol(format!(
                    "{} instead of the link challenge",
                    frame.header.command
                )));
            }
            let challenge: LinkChallenge = frame
                .decode()
                .map_err(|e| Error::protocol(format!("the link challenge: {e}")))?;
            let auth = LinkAuth {
                mac: Bytes::copy_from_slice(&link_mac(secret, &challenge.nonce)),
            };
            conn.send(&auth).await?;
        }
        // msg_server's first question on a link (stock): it also shows
        // that the link is open, or that the relay wants a secret.
        // A relay that refused the answer to its challenge closes the link:
        // seen here (the close came first) or on the answer below.
        let wrong_secret = |e: Error| {
            if e.is_closed() && secret.is_some() {
                Error::refused(
                    1,
                    "the relay closed the link after the answer to its challenge (a wrong link secret?)",
                )
            } else {
                e
            }
        };
        let asked = conn
            .ask(&ImFileServerIpReq {})
            .await
            .map_err(wrong_secret)?;
        tokio::select! {
            // A relay that wants a secret sends its challenge, then closes
            // the link on the IP request: the challenge is queued before
            // the close is seen, so looking at it first names the cause.
            biased;
            Some(frame) = events.recv(), if secret.is_none() => {
                return Err(if frame.header.command == CID_OTHER_LINK_CHALLENGE {
                    Error::refused(1, "the relay asks for its link secret (relay.link_secret)")
                } else {
                    Error::protocol(format!("{} on a new relay link", frame.header.command))
                });
            }
            answer = asked.answer() => {
                let rsp: ImFileServerIpRsp = answer
                    .map_err(wrong_secret)?
                    .decode()
                    .map_err(|e| Error::protocol(format!("the relay's address list: {e}")))?;
                tracing::debug!(addresses = rsp.ip_addr_list.len(), "relay link up");
            }
        }
        // Nothing else is expected unasked (heartbeats are dropped below
        // this): drained, so a chatty relay cannot hold frames here.
        tokio::spawn(async move {
            while let Some(frame) = events.recv().await {
                tracing::debug!(command = %frame.header.command, "ignored on the relay link");
            }
        });
        Ok(RelayLink { conn, relays })
    }

    /// A new task from `from` to `to` for a file called `name` of `size`
    /// bytes, moved in `mode` (offline needs the relay's store), as the
    /// relay answered it.
    ///
    /// Errors: `is_refused` (the relay could not create it: offline
    /// without a store, draining, out of space, sizes that disagree),
    /// `is_closed`, `is_timeout`,
    /// `is_protocol` (an answer for other users, or malformed).
    pub async fn request_task(
        &self,
        from: u32,
        to: u32,
        name: Bytes,
        size: u64,
        mode: Mode,
    ) -> Result<FileTask, Error> {
        let (file_size, file_size_u64) = ferry_proto::extension::split_u64(size);
        let rsp: ImFileTransferRsp = self
            .conn
            .call(&ImFileTransferReq {
                file_size_u64,
                sha256: None,
                from_user_id: from,
                to_user_id: to,
                file_name: name,
                file_size,
                trans_mode: mode.wire(),
                attach_data: None,
            })
            .await?;
        if (rsp.from_user_id, rsp.to_user_id) != (from, to) {
            return Err(Error::protocol(format!(
                "a transfer answer for users {} -> {} (asked {from} -> {to})",
                rsp.from_user_id, rsp.to_user_id
            )));
        }
        let task = FileTask::from_transfer_rsp(&rsp, self.relays.clone())?;
        if task.size != size || task.mode != mode {
            return Err(Error::protocol(format!(
                "a transfer answer for {} bytes {:?} (asked {size} bytes {mode:?})",
                task.size, task.mode
            )));
        }
        Ok(task)
    }

    /// Tells the relay that `task`'s receiver deleted it, so its stored
    /// file goes now, not at `offline_ttl` (ferry's OFFLINE_DELETE_REQ, as
    /// msg_server sends it for a receiver's CID_FILE_DEL_OFFLINE_REQ).
    /// Returns once the relay has handled it: a stock request sent behind
    /// it (the address list, CID_OTHER_FILE_SERVER_IP_REQ) is answered,
    /// and a relay answers its link's requests in order. The delete's own
    /// answer is not awaited (a stock file_server ignores the request and
    /// never answers; ferry's OFFLINE_DELETE_RSP is dropped as unasked).
    ///
    /// Errors: `is_closed`, `is_io` (the link is gone), `is_timeout`.
    pub async fn delete_offline(&self, task: &FileTask) -> Result<(), Error> {
        self.conn
            .send(&OfflineDeleteReq {
                task_id: task.task_id.clone().into(),
                user_id: task.to_user_id,
                attach_data: None,
            })
            .await?;
        let _: ImFileServerIpRsp = self.conn.call(&ImFileServerIpReq {}).await?;
        Ok(())
    }
}
