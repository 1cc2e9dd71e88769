//! msg_server: the server TeamTalk clients log in to. It validates logins
//! through db_proxy, keeps the sessions, forwards what clients ask to
//! db_proxy (their user id forced to the session's), carries messages,
//! presence and file signalling, and hands what crosses msg_servers to
//! route_server.
//!
//! ```text
//! client ──Connection──> client::ClientConn ──(attach: handle, call id)──> db_proxy / route_server / relay links
//!    ^                        │                                                  │
//!    └──── Outbox <── sessions::Table <── upstream (answers by handle or call) <─┘
//! ```
//!
//! Beyond TeamTalk's: nothing but login and heartbeat is taken before a
//! login is validated; every user id a client sends is replaced by its
//! session's; a kicked session is closed, not just told; presence goes to
//! the sessions that want it; read notifies reach the peer; every refusal
//! is answered.
//!
//! - [`config`]: the `[msg_server]` section.
//! - `sessions`: the session table and presence interest.
//! - `presence`: the fan-out task that tells interested sessions of a
//!   user's status or sign info, coalesced per session.
//! - `calls`: requests awaited by call id.
//! - `client`: one client connection: the command table.
//! - `login`, `message`, `group`, `file`: the flows with more than one step.
//! - `location`: which relay holds an offline file (ferry's locate
//!   extension), and where a receiver's new offline files go.
//! - `upstream`: frames from db_proxy, route_server, login_server, relays.

mod calls;
mod client;
mod config;
mod file;
mod group;
mod location;
mod login;
mod message;
mod ops;
mod presence;
mod sessions;
mod upstream;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use bytes::Bytes;
use ferry_proto::attach::Attach;
use ferry_proto::pb::im::base_define::IpAddr as PbIpAddr;
use ferry_proto::pb::im::server::{ImFileServerIpReq, ImMsgServInfo, ImOnlineUserInfo};
use ferry_proto::{Frame, Pdu, frame};
use tokio::sync::{mpsc, watch};

pub use config::Config;
use sessions::{Handle, Table};

use crate::Error;
use crate::server::ops::Ops;
use crate::server::{
    ConnConfig, Connection, LinkConfig, LinkPool, Listener, ListenerConfig, Outbox,
};

/// Counters for metrics and tests.
#[derive(Debug, Default)]
struct Stats {
    logins: AtomicU64,
    logins_refused: AtomicU64,
    kicked: AtomicU64,
    messages: AtomicU64,
    messages_refused: AtomicU64,
    /// Status and sign-info notifies sent to client sessions.
    presence_notifies: AtomicU64,
    /// Pushes that carried them (a session's notifies of one fan-out batch
    /// go in one push).
    presence_pushes: AtomicU64,
    /// Sessions disconnected for not reading what was sent to them.
    slow_sessions: AtomicU64,
    /// Commands refused before login (the connection is closed).
    unauthenticated: AtomicU64,
}

/// Reads a running msg_server's counters.
pub struct Snapshotter(Arc<Shared>);

/// A msg_server's state at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub connections: usize,
    pub logged_in: usize,
    pub calls_in_flight: usize,
    pub logins: u64,
    pub logins_refused: u64,
    pub kicked: u64,
    pub messages: u64,
    pub messages_refused: u64,
    pub presence_notifies: u64,
    pub presence_pushes: u64,
    pub slow_sessions: u64,
    pub unauthenticated: u64,
}

impl Snapshotter {
    pub fn snapshot(&self) -> Snapshot {
        let s = &self.0.stats;
        let (connections, logged_in) = {
            let t = self.0.sessions();
            (t.connections(), t.logged_in())
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            connections,
            logged_in,
            calls_in_flight: self.0.calls.in_flight(),
            logins: get(&s.logins),
            logins_refused: get(&s.logins_refused),
            kicked: get(&s.kicked),
            messages: get(&s.messages),
            messages_refused: get(&s.messages_refused),
            presence_notifies: get(&s.presence_notifies),
            presence_pushes: get(&s.presence_pushes),
            slow_sessions: get(&s.slow_sessions),
            unauthenticated: get(&s.unauthenticated),
        }
    }

