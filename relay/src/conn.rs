//! A connection's two halves: [`FrameReader`] turns bytes into whole PDUs,
//! [`Outbox`] + [`write_loop`] send PDUs in order.
//!
//! Frames are split off the receive buffer as `BytesMut` views (the header
//! can still be patched), frozen and queued to the peer's writer: the
//! payload bytes are written out of the buffer they were read into.
//! Back-pressure: budgeted sends wait on a per-connection byte semaphore
//! that the writer refills only after the bytes reached the socket, so a
//! receiver that does not read stops the relay reading its sender.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_proto::frame::{Check, HEADER_LEN, Header, check};
use ferry_proto::pull::{Prefix, PullDataRspHead};
use local_sync::mpsc::unbounded;
use monoio::buf::IoBufMut;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, CancelHandle, CancelableAsyncReadRent};
use monoio::net::tcp::TcpOwnedWriteHalf;

use crate::budget::{Budget, Permit};
use crate::conduit::Conduit;
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
    /// Frames that may be forwarded without reading their payload.
    splice: Option<SpliceRule>,
}

/// Which frames [`FrameReader::next_incoming`] stops at the payload of:
/// pull responses of at least `min_len` bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpliceRule {
    pub command_id: u16,
    pub min_len: usize,
}

/// What [`FrameReader::next_incoming`] found.
pub(crate) enum Incoming {
    /// A whole frame, header included.
    Frame(BytesMut),
    /// A pull response whose payload is still (mostly) on the socket.
    Payload(PayloadStart),
}

