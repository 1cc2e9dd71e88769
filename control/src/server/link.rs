//! The outgoing side of a server-to-server link (msg_server to db_proxy,
//! route_server, login_server and relays), as TeamTalk runs them: connect,
//! send the service's hello PDUs, heartbeat after 5 s without sending,
//! close after 30 s without receiving, reconnect with a growing backoff.
//! Frames from the peer (heartbeats dropped) go to the owner's channel,
//! tagged with the link's index; the owner sends through [`Link::send`]
//! while the link is up.
//!
//! A [`LinkPool`] holds the links to several peers of one kind and picks an
//! up one for each request, in turn.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ferry_proto::Frame;
use ferry_proto::registry::CID_OTHER_HEARTBEAT;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::Instrument as _;

use super::connection::{ConnConfig, Connection, Flow, FrameHandler, Outbox, SendError};

/// How a link behaves.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The kind of peer, for logs: `db_proxy`, `route_server`, …
    pub peer: &'static str,
    pub conn: ConnConfig,
    /// One connection attempt at most this long.
    pub connect_timeout: Duration,
    /// The first wait after a failed attempt or a drop; doubles up to
    /// `backoff_max`, back to the first after a success.
    pub backoff: Duration,
    pub backoff_max: Duration,
}

impl LinkConfig {
    /// TeamTalk's link timings: heartbeat after 5 s idle, dead after 30 s
    /// silent, retry from 1 s doubling to 30 s.
    pub fn teamtalk(peer: &'static str, max_frame: u32) -> LinkConfig {
        LinkConfig {
            peer,
            conn: ConnConfig {
                max_frame,
                read_timeout: Duration::from_secs(30),
                heartbeat: Some(Duration::from_secs(5)),
                queue: 4096,
                queue_bytes: usize::MAX,
            },
            connect_timeout: Duration::from_secs(3),
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// The PDUs to send first on every new connection (built when it is up, so
/// they say what holds then, e.g. the users online now).
pub type Hello = Arc<dyn Fn() -> Vec<Bytes> + Send + Sync>;

/// The link is not up: the request was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("link down")]
pub struct LinkDown;

/// A handle to one link; cheap to clone.
#[derive(Clone)]
pub struct Link {
    pub addr: SocketAddr,
    /// The link's index in its pool, carried with each frame it delivers.
    pub index: usize,
    current: watch::Receiver<Option<Outbox>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Link({}, up: {})", self.addr, self.is_up())
    }
}

impl Link {
    /// Starts connecting to `addr` in the background; frames arrive on
    /// `frames` as `(index, frame)`. Runs until `stop` turns true.
    pub fn spawn(
        addr: SocketAddr,
        index: usize,
        config: LinkConfig,
        hello: Hello,
        frames: mpsc::Sender<(usize, Frame)>,
        stop: watch::Receiver<bool>,
    ) -> Link {
        Self::spawn_after(addr, index, config, hello, frames, stop, None)
    }

    /// [`Link::spawn`], connecting only once `gate` turns true (a msg_server
    /// registers with login_server once it can serve logins).
    pub fn spawn_after(
        addr: SocketAddr,
        index: usize,
        config: LinkConfig,
        hello: Hello,
        frames: mpsc::Sender<(usize, Frame)>,
        stop: watch::Receiver<bool>,
        gate: Option<watch::Receiver<bool>>,
    ) -> Link {
        let (state, current) = watch::channel(None);
        let span = tracing::info_span!("link", peer = config.peer, %addr);
        let task = async move {
            if let Some(mut gate) = gate {
                let mut stop = stop.clone();
                tokio::select! {
                    _ = gate.wait_for(|open| *open) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
            run(addr, index, config, hello, frames, stop, state).await
        };
        tokio::spawn(task.instrument(span));
        Link {
            addr,
            index,
            current,
        }
    }

    pub fn is_up(&self) -> bool {
        self.current
            .borrow()
            .as_ref()
            .is_some_and(|o| !o.is_closed())
    }

    /// Queues `pdu` on the link, waiting for room; [`LinkDown`] if it is
    /// not up (or drops before it is queued).
    pub async fn send(&self, pdu: Bytes) -> Result<(), LinkDown> {
        let outbox = self.current.borrow().clone().ok_or(LinkDown)?;
        outbox.send(pdu).await.map_err(|_| LinkDown)
    }

    /// Waits until the link is up (tests, start-up ordering).
    pub async fn wait_up(&self) {
        let mut current = self.current.clone();
        let _ = current.wait_for(|o| o.is_some()).await;
    }
}

async fn run(
    addr: SocketAddr,
    index: usize,
    config: LinkConfig,
    hello: Hello,
    frames: mpsc::Sender<(usize, Frame)>,
    mut stop: watch::Receiver<bool>,
    state: watch::Sender<Option<Outbox>>,
) {
    let mut backoff = config.backoff;
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let attempt = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr));
        let stream = tokio::select! {
            r = attempt => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        match stream {
            Ok(Ok(stream)) => {
                backoff = config.backoff;
                failures = 0;
                let conn = Connection::new(stream, config.conn.clone());
                let outbox = conn.outbox();
                for pdu in hello() {
                    if outbox.send(pdu).await.is_err() {
                        break;
                    }
                }
                let _ = state.send(Some(outbox));
                tracing::info!("link up");
                conn.run(
                    stop.clone(),
                    Deliver {
                        index,
                        frames: frames.clone(),
                    },
                )
                .await;
                let _ = state.send(None);
                if *stop.borrow() {
                    return;
                }
                tracing::warn!("link down; reconnecting");
            }
            Ok(Err(e)) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(error = %e, "cannot connect; retrying");
                } else {
                    tracing::debug!(error = %e, failures, "cannot connect; retrying");
                }
            }
            Err(_) => {
                failures += 1;
                tracing::warn!(timeout = ?config.connect_timeout, "connect timed out; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(config.backoff_max);
    }
}

/// Hands a link's frames to its owner; heartbeats stop here (TeamTalk's
/// servers do not echo them on links: each side sends its own).
struct Deliver {
    index: usize,
    frames: mpsc::Sender<(usize, Frame)>,
}

impl FrameHandler for Deliver {
    async fn on_frame(&mut self, frame: Frame) -> Flow {
        if frame.header.command == CID_OTHER_HEARTBEAT {
            return Flow::Continue;
        }
        match self.frames.send((self.index, frame)).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Close, // the owner is gone
        }
    }

    async fn on_end(self) {}
}

/// Links to several peers of one kind; requests go to an up one, in turn.
#[derive(Debug, Clone, Default)]
pub struct LinkPool {
    links: Vec<Link>,
    next: Arc<AtomicUsize>,
}

impl LinkPool {
    /// One link per address in `addrs` (`copies` each, as TeamTalk opens
    /// several connections per db_proxy), all delivering to `frames`.
    pub fn spawn(
        addrs: &[SocketAddr],
        copies: usize,
        config: &LinkConfig,
        hello: Hello,
        frames: mpsc::Sender<(usize, Frame)>,
        stop: watch::Receiver<bool>,
    ) -> LinkPool {
        Self::spawn_after(addrs, copies, config, hello, frames, stop, None)
    }

    /// [`LinkPool::spawn`], each link connecting once `gate` turns true.
    pub fn spawn_after(
        addrs: &[SocketAddr],
        copies: usize,
        config: &LinkConfig,
        hello: Hello,
        frames: mpsc::Sender<(usize, Frame)>,
        stop: watch::Receiver<bool>,
        gate: Option<watch::Receiver<bool>>,
    ) -> LinkPool {
        let mut links = Vec::new();
        for addr in addrs {
            for _ in 0..copies.max(1) {
                let index = links.len();
                links.push(Link::spawn_after(
                    *addr,
                    index,
                    config.clone(),
                    hello.clone(),
                    frames.clone(),
                    stop.clone(),
                    gate.clone(),
                ));
            }
        }
        LinkPool {
            links,
            next: Arc::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    pub fn any_up(&self) -> bool {
        self.links.iter().any(Link::is_up)
    }

    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// An up link, the next in turn; `None` when none is up.
    pub fn pick(&self) -> Option<&Link> {
        let n = self.links.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.links[(start + i) % n])
            .find(|l| l.is_up())
    }

    /// Sends on an up link; tries the next if one drops meanwhile.
    pub async fn send(&self, pdu: Bytes) -> Result<(), LinkDown> {
        for _ in 0..self.links.len() {
            let Some(link) = self.pick() else { break };
            if link.send(pdu.clone()).await.is_ok() {
                return Ok(());
            }
        }
        Err(LinkDown)
    }

    /// Sends to every up link (status updates to every route_server).
    pub async fn send_all(&self, pdu: Bytes) {
        for link in &self.links {
            let _ = link.send(pdu.clone()).await;
        }
    }
}

impl From<SendError> for LinkDown {
    fn from(_: SendError) -> LinkDown {
        LinkDown
    }
}
