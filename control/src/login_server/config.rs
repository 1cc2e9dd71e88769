//! login_server's settings: the `[login_server]` section, defined once here
//! (see `ferry-config`).

use std::net::SocketAddr;
use std::time::Duration;

use ferry_config::value::{addr, duration};
use ferry_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// How login_server runs (TeamTalk's: HTTP 8080, client 8008, msg_server
/// registration 8100).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// HTTP: `GET /msg_server` (and `/health`, `/metrics`).
    #[serde(with = "addr")]
    pub http_listen: SocketAddr,
    /// Binary discovery: IMMsgServReq -> IMMsgServRsp.
    #[serde(with = "addr")]
    pub client_listen: SocketAddr,
    /// Where msg_servers register (IMMsgServInfo) and report their counts.
    #[serde(with = "addr")]
    pub msg_server_listen: SocketAddr,
    /// The file-storage (msfs) URL handed to clients as msfsPrior and
    /// msfsBackup.
    pub msfs_url: String,
    /// The discovery URL handed to clients.
    pub discovery_url: String,
    /// Connections per port at most.
    pub max_connections: u32,
    /// Heartbeat on a msg_server link silent this long (TeamTalk: 5 s).
    #[serde(with = "duration")]
    pub heartbeat: Duration,
    /// A msg_server link silent this long is closed and the msg_server no
    /// longer offered (TeamTalk: 30 s).
    #[serde(with = "duration")]
    pub link_timeout: Duration,
}

impl Default for Config {
    fn default() -> Config {
        let any = |port| SocketAddr::from(([0, 0, 0, 0], port));
        Config {
            http_listen: any(8080),
            client_listen: any(8008),
            msg_server_listen: any(8100),
            msfs_url: String::new(),
            discovery_url: String::new(),
            max_connections: 10_000,
            heartbeat: Duration::from_secs(5),
            link_timeout: Duration::from_secs(30),
        }
    }
}

impl Validate for Config {
    fn validate(&self, p: &mut Problems) {
        p.range("max_connections", self.max_connections, 1..=1_000_000);
        for (key, d) in [
            ("heartbeat", self.heartbeat),
            ("link_timeout", self.link_timeout),
        ] {
            if d.is_zero() {
                p.fail(key, "must be longer than zero");
            }
        }
    }
}
