//! msg_server's `/health` (503 naming the link kinds with none up: without
//! db_proxy no login is served; without route_server users elsewhere are
//! unreachable; without a relay no file moves) and `/metrics`.

use std::sync::Arc;

use super::Snapshotter;
use crate::server::ops::{Metrics, Report};

pub(super) struct MsgReport(pub Arc<Snapshotter>);

impl Report for MsgReport {
    fn health(&self) -> Result<(), String> {
        let down = self.0.links_down();
        if down.is_empty() {
            Ok(())
        } else {
            Err(format!("no link up to: {}", down.join(", ")))
        }
    }

    fn metrics(&self) -> String {
        let s = self.0.snapshot();
        Metrics::default()
            .gauge(
                "ferry_msg_connections",
                "Client connections.",
                s.connections,
            )
            .gauge("ferry_msg_sessions", "Logged-in sessions.", s.logged_in)
            .gauge(
                "ferry_msg_calls_in_flight",
                "Requests waiting for db_proxy, route_server or a relay.",
                s.calls_in_flight,
            )
            .counter("ferry_msg_logins_total", "Logins accepted.", s.logins)
            .counter(
                "ferry_msg_logins_refused_total",
                "Logins refused.",
                s.logins_refused,
            )
            .counter(
                "ferry_msg_kicked_total",
                "Sessions kicked by a newer login.",
                s.kicked,
            )
            .counter("ferry_msg_messages_total", "Messages acked.", s.messages)
            .counter(
                "ferry_msg_messages_refused_total",
                "Messages refused (rate limit, db_proxy).",
                s.messages_refused,
            )
            .counter(
                "ferry_msg_presence_notifies_total",
                "Status and sign-info notifies sent to sessions.",
                s.presence_notifies,
            )
            .counter(
                "ferry_msg_presence_pushes_total",
                "Pushes that carried them (one per session per fan-out batch).",
                s.presence_pushes,
            )
            .counter(
                "ferry_msg_slow_sessions_total",
                "Sessions closed for not reading.",
                s.slow_sessions,
            )
            .counter(
                "ferry_msg_unauthenticated_total",
                "Connections closed for a command before login.",
                s.unauthenticated,
            )
            .gauge(
                "ferry_msg_links_down",
                "Configured link kinds with no link up.",
                self.0.links_down().len(),
            )
            .finish()
    }
}