    /// Whether every link kind configured has a link up (for start-up).
    pub fn links_up(&self) -> bool {
        self.links_down().is_empty()
    }

    /// The configured link kinds with no link up.
    pub fn links_down(&self) -> Vec<&'static str> {
        let l = self.0.links();
        [
            ("db_proxy", &l.db),
            ("route_server", &l.route),
            ("login_server", &l.login),
            ("relay", &l.relays),
        ]
        .into_iter()
        .filter(|(_, p)| !p.is_empty() && !p.any_up())
        .map(|(name, _)| name)
        .collect()
    }
}

/// The links a msg_server keeps.
struct Links {
    db: LinkPool,
    route: LinkPool,
    login: LinkPool,
    relays: LinkPool,
}

struct Shared {
    config: Config,
    sessions: Mutex<Table>,
    presence: presence::Presence,
    next_handle: AtomicU32,
    links: OnceLock<Links>,
    calls: calls::Calls,
    /// Each relay link's client addresses (IMFileServerIPRsp), by index.
    relay_ips: Mutex<Vec<Vec<PbIpAddr>>>,
    /// Which relay links answer ferry's offline locate request.
    locating: location::Locating,
    stats: Stats,
    /// The client port as bound.
    port: AtomicU32,
}

impl Shared {
    /// A notify about `user` (their status or sign info; `pdu` ready for
    /// clients) to the sessions interested in them: queued for the fan-out
    /// task (`presence`), which keeps the order of these calls.
    async fn tell_presence(&self, user: u32, pdu: Bytes) {
        self.presence.tell(user, pdu).await;
    }

    fn sessions(&self) -> MutexGuard<'_, Table> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn links(&self) -> &Links {
        self.links.get().expect("links start with the server")
    }

    fn encode<T: Pdu>(&self, msg: &T, seq: u16) -> Option<Bytes> {
        frame::encode_to_bytes(msg, seq, frame::DEFAULT_MAX_FRAME)
            .map_err(|e| tracing::error!(command = %T::COMMAND, error = %e, "not sent"))
            .ok()
    }

    /// Queues `pdu` to a session other than the one being served: a session
    /// that does not read is disconnected, never buffered for.
    fn push(&self, outbox: &Outbox, pdu: Bytes) {
        if let Err(crate::server::connection::SendError::Full) = outbox.try_send(pdu) {
            self.stats.slow_sessions.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("a client does not read what is sent to it; disconnected");
            outbox.close();
        }
    }

    /// `pdu` to every session of `user` but `except`.
    fn to_user(&self, user: u32, pdu: &Bytes, except: Option<Handle>) {
        let outboxes = self.sessions().of_user(user);
        for (h, outbox, _) in outboxes {
            if Some(h) != except {
                self.push(&outbox, pdu.clone());
            }
        }
    }

    /// Sends `msg` with a cookie naming `handle` (and `call`, 0 for a plain
    /// forward) to an up link of `pool`; false if none is up.
    async fn forward<T: Pdu + Attached>(
        &self,
        pool: &LinkPool,
        mut msg: T,
        seq: u16,
        handle: Handle,
        call: u32,
    ) -> bool {
        msg.set_attach(Attach::handle(handle, call).encode());
        match self.encode(&msg, seq) {
            Some(pdu) => pool.send(pdu).await.is_ok(),
            None => false,
        }
    }

    /// Sends `msg` as a call and waits for its answer.
    async fn call<T: Pdu + Attached>(
        &self,
        pool: &LinkPool,
        msg: T,
        seq: u16,
        handle: Handle,
    ) -> Result<Frame, calls::CallError> {
        self.call_on(pool, msg, seq, handle)
            .await
            .map(|(_, frame)| frame)
    }

    /// [`Shared::call`], also telling which link of `pool` answered.
    async fn call_on<T: Pdu + Attached>(
        &self,
        pool: &LinkPool,
        msg: T,
        seq: u16,
        handle: Handle,
    ) -> Result<(usize, Frame), calls::CallError> {
        let pending = self.calls.start();
        if !self.forward(pool, msg, seq, handle, pending.id).await {
            return Err(calls::CallError::Down);
        }
        pending.answer(self.config.call_timeout).await
    }

    /// Sends `msg` as a call on `link` alone and waits for its answer.
    async fn call_at<T: Pdu + Attached>(
        &self,
        link: &crate::server::Link,
        mut msg: T,
        seq: u16,
        handle: Handle,
    ) -> Result<(usize, Frame), calls::CallError> {
        let pending = self.calls.start();
        msg.set_attach(Attach::handle(handle, pending.id).encode());
        let pdu = self.encode(&msg, seq).ok_or(calls::CallError::Down)?;
        if link.send(pdu).await.is_err() {
            return Err(calls::CallError::Down);
        }
        pending.answer(self.config.call_timeout).await
    }

    /// The client addresses relay link `index` told (empty until it has).
    fn relay_ips_of(&self, index: usize) -> Vec<PbIpAddr> {
        let ips = self.relay_ips.lock().unwrap_or_else(|p| p.into_inner());
        ips.get(index).cloned().unwrap_or_default()
    }

    /// The client addresses of an up relay (the last resort for a
    /// receiver's address list).
    fn any_relay_ips(&self) -> Vec<PbIpAddr> {
        let ips = self.relay_ips.lock().unwrap_or_else(|p| p.into_inner());
        self.links()
            .relays
            .links()
            .iter()
            .filter(|l| l.is_up())
            .find_map(|l| ips.get(l.index).filter(|v| !v.is_empty()).cloned())
            .unwrap_or_default()
    }
}

