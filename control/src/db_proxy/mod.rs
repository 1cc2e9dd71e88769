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
mod config;
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
use crate::store::Store;

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
    heartbeat: Duration,
    link_timeout: Duration,
}

/// A db_proxy with its store open and its port bound, not yet serving.
#[derive(Debug)]
pub struct DbProxy {
    listener: TcpListener,
    shared: Arc<Shared>,
    config: Config,
}

impl DbProxy {
    /// Opens the store (migrations included) and binds the listen address.
    pub async fn bind(options: Config) -> Result<DbProxy, Error> {
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
            config: options,
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
        listener::serve(self.listener, self.shared, &self.config, shutdown).await;
        shared.store.close().await;
        tracing::info!("db_proxy stopped");
        Ok(())
    }
}
