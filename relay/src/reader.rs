//! [`FrameReader`] turns a connection's bytes into whole PDUs, or, for a
//! large pull response, stops where its payload starts (the payload is then
//! spliced, see `conduit`). Frames are split off the receive buffer as
//! `BytesMut` views, so the header can still be patched before the frame is
//! frozen and forwarded out of the buffer it was read into.

use std::time::Duration;

use bytes::BytesMut;
use ferry_proto::frame::{Check, Frame, HEADER_LEN, Header, check};
use ferry_proto::pull::{Prefix, PullDataRspHead};
use monoio::buf::IoBufMut;
use monoio::io::{CancelHandle, CancelableAsyncReadRent};

use crate::error::ConnError;

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

    /// Like [`Self::next`], but with `splice` true a large pull response
    /// laid out the usual way comes back as soon as its payload starts, the
    /// rest unread.
    pub(crate) async fn next_incoming(
        &mut self,
        splice: bool,
    ) -> Result<Option<Incoming>, ConnError> {
        let Some(rule) = self.splice.filter(|_| splice) else {
            return Ok(self.next_pdu().await?.map(Incoming::Frame));
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
            // At most `room`: spare capacity left by a frame read whole
            // must not swallow the next payload.
            if !self.fill(room, true).await? {
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

    /// One read of at least `room` more bytes of room (`exact`: of just
    /// `room`; else of whatever capacity the buffer has spare); false at
    /// end of stream.
    async fn fill(&mut self, room: usize, exact: bool) -> Result<bool, ConnError> {
        self.buf.reserve(room);
        let buf = std::mem::take(&mut self.buf);
        let filled = buf.len();
        let end = if exact { filled + room } else { buf.capacity() };
        let (res, slice) = self
            .io
            .cancelable_read(buf.slice_mut(filled..end), self.cancel.clone())
            .await;
        self.buf = slice.into_inner();
        Ok(res? > 0)
    }

    /// The next whole PDU as a [`Frame`] (its header parsed once, here);
    /// `None` at a clean end of stream.
    pub(crate) async fn next(&mut self) -> Result<Option<Frame>, ConnError> {
        Ok(self.next_pdu().await?.map(|pdu| Frame {
            header: Header::parse(pdu.first_chunk().expect("a whole PDU holds a header")),
            pdu: pdu.freeze(),
        }))
    }

    /// The next whole PDU, header included, still mutable (the relay's
    /// pull path edits it in place); `None` at a clean end of stream. A
    /// frame is never buffered beyond `max_frame` bytes.
    async fn next_pdu(&mut self) -> Result<Option<BytesMut>, ConnError> {
        loop {
            if let Some(frame) = self.take_whole()? {
                self.hint = frame.len().clamp(MIN_READ, MAX_READ);
                return Ok(Some(frame));
            }
            let want = match self.buf.first_chunk::<4>() {
                Some(len) => u32::from_be_bytes(*len) as usize,
                None => HEADER_LEN,
            };
            if !self
                .fill((want - self.buf.len()).max(self.hint), false)
                .await?
            {
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