/// Messages with an `attach_data` field (field 20).
trait Attached {
    fn set_attach(&mut self, attach: Bytes);
}

macro_rules! attached {
    ($($t:ty),* $(,)?) => {$(
        impl Attached for $t {
            fn set_attach(&mut self, attach: Bytes) {
                self.attach_data = Some(attach);
            }
        }
    )*};
}
use ferry_proto::pb::im::{
    buddy, file as pbfile, group as pbgroup, login as pblogin, message as pbmsg, server as pbserver,
};
attached!(
    pbserver::ImValidateReq,
    pbserver::ImFileTransferReq,
    pbserver::ImGetDeviceTokenReq,
    pbmsg::ImMsgData,
    pbmsg::ImUnreadMsgCntReq,
    pbmsg::ImGetMsgListReq,
    pbmsg::ImGetLatestMsgIdReq,
    pbmsg::ImGetMsgByIdReq,
    buddy::ImRecentContactSessionReq,
    buddy::ImUsersInfoReq,
    buddy::ImRemoveSessionReq,
    buddy::ImAllUserReq,
    buddy::ImUsersStatReq,
    buddy::ImChangeAvatarReq,
    buddy::ImDepartmentReq,
    buddy::ImChangeSignInfoReq,
    pblogin::ImDeviceTokenReq,
    pblogin::ImPushShieldReq,
    pblogin::ImQueryPushShieldReq,
    pbgroup::ImNormalGroupListReq,
    pbgroup::ImGroupInfoListReq,
    pbgroup::ImGroupCreateReq,
    pbgroup::ImGroupChangeMemberReq,
    pbgroup::ImGroupShieldReq,
    pbfile::ImFileHasOfflineReq,
);

/// The addresses a running msg_server uses.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub client: SocketAddr,
    /// `/health` and `/metrics`, when `metrics_listen` is set.
    pub metrics: Option<SocketAddr>,
}

/// A msg_server with its client port bound and its links starting.
pub struct MsgServer {
    listener: Listener,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    frames: Option<Frames>,
    presence: Option<presence::Queued>,
    ops: Option<Ops>,
}

struct Frames {
    db: mpsc::Receiver<(usize, Frame)>,
    route: mpsc::Receiver<(usize, Frame)>,
    login: mpsc::Receiver<(usize, Frame)>,
    relays: mpsc::Receiver<(usize, Frame)>,
}

