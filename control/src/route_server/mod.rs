//! route_server: TeamTalk's route_server on tokio. Each msg_server keeps a
//! link to it, tells it who logged in and out (IMUserStatusUpdate, and all
//! of its sessions when it connects: IMOnlineUserInfo), asks it who is
//! online (IMUsersStatReq) and hands it what must reach users on other
//! msg_servers: messages, P2P commands, read notifies, kicks, group member
//! and file notifies, removed sessions, changed signatures.
//!
//! ```text
//! msg_server A ──link──┐                        ┌──link── msg_server B
//!                      └─> links::Link ──> presence (who is where)
//!                                       └─> deliver: to the links holding the users named
//! ```
//!
//! Unlike TeamTalk's, which broadcasts everything to every msg_server,
//! delivery is targeted: a PDU goes only to the links that hold a session
//! of a user it names (group messages, whose members it does not know, and
//! signature changes, which every list shows, go to all). Presence is
//! counted per link, so a msg_server that dies takes exactly its sessions
//! offline.
//!
//! With `redis` set, several route_servers share one view: each counts
//! its links' sessions into Redis and hands what its links do not cover to
//! the route_servers that hold the users named (`cluster`).
//!
//! - [`config`]: the `[route_server]` section.
//! - [`presence`]: user -> links -> client types, this route_server's view.
//! - `links`: a msg_server link's handler: status, queries, hand-overs.
//! - `delivery`: where a PDU goes; presence moves counted and announced.
//! - `cluster`: the view shared through Redis, and hand-overs between
//!   route_servers.

mod cluster;
mod config;
mod delivery;
mod links;
mod ops;
pub mod presence;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use config::{Config, DEFAULT_PORT};
use presence::{LinkId, Presence};

use crate::Error;
use crate::server::ops::Ops;
use crate::server::{ConnConfig, Connection, Listener, ListenerConfig, Outbox};

/// What every link shares.
#[derive(Debug, Default)]
struct Shared {
    presence: Mutex<Presence>,
    links: Mutex<HashMap<LinkId, Outbox>>,
    next_link: AtomicU64,
    max_frame: u32,
    cluster: Option<Arc<cluster::Cluster>>,
    /// PDUs queued to this route_server's links.
    delivered: AtomicU64,
    /// Envelopes from other route_servers.
    handed_in: AtomicU64,
}

impl Shared {
    fn presence(&self) -> std::sync::MutexGuard<'_, Presence> {
        self.presence.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn links(&self) -> std::sync::MutexGuard<'_, HashMap<LinkId, Outbox>> {
        self.links.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A route_server with its port bound, not yet serving.
#[derive(Debug)]
pub struct RouteServer {
    listener: Listener,
    shared: Arc<Shared>,
    config: Config,
    events: Option<tokio::sync::mpsc::Receiver<cluster::Event>>,
    ops: Option<Ops>,
}

/// Links a route_server may hold per queue: PDUs waiting to be written.
const LINK_QUEUE: usize = 8192;

impl RouteServer {
    /// Binds the port and, with `redis` set, joins the route_servers
    /// sharing it.
    ///
    /// Errors: [`Error::Bind`] when the port is taken; [`Error::Redis`]
    /// when Redis is configured and does not answer.
    pub async fn bind(config: Config) -> Result<RouteServer, Error> {
        let listener = Listener::bind(
            config.listen,
            ListenerConfig {
                service: "route_server",
                max_connections: config.max_connections,
                drain_timeout: config.drain_timeout,
            },
        )
        .await?;
        let (cluster, events) = match &config.redis {
            Some(url) => {
                let (c, rx) =
                    cluster::Cluster::join(url, &config.redis_prefix, config.presence_ttl).await?;
                (Some(c), Some(rx))
            }
            None => (None, None),
        };
        let shared = Arc::new(Shared {
            max_frame: config.max_frame,
            cluster,
            ..Shared::default()
        });
        let ops = match config.metrics_listen {
            Some(addr) => Some(Ops::start(addr, Arc::new(ops::RouteReport(shared.clone()))).await?),
            None => None,
        };
        Ok(RouteServer {
            listener,
            shared,
            config,
            events,
            ops,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener.local_addr()
    }

    /// Where `/health` and `/metrics` are served, if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(Ops::local_addr)
    }

    /// This route_server's id among those sharing Redis (`None` alone).
    pub fn cluster_id(&self) -> Option<String> {
        self.shared.cluster.as_ref().map(|c| c.id().to_string())
    }

    /// Redis commands that failed so far (0 without Redis).
    pub fn redis_failures(&self) -> u64 {
        self.shared
            .cluster
            .as_ref()
            .map_or(0, |c| c.failures.load(Ordering::Relaxed))
    }

    /// Serves until `shutdown` completes, then drains.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        tracing::info!(addr = %self.local_addr()?, "route_server listening");
        let arrivals = self.events.take().map(|mut events| {
            let shared = self.shared.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    shared.arrive(event).await;
                }
            })
        });
        let conn = ConnConfig {
            max_frame: self.config.max_frame,
            read_timeout: self.config.link_timeout,
            heartbeat: Some(self.config.heartbeat),
            queue: LINK_QUEUE,
            queue_bytes: usize::MAX,
        };
        let shared = self.shared.clone();
        self.listener
            .serve(shutdown, move |stream, peer, stop| {
                let connection = Connection::new(stream, conn.clone());
                let id = shared.next_link.fetch_add(1, Ordering::Relaxed) + 1;
                let handler =
                    links::MsgServerLink::new(shared.clone(), id, peer, connection.outbox());
                connection.run(stop, handler)
            })
            .await;
        if let Some(arrivals) = arrivals {
            arrivals.abort();
        }
        if let Some(cluster) = &self.shared.cluster {
            cluster.leave().await;
        }
        tracing::info!("route_server stopped");
        Ok(())
    }
}
