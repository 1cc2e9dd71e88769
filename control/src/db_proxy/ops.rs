//! db_proxy's `/health` (the database answered its last probe, every 5 s)
//! and `/metrics` (requests in flight, the argon2 and heavy-answer gates).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Shared;
use crate::admission::GateStats;
use crate::server::ops::{Metrics, Report};

/// How often, and how long at most, the database is asked `SELECT 1`.
const PROBE_EVERY: Duration = Duration::from_secs(5);
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

pub(super) struct DbReport {
    shared: Arc<Shared>,
    /// Why the last probe failed; `None` when it answered.
    down: Arc<Mutex<Option<String>>>,
    bound: usize,
}

impl DbReport {
    /// The report and the probe task that keeps its health current.
    pub(super) fn start(
        shared: Arc<Shared>,
        bound: usize,
    ) -> (DbReport, tokio::task::JoinHandle<()>) {
        let down = Arc::new(Mutex::new(None));
        let probe = {
            let (shared, down) = (shared.clone(), down.clone());
            tokio::spawn(async move {
                loop {
                    let verdict =
                        match tokio::time::timeout(PROBE_TIMEOUT, shared.store.write_pool().ping())
                            .await
                        {
                            Ok(Ok(())) => None,
                            Ok(Err(e)) => Some(format!("the database failed: {e}")),
                            Err(_) => Some(format!(
                                "the database did not answer within {PROBE_TIMEOUT:?}"
                            )),
                        };
                    *down.lock().unwrap_or_else(|p| p.into_inner()) = verdict;
                    tokio::time::sleep(PROBE_EVERY).await;
                }
            })
        };
        (
            DbReport {
                shared,
                down,
                bound,
            },
            probe,
        )
    }
}

fn gate(m: &mut Metrics, name: &str, what: &str, s: GateStats) {
    m.gauge(
        &format!("ferry_db_proxy_{name}_running"),
        &format!("{what} running now."),
        s.running,
    )
    .gauge(
        &format!("ferry_db_proxy_{name}_waiting"),
        &format!("{what} waiting for a permit."),
        s.waiting,
    )
    .counter(
        &format!("ferry_db_proxy_{name}_refused_total"),
        &format!("{what} refused because the queue was full."),
        s.refused,
    );
}

impl Report for DbReport {
    fn health(&self) -> Result<(), String> {
        match &*self.down.lock().unwrap_or_else(|p| p.into_inner()) {
            None => Ok(()),
            Some(why) => Err(why.clone()),
        }
    }

    fn metrics(&self) -> String {
        let mut m = Metrics::default();
        m.gauge(
            "ferry_db_proxy_requests_in_flight",
            "Requests running or waiting for a pool connection.",
            self.bound - self.shared.requests.available_permits(),
        );
        gate(&mut m, "hash", "argon2 checks", self.shared.store.hashing());
        gate(&mut m, "heavy", "Heavy answers", self.shared.heavy.stats());
        m.finish()
    }
}
