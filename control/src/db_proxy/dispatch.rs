//! From a frame to a running request: one task per request, so a slow query
//! holds up only its own caller. Two bounds keep a burst from turning into
//! unbounded memory or wrong answers (see [`crate::admission`]):
//!
//! - requests in flight over all connections: a semaphore of `pool_size +
//!   queue_limit` permits (the pool runs `pool_size`, the rest wait for a
//!   connection); a request finding no permit is answered with its
//!   command's failure answer at once;
//! - heavy answers (history pages, messages by id, recent sessions and
//!   unread counts with their previews, the whole user list, audio): at
//!   most `heavy_concurrency` built or waiting to be written at once, each
//!   up to `max_frame` bytes, behind a gate with a bounded queue. The
//!   admission travels with the answer to the connection's writer and ends
//!   when the answer is on the socket, so a peer that stops reading holds
//!   its own few, and memory stays bounded by the gate, not by callers.
//!   (argon2 checks have a gate of their own in the store.)

use std::sync::Arc;

use ferry_proto::Frame;
use ferry_proto::registry::*;
use tokio::task::JoinSet;

use super::{Shared, cmd};
use crate::server::{Flow, FrameHandler, Outbox};

/// One msg_server connection's requests: each frame becomes a task; at the
/// end of the connection, those taken are answered before it closes.
pub(super) struct Requests {
    shared: Arc<Shared>,
    outbox: Outbox,
    running: JoinSet<()>,
}

impl Requests {
    pub(super) fn new(shared: Arc<Shared>, outbox: Outbox) -> Requests {
        Requests {
            shared,
            outbox,
            running: JoinSet::new(),
        }
    }
}

impl FrameHandler for Requests {
    async fn on_frame(&mut self, frame: Frame) -> Flow {
        submit(frame, &self.shared, &self.outbox, &mut self.running);
        while self.running.try_join_next().is_some() {}
        Flow::Continue
    }

    async fn on_end(mut self) {
        while self.running.join_next().await.is_some() {}
    }
}

fn submit(frame: Frame, shared: &Arc<Shared>, out: &Outbox, requests: &mut JoinSet<()>) {
    // msg_server's keep-alive; TeamTalk's db_proxy takes it silently too.
    if frame.header.command == CID_OTHER_HEARTBEAT {
        return;
    }
    let out = out.clone();
    match shared.requests.clone().try_acquire_owned() {
        Ok(permit) => {
            let shared = shared.clone();
            requests.spawn(async move {
                let heavy = if is_heavy(&frame) {
                    match shared.heavy.admit().await {
                        Ok(admitted) => Some(admitted),
                        Err(e) => {
                            tracing::warn!(command = %frame.header.command, error = %e, "refused");
                            drop(permit);
                            if let Some(pdu) = cmd::refusal(&frame, shared.max_frame) {
                                let _ = out.send(pdu).await;
                            }
                            return;
                        }
                    }
                } else {
                    None
                };
                let answer = cmd::apply(&shared.store, &frame, shared.max_frame).await;
                drop(permit);
                if let Some(pdu) = answer {
                    let _ = out.send_holding(pdu, heavy).await;
                }
            });
        }
        Err(_) => {
            tracing::warn!(command = %frame.header.command, "too many requests in flight; refused");
            if let Some(pdu) = cmd::refusal(&frame, shared.max_frame) {
                requests.spawn(async move {
                    let _ = out.send(pdu).await;
                });
            }
        }
    }
}

/// Commands whose answer (or request) may be megabytes: history pages and
/// previews are bounded at 2 MiB of msg_data, the user list by the company,
/// an audio message by 1 MiB.
fn is_heavy(frame: &Frame) -> bool {
    let c = frame.header.command;
    c == CID_MSG_LIST_REQUEST
        || c == CID_MSG_GET_BY_MSG_ID_REQ
        || c == CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST
        || c == CID_MSG_UNREAD_CNT_REQUEST
        || c == CID_BUDDY_LIST_ALL_USER_REQUEST
        || (c == CID_MSG_DATA && frame.pdu.len() > HEAVY_MSG_BYTES)
}

/// A message above this size (an audio message) counts as heavy.
const HEAVY_MSG_BYTES: usize = 64 << 10;
