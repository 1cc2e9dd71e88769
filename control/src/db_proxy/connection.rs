//! One msg_server connection: frames in with ferry-proto's `Frame::take`,
//! each handed to [`dispatch`](super::dispatch), responses out through a
//! writer task fed by a bounded channel (a caller that does not read its
//! answers slows its own requests, nobody else's).
//!
//! A frame whose header is invalid (length below 16 or above `max_frame`)
//! closes this connection with a logged reason; TeamTalk's db_proxy crashes
//! on a length of 5. At shutdown the connection stops reading, answers what
//! it already took, flushes and closes.
//!
//! The link is kept alive from this side as TeamTalk's servers do: after
//! `heartbeat` (5 s) without sending anything the writer sends a heartbeat,
//! because a stock msg_server closes a db link that has received nothing for
//! 30 s (and refuses logins until it has reconnected). A link that has sent
//! nothing for `link_timeout` (30 s; msg_server heartbeats every 5 s) is
//! dead and is closed.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ferry_proto::pb::im::other::ImHeartBeat;
use ferry_proto::{Frame, frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::{Shared, dispatch};
use crate::admission::Admitted;

/// Answers queued for the writer at most before request tasks wait.
const RESPONSE_QUEUE: usize = 256;

/// An answer on its way to the socket, with the admission of a heavy answer
/// (dropped once written: see `dispatch`).
pub(super) struct Answer {
    pub pdu: Bytes,
    pub heavy: Option<Admitted>,
}

impl Answer {
    pub(super) fn new(pdu: Bytes) -> Answer {
        Answer { pdu, heavy: None }
    }
}
/// Initial receive buffer; it grows to the largest frame seen.
const READ_BUFFER: usize = 8 * 1024;

/// TeamTalk's heartbeat: CID_OTHER_HEARTBEAT, empty body, seq 0.
fn heartbeat_pdu() -> Bytes {
    frame::encode_to_bytes(&ImHeartBeat {}, 0, frame::DEFAULT_MAX_FRAME)
        .expect("an empty PDU fits a frame")
}

pub(super) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let span = tracing::info_span!("db_proxy_conn", %peer);
    async move {
        tracing::debug!("connected");
        let (mut reader, mut writer) = stream.into_split();
        let (out_tx, mut out_rx) = mpsc::channel::<Answer>(RESPONSE_QUEUE);
        let heartbeat = shared.heartbeat;
        let write = tokio::spawn(async move {
            loop {
                let Answer { pdu, heavy } =
                    match tokio::time::timeout(heartbeat, out_rx.recv()).await {
                        Ok(Some(answer)) => answer,
                        Ok(None) => break,
                        Err(_) => Answer::new(heartbeat_pdu()),
                    };
                if let Err(e) = writer.write_all(&pdu).await {
                    tracing::debug!(error = %e, "peer stopped reading");
                    return;
                }
                drop(heavy); // on the socket: the next heavy answer may be built
            }
            let _ = writer.shutdown().await;
        });
        let mut requests = JoinSet::new();
        let mut buf = BytesMut::with_capacity(READ_BUFFER);
        'read: loop {
            loop {
                match Frame::take(&mut buf, shared.max_frame) {
                    Ok(Some(frame)) => dispatch::submit(frame, &shared, &out_tx, &mut requests),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(reason = %e, "invalid frame; closing the connection");
                        break 'read;
                    }
                }
            }
            while requests.try_join_next().is_some() {}
            tokio::select! {
                read = tokio::time::timeout(shared.link_timeout, reader.read_buf(&mut buf)) => match read {
                    Ok(Ok(0)) => break,
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "read failed");
                        break;
                    }
                    Err(_) => {
                        tracing::warn!(timeout = ?shared.link_timeout, "nothing received, not even a heartbeat; closing the link");
                        break;
                    }
                },
                _ = stop.wait_for(|stop| *stop) => break,
            }
        }
        // Answer what was taken, then let the writer flush and close.
        while requests.join_next().await.is_some() {}
        drop(out_tx);
        let _ = write.await;
        tracing::debug!("closed");
    }
    .instrument(span)
    .await
}
