//! What a relay runs with: the `[relay]` section of ferry's config file,
//! defined once here. The file, the `FERRY_RELAY__<KEY>` environment
//! overrides, `ferry relay`'s flags and `ferry config check` all read and
//! print this struct (serde), so a key is added by adding its field here,
//! with its doc and its default in [`Config::default`]; ranges and rules
//! between keys are checked in [`Config::validate`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ferry_config::value::{addr, duration, opt_addr, opt_ip, size};
use ferry_config::{Problems, Validate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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

/// Which io driver each worker runtime uses (`"auto"` or `"legacy"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// io_uring where the kernel has it, epoll otherwise (logged).
    Auto,
    /// epoll only (tests of the fallback path).
    Legacy,
}

/// How an io_uring core's ring runs the kernel's completion work
/// (`relay.uring_taskrun`; the epoll driver ignores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskRun {
    /// The kernel's default: a completion interrupts the core's thread
    /// (an IPI when it runs elsewhere) to post its result.
    Default,
    /// IORING_SETUP_COOP_TASKRUN (Linux 5.19): results are posted when the
    /// thread next enters the kernel, never by interrupting it.
    Coop,
    /// IORING_SETUP_DEFER_TASKRUN + SINGLE_ISSUER (Linux 6.1): results are
    /// posted only when the core waits for them, in one batch.
    Defer,
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

/// Room a pull response needs beside its payload: the 16-byte header, the
/// 36-byte task id and the other fields, rounded up generously.
const PULL_RSP_OVERHEAD: u64 = 128;

