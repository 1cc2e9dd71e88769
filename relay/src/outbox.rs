//! [`Outbox`] + [`write_loop`]: a connection's sending side. PDUs are
//! written in the order queued. Back-pressure: budgeted sends wait on a
//! per-connection byte budget that the writer refills only once the bytes
//! are on the socket, so a receiver that does not read stops the relay
//! reading its sender.
//!
//! Written at once: while the writer waits with nothing queued, a send
//! goes straight to the socket with one non-blocking send(2) from the
//! caller's task, and only what the socket did not take is queued. A
//! forwarded pull or response then costs one syscall, not a task switch
//! to the writer plus an io_uring submission and completion: on a
//! transfer with one pull in flight (every stock client) that is the
//! relay's share of each round trip (benches/relay.rs, "round trips").
//! Pulls and responses of a transfer with more pulls in flight are queued
//! even then: its writer is rarely idle for long, and queued PDUs leave in
//! io_uring batches, one submission for many (measured: written at once,
//! 1 GiB at W = 8 lost about 0.05x against the splice relay).

use std::cell::Cell;
use std::future::poll_fn;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use local_sync::mpsc::unbounded;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::tcp::TcpOwnedWriteHalf;

use crate::budget::{Budget, Permit};
use crate::conduit::{Conduit, Opened};
use crate::stats::CoreStats;

/// One PDU queued for a writer; a budgeted one holds its bytes' permit.
struct Outgoing {
    what: Queued,
    permit: Option<Permit>,
}

enum Queued {
    Pdu(Bytes),
    /// One PDU in two parts, written together by vectored writes
    /// ([`write_pair`]): a head, then a payload shared with a buffer others
    /// hold (an offline download's block), never copied into the PDU.
    Pair(Bytes, Bytes),
    /// `head`, then `len` bytes that arrive through `conduit` from the
    /// sender's socket.
    Spliced {
        head: Bytes,
        conduit: Rc<Conduit>,
        len: usize,
    },
    /// The rest of a payload whose head the sending task wrote at once;
    /// the filling side pumps it into the socket while it can.
    Opened(Opened),
}

/// The sending side of a connection, cloned by whoever may write to it.
#[derive(Clone)]
pub(crate) struct Outbox {
    tx: unbounded::Tx<Outgoing>,
    budget: Rc<Budget>,
    stats: Arc<CoreStats>,
    /// The socket, while the writer waits with nothing queued: a send may
    /// then write to it directly. `None` while anything is queued or being
    /// written, and for good once the writer has ended (the fd may be
    /// closed and its number reused).
    idle: Rc<Cell<Option<RawFd>>>,
}

/// The connection's peer is gone; nothing more can be sent to it.
#[derive(Debug)]
pub(crate) struct Closed;

impl Outbox {
    /// Sends a small control PDU (responses, states, pulls): never waits.
    pub(crate) fn send(&self, pdu: Bytes) -> Result<(), Closed> {
        self.send_forward(pdu, true)
    }

    /// [`Self::send`] for a forwarded pull: written at once only with
    /// `at_once` (no other pull of its task in flight, so its answer is
    /// what the transfer waits for). A windowed transfer's pulls go through
    /// the writer, which submits them in io_uring batches rather than one
    /// send(2) each (benches/relay.rs, 1 GiB at W = 8).
    pub(crate) fn send_forward(&self, pdu: Bytes, at_once: bool) -> Result<(), Closed> {
        let pdu = if at_once {
            self.write_now(pdu)
        } else {
            Some(pdu)
        };
        let Some(pdu) = pdu else {
            return Ok(());
        };
        self.queue(Outgoing {
            what: Queued::Pdu(pdu),
            permit: None,
        })
    }

    /// Sends a payload PDU, first waiting until the bytes already queued
    /// toward this connection leave room for it (back-pressure). Written
    /// at once, the writer being idle, only with `at_once` (as
    /// [`Self::send_forward`]).
    pub(crate) async fn send_budgeted(&self, pdu: Bytes, at_once: bool) -> Result<(), Closed> {
        let pdu = if at_once {
            self.write_now(pdu)
        } else {
            Some(pdu)
        };
        let Some(pdu) = pdu else {
            return Ok(());
        };
        let len = pdu.len() as u64;
        self.queue_budgeted(Queued::Pdu(pdu), len).await
    }

