//! What a relay runs with. The root binary builds it from the `[relay]`
//! section of the config file and the `ferry relay` flags.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Per-core client ports, which ferry's msg_server hands out so a client
/// reaches the owning core directly (no hand-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorePorts {
    /// Only the shared port.
    Off,
    /// Core `i` listens on `base + i`.
    Base(u16),
    /// Each core on a port the kernel picks (tests).
    Ephemeral,
}

/// Which io driver each worker runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// io_uring where the kernel has it, epoll otherwise (logged).
    Auto,
    /// epoll only (tests of the fallback path).
    Legacy,
}

/// The msg-server link's shared secret. Its Debug output hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkSecret(Box<[u8]>);

impl LinkSecret {
    /// Bytes a secret has at least.
    pub const MIN_LEN: usize = 16;

    /// `None` when shorter than [`Self::MIN_LEN`].
    pub fn new(secret: &[u8]) -> Option<LinkSecret> {
        (secret.len() >= Self::MIN_LEN).then(|| LinkSecret(secret.into()))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSecret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The shared client port; every core accepts on it (SO_REUSEPORT).
    pub client_listen: SocketAddr,
    pub msg_listen: SocketAddr,
    /// Peers allowed on the msg-server link; empty allows any.
    pub msg_allow: Vec<IpAddr>,
    /// With a secret, a link must answer the relay's challenge before
    /// anything else (ferry's extension, `ferry_proto::extension`); stock
    /// TeamTalk msg_servers cannot. `None`: TeamTalk's open link.
    pub link_secret: Option<LinkSecret>,
    /// Worker threads (>= 1).
    pub cores: usize,
    pub core_ports: CorePorts,
    /// The IP put in IP_RSP. Never unspecified.
    pub advertise: IpAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub max_frame: u32,
    pub max_chunk: u32,
    /// Pulls outstanding per task at most.
    pub window: u32,
    /// Bytes queued toward one receiver before the relay stops reading the
    /// sender (back-pressure). At least `max_frame`.
    pub task_buffer: u64,
    pub login_timeout: Duration,
    pub idle_timeout: Duration,
    pub task_timeout: Duration,
    /// How long a draining relay waits for transfers in progress.
    pub drain_timeout: Duration,
    /// A heartbeat goes out on the msg-server link after this long without
    /// sending anything (TeamTalk: 5 s; a stock msg_server drops a silent
    /// link after 30 s).
    pub link_heartbeat: Duration,
    pub driver: Driver,
    /// Forward large pull responses' payloads socket -> pipe -> socket with
    /// splice(2), never reading them into user space. Off, payloads are
    /// read into memory and written from it.
    pub zero_copy: bool,
    /// With `zero_copy`, a core splices only while more than this many
    /// senders stream through it: for a few transfers, reading payloads
    /// into memory and writing them from the same buffer is faster (no
    /// copy in user space either; benches/relay.rs, side by side). 0
    /// splices always.
    pub splice_above: usize,
}

impl Config {
    /// A config for tests and benches: loopback, ephemeral ports, TeamTalk's
    /// timeouts, `cores` workers.
    pub fn local(cores: usize) -> Config {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        Config {
            client_listen: loopback,
            msg_listen: loopback,
            msg_allow: Vec::new(),
            link_secret: None,
            cores,
            core_ports: CorePorts::Ephemeral,
            advertise: loopback.ip(),
            metrics_listen: None,
            max_frame: 4 << 20,
            max_chunk: 1 << 20,
            window: 16,
            task_buffer: 8 << 20,
            login_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            task_timeout: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(10),
            link_heartbeat: crate::msg_link::HEARTBEAT,
            driver: Driver::Auto,
            zero_copy: true,
            splice_above: 2,
        }
    }
}
