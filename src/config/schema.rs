//! The config file's schema: what a user may write, with TeamTalk's defaults.
//!
//! Values are kept as the user wrote them (addresses and sizes as text, so
//! "4MiB" and "10s" work); [`super::resolve`] turns them into typed values
//! and names the key of anything wrong. Empty text means "not set". Every
//! section refuses unknown keys, so a typo is an error rather than a default.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    pub relay: RelayFile,
    pub msg_server: MsgServerFile,
    pub route_server: RouteServerFile,
    pub db_proxy: DbProxyFile,
    pub login_server: LoginServerFile,
    pub storage: StorageFile,
}

/// The file server (TeamTalk's file_server: client 8600, msg-server 8601).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RelayFile {
    /// Shared client port; every core listens on it (SO_REUSEPORT).
    pub client_listen: String,
    /// msg-server link (task creation); loopback unless deliberately opened.
    pub msg_listen: String,
    /// Peer IPs allowed on the msg-server link; empty allows any.
    pub msg_allow: Vec<String>,
    /// Shared secret the msg-server link must prove (ferry's extension;
    /// stock TeamTalk msg_servers cannot); empty leaves the link open as
    /// TeamTalk's is. At least 16 bytes.
    pub link_secret: String,
    /// Worker threads, one runtime each; 0 means one per available core.
    pub cores: u64,
    /// Per-core client ports base..base+cores-1; 0 turns them off.
    pub core_port_base: u64,
    /// IP advertised to clients in IP_RSP; empty uses client_listen's IP.
    pub advertise: String,
    /// Prometheus endpoint; empty turns it off.
    pub metrics_listen: String,
    /// Largest PDU accepted from a peer, header included.
    pub max_frame: String,
    /// Largest data_size a pull may ask for.
    pub max_chunk: String,
    /// Pulls outstanding per task at most.
    pub window: u64,
    /// Bytes held in the relay per task before it stops reading the sender.
    pub task_buffer: String,
    pub login_timeout: String,
    pub idle_timeout: String,
    /// A task nobody joins is freed after this long.
    pub task_timeout: String,
    /// Move large pull responses' payloads with splice(2) on io_uring
    /// instead of reading them into memory: less CPU and more aggregate
    /// throughput under load, a little slower for one lone transfer
    /// (benches/relay.rs).
    pub zero_copy: bool,
    /// With zero_copy, a core splices only while more than this many
    /// senders stream through it; up to it, payloads are read into memory
    /// and written from it (no copy in user space either), which is faster
    /// for a few transfers. 0 splices always.
    pub splice_above: u64,
}

impl Default for RelayFile {
    fn default() -> Self {
        RelayFile {
            client_listen: "0.0.0.0:8600".into(),
            msg_listen: "127.0.0.1:8601".into(),
            msg_allow: Vec::new(),
            link_secret: String::new(),
            cores: 0,
            core_port_base: 8610,
            advertise: String::new(),
            metrics_listen: String::new(),
            max_frame: "4MiB".into(),
            max_chunk: "1MiB".into(),
            window: 16,
            task_buffer: "8MiB".into(),
            login_timeout: "10s".into(),
            idle_timeout: "120s".into(),
            task_timeout: "60s".into(),
            zero_copy: true,
            splice_above: 2,
        }
    }
}

/// Client sessions (TeamTalk's msg_server: client port 8000).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MsgServerFile {
    pub listen: String,
    /// IP that login_server hands to clients; empty uses listen's IP.
    pub advertise: String,
    pub max_connections: u64,
    pub db_proxy: Vec<String>,
    pub route_server: Vec<String>,
    pub login_server: Vec<String>,
    pub file_server: Vec<String>,
}

impl Default for MsgServerFile {
    fn default() -> Self {
        MsgServerFile {
            listen: "0.0.0.0:8000".into(),
            advertise: String::new(),
            max_connections: 100_000,
            db_proxy: vec!["127.0.0.1:10600".into()],
            route_server: vec!["127.0.0.1:8200".into()],
            login_server: vec!["127.0.0.1:8100".into()],
            file_server: vec!["127.0.0.1:8601".into()],
        }
    }
}

/// Presence and cross-server delivery (TeamTalk's route_server: 8200).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteServerFile {
    pub listen: String,
}

impl Default for RouteServerFile {
    fn default() -> Self {
        RouteServerFile {
            listen: "0.0.0.0:8200".into(),
        }
    }
}

/// SQL and Redis behind a PDU port (TeamTalk's db_proxy_server: 10600).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DbProxyFile {
    pub listen: String,
    /// `sqlite:PATH` or `mysql://…`; empty means SQLite under storage.data_dir.
    pub db: String,
    /// A read pool on another server (TeamTalk's slave); empty reads from `db`.
    pub db_read: String,
    /// `redis://…`; empty keeps counters in SQL.
    pub redis: String,
    pub pool_size: u64,
    /// Requests queued for a pool connection at most; more are refused.
    pub queue_limit: u64,
    /// argon2 password checks running at once at most (each ~19 MiB and a
    /// core for ~20 ms); 0 means one per available core.
    pub hash_concurrency: u64,
    /// argon2 checks waiting at most beyond those; more logins are answered
    /// "server busy" (result 2) at once.
    pub hash_queue: u64,
    /// Heavy answers (history pages, previews, the user list, audio) built
    /// or waiting to be written at once at most; queue_limit more may wait.
    pub heavy_concurrency: u64,
}

impl Default for DbProxyFile {
    fn default() -> Self {
        DbProxyFile {
            listen: "127.0.0.1:10600".into(),
            db: String::new(),
            db_read: String::new(),
            redis: String::new(),
            pool_size: 16,
            queue_limit: 1024,
            hash_concurrency: 0,
            hash_queue: 1024,
            heavy_concurrency: 32,
        }
    }
}

/// Which msg_server a client should use (TeamTalk's login_server).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginServerFile {
    /// HTTP `GET /msg_server`.
    pub http_listen: String,
    /// Binary discovery (IMMsgServReq).
    pub client_listen: String,
    /// Where msg_servers register.
    pub msg_server_listen: String,
    pub msfs_url: String,
    pub discovery_url: String,
}

impl Default for LoginServerFile {
    fn default() -> Self {
        LoginServerFile {
            http_listen: "0.0.0.0:8080".into(),
            client_listen: "0.0.0.0:8008".into(),
            msg_server_listen: "0.0.0.0:8100".into(),
            msfs_url: String::new(),
            discovery_url: String::new(),
        }
    }
}

/// Where ferry keeps what it persists: offline files and the embedded SQLite.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageFile {
    pub data_dir: String,
}

impl Default for StorageFile {
    fn default() -> Self {
        StorageFile {
            data_dir: "ferry-data".into(),
        }
    }
}
