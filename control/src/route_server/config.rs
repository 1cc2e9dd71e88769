//! route_server's settings: the `[route_server]` section, defined once here
//! (see `ferry-config`).

use std::net::SocketAddr;
use std::time::Duration;

use ferry_config::value::{addr, duration, opt_addr, opt_text, size};
use ferry_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// TeamTalk's route_server port.
pub const DEFAULT_PORT: u16 = 8200;

/// How route_server runs (TeamTalk's route_server: 8200).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The port msg_servers connect to.
    #[serde(with = "addr")]
    pub listen: SocketAddr,
    /// `GET /health` and `GET /metrics` (Prometheus) for operators; empty
    /// is off.
    #[serde(with = "opt_addr")]
    pub metrics_listen: Option<SocketAddr>,
    /// msg_server links at most.
    pub max_connections: u32,
    /// Largest PDU accepted (header included, bytes).
    #[serde(with = "size")]
    pub max_frame: u32,
    /// A heartbeat goes out on a link silent this long (TeamTalk: 5 s).
    #[serde(with = "duration")]
    pub heartbeat: Duration,
    /// A link that sent nothing for this long is closed, its users offline
    /// (TeamTalk: 30 s).
    #[serde(with = "duration")]
    pub link_timeout: Duration,
    /// How long shutdown waits for links to finish.
    #[serde(with = "duration")]
    pub drain_timeout: Duration,
    /// `redis://…`: several route_servers share one view of who is online
    /// where and hand each other what crosses them; empty keeps the view
    /// in this process (one route_server).
    #[serde(with = "opt_text")]
    pub redis: Option<String>,
    /// Prefix of every Redis key and channel this deployment uses (Redis
    /// channels ignore the database number: deployments sharing a Redis
    /// need different prefixes).
    pub redis_prefix: String,
    /// A route_server that stops refreshing its mark for this long is dead:
    /// the sessions it reported count as offline.
    #[serde(with = "duration")]
    pub presence_ttl: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            metrics_listen: None,
            max_connections: 1024,
            max_frame: ferry_proto::frame::DEFAULT_MAX_FRAME,
            heartbeat: Duration::from_secs(5),
            link_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(5),
            redis: None,
            redis_prefix: "ferry".into(),
            presence_ttl: Duration::from_secs(15),
        }
    }
}

impl Validate for Config {
    fn validate(&self, p: &mut Problems) {
        p.range("max_connections", self.max_connections, 1..=100_000);
        p.range("max_frame", self.max_frame, 1024..=(256 << 20));
        if let Some(url) = &self.redis
            && !url.starts_with("redis://")
            && !url.starts_with("rediss://")
            && !url.starts_with("redis+unix://")
        {
            p.fail(
                "redis",
                format!("{url:?} must start with redis://, rediss:// or redis+unix://"),
            );
        }
        if self.redis_prefix.is_empty() || self.redis_prefix.contains(char::is_whitespace) {
            p.fail("redis_prefix", "a non-empty word");
        }
        for (key, d) in [
            ("heartbeat", self.heartbeat),
            ("link_timeout", self.link_timeout),
            ("drain_timeout", self.drain_timeout),
            ("presence_ttl", self.presence_ttl),
        ] {
            if d.is_zero() {
                p.fail(key, "must be longer than zero");
            }
        }
    }
}
