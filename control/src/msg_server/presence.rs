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
//! messages wait behind them (issue 11: 0.5-1.4 s stalls at 19,900
//! sessions). Here a session gets one buffer per batch however many
//! notifies it holds, and the task yields to other tasks between slices of
//! sessions.
//!
//! Order: one queue, one consumer, so notifies reach each session in the
//! order [`Presence::tell`] was called (a user's online before their
//! offline). The queue is bounded ([`QUEUE`]): a teller waits for room, so
//! a burst slows the tellers, not memory.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use super::Shared;
use super::sessions::Handle;
use crate::server::Outbox;

/// Notifies waiting for the fan-out task at most.
pub(super) const QUEUE: usize = 16_384;
/// Notifies taken into one batch at most: each session gets at most this
/// many notifies in one push (about 24 bytes each for a status notify).
const BATCH: usize = 1024;
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

/// The fan-out task: until every teller is gone (the msg_server dropped)
/// or the task is aborted (`MsgServer::run` ends).
pub(super) async fn fan_out(shared: Arc<Shared>, Queued(mut rx): Queued) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut to: HashMap<Handle, (Outbox, Pending)> = HashMap::new();
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut notifies = 0u64;
        for Notify { user, pdu } in batch.drain(..) {
            // The lock is taken per notify: a batch's thousands of
            // appends never hold up a login's table update for long.
            shared.sessions().for_interested(user, |handle, outbox| {
                notifies += 1;
                match to.entry(handle) {
                    Entry::Occupied(mut e) => e.get_mut().1.add(&pdu),
                    Entry::Vacant(e) => {
                        e.insert((outbox.clone(), Pending::One(pdu.clone())));
                    }
                }
            });
        }
        shared
            .stats
            .presence_notifies
            .fetch_add(notifies, Ordering::Relaxed);
        shared
            .stats
            .presence_pushes
            .fetch_add(to.len() as u64, Ordering::Relaxed);
        for (i, (_, (outbox, pending))) in to.drain().enumerate() {
            shared.push(&outbox, pending.into_bytes());
            if i % SLICE == SLICE - 1 {
                tokio::task::yield_now().await;
            }
        }
    }
}
