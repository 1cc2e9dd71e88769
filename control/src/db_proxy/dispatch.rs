//! From a frame to a running request: one task per request, so a slow query
//! holds up only its own caller. Requests in flight over all connections are
//! bounded by a semaphore of `pool_size + queue_limit` permits: the pool runs
//! `pool_size` of them, the rest wait for a connection; a request finding no
//! permit is answered with its command's error result at once.

use std::sync::Arc;

use bytes::Bytes;
use ferry_proto::Frame;
use ferry_proto::registry::CID_OTHER_HEARTBEAT;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{Shared, cmd};

pub(super) fn submit(
    frame: Frame,
    shared: &Arc<Shared>,
    out: &mpsc::Sender<Bytes>,
    requests: &mut JoinSet<()>,
) {
    // msg_server's keep-alive; TeamTalk's db_proxy takes it silently too.
    if frame.header.command == CID_OTHER_HEARTBEAT {
        return;
    }
    let out = out.clone();
    match shared.requests.clone().try_acquire_owned() {
        Ok(permit) => {
            let shared = shared.clone();
            requests.spawn(async move {
                let answer = cmd::apply(&shared.store, &frame, shared.max_frame).await;
                drop(permit);
                if let Some(pdu) = answer {
                    let _ = out.send(pdu).await;
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
