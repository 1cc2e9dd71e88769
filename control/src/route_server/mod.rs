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
//! - [`config`]: the `[route_server]` section.
//! - [`presence`]: user -> links -> client types.
//! - `links`: a msg_server link's handler: status, queries, delivery.

mod config;
mod links;
pub mod presence;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use config::{Config, DEFAULT_PORT};
use presence::{LinkId, Presence};

use crate::Error;
use crate::server::{ConnConfig, Connection, Listener, ListenerConfig, Outbox};

/// What every link shares.
#[derive(Debug, Default)]
struct Shared {
    presence: Mutex<Presence>,
    links: Mutex<HashMap<LinkId, Outbox>>,
    next_link: AtomicU64,
    max_frame: u32,
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
}

/// Links a route_server may hold per queue: PDUs waiting to be written.
const LINK_QUEUE: usize = 8192;

impl RouteServer {
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
        Ok(RouteServer {
            listener,
            shared: Arc::new(Shared {
                max_frame: config.max_frame,
                ..Shared::default()
            }),
            config,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then drains.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        tracing::info!(addr = %self.local_addr()?, "route_server listening");
        let conn = ConnConfig {
            max_frame: self.config.max_frame,
            read_timeout: self.config.link_timeout,
            heartbeat: Some(self.config.heartbeat),
            queue: LINK_QUEUE,
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
        tracing::info!("route_server stopped");
        Ok(())
    }
}
