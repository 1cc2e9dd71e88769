//! db_proxy: TeamTalk's db_proxy_server on tokio. msg_servers connect to it
//! (default 127.0.0.1:10600) and send PDUs; each request runs as its own task
//! against the [`Store`], and its answer goes back on the connection that
//! asked, with the request's seq and attach_data.
//!
//! ```text
//! server::Listener --accept--> server::Connection --frame--> dispatch::Requests --spawn--> cmd::apply --> Store
//!                                      ^                                                       |
//!                                      +----------------- answer (Outbox) ---------------------+
//! ```
//!
//! Bounds: connections (`max_connections`), requests in flight over all
//! connections (`pool_size + queue_limit`; past it a request gets its error
//! result at once), heavy answers in flight (`heavy_concurrency`), argon2
//! checks (the store's `hash_concurrency` and `hash_queue`), frame size
//! (`max_frame`), and a drain deadline at shutdown.

mod cmd;
mod config;
mod dispatch;
mod ops;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::Error;
use crate::admission::Gate;
use crate::server::ops::Ops;
use crate::server::{ConnConfig, Connection, Listener, ListenerConfig};
use crate::store::Store;
use dispatch::Requests;

pub use config::{Config, DEFAULT_PORT};

/// What every connection and request task shares.
#[derive(Debug)]
struct Shared {
    store: Store,
    /// Requests in flight (running or waiting for a pool connection).
    requests: Arc<Semaphore>,
    /// Heavy answers in flight (see `dispatch`).
    heavy: Gate,
    max_frame: u32,
}

/// Answers queued for a connection's writer at most before request tasks
/// wait (a caller that does not read its answers slows its own requests,
/// nobody else's).
const ANSWER_QUEUE: usize = 256;

/// A db_proxy with its store open and its port bound, not yet serving.
#[derive(Debug)]
pub struct DbProxy {
    listener: Listener,
    shared: Arc<Shared>,
    config: Config,
    /// `/health` and `/metrics` with the probe behind them, when configured.
    ops: Option<(Ops, tokio::task::JoinHandle<()>)>,
}

impl DbProxy {
    /// Opens the store (migrations included) and binds the listen address.
    pub async fn bind(config: Config) -> Result<DbProxy, Error> {
        let store = Store::open(&config.store).await?;
        let listener = Listener::bind(
            config.listen,
            ListenerConfig {
                service: "db_proxy",
                max_connections: config.max_connections,
                drain_timeout: config.drain_timeout,
            },
        )
        .await?;
        let bound = config.store.pool_size as usize + config.queue_limit as usize;
        let shared = Arc::new(Shared {
            store,
            requests: Arc::new(Semaphore::new(bound)),
            heavy: Gate::new(
                "heavy answers",
                config.heavy_concurrency as usize,
                config.queue_limit as usize,
            ),
            max_frame: config.max_frame,
        });
        let ops = match config.metrics_listen {
            Some(addr) => {
                let (report, probe) = ops::DbReport::start(shared.clone(), bound);
                Some((Ops::start(addr, Arc::new(report)).await?, probe))
            }
            None => None,
        };
        Ok(DbProxy {
            listener,
            shared,
            config,
            ops,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        self.listener.local_addr()
    }

    /// Where `/health` and `/metrics` are served, if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(|(o, _)| o.local_addr())
    }

    /// Serves until `shutdown` completes, then drains: stops accepting, lets
    /// requests in flight answer (up to `drain_timeout`), closes the pools.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        tracing::info!(addr = %self.local_addr()?, "db_proxy listening");
        let conn = ConnConfig {
            max_frame: self.config.max_frame,
            read_timeout: self.config.link_timeout,
            heartbeat: Some(self.config.heartbeat),
            queue: ANSWER_QUEUE,
            queue_bytes: usize::MAX,
        };
        let shared = self.shared.clone();
        self.listener
            .serve(shutdown, move |stream, _peer, stop| {
                let connection = Connection::new(stream, conn.clone());
                let requests = Requests::new(shared.clone(), connection.outbox());
                connection.run(stop, requests)
            })
            .await;
        if let Some((_, probe)) = self.ops {
            probe.abort();
        }
        self.shared.store.close().await;
        tracing::info!("db_proxy stopped");
        Ok(())
    }
}
