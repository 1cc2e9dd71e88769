//! One PDU connection, either direction: frames in through
//! `ferry_proto::Frame::take`, handed to the service's [`FrameHandler`];
//! PDUs out through a bounded [`Outbox`] drained by a writer task.
//!
//! Bounds and lifetimes:
//! - a frame is never buffered past `max_frame` bytes; an invalid header
//!   (length below 16 or above the maximum) closes the connection with its
//!   reason logged, and nothing else;
//! - `read_timeout` without a byte received closes it (a dead peer, a
//!   session that stopped heartbeating);
//! - with `heartbeat` set (server links), the writer sends TeamTalk's
//!   heartbeat after that long without sending anything: a stock peer drops
//!   a link that has received nothing for 30 s;
//! - the outbox holds `queue` PDUs at most: a sender waits for room
//!   ([`Outbox::send`]) or, fanning out to other people's connections, gives
//!   up on a connection that does not drain ([`Outbox::try_send`]), which
//!   also gives up once `queue_bytes` bytes wait (a fan-out may join many
//!   notifies into one PDU buffer, so slots alone would not bound memory);
//! - [`Outbox::close`] ends the connection from outside (a kicked session):
//!   what is queued is written, then the socket is shut down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_proto::pb::im::other::ImHeartBeat;
use ferry_proto::{Frame, frame};
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{Notify, mpsc, watch};

use crate::admission::Admitted;

/// Initial receive buffer; it grows to the largest frame seen.
/// Bytes read at a time (the buffer is allocated when the socket is
/// readable and dropped once every frame in it is handled).
const READ_BUFFER: usize = 8 * 1024;

/// PDUs queued behind the one being written are joined to it up to this
/// many bytes (a big answer alone is written as it is, uncopied).
const COALESCE_BYTES: usize = 64 * 1024;