    /// [`Self::send_budgeted`] for a PDU in two parts, `head` and then
    /// `payload`, so a payload that is a slice of a shared buffer goes out
    /// without being copied behind its head: with the writer idle both go
    /// in one writev(2), else both are queued (the writer's writev).
    pub(crate) async fn send_budgeted_pair(
        &self,
        head: Bytes,
        payload: Bytes,
    ) -> Result<(), Closed> {
        let (head, payload) = match self.idle.get() {
            None => (head, payload),
            Some(fd) => match writev_nonblocking(fd, &head, &payload) {
                Ok(n) if n == head.len() + payload.len() => {
                    CoreStats::add(&self.stats.direct_writes, 1);
                    return Ok(());
                }
                Ok(n) => advance_pair(head, payload, n),
                Err(_) => (head, payload),
            },
        };
        self.idle.set(None); // what is left goes first
        let len = (head.len() + payload.len()) as u64;
        self.queue_budgeted(Queued::Pair(head, payload), len).await
    }

    /// Queues `what` once the budget has room for its `len` bytes; the
    /// writer gives them back when they are on the socket.
    async fn queue_budgeted(&self, what: Queued, len: u64) -> Result<(), Closed> {
        let permit = self.budget.acquire(len).await.map_err(|_| Closed)?;
        CoreStats::add(&self.stats.bytes_buffered, len);
        self.queue(Outgoing {
            what,
            permit: Some(permit),
        })
    }

    /// Writes `pdu` to the socket at once if the writer is idle; returns
    /// what is left to queue (all of it when the writer is busy, the rest
    /// after a partial write, `None` when the socket took everything).
    /// Errors are left to the writer, which meets them on the queued rest.
    fn write_now(&self, pdu: Bytes) -> Option<Bytes> {
        let Some(fd) = self.idle.get() else {
            return Some(pdu);
        };
        let rest = match send_nonblocking(fd, &pdu, false) {
            Ok(n) if n == pdu.len() => {
                CoreStats::add(&self.stats.direct_writes, 1);
                return None;
            }
            Ok(n) => pdu.slice(n..),
            Err(_) => pdu,
        };
        // The rest goes through the writer: from now on nobody writes
        // directly (a budgeted sender may still wait for its permit before
        // queueing it, and nothing may overtake it meanwhile).
        self.idle.set(None);
        Some(rest)
    }

    /// Hands `out` to the writer, which is no longer idle.
    fn queue(&self, out: Outgoing) -> Result<(), Closed> {
        self.idle.set(None);
        self.tx.send(out).map_err(|_| Closed)
    }