impl std::fmt::Debug for MsgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgServer").finish_non_exhaustive()
    }
}

/// Frames queued from all links of one kind at most.
const LINK_FRAMES: usize = 4096;

impl MsgServer {
    /// Binds the client port and starts connecting to db_proxy, route,
    /// login and relay links (each retries in the background).
    pub async fn bind(config: Config) -> Result<MsgServer, Error> {
        let listener = Listener::bind(
            config.listen,
            ListenerConfig {
                service: "msg_server",
                max_connections: config.max_connections,
                drain_timeout: config.drain_timeout,
            },
        )
        .await?;
        let port = listener.local_addr()?.port();
        let (presence, presence_queue) = presence::Presence::new();
        let shared = Arc::new(Shared {
            presence,
            locating: location::Locating::new(config.file_server.len()),
            config,
            sessions: Mutex::default(),
            next_handle: AtomicU32::new(0),
            links: OnceLock::new(),
            calls: calls::Calls::default(),
            relay_ips: Mutex::default(),
            stats: Stats::default(),
            port: AtomicU32::new(u32::from(port)),
        });
        let (stop, stopped) = watch::channel(false);
        let (db_tx, db) = mpsc::channel(LINK_FRAMES);
        let (route_tx, route) = mpsc::channel(LINK_FRAMES);
        let (login_tx, login) = mpsc::channel(LINK_FRAMES);
        let (relay_tx, relays) = mpsc::channel(LINK_FRAMES);
        let c = &shared.config;
        let link = |peer| LinkConfig::teamtalk(peer, frame::DEFAULT_MAX_FRAME);
        let none: crate::server::link::Hello = Arc::new(Vec::new);
        let weak = Arc::downgrade(&shared);
        let db_links = LinkPool::spawn(
            &c.db_proxy,
            c.db_links as usize,
            &link("db_proxy"),
            none.clone(),
            db_tx,
            stopped.clone(),
        );
        let route_links = LinkPool::spawn(
            &c.route_server,
            1,
            &link("route_server"),
            route_hello(weak.clone()),
            route_tx,
            stopped.clone(),
        );
        // Registered with login_server (which then sends clients here) only
        // once logins can be served: db_proxy and route_server up.
        let (open, gate) = watch::channel(false);
        tokio::spawn(open_when_ready(
            db_links.clone(),
            route_links.clone(),
            open,
            stopped.clone(),
        ));
        let links = Links {
            db: db_links,
            route: route_links,
            login: LinkPool::spawn_after(
                &c.login_server,
                1,
                &link("login_server"),
                login_hello(weak),
                login_tx,
                stopped.clone(),
                Some(gate),
            ),
            relays: LinkPool::spawn(
                &c.file_server,
                1,
                &link("relay"),
                relay_hello(c.file_server_secret.is_some()),
                relay_tx,
                stopped,
            ),
        };
        *shared.relay_ips.lock().unwrap_or_else(|p| p.into_inner()) =
            vec![Vec::new(); links.relays.links().len()];
        let _ = shared.links.set(links);
        let ops = match shared.config.metrics_listen {
            Some(addr) => {
                let report = ops::MsgReport(Arc::new(Snapshotter(shared.clone())));
                Some(Ops::start(addr, Arc::new(report)).await?)
            }
            None => None,
        };
        Ok(MsgServer {
            listener,
            shared,
            stop,
            ops,
            presence: Some(presence_queue),
            frames: Some(Frames {
                db,
                route,
                login,
                relays,
            }),
        })
    }

    pub fn addresses(&self) -> Result<Addresses, Error> {
        Ok(Addresses {
            client: self.listener.local_addr()?,
            metrics: self.ops.as_ref().map(Ops::local_addr),
        })
    }

    /// The counters (metrics, tests).
    pub fn stats(&self) -> Arc<Snapshotter> {
        Arc::new(Snapshotter(self.shared.clone()))
    }

