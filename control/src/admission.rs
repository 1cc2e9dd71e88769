//! Admission: an explicit bound on work a peer can make the server do.
//!
//! Some requests cost far more than others: an argon2 password check takes
//! about 20 ms of a core and 19 MiB of memory, a history page or an audio
//! message up to 2 MiB of answer held until the socket takes it. Run one per
//! request as it arrives and a burst of 400 logins becomes 400 threads and
//! gigabytes of memory, and the cheap requests behind them time out. A
//! [`Gate`] runs at most `permits` such steps at once and lets at most
//! `max_waiting` more wait their turn; past that a request is refused at
//! once with [`Error::Busy`] (its command's failure answer), so a burst
//! degrades to waiting, then to a clear refusal, never to wrong answers or
//! unbounded memory.
//!
//! Every server of ferry-control puts its heavy steps behind a gate:
//! db_proxy's password hashing and large reads today (see `db_proxy::dispatch`
//! and `store::user`), msg_server's and login_server's as they come.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::Error;

/// A bound on concurrent heavy steps, with a bounded queue in front.
#[derive(Debug)]
pub struct Gate {
    name: &'static str,
    running: Arc<Semaphore>,
    permits: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
    /// Most steps ever admitted at once (for tests and metrics).
    peak: AtomicUsize,
    refused: AtomicU64,
}

/// What a [`Gate`] has seen; for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateStats {
    /// Steps running now.
    pub running: usize,
    /// Steps waiting for a permit now.
    pub waiting: usize,
    /// Most steps ever running at once; never above the gate's permits.
    pub peak: usize,
    /// Requests refused because the queue was full.
    pub refused: u64,
}

/// A step's right to run; dropping it lets the next waiting step in.
#[derive(Debug)]
pub struct Admitted(#[allow(dead_code)] OwnedSemaphorePermit);

impl Gate {
    /// `permits` steps at once (at least 1), `max_waiting` more queued.
    pub fn new(name: &'static str, permits: usize, max_waiting: usize) -> Gate {
        let permits = permits.max(1);
        Gate {
            name,
            running: Arc::new(Semaphore::new(permits)),
            permits,
            waiting: AtomicUsize::new(0),
            max_waiting,
            peak: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// Waits for a permit, or refuses at once with [`Error::Busy`] when
    /// `max_waiting` steps already wait.
    pub async fn admit(&self) -> Result<Admitted, Error> {
        let permit = match self.running.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
                if queued >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(Error::Busy {
                        what: self.name,
                        waiting: queued,
                    });
                }
                // Decrement even if this future is dropped while waiting.
                let _queued = Queued(&self.waiting);
                self.running
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("gate semaphore is never closed")
            }
        };
        let running = self.permits - self.running.available_permits();
        self.peak.fetch_max(running, Ordering::Relaxed);
        Ok(Admitted(permit))
    }

    /// Runs `step` on tokio's blocking pool once admitted (CPU-heavy work
    /// must not run on the reactor).
    pub async fn run_blocking<R, F>(&self, step: F) -> Result<R, Error>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let admitted = self.admit().await?;
        let result = tokio::task::spawn_blocking(step)
            .await
            .map_err(|e| Error::Internal(format!("{}: {e}", self.name)));
        drop(admitted);
        result
    }

    pub fn stats(&self) -> GateStats {
        GateStats {
            running: self.permits - self.running.available_permits(),
            waiting: self.waiting.load(Ordering::Acquire),
            peak: self.peak.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// CPUs this process may use: the default number of concurrent hashes.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_waits_then_is_refused_never_runs_past_the_bound() {
        let gate = Arc::new(Gate::new("test", 2, 3));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move {
                gate.run_blocking(|| std::thread::sleep(Duration::from_millis(30)))
                    .await
            }));
        }
        let mut ok = 0;
        let mut busy = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => ok += 1,
                Err(Error::Busy { what: "test", .. }) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        let stats = gate.stats();
        assert_eq!(ok + busy, 20);
        assert!(ok >= 5, "2 running + 3 waiting are always served: {ok}");
        assert!(busy >= 1, "20 at once overflow a queue of 3");
        assert_eq!(stats.refused, busy as u64);
        assert_eq!(stats.peak, 2, "never more than the permits at once");
        assert_eq!((stats.running, stats.waiting), (0, 0));
    }

    #[tokio::test]
    async fn a_dropped_waiter_leaves_the_queue() {
        let gate = Gate::new("test", 1, 1);
        let held = gate.admit().await.unwrap();
        let waiter = tokio::time::timeout(Duration::from_millis(20), gate.admit()).await;
        assert!(waiter.is_err(), "still waiting when dropped");
        assert_eq!(gate.stats().waiting, 0);
        drop(held);
        assert!(gate.admit().await.is_ok());
    }
}
