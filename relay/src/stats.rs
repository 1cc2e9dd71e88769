//! Per-core counters. Each core writes only its own (relaxed atomics on its
//! own cache lines); readers sum them on demand for metrics and tests.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One core's counters. Gauges go up and down; totals only up.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct CoreStats {
    /// Client connections open now.
    pub connections: AtomicU64,
    /// Tasks in the core's table now.
    pub tasks: AtomicU64,
    /// Payload bytes forwarded sender -> receiver, ever.
    pub bytes_relayed: AtomicU64,
    /// Of those, bytes moved socket -> pipe -> socket, never in user space.
    pub bytes_spliced: AtomicU64,
    /// Pulls forwarded and not yet answered, now.
    pub pulls_in_flight: AtomicU64,
    /// Bytes queued toward receivers (held by the relay), now.
    pub bytes_buffered: AtomicU64,
    /// Connections received from another core after their login, ever.
    pub handoffs_in: AtomicU64,
    /// Connections closed for a protocol violation or bad frame, ever.
    pub rejected: AtomicU64,
    /// Connections superseded by a new login of the same user and role, ever.
    pub superseded: AtomicU64,
    /// Payload bytes of answers to orphaned pulls, taken and dropped, ever.
    pub bytes_dropped: AtomicU64,
    /// Offline payload bytes written to the store, ever.
    pub bytes_stored: AtomicU64,
    /// Offline payload bytes served from the store, ever.
    pub bytes_served: AtomicU64,
    /// Offline blocks made committed (durable), ever.
    pub blocks_committed: AtomicU64,
    /// Data and record syncs of the store, ever.
    pub store_syncs: AtomicU64,
    /// Stored blocks that failed their CRC32C when read, ever.
    pub crc_failures: AtomicU64,
    /// Blocks read back to complete an upload's SHA-256 (those its running
    /// digest did not reach: a resumed upload, pieces far out of order), ever.
    pub digest_blocks_read: AtomicU64,
    /// Breakpoint queries answered with the task's ranges, ever (refused
    /// ones count in `rejected`).
    pub breakpoint_queries: AtomicU64,
    /// Offline pulls a leaving uploader connection held unanswered, asked
    /// again of its task's other connections, ever.
    pub offline_pulls_reasked: AtomicU64,
    /// Uploader connections closed for holding pulls in silence while
    /// their task's other connections waited, ever.
    pub offline_uploaders_cut: AtomicU64,
    /// Offline tasks of this core's shard still uploading, now.
    pub offline_uploading: AtomicU64,
    /// Offline tasks of this core's shard complete (downloadable), now.
    pub offline_complete: AtomicU64,
    /// Offline tasks of this core's shard damaged (refused), now.
    pub offline_damaged: AtomicU64,
    /// 1 once the offline store is poisoned (a data sync or commit failed:
    /// every offline request is refused until the relay is restarted), now.
    pub store_poisoned: AtomicU64,
    /// Declared bytes of this core's shard's offline tasks, now.
    pub store_bytes: AtomicU64,
    /// PDUs written whole to a socket by the task that sent them, the
    /// connection's writer being idle (no queue, no io_uring round), ever.
    pub direct_writes: AtomicU64,
    /// Forwards after which the core busy polled for the answer
    /// (`busy_poll`, when the task's pace made it worth it), ever.
    pub busy_polls: AtomicU64,
}

impl CoreStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Relaxed);
    }

    pub(crate) fn set(gauge: &AtomicU64, n: u64) {
        gauge.store(n, Relaxed);
    }
}

/// Sums over all cores.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub connections: u64,
    pub tasks: u64,
    pub bytes_relayed: u64,
    pub bytes_spliced: u64,
    pub pulls_in_flight: u64,
    pub bytes_buffered: u64,
    pub handoffs_in: u64,
    pub rejected: u64,
    pub superseded: u64,
    pub bytes_dropped: u64,
    pub bytes_stored: u64,
    pub bytes_served: u64,
    pub blocks_committed: u64,
    pub store_syncs: u64,
    pub crc_failures: u64,
    pub digest_blocks_read: u64,
    pub breakpoint_queries: u64,
    pub offline_pulls_reasked: u64,
    pub offline_uploaders_cut: u64,
    pub offline_uploading: u64,
    pub offline_complete: u64,
    pub offline_damaged: u64,
    pub store_poisoned: u64,
    pub store_bytes: u64,
    pub direct_writes: u64,
    pub busy_polls: u64,
}

pub fn snapshot(cores: &[std::sync::Arc<CoreStats>]) -> Snapshot {
    let mut s = Snapshot::default();
    for c in cores {
        s.connections += c.connections.load(Relaxed);
        s.tasks += c.tasks.load(Relaxed);
        s.bytes_relayed += c.bytes_relayed.load(Relaxed);
        s.bytes_spliced += c.bytes_spliced.load(Relaxed);
        s.pulls_in_flight += c.pulls_in_flight.load(Relaxed);
        s.bytes_buffered += c.bytes_buffered.load(Relaxed);
        s.handoffs_in += c.handoffs_in.load(Relaxed);
        s.rejected += c.rejected.load(Relaxed);
        s.superseded += c.superseded.load(Relaxed);
        s.bytes_dropped += c.bytes_dropped.load(Relaxed);
        s.bytes_stored += c.bytes_stored.load(Relaxed);
        s.bytes_served += c.bytes_served.load(Relaxed);
        s.blocks_committed += c.blocks_committed.load(Relaxed);
        s.store_syncs += c.store_syncs.load(Relaxed);
        s.crc_failures += c.crc_failures.load(Relaxed);
        s.digest_blocks_read += c.digest_blocks_read.load(Relaxed);
        s.breakpoint_queries += c.breakpoint_queries.load(Relaxed);
        s.offline_pulls_reasked += c.offline_pulls_reasked.load(Relaxed);
        s.offline_uploaders_cut += c.offline_uploaders_cut.load(Relaxed);
        s.offline_uploading += c.offline_uploading.load(Relaxed);
        s.offline_complete += c.offline_complete.load(Relaxed);
        s.offline_damaged += c.offline_damaged.load(Relaxed);
        s.store_poisoned = s.store_poisoned.max(c.store_poisoned.load(Relaxed));
        s.store_bytes += c.store_bytes.load(Relaxed);
        s.direct_writes += c.direct_writes.load(Relaxed);
        s.busy_polls += c.busy_polls.load(Relaxed);
    }
    s
}