    /// Serves clients until `shutdown` completes, then drains and closes
    /// the links.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        tracing::info!(addr = %self.listener.local_addr()?, "msg_server listening");
        let frames = self.frames.take().expect("run once");
        let upstream = [
            tokio::spawn(upstream::db_frames(self.shared.clone(), frames.db)),
            tokio::spawn(upstream::route_frames(self.shared.clone(), frames.route)),
            tokio::spawn(upstream::login_frames(frames.login)),
            tokio::spawn(upstream::relay_frames(self.shared.clone(), frames.relays)),
            tokio::spawn(presence::fan_out(
                Arc::downgrade(&self.shared),
                self.presence.take().expect("run once"),
            )),
        ];
        let shared = self.shared.clone();
        self.listener
            .serve(shutdown, move |stream, _peer, stop| {
                let handle = loop {
                    let h = shared
                        .next_handle
                        .fetch_add(1, Ordering::Relaxed)
                        .wrapping_add(1);
                    if h != 0 {
                        break h;
                    }
                };
                let connection = Connection::new(stream, client_conn(&shared.config));
                let outbox = connection.outbox();
                shared.sessions().insert(handle, outbox.clone());
                let conn = client::ClientConn::new(shared.clone(), handle, outbox);
                connection.run(stop, conn)
            })
            .await;
        let _ = self.stop.send(true);
        for task in upstream {
            task.abort();
        }
        tracing::info!("msg_server stopped");
        Ok(())
    }
}

/// Opens `gate` once a db_proxy link and (if any is configured) a
/// route_server link are up.
async fn open_when_ready(
    db: LinkPool,
    route: LinkPool,
    gate: watch::Sender<bool>,
    stop: watch::Receiver<bool>,
) {
    loop {
        if db.any_up() && (route.is_empty() || route.any_up()) {
            let _ = gate.send(true);
            return;
        }
        if *stop.borrow() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn client_conn(config: &Config) -> ConnConfig {
    ConnConfig {
        max_frame: config.max_frame,
        read_timeout: config.pc_timeout,
        heartbeat: None,
        queue: config.session_queue as usize,
        queue_bytes: config.session_queue_bytes as usize,
    }
}

/// route_server hears of every session here whenever its link comes up.
fn route_hello(shared: Weak<Shared>) -> crate::server::link::Hello {
    Arc::new(move || {
        let Some(shared) = shared.upgrade() else {
            return Vec::new();
        };
        let info = ImOnlineUserInfo {
            user_stat_list: shared.sessions().online_stats(),
        };
        shared.encode(&info, 0).into_iter().collect()
    })
}

/// login_server hears of this msg_server and its load whenever its link
/// comes up.
fn login_hello(shared: Weak<Shared>) -> crate::server::link::Hello {
    Arc::new(move || {
        let Some(shared) = shared.upgrade() else {
            return Vec::new();
        };
        let c = &shared.config;
        let Some((ip1, ip2)) = c.advertised() else {
            tracing::error!(
                "msg_server.advertise is needed to register with login_server (listen is 0.0.0.0)"
            );
            return Vec::new();
        };
        let info = ImMsgServInfo {
            ip1: ip1.to_string().into(),
            ip2: ip2.to_string().into(),
            port: shared.port.load(Ordering::Relaxed),
            max_conn_cnt: c.max_connections,
            cur_conn_cnt: shared.sessions().logged_in() as u32,
            host_name: hostname().into(),
        };
        shared.encode(&info, 0).into_iter().collect()
    })
}

/// A relay tells its client addresses when asked, and a ferry relay
/// answers the locate probe (`location`); with a link secret both wait
/// for the relay's challenge to be answered (upstream).
fn relay_hello(secret: bool) -> crate::server::link::Hello {
    Arc::new(move || {
        if secret {
            return Vec::new();
        }
        relay_questions()
    })
}

/// What msg_server asks a relay once its link is up: its client
/// addresses, and whether it answers locate requests.
fn relay_questions() -> Vec<Bytes> {
    [
        frame::encode_to_bytes(&ImFileServerIpReq {}, 0, frame::DEFAULT_MAX_FRAME).ok(),
        location::probe(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "ferry".into())
}
