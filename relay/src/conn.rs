//! A connection's two halves: [`FrameReader`] turns bytes into whole PDUs,
//! [`Outbox`] + [`write_loop`] send PDUs in order.
//!
//! Frames are split off the receive buffer as `BytesMut` views (the header
//! can still be patched), frozen and queued to the peer's writer: the
//! payload bytes are written out of the buffer they were read into.
//! Back-pressure: budgeted sends wait on a per-connection byte semaphore
//! that the writer refills only after the bytes reached the socket, so a
//! receiver that does not read stops the relay reading its sender.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_proto::frame::{Check, HEADER_LEN, check};
use local_sync::mpsc::unbounded;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent};

use crate::budget::{Budget, Permit};
use crate::error::ConnError;
use crate::stats::CoreStats;

/// Bounds of the room offered to a read beyond what the current frame
/// needs. io_uring holds a read's buffer while it waits, so an idle
/// connection costs what its pending read offers: a connection that sends
/// small frames (logins, pulls) offers little, a sender of big frames more.
const MIN_READ: usize = 256;
const MAX_READ: usize = 64 << 10;

pub(crate) struct FrameReader<R> {
    io: R,
    buf: BytesMut,
    max_frame: u32,
    cancel: CancelHandle,
    /// Room offered per read: the last frame's size, within the bounds.
    hint: usize,
}

impl<R: CancelableAsyncReadRent> FrameReader<R> {
    /// `buffered`: bytes already read from this connection (a hand-off).
    pub(crate) fn new(io: R, buffered: BytesMut, max_frame: u32, cancel: CancelHandle) -> Self {
        FrameReader {
            io,
            buf: buffered,
            max_frame,
            cancel,
            hint: MIN_READ,
        }
    }

    /// The next whole PDU, header included; `None` at a clean end of stream.
    /// A frame is never buffered beyond `max_frame` bytes.
    pub(crate) async fn next(&mut self) -> Result<Option<BytesMut>, ConnError> {
        loop {
            let want = match check(&self.buf, self.max_frame) {
                Check::Complete(n) => {
                    self.hint = n.clamp(MIN_READ, MAX_READ);
                    return Ok(Some(self.buf.split_to(n)));
                }
                Check::Invalid(e) => return Err(e.into()),
                Check::Incomplete if self.buf.len() >= 4 => {
                    u32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes")) as usize
                }
                Check::Incomplete => HEADER_LEN,
            };
            self.buf.reserve((want - self.buf.len()).max(self.hint));
            let buf = std::mem::take(&mut self.buf);
            let filled = buf.len();
            let (res, slice) = self
                .io
                .cancelable_read(buf.slice_mut(filled..), self.cancel.clone())
                .await;
            self.buf = slice.into_inner();
            if res? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ConnError::Truncated)
                };
            }
        }
    }

    /// Reads and discards until the peer closes or `limit` passes.
    pub(crate) async fn linger(&mut self, limit: Duration)
    where
        R: monoio::io::AsyncReadRent,
    {
        let deadline = std::time::Instant::now() + limit;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.reserve(MAX_READ);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            buf.clear();
            match monoio::time::timeout(left, self.io.read(buf)).await {
                Ok((Ok(n), b)) if n > 0 => buf = b,
                _ => return,
            }
        }
    }

    /// The connection itself, to answer on it before it is split.
    pub(crate) fn io_mut(&mut self) -> &mut R {
        &mut self.io
    }

    /// The connection and whatever was read past the last frame taken.
    pub(crate) fn into_parts(self) -> (R, BytesMut) {
        (self.io, self.buf)
    }
}

/// One PDU queued for a writer; a budgeted one holds its bytes' permit.
struct Outgoing {
    pdu: Bytes,
    permit: Option<Permit>,
}

/// The sending side of a connection, cloned by whoever may write to it.
#[derive(Clone)]
pub(crate) struct Outbox {
    tx: unbounded::Tx<Outgoing>,
    budget: Rc<Budget>,
    stats: Arc<CoreStats>,
}

/// The connection's peer is gone; nothing more can be sent to it.
#[derive(Debug)]
pub(crate) struct Closed;

impl Outbox {
    /// Queues a small control PDU (responses, states, pulls): never waits.
    pub(crate) fn send(&self, pdu: Bytes) -> Result<(), Closed> {
        self.tx
            .send(Outgoing { pdu, permit: None })
            .map_err(|_| Closed)
    }

    /// Queues a payload PDU, first waiting until the bytes already queued
    /// toward this connection leave room for it (back-pressure).
    pub(crate) async fn send_budgeted(&self, pdu: Bytes) -> Result<(), Closed> {
        let len = pdu.len() as u64;
        let permit = self.budget.acquire(len).await.map_err(|_| Closed)?;
        CoreStats::add(&self.stats.bytes_buffered, len);
        self.tx
            .send(Outgoing {
                pdu,
                permit: Some(permit),
            })
            .map_err(|_| Closed)
    }

    /// Wakes any sender waiting for budget: the connection is going away.
    pub(crate) fn close(&self) {
        self.budget.close();
    }
}

/// The receiving end of an [`Outbox`], consumed by [`write_loop`].
pub(crate) struct Inbox {
    rx: unbounded::Rx<Outgoing>,
    budget: Rc<Budget>,
}

/// An outbox allowing `budget` bytes of payload queued at once.
pub(crate) fn outbox(budget: u64, stats: Arc<CoreStats>) -> (Outbox, Inbox) {
    let (tx, rx) = unbounded::channel();
    let budget = Budget::new(budget);
    (
        Outbox {
            tx,
            budget: budget.clone(),
            stats,
        },
        Inbox { rx, budget },
    )
}

/// Writes queued PDUs in order until every [`Outbox`] is dropped, then
/// shuts the write side down. A write that makes no progress for
/// `stall_timeout` ends the connection (a peer that stopped reading).
pub(crate) async fn write_loop<W: AsyncWriteRent>(
    mut io: W,
    mut inbox: Inbox,
    stats: Arc<CoreStats>,
    stall_timeout: Duration,
) {
    while let Some(out) = inbox.rx.recv().await {
        let budgeted = out.permit.is_some();
        let len = out.pdu.len() as u64;
        let result = monoio::time::timeout(stall_timeout, io.write_all(out.pdu)).await;
        drop(out.permit);
        if budgeted {
            CoreStats::sub(&stats.bytes_buffered, len);
        }
        match result {
            Ok((Ok(_), _)) => {}
            Ok((Err(e), _)) => {
                tracing::debug!(error = %e, "write failed");
                break;
            }
            Err(_) => {
                tracing::info!(timeout = ?stall_timeout, "peer stopped reading; closing");
                break;
            }
        }
    }
    // Unblock budgeted senders and drop whatever is still queued.
    inbox.budget.close();
    inbox.rx.close();
    while let Ok(out) = inbox.rx.try_recv() {
        if out.permit.is_some() {
            CoreStats::sub(&stats.bytes_buffered, out.pdu.len() as u64);
        }
    }
    let _ = io.shutdown().await;
}