/// The Prometheus text exposition of every core's counters.
pub fn prometheus(cores: &[std::sync::Arc<CoreStats>]) -> String {
    type Metric = (
        &'static str,
        &'static str,
        &'static str,
        fn(&CoreStats) -> &AtomicU64,
    );
    let metrics: [Metric; 26] = [
        (
            "ferry_relay_connections",
            "gauge",
            "Client connections open",
            |c| &c.connections,
        ),
        (
            "ferry_relay_tasks",
            "gauge",
            "Transfer tasks in the core's table",
            |c| &c.tasks,
        ),
        (
            "ferry_relay_bytes_relayed_total",
            "counter",
            "Payload bytes forwarded to receivers",
            |c| &c.bytes_relayed,
        ),
        (
            "ferry_relay_bytes_spliced_total",
            "counter",
            "Payload bytes moved with splice, never read into user space",
            |c| &c.bytes_spliced,
        ),
        (
            "ferry_relay_pulls_in_flight",
            "gauge",
            "Pulls forwarded and not yet answered",
            |c| &c.pulls_in_flight,
        ),
        (
            "ferry_relay_bytes_buffered",
            "gauge",
            "Bytes queued toward receivers",
            |c| &c.bytes_buffered,
        ),
        (
            "ferry_relay_handoffs_total",
            "counter",
            "Connections handed to their task's core",
            |c| &c.handoffs_in,
        ),
        (
            "ferry_relay_rejected_total",
            "counter",
            "Connections closed for bad input",
            |c| &c.rejected,
        ),
        (
            "ferry_relay_superseded_total",
            "counter",
            "Connections superseded by a new login of the same user and role",
            |c| &c.superseded,
        ),
        (
            "ferry_relay_bytes_dropped_total",
            "counter",
            "Payload bytes answering pulls of a superseded receiver, dropped",
            |c| &c.bytes_dropped,
        ),
        (
            "ferry_relay_breakpoint_queries_total",
            "counter",
            "Breakpoint queries answered with a task's committed ranges",
            |c| &c.breakpoint_queries,
        ),
        (
            "ferry_relay_store_bytes_stored_total",
            "counter",
            "Offline payload bytes written to the store",
            |c| &c.bytes_stored,
        ),
        (
            "ferry_relay_store_bytes_served_total",
            "counter",
            "Offline payload bytes served from the store",
            |c| &c.bytes_served,
        ),
        (
            "ferry_relay_store_blocks_committed_total",
            "counter",
            "Offline blocks made durable",
            |c| &c.blocks_committed,
        ),
        (
            "ferry_relay_store_syncs_total",
            "counter",
            "Data and record syncs of the offline store",
            |c| &c.store_syncs,
        ),
        (
            "ferry_relay_store_crc_failures_total",
            "counter",
            "Stored blocks that failed their CRC32C when read",
            |c| &c.crc_failures,
        ),
        (
            "ferry_relay_store_digest_blocks_read_total",
            "counter",
            "Blocks read back to complete an upload's SHA-256",
            |c| &c.digest_blocks_read,
        ),
        (
            "ferry_relay_offline_pulls_reasked_total",
            "counter",
            "Offline pulls a leaving uploader connection held, asked of the task's other connections",
            |c| &c.offline_pulls_reasked,
        ),
        (
            "ferry_relay_offline_uploaders_cut_total",
            "counter",
            "Uploader connections closed for holding pulls in silence while the task's others waited",
            |c| &c.offline_uploaders_cut,
        ),
        (
            "ferry_relay_offline_tasks_uploading",
            "gauge",
            "Offline tasks still uploading",
            |c| &c.offline_uploading,
        ),
        (
            "ferry_relay_offline_tasks_complete",
            "gauge",
            "Offline tasks complete, waiting for their receiver",
            |c| &c.offline_complete,
        ),
        (
            "ferry_relay_offline_tasks_damaged",
            "gauge",
            "Offline tasks damaged (a stored block failed its check)",
            |c| &c.offline_damaged,
        ),
        (
            "ferry_relay_store_poisoned",
            "gauge",
            "1 once a data sync or commit of the offline store failed: offline requests are refused until a restart (the failing core at once, the others at their next sweep: take the max)",
            |c| &c.store_poisoned,
        ),
        (
            "ferry_relay_store_bytes",
            "gauge",
            "Declared bytes of the offline tasks stored",
            |c| &c.store_bytes,
        ),
        (
            "ferry_relay_direct_writes_total",
            "counter",
            "PDUs written to an idle connection's socket at once by their sender's task",
            |c| &c.direct_writes,
        ),
        (
            "ferry_relay_busy_polls_total",
            "counter",
            "Forwards after which the core busy polled for the answer (busy_poll)",
            |c| &c.busy_polls,
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, get) in metrics {
        let _ = writeln!(out, "# HELP {name} {help}.\n# TYPE {name} {kind}");
        for (core, c) in cores.iter().enumerate() {
            let _ = writeln!(out, "{name}{{core=\"{core}\"}} {}", get(c).load(Relaxed));
        }
    }
    out
}