/// One read into `buf`'s spare room. A short read (less than the room)
/// means the socket is drained: its readiness is cleared then, as tokio's
/// own `poll_read` does, so the next wait sleeps in epoll instead of
/// costing a read that finds nothing (one syscall less per frame burst).
/// Readiness set again meanwhile (new bytes, a FIN) is kept: tokio clears
/// only the event the read saw.
fn read_some(reader: &OwnedReadHalf, buf: &mut BytesMut) -> std::io::Result<usize> {
    let room = buf.capacity() - buf.len();
    let mut short = None;
    let read = reader.as_ref().try_io(Interest::READABLE, || {
        let n = reader.try_read_buf(buf)?;
        if n > 0 && n < room {
            short = Some(n);
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match short {
        Some(n) => Ok(n),
        None => read,
    }
}

/// How a connection behaves.
#[derive(Debug, Clone)]
pub struct ConnConfig {
    /// Largest PDU accepted, header included (bytes).
    pub max_frame: u32,
    /// Closed after this long without receiving a byte.
    pub read_timeout: Duration,
    /// Send a heartbeat after this long without sending (server links);
    /// `None` for client sessions, which heartbeat themselves.
    pub heartbeat: Option<Duration>,
    /// PDUs queued for the writer at most.
    pub queue: usize,
    /// Bytes queued for the writer beyond which [`Outbox::try_send`] gives
    /// up (`send` waits for a slot only); `usize::MAX` for server links,
    /// which are fed with `send`.
    pub queue_bytes: usize,
}

/// What the service wants after a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Close the connection (after what is queued is written).
    Close,
}

/// A service's side of a connection.
pub trait FrameHandler: Send {
    /// One whole frame, in arrival order; the next waits for this one.
    fn on_frame(&mut self, frame: Frame) -> impl Future<Output = Flow> + Send;
    /// The connection has ended (any reason); runs before the writer is
    /// flushed and the socket closed.
    fn on_end(self) -> impl Future<Output = ()> + Send;
    /// How long the connection may stay silent from now (asked before each
    /// read); `None` keeps the configured `read_timeout`. A client session
    /// has a login deadline first, then its client type's timeout.
    fn read_timeout(&self) -> Option<Duration> {
        None
    }
}

/// A PDU on its way out, with an admission it holds until written (a heavy
/// answer, see `crate::admission`).
#[derive(Debug)]
struct Outgoing {
    pdu: Bytes,
    _held: Option<Admitted>,
}

/// The sending side of a connection; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    closing: Arc<Notify>,
    /// Bytes queued and not yet written, and the bound `try_send` keeps.
    queued_bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The connection is gone (or its queue is full, for `try_send`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    Closed,
    Full,
}

impl Outbox {
    /// Queues `pdu`, waiting for room.
    pub async fn send(&self, pdu: Bytes) -> Result<(), SendError> {
        self.send_holding(pdu, None).await
    }

    /// Queues `pdu`, which keeps `held` until it is on the socket.
    pub async fn send_holding(&self, pdu: Bytes, held: Option<Admitted>) -> Result<(), SendError> {
        let len = pdu.len();
        let permit = self.tx.reserve().await.map_err(|_| SendError::Closed)?;
        self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        permit.send(Outgoing { pdu, _held: held });
        Ok(())
    }

    /// Queues `pdu` if there is room now: for fan-out to connections other
    /// than the one being served, which must not be held up by a slow one.
    pub fn try_send(&self, pdu: Bytes) -> Result<(), SendError> {
        let permit = self.tx.try_reserve().map_err(|e| match e {
            mpsc::error::TrySendError::Full(()) => SendError::Full,
            mpsc::error::TrySendError::Closed(()) => SendError::Closed,
        })?;
        let len = pdu.len();
        let before = self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        // Into an empty outbox a PDU always goes, however large: the bound
        // is for a backlog, never a refusal of one message.
        if before > 0 && before.saturating_add(len) > self.max_bytes {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            return Err(SendError::Full);
        }
        permit.send(Outgoing { pdu, _held: None });
        Ok(())
    }

    /// Ends the connection: nothing more is read, what is queued is
    /// written, then the socket is shut down.
    pub fn close(&self) {
        self.closing.notify_one();
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A connection not yet running: its outbox can be handed out first.
pub struct Connection {
    stream: TcpStream,
    config: ConnConfig,
    outbox: Outbox,
    queued: mpsc::Receiver<Outgoing>,
}

/// TeamTalk's heartbeat: CID_OTHER_HEARTBEAT, empty body, seq 0.
pub fn heartbeat_pdu() -> Bytes {
    frame::encode_to_bytes(&ImHeartBeat {}, 0, frame::DEFAULT_MAX_FRAME)
        .expect("an empty PDU fits a frame")
}

impl Connection {
    pub fn new(stream: TcpStream, config: ConnConfig) -> Connection {
        let _ = stream.set_nodelay(true);
        let (tx, queued) = mpsc::channel(config.queue.max(1));
        let max_bytes = config.queue_bytes;
        Connection {
            stream,
            config,
            outbox: Outbox {
                tx,
                closing: Arc::new(Notify::new()),
                queued_bytes: Arc::new(AtomicUsize::new(0)),
                max_bytes,
            },
            queued,
        }
    }

    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    pub fn peer(&self) -> Option<SocketAddr> {
        self.stream.peer_addr().ok()
    }

    /// Runs until the peer closes, a frame is invalid, nothing arrives for
    /// `read_timeout`, the handler says [`Flow::Close`], the outbox is
    /// closed, or `stop` turns true (drain). Then the handler's `on_end`,
    /// the writer flushes what is queued, and the socket is shut down.
    pub async fn run<H: FrameHandler>(self, mut stop: watch::Receiver<bool>, mut handler: H) {
        let Connection {
            stream,
            config,
            outbox,
            mut queued,
        } = self;
        let (reader, mut writer) = stream.into_split();
        let heartbeat = config.heartbeat;
        // Ends the writer once the connection is over, even while clones of
        // the outbox are still held elsewhere: what is queued by then is
        // written, the rest refused.
        let (finish, mut finished) = watch::channel(false);
        let queued_bytes = outbox.queued_bytes.clone();
        let write = tokio::spawn(async move {
            loop {
                let idle = async {
                    match heartbeat {
                        Some(idle) => tokio::time::sleep(idle).await,
                        None => std::future::pending().await,
                    }
                };
                let (mut dequeued, out) = tokio::select! {
                    biased;
                    next = queued.recv() => match next {
                        Some(out) => (out.pdu.len(), out),
                        None => break,
                    },
                    _ = finished.wait_for(|f| *f) => {
                        queued.close();
                        match queued.try_recv() {
                            Ok(out) => (out.pdu.len(), out),
                            Err(_) => break,
                        }
                    }
                    _ = idle => (0, Outgoing { pdu: heartbeat_pdu(), _held: None }),
                };
                // What else is queued by now goes in the same write: one
                // syscall (and one segment for the peer to read) for a
                // burst of answers or notifies instead of one per PDU.
                let mut more = Vec::new();
                let mut size = out.pdu.len();
                while size < COALESCE_BYTES {
                    match queued.try_recv() {
                        Ok(next) => {
                            size += next.pdu.len();
                            dequeued += next.pdu.len();
                            more.push(next);
                        }
                        Err(_) => break,
                    }
                }
                let written = if more.is_empty() {
                    writer.write_all(&out.pdu).await
                } else {
                    let mut batch = BytesMut::with_capacity(size);
                    for o in std::iter::once(&out).chain(&more) {
                        batch.extend_from_slice(&o.pdu);
                    }
                    writer.write_all(&batch).await
                };
                queued_bytes.fetch_sub(dequeued, Ordering::Relaxed);
                if let Err(e) = written {
                    tracing::debug!(error = %e, "peer stopped reading");
                    return;
                }
            }
            let _ = writer.shutdown().await;
        });
        // Held until the end: a service that keeps no outbox of its own (a
        // registration link) must not have its writer end early.
        let closing = outbox.closing.clone();
        // No buffer while idle: an idle session costs its socket and its
        // tasks, not 8 KiB of buffer (20,000 sessions on one msg_server).
        let mut buf = BytesMut::new();
        'read: loop {
            loop {
                match Frame::take(&mut buf, config.max_frame) {
                    Ok(Some(frame)) => {
                        // Boxed: a handler's future (a login awaiting db_proxy) can be
                        // kilobytes; inline it would be part of every idle
                        // connection's task.
                        if Box::pin(handler.on_frame(frame)).await == Flow::Close {
                            break 'read;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(reason = %e, "invalid frame; closing the connection");
                        break 'read;
                    }
                }
            }
            if buf.is_empty() && buf.capacity() > 0 {
                buf = BytesMut::new();
            }
            tokio::select! {
                ready = tokio::time::timeout(handler.read_timeout().unwrap_or(config.read_timeout), reader.readable()) => match ready {
                    Ok(Ok(())) => {
                        buf.reserve(READ_BUFFER);
                        match read_some(&reader, &mut buf) {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                            Err(e) => {
                                tracing::debug!(error = %e, "read failed");
                                break;
                            }
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "read failed");
                        break;
                    }
                    Err(_) => {
                        tracing::info!("nothing received in time; closing the connection");
                        break;
                    }
                },
                _ = closing.notified() => break,
                _ = stop.wait_for(|stop| *stop) => break,
            }
        }
        Box::pin(handler.on_end()).await;
        drop(outbox);
        let _ = finish.send(true);
        let _ = write.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ignore;

    impl FrameHandler for Ignore {
        async fn on_frame(&mut self, _frame: Frame) -> Flow {
            Flow::Continue
        }
        async fn on_end(self) {}
    }

    /// A peer that never reads: `try_send` gives up once `queue_bytes`
    /// bytes wait beyond what the sockets' buffers took, long before the
    /// `queue` slots are used up (1,000 slots of 64 KiB would be 64 MiB).
    #[tokio::test]
    async fn try_send_stops_at_the_byte_bound() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (peer, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (_peer, (stream, _)) = (peer.unwrap(), accepted.unwrap());
        let connection = Connection::new(
            stream,
            ConnConfig {
                max_frame: 1 << 20,
                read_timeout: Duration::from_secs(60),
                heartbeat: None,
                queue: 1000,
                queue_bytes: 256 << 10,
            },
        );
        let outbox = connection.outbox();
        let (_stop, stopped) = watch::channel(false);
        let running = tokio::spawn(connection.run(stopped, Ignore));
        // Alone in an empty outbox, a PDU above the bound goes.
        outbox.try_send(Bytes::from(vec![0u8; 300 << 10])).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let pdu = Bytes::from(vec![0u8; 64 << 10]);
        let mut accepted = 0usize;
        let full = loop {
            match outbox.try_send(pdu.clone()) {
                Ok(()) => accepted += 1,
                Err(e) => break e,
            }
            // Let the writer move what it can into the socket.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(1)).await;
            if accepted == 1000 {
                panic!("1,000 PDUs of 64 KiB taken for a peer that never reads");
            }
        };
        assert_eq!(full, SendError::Full);
        // The kernel holds a few MiB on loopback (send and receive
        // buffers); the outbox at most 256 KiB beyond them.
        assert!(accepted < 1000, "{accepted} PDUs taken");
        outbox.close();
        running.abort();
    }
}
