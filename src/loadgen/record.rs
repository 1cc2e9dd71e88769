//! What a load run measured: every operation's latency, the bytes it moved
//! and its errors by kind, overall and per second of the run (for the
//! live line, the JSON timeline and the SVG chart).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shared by the workers; one lock per finished operation (operations
/// take milliseconds, so the lock is never the bottleneck).
pub(crate) struct Recorder {
    started: Instant,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Latencies of the successful operations, µs.
    latencies: Vec<u64>,
    bytes: u64,
    errors: BTreeMap<&'static str, u64>,
    files: Option<FileSizes>,
    /// Part of each operation timed apart, by name (offline: "upload",
    /// "download").
    phases: BTreeMap<&'static str, Phase>,
    /// Index: whole seconds since the start.
    seconds: Vec<Second>,
}

/// One part of the operations (an offline file's upload, its download),
/// timed apart.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Phase {
    /// µs each operation spent in it (sorted in a [`Summary`]).
    pub latencies: Vec<u64>,
    /// Payload bytes moved in it.
    pub bytes: u64,
}

impl Phase {
    /// MiB/s of one transfer in this phase: its bytes over the time the
    /// operations spent in it, summed (with `--concurrency 1`, the
    /// phase's throughput).
    pub(crate) fn transfer_mib_per_s(&self) -> f64 {
        let us: u64 = self.latencies.iter().sum();
        self.bytes as f64 / f64::from(1 << 20) / (us as f64 / 1e6).max(1e-9)
    }
}

/// One second of the run.
#[derive(Debug, Default, Clone)]
pub(crate) struct Second {
    pub ops: u64,
    pub errors: u64,
    pub bytes: u64,
    /// Latencies (µs) of the operations that ended in this second.
    pub latencies: Vec<u64>,
}

/// The sizes of the files moved (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) struct FileSizes {
    pub count: u64,
    pub min_bytes: u64,
    pub max_bytes: u64,
    /// Their sum, for the mean.
    pub total_bytes: u64,
}

impl FileSizes {
    /// The mean size (bytes).
    pub(crate) fn mean_bytes(&self) -> u64 {
        self.total_bytes / self.count.max(1)
    }
}

/// The whole run, summed.
#[derive(Debug, Clone)]
pub(crate) struct Summary {
    pub elapsed: Duration,
    pub ops: u64,
    pub bytes: u64,
    pub errors: BTreeMap<&'static str, u64>,
    /// The files moved, if any.
    pub files: Option<FileSizes>,
    /// The phases timed apart, by name; their latencies sorted.
    pub phases: BTreeMap<&'static str, Phase>,
    /// Sorted, µs.
    pub latencies: Vec<u64>,
    pub seconds: Vec<Second>,
}

impl Recorder {
    pub(crate) fn new() -> Recorder {
        Recorder {
            started: Instant::now(),
            inner: Mutex::default(),
        }
    }

    /// An operation that succeeded after `took`, moving `bytes`.
    pub(crate) fn ok(&self, took: Duration, bytes: u64) {
        let us = took.as_micros() as u64;
        let mut inner = self.inner.lock().expect("recorder");
        inner.latencies.push(us);
        inner.bytes += bytes;
        let second = self.second(&mut inner);
        second.ops += 1;
        second.bytes += bytes;
        second.latencies.push(us);
    }

    /// A file of `size` bytes was moved (by the operation just counted).
    pub(crate) fn file_size(&self, size: u64) {
        let mut inner = self.inner.lock().expect("recorder");
        let f = inner.files.get_or_insert(FileSizes {
            count: 0,
            min_bytes: u64::MAX,
            max_bytes: 0,
            total_bytes: 0,
        });
        f.count += 1;
        f.min_bytes = f.min_bytes.min(size);
        f.max_bytes = f.max_bytes.max(size);
        f.total_bytes += size;
    }

    /// The operation just counted spent `took` in phase `name`, moving
    /// `bytes`.
    pub(crate) fn phase(&self, name: &'static str, took: Duration, bytes: u64) {
        let mut inner = self.inner.lock().expect("recorder");
        let phase = inner.phases.entry(name).or_default();
        phase.latencies.push(took.as_micros() as u64);
        phase.bytes += bytes;
    }

    /// An operation that failed, by kind (see [`kind`]).
    pub(crate) fn error(&self, kind: &'static str) {
        let mut inner = self.inner.lock().expect("recorder");
        *inner.errors.entry(kind).or_default() += 1;
        self.second(&mut inner).errors += 1;
    }

    fn second<'a>(&self, inner: &'a mut Inner) -> &'a mut Second {
        let at = self.started.elapsed().as_secs() as usize;
        if inner.seconds.len() <= at {
            inner.seconds.resize(at + 1, Second::default());
        }
        &mut inner.seconds[at]
    }

    /// Operations and errors so far (for the live line).
    pub(crate) fn counts(&self) -> (u64, u64) {
        let inner = self.inner.lock().expect("recorder");
        let errors = inner.errors.values().sum();
        (inner.latencies.len() as u64, errors)
    }

    pub(crate) fn summary(&self) -> Summary {
        let inner = self.inner.lock().expect("recorder");
        let mut latencies = inner.latencies.clone();
        latencies.sort_unstable();
        Summary {
            elapsed: self.started.elapsed(),
            ops: latencies.len() as u64,
            bytes: inner.bytes,
            errors: inner.errors.clone(),
            files: inner.files,
            phases: (inner.phases.iter())
                .map(|(name, p)| {
                    let mut p = p.clone();
                    p.latencies.sort_unstable();
                    (*name, p)
                })
                .collect(),
            latencies,
            seconds: inner.seconds.clone(),
        }
    }
}

/// The error's kind, as the client's predicates tell it.
pub(crate) fn kind(e: &ferry_client::Error) -> &'static str {
    if e.is_refused() {
        "refused"
    } else if e.is_cancelled() {
        "cancelled"
    } else if e.is_timeout() {
        "timeout"
    } else if e.is_closed() {
        "closed"
    } else if e.is_discovery() {
        "discovery"
    } else if e.is_protocol() {
        "protocol"
    } else if e.is_file() {
        "file"
    } else if e.is_io() {
        "io"
    } else {
        "other"
    }
}

/// The `q` quantile (0..=1) of sorted `v`, in ms; 0 when empty.
pub(crate) fn quantile_ms(v: &[u64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize] as f64 / 1e3
}

impl Summary {
    /// Operations per second over the run.
    pub(crate) fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// MiB/s moved over the run.
    pub(crate) fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / f64::from(1 << 20) / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub(crate) fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_kept_apart_and_sorted_with_a_per_transfer_rate() {
        let r = Recorder::new();
        let mib = 1 << 20;
        r.ok(Duration::from_millis(900), 4 * mib);
        r.phase("upload", Duration::from_millis(500), 4 * mib);
        r.phase("download", Duration::from_millis(300), 4 * mib);
        r.ok(Duration::from_millis(400), 2 * mib);
        r.phase("upload", Duration::from_millis(200), 2 * mib);
        r.phase("download", Duration::from_millis(100), 2 * mib);
        let s = r.summary();
        let up = &s.phases["upload"];
        assert_eq!(up.latencies, vec![200_000, 500_000]);
        assert_eq!(up.bytes, 6 * mib);
        // 6 MiB in 0.7 s of uploading.
        assert!((up.transfer_mib_per_s() - 6.0 / 0.7).abs() < 1e-9);
        assert!((s.phases["download"].transfer_mib_per_s() - 6.0 / 0.4).abs() < 1e-9);
        assert_eq!(s.phases.len(), 2);
    }
}
