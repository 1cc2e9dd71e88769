//! db_proxy: TeamTalk's db_proxy_server on tokio. msg_servers connect to it
//! (default 127.0.0.1:10600) and send PDUs; each request runs as its own task
//! against the [`Store`], and its answer goes back on the connection that
//! asked, with the request's seq and attach_data.
//!
//! ```text
//! listener --accept--> connection --Frame::take--> dispatch --spawn--> cmd::apply --> Store
//!                          ^                                              |
//!                          +------------- response bytes (mpsc) ---------+
//! ```
//!
//! Bounds: connections (`max_connections`), requests in flight over all
//! connections (`pool_size + queue_limit`; past it a request gets its error
//! result at once), heavy answers in flight (`heavy_concurrency`), argon2
//! checks (the store's `hash_concurrency` and `hash_queue`), frame size
//! (`max_frame`), and a drain deadline at shutdown.

mod cmd;
mod connection;
mod dispatch;
mod listener;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::Error;
use crate::admission::Gate;
use crate::store::{Store, StoreOptions};

/// How db_proxy runs: resolved from `[db_proxy]`, `[storage]` and CLI flags.
#[derive(Debug, Clone)]
pub struct DbProxyOptions {
    pub listen: SocketAddr,
    pub store: StoreOptions,
    /// Requests waiting for a pool connection at most, beyond `pool_size`
    /// running ones; more are refused with an error result.
    pub queue_limit: u32,
    /// msg_server connections at most; more wait in the accept backlog.
    pub max_connections: u32,
    /// Largest PDU accepted (header included); longer closes the connection.
    pub max_frame: u32,
    /// Heavy answers (history, previews, the user list, audio; each up to
    /// `max_frame` bytes) built or waiting to be written at once at most;
    /// `queue_limit` more may wait, past that they are refused.
    pub heavy_concurrency: u32,
    /// How long shutdown waits for requests in flight before it stops.
    pub drain_timeout: Duration,
    /// A heartbeat goes out on a link that has sent nothing for this long
    /// (TeamTalk: 5 s; a stock msg_server drops a db link silent for 30 s).
    pub heartbeat: Duration,
    /// A link that has received nothing for this long is closed (TeamTalk:
    /// 30 s; msg_server heartbeats every 5 s).
    pub link_timeout: Duration,
}

impl DbProxyOptions {
    /// TeamTalk's defaults around a store.
    pub fn new(listen: SocketAddr, store: StoreOptions) -> DbProxyOptions {
        DbProxyOptions {
            listen,
            store,
            queue_limit: 1024,
            max_connections: 1024,
            max_frame: ferry_proto::frame::DEFAULT_MAX_FRAME,
            heavy_concurrency: 32,
            drain_timeout: Duration::from_secs(30),
            heartbeat: Duration::from_secs(5),
            link_timeout: Duration::from_secs(30),
        }
    }
}

/// What every connection and request task shares.
#[derive(Debug)]
struct Shared {
    store: Store,
    /// Requests in flight (running or waiting for a pool connection).
    requests: Arc<Semaphore>,
    /// Heavy answers in flight (see `dispatch`).
    heavy: Gate,
    max_frame: u32,
    heartbeat: Duration,
    link_timeout: Duration,
}

/// A db_proxy with its store open and its port bound, not yet serving.
#[derive(Debug)]
pub struct DbProxy {
    listener: TcpListener,
    shared: Arc<Shared>,
    options: DbProxyOptions,
}

impl DbProxy {
    /// Opens the store (migrations included) and binds the listen address.
    pub async fn bind(options: DbProxyOptions) -> Result<DbProxy, Error> {
        let store = Store::open(&options.store).await?;
        let listener = TcpListener::bind(options.listen)
            .await
            .map_err(|source| Error::Bind {
                addr: options.listen,
                source,
            })?;
        let bound = options.store.pool_size as usize + options.queue_limit as usize;
        let shared = Arc::new(Shared {
            store,
            requests: Arc::new(Semaphore::new(bound)),
            heavy: Gate::new(
                "heavy answers",
                options.heavy_concurrency as usize,
                options.queue_limit as usize,
            ),
            max_frame: options.max_frame,
            heartbeat: options.heartbeat,
            link_timeout: options.link_timeout,
        });
        Ok(DbProxy {
            listener,
            shared,
            options,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` completes, then drains: stops accepting, lets
    /// requests in flight answer (up to `drain_timeout`), closes the pools.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        tracing::info!(addr = %self.local_addr()?, "db_proxy listening");
        let shared = self.shared.clone();
        listener::serve(self.listener, self.shared, &self.options, shutdown).await;
        shared.store.close().await;
        tracing::info!("db_proxy stopped");
        Ok(())
    }
}
