//! msg_server's settings: the `[msg_server]` section, defined once here
//! (see `ferry-config`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferry_config::value::{addr, addrs, duration, opt_addr, opt_ip, opt_text, size};
use ferry_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// How msg_server runs (TeamTalk's msg_server: client port 8000).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The client port.
    #[serde(with = "addr")]
    pub listen: SocketAddr,
    /// `GET /health` and `GET /metrics` (Prometheus) for operators; empty
    /// is off.
    #[serde(with = "opt_addr")]
    pub metrics_listen: Option<SocketAddr>,
    /// The IP login_server hands to clients; empty uses listen's IP.
    #[serde(with = "opt_ip")]
    pub advertise: Option<IpAddr>,
    /// A second IP for clients on another network (TeamTalk's IpAddr2);
    /// empty uses `advertise`.
    #[serde(with = "opt_ip")]
    pub advertise2: Option<IpAddr>,
    /// Client connections at most; reported to login_server as the
    /// maximum, which stops sending clients here when it is reached.
    pub max_connections: u32,
    /// db_proxy addresses; requests are spread over the links that are up.
    #[serde(with = "addrs")]
    pub db_proxy: Vec<SocketAddr>,
    /// Links opened to each db_proxy (TeamTalk: ConcurrentDBConnCnt).
    pub db_links: u32,
    /// route_server addresses; the first one up carries what crosses
    /// msg_servers, status updates go to all.
    #[serde(with = "addrs")]
    pub route_server: Vec<SocketAddr>,
    /// login_server registration addresses (its msg_server port); empty
    /// runs without one.
    #[serde(with = "addrs")]
    pub login_server: Vec<SocketAddr>,
    /// Relay (file_server) msg-server link addresses.
    #[serde(with = "addrs")]
    pub file_server: Vec<SocketAddr>,
    /// The relays' shared link secret (ferry's extension); empty for
    /// TeamTalk's open link.
    #[serde(with = "opt_text")]
    pub file_server_secret: Option<String>,
    /// Largest PDU a client may send (bytes).
    #[serde(with = "size")]
    pub max_frame: u32,
    /// A connection that has not logged in within this is closed
    /// (TeamTalk: 15 s).
    #[serde(with = "duration")]
    pub login_timeout: Duration,
    /// A PC client silent this long is closed (TeamTalk: 120 s).
    #[serde(with = "duration")]
    pub pc_timeout: Duration,
    /// A mobile client silent this long is closed (TeamTalk: 300 s).
    #[serde(with = "duration")]
    pub mobile_timeout: Duration,
    /// Messages a connection may send per second; more are refused with
    /// an ack carrying msg_id 0 (TeamTalk: 20, dropped silently).
    pub messages_per_second: u32,
    /// PDUs queued toward one client at most; a client that does not read
    /// past this is disconnected rather than buffered for without bound.
    pub session_queue: u32,
    /// Bytes queued toward one client at most (of what others send it:
    /// messages, notifies); past this it is disconnected as too slow, as
    /// past `session_queue`.
    #[serde(with = "size")]
    pub session_queue_bytes: u64,
    /// Status queries a session may watch at most (presence notifies go
    /// to the sessions that asked about a user and to its department).
    pub watch_limit: u32,
    /// How long a request to db_proxy, route_server or a relay may take.
    #[serde(with = "duration")]
    pub call_timeout: Duration,
    /// How long shutdown waits for client connections to close.
    #[serde(with = "duration")]
    pub drain_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        let at = |ip: [u8; 4], port| SocketAddr::from((ip, port));
        Config {
            listen: at([0, 0, 0, 0], 8000),
            metrics_listen: None,
            advertise: None,
            advertise2: None,
            max_connections: 100_000,
            db_proxy: vec![at([127, 0, 0, 1], 10600)],
            db_links: 2,
            route_server: vec![at([127, 0, 0, 1], 8200)],
            login_server: vec![at([127, 0, 0, 1], 8100)],
            file_server: vec![at([127, 0, 0, 1], 8601)],
            file_server_secret: None,
            max_frame: 1 << 20,
            login_timeout: Duration::from_secs(15),
            pc_timeout: Duration::from_secs(120),
            mobile_timeout: Duration::from_secs(300),
            messages_per_second: 20,
            session_queue: 1024,
            session_queue_bytes: 1 << 20,
            watch_limit: 20_000,
            call_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// The IPs clients are sent to: advertise (else listen's IP) and the
    /// second one; `None` if only 0.0.0.0 is known.
    pub fn advertised(&self) -> Option<(IpAddr, IpAddr)> {
        let first = self
            .advertise
            .or(Some(self.listen.ip()))
            .filter(|ip| !ip.is_unspecified())?;
        Some((first, self.advertise2.unwrap_or(first)))
    }
}

impl Validate for Config {
    fn validate(&self, p: &mut Problems) {
        p.range("max_connections", self.max_connections, 1..=10_000_000);
        p.range("db_links", self.db_links, 1..=64);
        p.range("max_frame", self.max_frame, 1024..=(64 << 20));
        p.range("messages_per_second", self.messages_per_second, 1..=100_000);
        p.range("session_queue", self.session_queue, 16..=1_000_000);
        p.range(
            "session_queue_bytes",
            self.session_queue_bytes,
            (64 << 10)..=(1 << 30),
        );
        p.range("watch_limit", self.watch_limit, 0..=10_000_000);
        if self.db_proxy.is_empty() {
            p.fail("db_proxy", "at least one db_proxy address");
        }
        for (key, ip) in [
            ("advertise", self.advertise),
            ("advertise2", self.advertise2),
        ] {
            if let Some(ip) = ip.filter(IpAddr::is_unspecified) {
                p.fail(
                    key,
                    format!(
                        "{ip} cannot be advertised: give the address clients reach this host at"
                    ),
                );
            }
        }
        if let Some(s) = &self.file_server_secret
            && s.len() < 16
        {
            p.fail("file_server_secret", "at least 16 bytes, or empty for none");
        }
        for (key, d) in [
            ("login_timeout", self.login_timeout),
            ("pc_timeout", self.pc_timeout),
            ("mobile_timeout", self.mobile_timeout),
            ("call_timeout", self.call_timeout),
            ("drain_timeout", self.drain_timeout),
        ] {
            if d.is_zero() {
                p.fail(key, "must be longer than zero");
            }
        }
    }
}
