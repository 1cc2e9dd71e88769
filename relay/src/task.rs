//! A transfer task: who may join it, who has, and the pulls in flight.
//!
//! Online task lifecycle (TeamTalk's states, kept implicit):
//!
//! ```text
//! created by TRANSFER_REQ ──sender or receiver logs in──> waiting for the other
//!    │ (task_timeout, nobody)          │ (task_timeout)       │ both in: PEER_READY to receiver
//!    v                                 v                      v
//!  freed                      CANCEL to the one in,     transferring: pulls forwarded to the
//!                             freed                     sender, answers to the receiver
//!                                                         │ DONE / CANCEL / REFUSE forwarded,
//!                                                         │ or either side disconnects
//!                                                         v
//!                                                       freed (the other side is told and closed)
//! ```
//!
//! A new login of the same user for the same role supersedes the connection
//! in that slot at any of these stages (a reconnect after a dead network
//! path): the old connection is severed, the sender's outstanding pulls are
//! asked again on the new sender connection, and a new receiver connection
//! gets PEER_READY and asks its own pulls (the old receiver's become
//! orphans: answered by the sender, dropped here). The old connection's
//! late close finds another connection in the slot and tears nothing down.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Instant;

use monoio::io::Canceller;

use crate::outbox::Outbox;
use crate::spin::Pace;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Sender,
    Receiver,
}

impl Role {
    /// For logs: "online sender" / "online receiver".
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::Sender => "online sender",
            Role::Receiver => "online receiver",
        }
    }

    pub(crate) fn other(self) -> Role {
        match self {
            Role::Sender => Role::Receiver,
            Role::Receiver => Role::Sender,
        }
    }
}

/// What the msg-server link asked for.
#[derive(Debug, Clone)]
pub(crate) struct TaskSpec {
    pub id: String,
    pub from_user: u32,
    pub to_user: u32,
    /// As the msg_server sent it (any bytes; see `ferry_proto::text`).
    pub file_name: bytes::Bytes,
    /// Bytes; past 4 GiB - 1 only ferry peers (logins with
    /// `file_size_u64`) may join.
    pub file_size: u64,
}

/// A connection that joined a task.
pub(crate) struct Peer {
    pub conn_id: u64,
    pub outbox: Outbox,
    /// Stops the peer's reader: how the task closes the other side.
    pub canceller: Option<Canceller>,
    /// The connection's socket, to sever it when a new login supersedes it
    /// (or, an offline uploader, when it holds its task's others up). Open
    /// for as long as the peer is in its task's slot (or among its
    /// uploaders): the connection leaves before its reader (and with it
    /// the socket) is dropped.
    pub fd: RawFd,
}

impl Peer {
    /// Ends the peer's connection after what is queued to it is written.
    pub(crate) fn close(&mut self) {
        if let Some(c) = self.canceller.take() {
            c.cancel();
        }
    }

    /// Ends a superseded connection at once: its reader is cancelled, the
    /// socket shut down both ways (which also ends a payload being spliced
    /// from it, whose wait on the socket a cancel does not reach), and
    /// nothing more is written to it.
    pub(crate) fn sever(&mut self) {
        self.outbox.close();
        self.close();
        // SAFETY: `fd` is this peer's socket, still open while the peer is
        // in its slot (see the field); the borrow lasts this one call.
        #[allow(unsafe_code)]
        let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.fd) };
        let _ = socket2::SockRef::from(&socket).shutdown(std::net::Shutdown::Both);
    }
}

/// One pull the receiver asked for and the sender has not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pull {
    /// Bytes (the stock field, or its u64 twin past 4 GiB - 1).
    pub offset: u64,
    pub size: u32,
    /// The request's seq: stock clients expect it on the answer.
    pub seq: u16,
    /// Asked by a receiver connection that has since been superseded: the
    /// sender's answer is taken and dropped, the new connection asks anew.
    pub orphan: bool,
}

pub(crate) struct Task {
    pub id: Rc<str>,
    pub spec: TaskSpec,
    pub created: Instant,
    pub sender: Option<Peer>,
    pub receiver: Option<Peer>,
    /// Both sides have been in at once.
    pub started: bool,
    pub pulls: VecDeque<Pull>,
    /// Whether a forward is worth busy polling for (`busy_poll`).
    pub pace: Pace,
}

impl Task {
    pub(crate) fn new(spec: TaskSpec) -> Task {
        Task {
            id: spec.id.as_str().into(),
            spec,
            created: Instant::now(),
            sender: None,
            receiver: None,
            started: false,
            pulls: VecDeque::new(),
            pace: Pace::default(),
        }
    }

    pub(crate) fn slot(&mut self, role: Role) -> &mut Option<Peer> {
        match role {
            Role::Sender => &mut self.sender,
            Role::Receiver => &mut self.receiver,
        }
    }

    /// The user that may take `role`.
    pub(crate) fn user_for(&self, role: Role) -> u32 {
        match role {
            Role::Sender => self.spec.from_user,
            Role::Receiver => self.spec.to_user,
        }
    }

    /// Removes the pull this answer is for: the oldest one at `offset`.
    pub(crate) fn answer(&mut self, offset: u64) -> Option<Pull> {
        let i = self.pulls.iter().position(|p| p.offset == offset)?;
        self.pulls.remove(i)
    }
}