/// The relay's settings (TeamTalk's file_server: client 8600, msg-server
/// 8601). Sizes are bytes, written as text (`"4MiB"`); durations as text
/// (`"10s"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The shared client port; every core accepts on it (SO_REUSEPORT).
    #[serde(with = "addr")]
    pub client_listen: SocketAddr,
    /// The msg-server link (task creation); loopback unless deliberately
    /// opened.
    #[serde(with = "addr")]
    pub msg_listen: SocketAddr,
    /// Peers allowed on the msg-server link; empty allows any.
    pub msg_allow: Vec<IpAddr>,
    /// With a secret, a link must answer the relay's challenge before
    /// anything else (ferry's extension, `ferry_proto::extension`); stock
    /// TeamTalk msg_servers cannot. Empty: TeamTalk's open link. At least
    /// 16 bytes.
    #[serde(with = "link_secret")]
    pub link_secret: Option<LinkSecret>,
    /// Worker threads, one runtime each; 0 means one per available core.
    pub cores: usize,
    /// Pin worker `i` to CPU `i mod CPUs`. Off, the kernel places workers
    /// (and may run a worker on the CPU of the thread that woke it).
    pub pin_cores: bool,
    /// Per-core client ports `base..base+cores-1`; 0 turns them off.
    #[serde(rename = "core_port_base", with = "core_ports")]
    pub core_ports: CorePorts,
    /// The IP put in IP_RSP, which clients connect to; empty uses
    /// client_listen's IP. Never 0.0.0.0.
    #[serde(with = "opt_ip")]
    pub advertise: Option<IpAddr>,
    /// Prometheus endpoint (`GET /metrics`, `GET /health`); empty is off.
    #[serde(with = "opt_addr")]
    pub metrics_listen: Option<SocketAddr>,
    /// Largest PDU accepted from a peer, header included (bytes).
    #[serde(with = "size")]
    pub max_frame: u32,
    /// Largest data_size a pull may ask for (bytes).
    #[serde(with = "size")]
    pub max_chunk: u32,
    /// Pulls outstanding per task at most.
    pub window: u32,
    /// Bytes queued toward one receiver before the relay stops reading the
    /// sender (back-pressure). At least `max_frame`.
    #[serde(with = "size")]
    pub task_buffer: u64,
    /// A connection must log in within this.
    #[serde(with = "duration")]
    pub login_timeout: Duration,
    /// A connection silent this long is closed.
    #[serde(with = "duration")]
    pub idle_timeout: Duration,
    /// A task nobody joins is freed after this long.
    #[serde(with = "duration")]
    pub task_timeout: Duration,
    /// How long a draining relay waits for transfers in progress.
    #[serde(with = "duration")]
    pub drain_timeout: Duration,
    /// A heartbeat goes out on the msg-server link after this long without
    /// sending anything (TeamTalk: 5 s; a stock msg_server drops a silent
    /// link after 30 s).
    #[serde(with = "duration")]
    pub link_heartbeat: Duration,
    /// io_uring where the kernel has it (`"auto"`), or epoll (`"legacy"`).
    pub driver: Driver,
    /// How each io_uring ring posts completions: `"default"`, `"coop"` or
    /// `"defer"` ([`TaskRun`]). A kernel that refuses the flag gets a plain
    /// ring (logged). `"defer"` cannot be combined with `busy_poll` (its
    /// results wait for the core to sleep, so spinning would never see
    /// them).
    pub uring_taskrun: TaskRun,
    /// Forward large pull responses' payloads socket -> pipe -> socket with
    /// splice(2), never reading them into user space. Off, payloads are
    /// read into memory and written from it.
    pub zero_copy: bool,
    /// With `zero_copy`, a core splices only while more than this many
    /// senders stream through it; below, payloads are read into memory and
    /// written from the same buffer. 0 (the default) splices always: in
    /// benches/relay.rs's side-by-side rounds splicing was never below the
    /// plain splice relay (1.01x-1.16x for one 1 GiB transfer, 0.99x-1.08x
    /// for 64 at once, over four runs on two machines) with less relay CPU
    /// than reading into memory, which ranged from 0.81x to 1.14x.
    pub splice_above: usize,
    /// After forwarding a pull or a response, a core keeps polling its
    /// sockets this long instead of sleeping, so the answer, due soon on
    /// a fast network, is picked up without waking the core's thread.
    /// Only for a task with at most one pull in flight (a stock client;
    /// windowed transfers keep the core busy anyway) whose peer answered
    /// its last turn within this time (a slow link costs no spinning).
    /// Costs CPU while waiting; worth it only where a core has its CPU to
    /// itself and syscalls are cheap (benches/relay.rs, round trips: it
    /// won 1.08x on one machine and lost 0.9x on a busier one). At most
    /// 10 ms; 0 (`"0s"`) is off.
    #[serde(with = "duration")]
    pub busy_poll: Duration,
    /// A PDU for a connection whose writer is idle is written at once by
    /// the task sending it (one send(2)), not handed to the writer task
    /// (a task switch, an io_uring submission and its completion).
    pub direct_writes: bool,
    /// The offline block store (`[storage]` of ferry's file, wired by the
    /// binary). `None`: offline transfers are refused (TRANSFER_REQ result
    /// 1), as before the store existed. Each core opens its shard of it.
    #[serde(skip)]
    pub offline: Option<ferry_storage::Config>,
    /// Pulls a core keeps in flight toward one offline uploader (the
    /// relay drives uploads, as TeamTalk does; a stock uploader answers
    /// each pull as it comes).
    pub offline_window: u32,
    /// Bytes a pull asks an offline uploader for at most. TeamTalk's
    /// uploader expects 32 KiB; a pull never crosses a store block.
    #[serde(with = "size")]
    pub offline_pull: u32,
    /// Bytes an upload writes between two data syncs and commits. A commit
    /// runs beside the next answers (one at a time per connection), so a
    /// crash loses at most twice this much of an upload (the commit
    /// running and the bytes written since it began) plus a block's
    /// remainder.
    #[serde(with = "size")]
    pub offline_commit_bytes: u64,
    /// An upload's window also counts the bytes written and not yet
    /// committed, not only the pulls in flight: the relay asks only while
    /// both together stay within `offline_window` × `offline_pull`, and
    /// commits every half window (or `offline_commit_bytes`, if less). A
    /// relay killed mid-upload then asks the uploader again for at most one
    /// window (plus the written part of a store block left incomplete,
    /// none when `offline.block_size` is `offline_pull`), where by default
    /// it is the window plus twice `offline_commit_bytes` plus a block. The price
    /// is a data sync and a commit every half window.
    pub offline_window_covers_uncommitted: bool,
    /// Connections the sender of an offline task may upload it over at
    /// once; the relay spreads the missing blocks over them and asks the
    /// others what one that leaves held. One more login is refused
    /// (LOGIN_RES 1, logged): each connection holds a window, so this
    /// bounds a task's pulls and memory. 1 to 64.
    pub offline_uploaders_per_task: u32,
    /// An uploader connection holding pulls and silent this long, while
    /// another connection of its task has nothing left to ask, is closed
    /// and its pulls are asked of the others (the old connection after a
    /// reconnect over a new network path; `idle_timeout` would keep the
    /// upload waiting for it much longer).
    #[serde(with = "duration")]
    pub offline_uploader_stall: Duration,
}

