//! One msg_server connection: frames in with ferry-proto's `Frame::take`,
//! each handed to [`dispatch`](super::dispatch), responses out through a
//! writer task fed by a bounded channel (a caller that does not read its
//! answers slows its own requests, nobody else's).
//!
//! A frame whose header is invalid (length below 16 or above `max_frame`)
//! closes this connection with a logged reason; TeamTalk's db_proxy crashes
//! on a length of 5. At shutdown the connection stops reading, answers what
//! it already took, flushes and closes.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ferry_proto::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::{Shared, dispatch};

/// Answers queued for the writer at most before request tasks wait.
const RESPONSE_QUEUE: usize = 256;
/// Initial receive buffer; it grows to the largest frame seen.
const READ_BUFFER: usize = 8 * 1024;

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
        let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(RESPONSE_QUEUE);
        let write = tokio::spawn(async move {
            while let Some(pdu) = out_rx.recv().await {
                if let Err(e) = writer.write_all(&pdu).await {
                    tracing::debug!(error = %e, "peer stopped reading");
                    return;
                }
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
                read = reader.read_buf(&mut buf) => match read {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "read failed");
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