pub(crate) struct PayloadStart {
    /// Header and body up to the payload, followed by the payload bytes
    /// already read (one contiguous view).
    pub head: BytesMut,
    /// Payload bytes still to come from the socket.
    pub remaining: usize,
    pub info: PullDataRspHead,
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
            splice: None,
        }
    }

    /// Lets [`Self::next_incoming`] stop at the payload of frames `rule`
    /// matches; reads stay small so payloads are left on the socket.
    pub(crate) fn with_splice(mut self, rule: SpliceRule) -> Self {
        self.splice = Some(rule);
        self
    }

    /// Like [`Self::next`], but a large pull response laid out the usual
    /// way comes back as soon as its payload starts, the rest unread.
    pub(crate) async fn next_incoming(&mut self) -> Result<Option<Incoming>, ConnError> {
        let Some(rule) = self.splice else {
            return Ok(self.next().await?.map(Incoming::Frame));
        };
        loop {
            if let Some(frame) = self.take_whole()? {
                return Ok(Some(Incoming::Frame(frame)));
            }
            // Room for the next read: just the head of a frame that may be
            // spliced, the whole of any other frame whose length is known.
            let mut room = MIN_READ;
            if self.buf.len() >= HEADER_LEN {
                let header = Header::parse(self.buf[..HEADER_LEN].try_into().expect("header"));
                let length = header.length as usize;
                if header.command.command_id == rule.command_id && length >= rule.min_len {
                    let body_len = length - HEADER_LEN;
                    let prefix = PullDataRspHead::scan_prefix(&self.buf[HEADER_LEN..], body_len);
                    match prefix {
                        Prefix::Payload {
                            head,
                            payload_start,
                        } => {
                            let buffered = self.buf.len() - HEADER_LEN - payload_start;
                            return Ok(Some(Incoming::Payload(PayloadStart {
                                head: self.buf.split(),
                                remaining: head.data_len - buffered,
                                info: head,
                            })));
                        }
                        Prefix::NeedMore => {}
                        Prefix::Other => room = length - self.buf.len(),
                    }
                } else {
                    room = length - self.buf.len();
                }
            }
            if !self.fill(room).await? {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(ConnError::Truncated)
                };
            }
        }
    }

    /// One whole frame off the front of the buffer, if one is there.
    fn take_whole(&mut self) -> Result<Option<BytesMut>, ConnError> {
        match check(&self.buf, self.max_frame) {
            Check::Complete(n) => Ok(Some(self.buf.split_to(n))),
            Check::Invalid(e) => Err(e.into()),
            Check::Incomplete => Ok(None),
        }
    }

    /// One read of up to `room` more bytes; false at end of stream.
    async fn fill(&mut self, room: usize) -> Result<bool, ConnError> {
        self.buf.reserve(room);
        let buf = std::mem::take(&mut self.buf);
        let filled = buf.len();
        let (res, slice) = self
            .io
            .cancelable_read(buf.slice_mut(filled..), self.cancel.clone())
            .await;
        self.buf = slice.into_inner();
        Ok(res? > 0)
    }

    /// The next whole PDU, header included; `None` at a clean end of stream.
    /// A frame is never buffered beyond `max_frame` bytes.
    pub(crate) async fn next(&mut self) -> Result<Option<BytesMut>, ConnError> {
        loop {
            if let Some(frame) = self.take_whole()? {
                self.hint = frame.len().clamp(MIN_READ, MAX_READ);
                return Ok(Some(frame));
            }
            let want = match self.buf.first_chunk::<4>() {
                Some(len) => u32::from_be_bytes(*len) as usize,
                None => HEADER_LEN,
            };
            if !self.fill((want - self.buf.len()).max(self.hint)).await? {
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
    what: Queued,
    permit: Option<Permit>,
}

enum Queued {
    Pdu(Bytes),
    /// `head`, then `len` bytes that arrive through `conduit` from the
    /// sender's socket.
    Spliced {
        head: Bytes,
        conduit: Rc<Conduit>,
        len: usize,
    },
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
            .send(Outgoing {
                what: Queued::Pdu(pdu),
                permit: None,
            })
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
                what: Queued::Pdu(pdu),
                permit: Some(permit),
            })
            .map_err(|_| Closed)
    }

    /// Queues `head` followed by `len` bytes the caller will move into
    /// `conduit`. Only `head` counts against the budget: the pipe bounds
    /// the rest.
    pub(crate) async fn send_spliced(
        &self,
        head: Bytes,
        conduit: Rc<Conduit>,
        len: usize,
    ) -> Result<(), Closed> {
        let permit = self
            .budget
            .acquire(head.len() as u64)
            .await
            .map_err(|_| Closed)?;
        CoreStats::add(&self.stats.bytes_buffered, head.len() as u64);
        let what = Queued::Spliced { head, conduit, len };
        self.tx
            .send(Outgoing {
                what,
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
pub(crate) async fn write_loop(
    mut io: TcpOwnedWriteHalf,
    mut inbox: Inbox,
    stats: Arc<CoreStats>,
    stall_timeout: Duration,
) {
    while let Some(out) = inbox.rx.recv().await {
        let counted = out.permit.is_some();
        let (len, result) = match out.what {
            Queued::Pdu(pdu) => {
                let len = pdu.len() as u64;
                let r = monoio::time::timeout(stall_timeout, io.write_all(pdu))
                    .await
                    .map(|(r, _)| r.map(drop));
                (len, r)
            }
            Queued::Spliced { head, conduit, len } => {
                let head_len = head.len() as u64;
                let r = monoio::time::timeout(
                    stall_timeout,
                    write_spliced(&mut io, head, &conduit, len),
                )
                .await;
                if !matches!(r, Ok(Ok(()))) {
                    conduit.break_off(); // the sender's side stops filling at once
                }
                (head_len, r)
            }
        };
        drop(out.permit);
        if counted {
            CoreStats::sub(&stats.bytes_buffered, len);
        }
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
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
        let len = match out.what {
            Queued::Pdu(pdu) => pdu.len(),
            Queued::Spliced { head, conduit, .. } => {
                conduit.break_off();
                head.len()
            }
        };
        if out.permit.is_some() {
            CoreStats::sub(&stats.bytes_buffered, len as u64);
        }
    }
    let _ = io.shutdown().await;
}

/// `head`, then `len` bytes out of `conduit`, as one PDU on the wire.
async fn write_spliced(
    io: &mut TcpOwnedWriteHalf,
    head: Bytes,
    conduit: &Conduit,
    len: usize,
) -> std::io::Result<()> {
    let (res, _) = io.write_all(head).await;
    res?;
    let stream = shared_stream(&io.0);
    conduit
        .drain(stream.as_raw_fd(), len, || stream.writable(false))
        .await
}

/// The stream behind one of monoio's owned halves, for calls that take
/// `&self` (readiness, the raw fd).
#[allow(unsafe_code)]
pub(crate) fn shared_stream(
    half: &Rc<std::cell::UnsafeCell<monoio::net::TcpStream>>,
) -> &monoio::net::TcpStream {
    // SAFETY: monoio's owned halves share the stream through
    // `Rc<UnsafeCell<_>>` on this thread and themselves reach it through a
    // shared reference for `&self` calls (peer_addr). We do the same, for
    // `&self` methods only, while this half has no operation in flight.
    unsafe { &*half.get() }
}