impl Default for Config {
    /// TeamTalk's ports and timeouts.
    fn default() -> Config {
        Config {
            client_listen: SocketAddr::from(([0, 0, 0, 0], 8600)),
            msg_listen: SocketAddr::from(([127, 0, 0, 1], 8601)),
            msg_allow: Vec::new(),
            link_secret: None,
            cores: 0,
            pin_cores: true,
            core_ports: CorePorts::Base(8610),
            advertise: None,
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
            uring_taskrun: TaskRun::Default,
            zero_copy: true,
            splice_above: 0,
            direct_writes: true,
            busy_poll: Duration::ZERO,
            offline: None,
            offline_window: 8,
            offline_pull: 32 << 10,
            offline_commit_bytes: 4 << 20,
            offline_window_covers_uncommitted: false,
            offline_uploaders_per_task: 4,
            offline_uploader_stall: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// A config for tests and benches: loopback, ephemeral ports, TeamTalk's
    /// timeouts, `cores` workers.
    pub fn local(cores: usize) -> Config {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        Config {
            client_listen: loopback,
            msg_listen: loopback,
            cores,
            core_ports: CorePorts::Ephemeral,
            advertise: Some(loopback.ip()),
            ..Config::default()
        }
    }

    /// Worker threads this config starts: `cores`, or one per available
    /// core when it is 0.
    pub fn effective_cores(&self) -> usize {
        match self.cores {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The IP clients are sent to: `advertise`, else client_listen's IP
    /// unless that is unspecified.
    pub fn advertised_ip(&self) -> Option<IpAddr> {
        self.advertise
            .or(Some(self.client_listen.ip()))
            .filter(|ip| !ip.is_unspecified())
    }
}

impl Validate for Config {
    fn validate(&self, p: &mut Problems) {
        p.range("cores", self.cores, 0..=1024);
        p.range("window", self.window, 1..=1024);
        p.range("splice_above", self.splice_above, 0..=1_000_000);
        p.range("max_frame", self.max_frame, 1024..=(256 << 20));
        p.range("max_chunk", self.max_chunk, 1..=(256 << 20));
        p.range("task_buffer", self.task_buffer, 1..=(1 << 40));
        p.range("offline_window", self.offline_window, 1..=1024);
        p.range("offline_pull", self.offline_pull, 1..=self.max_chunk.max(1));
        p.range(
            "offline_uploaders_per_task",
            self.offline_uploaders_per_task,
            1..=64,
        );
        p.range(
            "offline_commit_bytes",
            self.offline_commit_bytes,
            1..=(1 << 40),
        );
        if self.busy_poll > Duration::from_millis(10) {
            p.fail(
                "busy_poll",
                "at most 10ms: a core spins this long per forward",
            );
        }
        if self.uring_taskrun == TaskRun::Defer && !self.busy_poll.is_zero() {
            p.fail(
                "uring_taskrun",
                "\"defer\" posts results only when a core sleeps: set busy_poll = \"0s\" or choose \"coop\"",
            );
        }
        if let Some(store) = &self.offline {
            for problem in store.problems() {
                p.fail("offline", problem.to_string());
            }
        }
        if let CorePorts::Base(base) = self.core_ports {
            let cores = self.effective_cores();
            if usize::from(base) + cores - 1 > 65535 {
                p.fail(
                    "core_port_base",
                    format!("{base} + {cores} cores runs past port 65535"),
                );
            }
        }
        if u64::from(self.max_chunk) + PULL_RSP_OVERHEAD > u64::from(self.max_frame) {
            p.fail(
                "max_chunk",
                format!(
                    "{} bytes plus the pull response's fields do not fit relay.max_frame ({})",
                    self.max_chunk, self.max_frame
                ),
            );
        }
        if self.task_buffer < u64::from(self.max_frame) {
            p.fail(
                "task_buffer",
                format!(
                    "{} bytes cannot hold one frame of relay.max_frame ({})",
                    self.task_buffer, self.max_frame
                ),
            );
        }
        if let Some(ip) = self.advertise.filter(IpAddr::is_unspecified) {
            p.fail(
                "advertise",
                format!("{ip} cannot be advertised: give the address clients reach this host at"),
            );
        }
        for (key, d) in [
            ("login_timeout", self.login_timeout),
            ("idle_timeout", self.idle_timeout),
            ("task_timeout", self.task_timeout),
            ("drain_timeout", self.drain_timeout),
            ("link_heartbeat", self.link_heartbeat),
            ("offline_uploader_stall", self.offline_uploader_stall),
        ] {
            if d.is_zero() {
                p.fail(key, "must be longer than zero");
            }
        }
    }
}

/// `core_port_base` in the file: a port, 0 for off.
mod core_ports {
    use super::*;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<CorePorts, D::Error> {
        Ok(match u16::deserialize(d)? {
            0 => CorePorts::Off,
            base => CorePorts::Base(base),
        })
    }

    pub(super) fn serialize<S: Serializer>(v: &CorePorts, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(match v {
            CorePorts::Base(base) => *base,
            CorePorts::Off | CorePorts::Ephemeral => 0,
        })
    }
}

/// `link_secret` in the file: text, `""` for none, at least
/// [`LinkSecret::MIN_LEN`] bytes.
mod link_secret {
    use super::*;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<LinkSecret>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        LinkSecret::new(text.as_bytes()).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "at least {} bytes, or empty for none",
                LinkSecret::MIN_LEN
            ))
        })
    }

    pub(super) fn serialize<S: Serializer>(
        v: &Option<LinkSecret>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            // The secret itself: a printed config must load back to itself.
            // `ferry config check` masks it before printing.
            Some(secret) => s.serialize_str(&String::from_utf8_lossy(secret.bytes())),
            None => s.serialize_str(""),
        }
    }
}
