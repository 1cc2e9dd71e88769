//! db_proxy's settings: the `[db_proxy]` section of ferry's config file,
//! defined once here (the store's own keys in [`StoreOptions`], flattened
//! into the same section). The file, the `FERRY_DB_PROXY__<KEY>`
//! environment overrides, `ferry db-proxy`'s flags and `ferry config
//! check` all read and print this struct, so a key is added by adding its
//! field and its default; ranges are checked in [`Config::validate`].

use std::net::SocketAddr;
use std::time::Duration;

use ferry_config::value::{addr, duration, opt_addr, size};
use ferry_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

use crate::store::StoreOptions;

/// TeamTalk's db_proxy_server port.
pub const DEFAULT_PORT: u16 = 10600;

/// How db_proxy runs (TeamTalk's db_proxy_server: 10600).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The PDU port msg_servers connect to.
    #[serde(with = "addr")]
    pub listen: SocketAddr,
    /// `GET /health` and `GET /metrics` (Prometheus) for operators; empty
    /// is off.
    #[serde(with = "opt_addr")]
    pub metrics_listen: Option<SocketAddr>,
    /// The database, Redis and the bounds of the work done on them.
    #[serde(flatten)]
    pub store: StoreOptions,
    /// Requests waiting for a pool connection at most, beyond `pool_size`
    /// running ones; more are refused with their failure answer.
    pub queue_limit: u32,
    /// msg_server connections at most; more wait in the accept backlog.
    pub max_connections: u32,
    /// Largest PDU accepted (header included, bytes); longer closes the
    /// connection.
    #[serde(with = "size")]
    pub max_frame: u32,
    /// Heavy answers (history, previews, the user list, audio; each up to
    /// `max_frame` bytes) built or waiting to be written at once at most;
    /// `queue_limit` more may wait, past that they are refused.
    pub heavy_concurrency: u32,
    /// How long shutdown waits for requests in flight before it stops.
    #[serde(with = "duration")]
    pub drain_timeout: Duration,
    /// A heartbeat goes out on a link that has sent nothing for this long
    /// (TeamTalk: 5 s; a stock msg_server drops a db link silent for 30 s).
    #[serde(with = "duration")]
    pub heartbeat: Duration,
    /// A link that has received nothing for this long is closed (TeamTalk:
    /// 30 s; msg_server heartbeats every 5 s).
    #[serde(with = "duration")]
    pub link_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            metrics_listen: None,
            store: StoreOptions::default(),
            queue_limit: 1024,
            max_connections: 1024,
            max_frame: ferry_proto::frame::DEFAULT_MAX_FRAME,
            heavy_concurrency: 32,
            drain_timeout: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            link_timeout: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// TeamTalk's defaults around a store, listening on `listen`.
    pub fn new(listen: SocketAddr, store: StoreOptions) -> Config {
        Config {
            listen,
            store,
            ..Config::default()
        }
    }
}

impl Validate for Config {
    fn validate(&self, p: &mut Problems) {
        self.store.validate(p);
        p.range("queue_limit", self.queue_limit, 1..=1_000_000);
        p.range("max_connections", self.max_connections, 1..=1_000_000);
        p.range("max_frame", self.max_frame, 1024..=(256 << 20));
        p.range("heavy_concurrency", self.heavy_concurrency, 1..=100_000);
        for (key, d) in [
            ("drain_timeout", self.drain_timeout),
            ("heartbeat", self.heartbeat),
            ("link_timeout", self.link_timeout),
        ] {
            if d.is_zero() {
                p.fail(key, "must be longer than zero");
            }
        }
    }
}
