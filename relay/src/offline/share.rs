//! The connections uploading one offline task at once and the pulls they
//! share (upload.rs says how they take turns). All of a task's
//! connections are on the task's core, so this is plain data in the
//! core's [`Offline`](super::Offline), borrowed between awaits: no lock.

use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Instant;

use ferry_storage::Task;

use crate::task::Peer;

/// One task's uploader connections: who asked what, and what nobody has
/// asked yet. Made when the first uploader logs in (from the store's
/// missing blocks), dropped when the last one leaves.
pub(crate) struct Uploaders {
    members: Vec<Member>,
    /// Pulls nobody has asked: at the front those a connection that left
    /// held unanswered, then the rest of the block last expanded.
    pulls: VecDeque<(u64, u32)>,
    /// Missing blocks not expanded into `pulls` yet, in file order.
    blocks: VecDeque<u32>,
    /// Writes, data syncs and commits of the task's connections running
    /// now: the final settle waits for none. Shared with each one's guard
    /// (upload.rs `Busy`), which counts down the counter it counted up
    /// even if this entry is gone by then (its last connection left while
    /// a commit ran beside it) and a new one stands in its place.
    pub busy: Rc<Cell<u32>>,
    /// A connection is doing the final settle.
    pub settling: bool,
    /// Settles in a row that found blocks missing (a settle that asked
    /// again and found the same is stuck).
    pub stuck: u32,
    /// Bumped by every stored answer, leave and settle: a connection
    /// waiting for the others sees the upload move.
    pub progress: u64,
}

/// One uploader connection of a task.
pub(crate) struct Member {
    pub peer: Peer,
    /// Pulls asked of it and not answered: (file offset, bytes).
    pub asked: VecDeque<(u64, u32)>,
    /// When it joined, last answered a pull, or was asked one with none
    /// outstanding: how long it has kept the others waiting.
    pub last_heard: Instant,
    /// Payload bytes it carried.
    pub carried: u64,
    /// Closed for silence (`offline_uploader_stall`); leaving.
    pub cut: bool,
}

impl Uploaders {
    pub(crate) fn new(missing: Vec<u32>) -> Uploaders {
        Uploaders {
            members: Vec::new(),
            pulls: VecDeque::new(),
            blocks: missing.into(),
            busy: Rc::new(Cell::new(0)),
            settling: false,
            stuck: 0,
            progress: 0,
        }
    }

    /// Connections uploading now.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    pub(crate) fn join(&mut self, peer: Peer) {
        self.members.push(Member {
            peer,
            asked: VecDeque::new(),
            last_heard: Instant::now(),
            carried: 0,
            cut: false,
        });
    }

    /// Takes connection `conn_id` out; the pulls it held go back to the
    /// front of the pool (asked next of the others). Returns it and how
    /// many pulls went back.
    pub(crate) fn leave(&mut self, conn_id: u64) -> Option<(Member, usize)> {
        let i = self
            .members
            .iter()
            .position(|m| m.peer.conn_id == conn_id)?;
        let mut m = self.members.remove(i);
        let held = m.asked.len();
        for pull in m.asked.drain(..).rev() {
            self.pulls.push_front(pull);
        }
        self.progress += 1;
        Some((m, held))
    }

    /// Connection `conn_id`, a member until it leaves.
    pub(crate) fn member(&mut self, conn_id: u64) -> &mut Member {
        self.members
            .iter_mut()
            .find(|m| m.peer.conn_id == conn_id)
            .expect("a connection is a member until it leaves")
    }

    /// Whether anything is asked of a connection other than `conn_id`.
    pub(crate) fn others_asked(&self, conn_id: u64) -> bool {
        self.members
            .iter()
            .any(|m| m.peer.conn_id != conn_id && !m.asked.is_empty())
    }

    /// Other connections holding pulls and silent for `stall`: closed
    /// (their pulls come back when they leave). Returns their ids.
    pub(crate) fn cut_silent(&mut self, conn_id: u64, stall: std::time::Duration) -> Vec<u64> {
        let mut cut = Vec::new();
        for m in self.members.iter_mut() {
            let silent = m.last_heard.elapsed() >= stall;
            if m.peer.conn_id != conn_id && !m.cut && !m.asked.is_empty() && silent {
                m.cut = true;
                m.peer.sever();
                cut.push(m.peer.conn_id);
            }
        }
        cut
    }

    /// Whether any pull or block is left to ask.
    pub(crate) fn pool_empty(&self) -> bool {
        self.pulls.is_empty() && self.blocks.is_empty()
    }

    /// Records `pull` as asked of connection `conn_id`.
    pub(crate) fn asked(&mut self, conn_id: u64, pull: (u64, u32)) {
        let m = self.member(conn_id);
        if m.asked.is_empty() {
            m.last_heard = Instant::now();
        }
        m.asked.push_back(pull);
    }

    /// Missing blocks to ask for again (found by a settle).
    pub(crate) fn refill(&mut self, blocks: Vec<u32>) {
        self.blocks.extend(blocks);
    }

    /// The next pull the store still needs that nobody has asked, block
    /// by block (pulls of `max_pull` bytes at most, none crossing a block).
    pub(crate) fn take_pull(&mut self, task: &Task, max_pull: u32) -> Option<(u64, u32)> {
        loop {
            if let Some((offset, len)) = self.pulls.pop_front() {
                if task.needs(offset, len) {
                    return Some((offset, len));
                }
                continue;
            }
            let block = self.blocks.pop_front()?;
            self.pulls.extend(task.geometry().pulls(block, max_pull));
        }
    }
}
