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

#[derive(Debug, Clone)]
pub struct Config {
    /// The shared client port; every core accepts on it (SO_REUSEPORT).
    pub client_listen: SocketAddr,
    pub msg_listen: SocketAddr,
    /// Peers allowed on the msg-server link; empty allows any.
    pub msg_allow: Vec<IpAddr>,
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
            driver: Driver::Auto,
            zero_copy: true,
            splice_above: 2,
        }
    }
}
