//! route_server's `/health` (503 while Redis, when configured, is failing:
//! the route_server then serves its own links only) and `/metrics`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Shared;
use crate::server::ops::{Metrics, Report};

pub(super) struct RouteReport(pub Arc<Shared>);

impl Report for RouteReport {
    fn health(&self) -> Result<(), String> {
        match &self.0.cluster {
            Some(c) if c.failing.load(Ordering::Relaxed) => {
                Err("redis is failing: serving this route_server's own links only".into())
            }
            _ => Ok(()),
        }
    }

    fn metrics(&self) -> String {
        let s = &self.0;
        let mut m = Metrics::default();
        m.gauge("ferry_route_links", "msg_server links.", s.links().len())
            .gauge(
                "ferry_route_users_online",
                "Users with a session on this route_server's links.",
                s.presence().users_online(),
            )
            .counter(
                "ferry_route_delivered_total",
                "PDUs queued to msg_server links.",
                s.delivered.load(Ordering::Relaxed),
            )
            .counter(
                "ferry_route_handed_in_total",
                "PDUs handed over by other route_servers.",
                s.handed_in.load(Ordering::Relaxed),
            );
        if let Some(c) = &s.cluster {
            m.counter(
                "ferry_route_handed_out_total",
                "PDUs handed to other route_servers.",
                c.handed_out.load(Ordering::Relaxed),
            )
            .counter(
                "ferry_route_redis_failures_total",
                "Redis commands that failed.",
                c.failures.load(Ordering::Relaxed),
            );
        }
        m.finish()
    }
}
