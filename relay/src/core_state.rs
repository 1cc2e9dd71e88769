//! What one core owns: its task table, counters and the ways to reach the
//! other cores. Shared by the core's connections through `Rc`; never leaves
//! the core's thread. Cross-core traffic is only [`CoreMsg`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use bytes::BytesMut;

use crate::config::Config;
use crate::offline::Offline;
use crate::stats::CoreStats;
use crate::task::{Task, TaskSpec};

/// A message from another thread to a core.
pub(crate) enum CoreMsg {
    /// Create a task on this core; answer on `ack` once it exists.
    CreateTask {
        spec: TaskSpec,
        ack: flume::Sender<()>,
    },
    /// Create an offline task in this core's store; answer on `ack` with
    /// the outcome (a refusal's cause is logged by the owner).
    CreateOffline {
        task: ferry_storage::NewTask,
        ack: flume::Sender<Result<(), ferry_proto::extension::FileServerError>>,
    },
    /// Which of `ids` (tasks this core owns) this core's offline store
    /// holds; answered on `ack` in the order given.
    Locate {
        ids: Vec<bytes::Bytes>,
        ack: flume::Sender<Vec<bytes::Bytes>>,
    },
    /// The receiver deleted offline task `id`: delete it from this core's
    /// store if `user` is its receiver; the outcome on `ack`.
    DeleteOffline {
        id: bytes::Bytes,
        user: u32,
        ack: flume::Sender<ferry_proto::extension::OfflineDeleteResult>,
    },
    /// A connection that logged in on another core for a task of this one,
    /// with the bytes read from it so far (its login included).
    Handoff {
        stream: std::net::TcpStream,
        buffered: BytesMut,
    },
    /// Stop accepting, let transfers finish (bounded), then exit.
    Shutdown,
}

/// What every core is given at start, the same for all.
pub(crate) struct Shared {
    pub config: Arc<Config>,
    /// Every core's inbox, indexed by core.
    pub inboxes: Vec<flume::Sender<CoreMsg>>,
    /// IP_RSP's list: each core's own address in core order, then the shared port.
    pub advertised: Arc<Vec<SocketAddr>>,
    /// Every core's counters, for the metrics endpoint.
    pub stats: Arc<Vec<Arc<CoreStats>>>,
    /// The offline store's owner lock, held while any core runs (`None`
    /// with offline transfers off).
    pub _store_lock: Option<ferry_storage::StoreLock>,
}

pub(crate) struct Core {
    pub id: usize,
    pub config: Arc<Config>,
    /// This core's counters.
    pub stats: Arc<CoreStats>,
    pub all_stats: Arc<Vec<Arc<CoreStats>>>,
    pub inboxes: Vec<flume::Sender<CoreMsg>>,
    pub advertised: Arc<Vec<SocketAddr>>,
    pub tasks: RefCell<HashMap<Rc<str>, Rc<RefCell<Task>>>>,
    next_conn_id: Cell<u64>,
    pub draining: Cell<bool>,
    /// Large payloads may be spliced socket to socket (`zero_copy`).
    pub splice: bool,
    /// Senders in their relay loop on this core now.
    streaming: Cell<usize>,
    /// This core's shard of the offline store; `None` when offline
    /// transfers are off.
    pub offline: Option<Offline>,
    /// Busy polling while an answer is due (`spin.rs`, `busy_poll`).
    pub spin: Rc<crate::spin::Spin>,
}

/// A sender counted in [`Core::streaming`] while it lives.
pub(crate) struct Streaming(Rc<Core>);

impl Drop for Streaming {
    fn drop(&mut self) {
        self.0.streaming.set(self.0.streaming.get() - 1);
    }
}

impl Core {
    pub(crate) fn new(
        id: usize,
        shared: &Shared,
        splice: bool,
        store: Option<ferry_storage::Store>,
    ) -> Rc<Core> {
        Rc::new(Core {
            id,
            config: shared.config.clone(),
            stats: shared.stats[id].clone(),
            all_stats: shared.stats.clone(),
            inboxes: shared.inboxes.clone(),
            advertised: shared.advertised.clone(),
            tasks: RefCell::new(HashMap::new()),
            next_conn_id: Cell::new(0),
            draining: Cell::new(false),
            splice,
            streaming: Cell::new(0),
            offline: store.map(Offline::new),
            spin: Rc::default(),
        })
    }

    /// Counts a sender as streaming until the guard drops.
    pub(crate) fn streaming(self: &Rc<Core>) -> Streaming {
        self.streaming.set(self.streaming.get() + 1);
        Streaming(self.clone())
    }

    /// Whether a large payload arriving now is spliced: zero copy is on and
    /// enough senders stream here that splicing's lower CPU cost wins.
    pub(crate) fn splice_now(&self) -> bool {
        self.splice && self.streaming.get() > self.config.splice_above
    }

    /// A pull or a response was forwarded: with `busy_poll`, the core polls
    /// for a while instead of sleeping if `worth` (given the time and
    /// `busy_poll`; a task's [`crate::spin::Pace`]) says the answer is due
    /// soon. Without `busy_poll`, `worth` is not called.
    pub(crate) fn answer_due(
        &self,
        worth: impl FnOnce(std::time::Instant, std::time::Duration) -> bool,
    ) {
        let d = self.config.busy_poll;
        if d.is_zero() {
            return;
        }
        let now = std::time::Instant::now();
        if worth(now, d) {
            CoreStats::add(&self.stats.busy_polls, 1);
            self.spin.request(now + d);
        }
    }

    pub(crate) fn cores(&self) -> usize {
        self.inboxes.len()
    }

    pub(crate) fn conn_id(&self) -> u64 {
        let id = self.next_conn_id.get() + 1;
        self.next_conn_id.set(id);
        (id << 8) | self.id as u64
    }

    pub(crate) fn insert_task(&self, spec: TaskSpec) {
        let task = Task::new(spec);
        self.tasks
            .borrow_mut()
            .insert(task.id.clone(), Rc::new(RefCell::new(task)));
        CoreStats::add(&self.stats.tasks, 1);
    }

    pub(crate) fn task(&self, id: &str) -> Option<Rc<RefCell<Task>>> {
        self.tasks.borrow().get(id).cloned()
    }

    /// Drops the task from the table (once); returns whether it was there.
    pub(crate) fn remove_task(&self, id: &str) -> bool {
        let removed = self.tasks.borrow_mut().remove(id);
        if let Some(task) = &removed {
            CoreStats::sub(&self.stats.tasks, 1);
            let pulls = task.borrow_mut().pulls.drain(..).count();
            CoreStats::sub(&self.stats.pulls_in_flight, pulls as u64);
        }
        removed.is_some()
    }
}
