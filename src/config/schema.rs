//! The config file: one section per service, each the service's own
//! settings struct (defined once, in its crate), so the file, the
//! environment, the flags and `config check` all read the same definition.
//!
//! The sections of services not built yet (msg_server, route_server,
//! login_server) are defined here until their modules exist; the storage
//! section holds the data directory the embedded database lives in.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use ferry_config::value::{addr, addrs, opt_ip};
use ferry_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// The whole file. Unknown sections and keys are refused by the loader
/// (`super::load_from`), which knows every key from the serialized
/// defaults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FileConfig {
    pub relay: ferry_relay::Config,
    pub msg_server: MsgServerFile,
    pub route_server: RouteServerFile,
    pub db_proxy: ferry_control::db_proxy::Config,
    pub login_server: LoginServerFile,
    pub storage: StorageFile,
}

impl FileConfig {
    /// Every section's own checks, problems named `section.key`.
    pub fn validate(&self) -> Vec<ferry_config::Problem> {
        fn section(name: &str, s: &dyn Validate, out: &mut Vec<ferry_config::Problem>) {
            let mut p = Problems::new(name);
            s.validate(&mut p);
            out.extend(p.into_vec());
        }
        let mut out = Vec::new();
        section("relay", &self.relay, &mut out);
        section("msg_server", &self.msg_server, &mut out);
        section("db_proxy", &self.db_proxy, &mut out);
        section("storage", &self.storage, &mut out);
        out
    }
}

/// Client sessions (TeamTalk's msg_server: client port 8000).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MsgServerFile {
    #[serde(with = "addr")]
    pub listen: SocketAddr,
    /// IP that login_server hands to clients; empty uses listen's IP.
    #[serde(with = "opt_ip")]
    pub advertise: Option<IpAddr>,
    pub max_connections: u64,
    #[serde(with = "addrs")]
    pub db_proxy: Vec<SocketAddr>,
    #[serde(with = "addrs")]
    pub route_server: Vec<SocketAddr>,
    #[serde(with = "addrs")]
    pub login_server: Vec<SocketAddr>,
    #[serde(with = "addrs")]
    pub file_server: Vec<SocketAddr>,
}

impl Default for MsgServerFile {
    fn default() -> Self {
        let at = |ip: [u8; 4], port| SocketAddr::from((ip, port));
        MsgServerFile {
            listen: at([0, 0, 0, 0], 8000),
            advertise: None,
            max_connections: 100_000,
            db_proxy: vec![at([127, 0, 0, 1], 10600)],
            route_server: vec![at([127, 0, 0, 1], 8200)],
            login_server: vec![at([127, 0, 0, 1], 8100)],
            file_server: vec![at([127, 0, 0, 1], 8601)],
        }
    }
}

impl Validate for MsgServerFile {
    fn validate(&self, p: &mut Problems) {
        p.range("max_connections", self.max_connections, 1..=10_000_000);
        if let Some(ip) = self.advertise.filter(IpAddr::is_unspecified) {
            p.fail(
                "advertise",
                format!("{ip} cannot be advertised: give the address clients reach this host at"),
            );
        }
    }
}

/// Presence and cross-server delivery (TeamTalk's route_server: 8200).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteServerFile {
    #[serde(with = "addr")]
    pub listen: SocketAddr,
}

impl Default for RouteServerFile {
    fn default() -> Self {
        RouteServerFile {
            listen: SocketAddr::from(([0, 0, 0, 0], 8200)),
        }
    }
}

/// Which msg_server a client should use (TeamTalk's login_server).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginServerFile {
    /// HTTP `GET /msg_server`.
    #[serde(with = "addr")]
    pub http_listen: SocketAddr,
    /// Binary discovery (IMMsgServReq).
    #[serde(with = "addr")]
    pub client_listen: SocketAddr,
    /// Where msg_servers register.
    #[serde(with = "addr")]
    pub msg_server_listen: SocketAddr,
    pub msfs_url: String,
    pub discovery_url: String,
}

impl Default for LoginServerFile {
    fn default() -> Self {
        let any = |port| SocketAddr::from(([0, 0, 0, 0], port));
        LoginServerFile {
            http_listen: any(8080),
            client_listen: any(8008),
            msg_server_listen: any(8100),
            msfs_url: String::new(),
            discovery_url: String::new(),
        }
    }
}

/// Where ferry keeps what it persists: offline files and the embedded SQLite.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageFile {
    /// A directory; relative paths are from the working directory.
    pub data_dir: PathBuf,
}

impl Default for StorageFile {
    fn default() -> Self {
        StorageFile {
            data_dir: PathBuf::from("ferry-data"),
        }
    }
}

impl Validate for StorageFile {
    fn validate(&self, p: &mut Problems) {
        if self.data_dir.as_os_str().is_empty() {
            p.fail("data_dir", "must not be empty");
        }
    }
}
