//! Presence fan-out: notifies about a user (status changes, sign info) to
//! the sessions interested in that user, in the order they were told, with
//! what one session is to get in one batch coalesced into one push.
//!
//! ```text
//! login / session end / route_server ──Presence::tell──> queue (bounded) ──> fan-out task
//!                                                                         │ per batch of ≤ BATCH notifies:
//!                                                                         │  Table::for_interested, append per session
//!                                                                         └─> one Outbox::try_send per session
//! ```
//!
//! Why a task of its own: a notify about one user goes to every PC session
//! of their department (hundreds). When thousands of sessions end at once
//! (a client network drops, a holder process dies, a msg_server elsewhere
//! goes and route_server reports its users offline), pushing each notify
//! from the ending session's own task costs one push, one writer wake-up
//! and one write(2) per notify and per session: millions, while logins and
//! messages wait behind them (tests/msg_server_sessions.rs: 10,000 of
//! 20,000 sessions ending at once stalled a login for 0.9-1.0 s). Here a
//! session gets one buffer per batch however many notifies it holds, and
//! the task yields to other tasks between slices of notifies and of
//! sessions.
//!
//! Order: one queue, one consumer, so notifies reach each session in the
//! order [`Presence::tell`] was called (a user's online before their
//! offline). A session hears of others only once its login answer is
//! queued (`Table::answered`). What this order does not promise: a
//! message pushed directly (`Shared::to_user`) may overtake a notify still
//! queued here, so a client can get a message from a user it shows offline
//! for a moment, as it can across msg_servers.
//!
//! Memory: the queue holds [`QUEUE`] notifies at most (a teller waits for
//! room); what is gathered is pushed once it reaches [`FLUSH_BYTES`]; what
//! waits in one session's outbox is bounded by `session_queue` PDUs and
//! `session_queue_bytes` bytes, past which the session is dropped as too
//! slow.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Weak;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use super::Shared;
use super::sessions::Handle;
use crate::server::Outbox;

/// Notifies waiting for the fan-out task at most.
const QUEUE: usize = 16_384;
/// Notifies taken from the queue at a time: a session gets at most this
/// many in one push (a status notify is 24 bytes).
const BATCH: usize = 1024;
/// Bytes gathered for all sessions at most before they are pushed, even
/// mid-batch: what a batch holds in memory at once (a status change in a
/// department of 400 sessions gathers 9.6 KB).
const FLUSH_BYTES: usize = 4 << 20;
/// Notifies gathered between two yields to the runtime.
const GATHER_SLICE: usize = 64;
/// Sessions pushed to between two yields to the runtime.
const SLICE: usize = 256;

/// One notify: its subject and the PDU, ready for clients.
struct Notify {
    user: u32,
    pdu: Bytes,
}

/// The teller's side of the fan-out queue.
pub(super) struct Presence {
    tx: mpsc::Sender<Notify>,
}

/// The fan-out task's side, taken by `MsgServer::run`.
pub(super) struct Queued(mpsc::Receiver<Notify>);

impl Presence {
    pub(super) fn new() -> (Presence, Queued) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Presence { tx }, Queued(rx))
    }

    /// Queues `pdu` (a notify about `user`) for every session interested in
    /// `user` when the fan-out task reaches it; waits while the queue is
    /// full. Dropped once the msg_server has stopped.
    pub(super) async fn tell(&self, user: u32, pdu: Bytes) {
        let _ = self.tx.send(Notify { user, pdu }).await;
    }
}

/// What one session gets from one batch.
enum Pending {
    One(Bytes),
    Many(BytesMut),
}

impl Pending {
    fn add(&mut self, pdu: &Bytes) {
        match self {
            Pending::One(first) => {
                let mut many = BytesMut::with_capacity(first.len() * 4);
                many.extend_from_slice(first);
                many.extend_from_slice(pdu);
                *self = Pending::Many(many);
            }
            Pending::Many(many) => many.extend_from_slice(pdu),
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Pending::One(b) => b,
            Pending::Many(m) => m.freeze(),
        }
    }
}

/// The fan-out task: until the msg_server's shared state is dropped (its
/// teller with it) or the task is aborted (`MsgServer::run` ends). Holds
/// the state weakly, so a dropped `run` future leaks nothing.
pub(super) async fn fan_out(shared: Weak<Shared>, Queued(mut rx): Queued) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut gathered = Gathered::default();
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        for (i, Notify { user, pdu }) in batch.drain(..).enumerate() {
            // The lock is held for one notify's appends (a department's
            // worth), never across a yield.
            shared
                .sessions()
                .for_interested(user, |handle, outbox| gathered.add(handle, outbox, &pdu));
            if gathered.bytes >= FLUSH_BYTES {
                gathered.flush(&shared).await;
            } else if i % GATHER_SLICE == GATHER_SLICE - 1 {
                tokio::task::yield_now().await;
            }
        }
        gathered.flush(&shared).await;
    }
}

/// Notifies gathered per session, not yet pushed.
#[derive(Default)]
struct Gathered {
    to: HashMap<Handle, (Outbox, Pending)>,
    /// Bytes appended since the last flush.
    bytes: usize,
    notifies: u64,
}

impl Gathered {
    fn add(&mut self, handle: Handle, outbox: &Outbox, pdu: &Bytes) {
        self.notifies += 1;
        self.bytes += pdu.len();
        match self.to.entry(handle) {
            Entry::Occupied(mut e) => e.get_mut().1.add(pdu),
            Entry::Vacant(e) => {
                e.insert((outbox.clone(), Pending::One(pdu.clone())));
            }
        }
    }

    /// One push per session gathered, yielding every `SLICE` sessions.
    async fn flush(&mut self, shared: &Shared) {
        let stats = &shared.stats;
        stats
            .presence_notifies
            .fetch_add(std::mem::take(&mut self.notifies), Ordering::Relaxed);
        stats
            .presence_pushes
            .fetch_add(self.to.len() as u64, Ordering::Relaxed);
        self.bytes = 0;
        for (i, (_, (outbox, pending))) in self.to.drain().enumerate() {
            shared.push(&outbox, pending.into_bytes());
            if i % SLICE == SLICE - 1 {
                tokio::task::yield_now().await;
            }
        }
    }
}
