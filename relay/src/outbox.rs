//! [`Outbox`] + [`write_loop`]: a connection's sending side. PDUs are
//! written in the order queued. Back-pressure: budgeted sends wait on a
//! per-connection byte budget that the writer refills only once the bytes
//! are on the socket, so a receiver that does not read stops the relay
//! reading its sender.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use local_sync::mpsc::unbounded;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::tcp::TcpOwnedWriteHalf;

use crate::budget::{Budget, Permit};
use crate::conduit::Conduit;
use crate::stats::CoreStats;

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