    /// Queues `head` followed by `len` bytes the caller will move into
    /// `conduit`. Only `head` counts against the budget: the pipe bounds
    /// the rest. With `at_once` (the receiver waits for nothing else: no
    /// other pull in flight) and the writer idle, `head` is written at
    /// once and the payload opened on the conduit straight into the socket
    /// ([`Conduit::open`]); the writer gets the open PDU to finish. A
    /// windowed transfer keeps the writer busy anyway, and its queue moves
    /// heads in io_uring batches, not one send(2) each.
    pub(crate) async fn send_spliced(
        &self,
        head: Bytes,
        conduit: Rc<Conduit>,
        len: usize,
        at_once: bool,
    ) -> Result<(), Closed> {
        let idle = if at_once { self.idle.get() } else { None };
        let head = match idle {
            // MSG_MORE: the head waits in the socket for the payload's
            // first pump, so both leave in one segment and the receiver
            // wakes once per answer, not for the head alone (the splice
            // relay's bytes also leave together).
            Some(fd) => match send_nonblocking(fd, &head, len > 0) {
                Ok(n) if n == head.len() => {
                    CoreStats::add(&self.stats.direct_writes, 1);
                    let opened = conduit.open(fd, len);
                    return self.queue(Outgoing {
                        what: Queued::Opened(opened),
                        permit: None,
                    });
                }
                Ok(n) => head.slice(n..),
                Err(_) => head,
            },
            None => head,
        };
        self.idle.set(None); // the rest of the head goes first
        let permit = self
            .budget
            .acquire(head.len() as u64)
            .await
            .map_err(|_| Closed)?;
        CoreStats::add(&self.stats.bytes_buffered, head.len() as u64);
        let what = Queued::Spliced { head, conduit, len };
        self.queue(Outgoing {
            what,
            permit: Some(permit),
        })
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
    idle: Rc<Cell<Option<RawFd>>>,
}

/// An outbox allowing `budget` bytes of payload queued at once.
fn outbox(budget: u64, stats: Arc<CoreStats>) -> (Outbox, Inbox) {
    let (tx, rx) = unbounded::channel();
    let budget = Budget::new(budget);
    let idle = Rc::new(Cell::new(None));
    (
        Outbox {
            tx,
            budget: budget.clone(),
            stats,
            idle: idle.clone(),
        },
        Inbox { rx, budget, idle },
    )
}

/// A connection's outbox with its writer task running on `wr` (settings
/// from the core's config: budget, stall timeout, direct writes).
pub(crate) fn start_writer(wr: TcpOwnedWriteHalf, core: &crate::core_state::Core) -> Outbox {
    use tracing::Instrument as _;
    let cfg = &core.config;
    let (out, inbox) = outbox(cfg.task_buffer, core.stats.clone());
    let writer = write_loop(
        wr,
        inbox,
        core.stats.clone(),
        cfg.idle_timeout,
        cfg.direct_writes,
    );
    monoio::spawn(writer.in_current_span());
    out
}

/// Writes queued PDUs in order until every [`Outbox`] is dropped, then
/// shuts the write side down. A write that makes no progress for
/// `stall_timeout` ends the connection (a peer that stopped reading).
async fn write_loop(
    mut io: TcpOwnedWriteHalf,
    mut inbox: Inbox,
    stats: Arc<CoreStats>,
    stall_timeout: Duration,
    direct: bool,
) {
    let fd = direct.then(|| shared_stream(&io.0).as_raw_fd());
    while let Some(out) = next(&mut inbox, fd).await {
        let counted = out.permit.is_some();
        let (len, result) = match out.what {
            Queued::Pdu(pdu) => {
                let len = pdu.len() as u64;
                let r = monoio::time::timeout(stall_timeout, io.write_all(pdu))
                    .await
                    .map(|(r, _)| r.map(drop));
                (len, r)
            }
            Queued::Pair(head, payload) => {
                let len = (head.len() + payload.len()) as u64;
                let both = write_pair(&mut io, head, payload);
                (len, monoio::time::timeout(stall_timeout, both).await)
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
            Queued::Opened(opened) => {
                let stream = shared_stream(&io.0);
                let writable = || stream.writable(false);
                let r = monoio::time::timeout(stall_timeout, opened.finish(writable)).await;
                (0, r)
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
    inbox.idle.set(None);
    inbox.budget.close();
    inbox.rx.close();
    while let Ok(out) = inbox.rx.try_recv() {
        let len = match out.what {
            Queued::Pdu(pdu) => pdu.len(),
            Queued::Pair(head, payload) => head.len() + payload.len(),
            Queued::Spliced { head, conduit, .. } => {
                conduit.break_off();
                head.len()
            }
            Queued::Opened(_) => 0, // dropped: breaks off, closes the PDU
        };
        if out.permit.is_some() {
            CoreStats::sub(&stats.bytes_buffered, len as u64);
        }
    }
    let _ = io.shutdown().await;
}

/// The next PDU queued; while none is, senders may write to `fd` at once.
async fn next(inbox: &mut Inbox, fd: Option<RawFd>) -> Option<Outgoing> {
    poll_fn(|cx| match inbox.rx.poll_recv(cx) {
        Poll::Pending => {
            inbox.idle.set(fd);
            Poll::Pending
        }
        Poll::Ready(out) => {
            inbox.idle.set(None);
            Poll::Ready(out)
        }
    })
    .await
}

/// One non-blocking send(2) of `bytes`; how many the socket took. With
/// `more` (MSG_MORE) a short segment is held until the next send or splice
/// without it pushes.
#[allow(unsafe_code)]
fn send_nonblocking(fd: RawFd, bytes: &[u8], more: bool) -> std::io::Result<usize> {
    let more = if more { libc::MSG_MORE } else { 0 };
    // SAFETY: `fd` is the writer's open socket (the writer is parked, so
    // it is alive and has no write in flight); the buffer is valid for
    // its length for the call's duration.
    let n = unsafe {
        libc::send(
            fd,
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL | more,
        )
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// One non-blocking writev(2) of `a` then `b` to the writer's socket.
#[allow(unsafe_code)]
fn writev_nonblocking(fd: RawFd, a: &[u8], b: &[u8]) -> std::io::Result<usize> {
    let iov = [
        libc::iovec {
            iov_base: a.as_ptr() as *mut libc::c_void,
            iov_len: a.len(),
        },
        libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        },
    ];
    // SAFETY: msghdr is plain data, all-zero is its empty value (no name,
    // no control data); then as in `send_nonblocking`: the writer's open,
    // parked socket; both buffers are valid for their lengths for the
    // call's duration and only read (sendmsg never writes through iov).
    let n = unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = iov.len() as _;
        libc::sendmsg(fd, &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL)
    };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// `head` then `payload` with vectored writes: one writev per turn of
/// the writer (an io_uring WRITEV, or writev(2) on epoll) rather than a
/// send of the head and then one of the payload, each a submission and a
/// completion (and the head, alone, a TCP segment of its own). Our own
/// loop, not monoio's `write_vectored_all`: monoio 0.2.4 resumes a write
/// that stopped inside an iovec from that iovec's start (its
/// `IoVecMeta::consume` drops the advanced base), resending bytes.
async fn write_pair(
    io: &mut TcpOwnedWriteHalf,
    mut head: Bytes,
    mut payload: Bytes,
) -> std::io::Result<()> {
    while head.len() + payload.len() > 0 {
        let (res, back) = io.writev(PairIov::new(head, payload)).await;
        (head, payload) = back.parts;
        match res {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => (head, payload) = advance_pair(head, payload, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `head` then `payload` without their first `n` bytes (at most both
/// lengths): what is left after a partial write.
fn advance_pair(head: Bytes, payload: Bytes, n: usize) -> (Bytes, Bytes) {
    if n < head.len() {
        (head.slice(n..), payload)
    } else {
        (Bytes::new(), payload.slice(n - head.len()..))
    }
}

/// Two buffers as the iovecs of one writev.
struct PairIov {
    /// On the heap: io_uring reads the array when the submission is
    /// entered, after monoio has moved the op holding this value.
    iov: Box<[libc::iovec; 2]>,
    /// The bytes `iov` points into, kept alive (a `Bytes`' heap data does
    /// not move with it).
    parts: (Bytes, Bytes),
}

impl PairIov {
    fn new(head: Bytes, payload: Bytes) -> PairIov {
        let iov = |b: &Bytes| libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        };
        PairIov {
            iov: Box::new([iov(&head), iov(&payload)]),
            parts: (head, payload),
        }
    }
}

// SAFETY: both iovecs point into the `Bytes` this value owns, valid for
// their lengths and unmoved while it lives (the array is boxed, the bytes
// are a `Bytes`' heap data); writev only reads them.
#[allow(unsafe_code)]
unsafe impl monoio::buf::IoVecBuf for PairIov {
    fn read_iovec_ptr(&self) -> *const libc::iovec {
        self.iov.as_ptr()
    }

    fn read_iovec_len(&self) -> usize {
        self.iov.len()
    }
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

#[cfg(test)]
mod pair_tests {
    use bytes::Bytes;

    use super::advance_pair;

    #[test]
    fn a_partial_write_leaves_the_rest_of_both_parts() {
        let (h, p) = (Bytes::from_static(b"head"), Bytes::from_static(b"payload"));
        let left = |n| {
            let (a, b) = advance_pair(h.clone(), p.clone(), n);
            [a, b].concat()
        };
        for n in 0..=11 {
            assert_eq!(left(n), b"headpayload"[n..], "after {n} bytes");
        }
        let (a, b) = advance_pair(Bytes::new(), p.clone(), 3);
        assert_eq!((&a[..], &b[..]), (&b""[..], &b"load"[..]));
    }
}
