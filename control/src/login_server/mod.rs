//! login_server: which msg_server a client should use. msg_servers register
//! on one port and report their load; clients ask over HTTP (`GET
//! /msg_server`, TeamTalk's JSON) or with the binary IMMsgServReq on the
//! client port, and get the least loaded msg_server below its maximum.
//!
//! - [`config`]: the `[login_server]` section.
//! - [`registry`]: registered msg_servers and the choice.
//! - `http`: `/msg_server`, `/health`, `/metrics` on hyper.
//! - `discovery`: the binary IMMsgServReq on the client port.
//! - `registration`: a msg_server's link (IMMsgServInfo, IMUserCntUpdate).

mod config;
mod discovery;
mod http;
mod registration;
pub mod registry;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use config::Config;
use registry::Registry;

use crate::Error;
use crate::server::ops::Metrics;
use crate::server::{ConnConfig, Connection, Listener, ListenerConfig};

#[derive(Debug, Default)]
struct Stats {
    http_requests: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    config: Config,
    registry: Mutex<Registry>,
    next_link: AtomicU64,
    stats: Stats,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn metrics(&self) -> String {
        let r = self.registry();
        Metrics::default()
            .gauge(
                "ferry_login_msg_servers",
                "msg_servers registered.",
                r.len(),
            )
            .gauge(
                "ferry_login_sessions",
                "Sessions the registered msg_servers report.",
                r.sessions(),
            )
            .counter(
                "ferry_login_http_requests_total",
                "/msg_server requests answered.",
                self.stats.http_requests.load(Ordering::Relaxed),
            )
            .finish()
    }
}

/// The addresses a login_server listens on.
#[derive(Debug, Clone, Copy)]
pub struct Addresses {
    pub http: SocketAddr,
    pub client: SocketAddr,
    pub msg_server: SocketAddr,
}

/// A login_server with its three ports bound, not yet serving.
#[derive(Debug)]
pub struct LoginServer {
    http: Listener,
    client: Listener,
    msg_server: Listener,
    shared: Arc<Shared>,
}

impl LoginServer {
    pub async fn bind(config: Config) -> Result<LoginServer, Error> {
        let listener = |service| ListenerConfig {
            service,
            max_connections: config.max_connections,
            drain_timeout: Duration::from_secs(5),
        };
        let http = Listener::bind(config.http_listen, listener("login_http")).await?;
        let client = Listener::bind(config.client_listen, listener("login_client")).await?;
        let msg_server =
            Listener::bind(config.msg_server_listen, listener("login_msg_server")).await?;
        Ok(LoginServer {
            http,
            client,
            msg_server,
            shared: Arc::new(Shared {
                config,
                registry: Mutex::default(),
                next_link: AtomicU64::new(0),
                stats: Stats::default(),
            }),
        })
    }

    pub fn addresses(&self) -> Result<Addresses, Error> {
        Ok(Addresses {
            http: self.http.local_addr()?,
            client: self.client.local_addr()?,
            msg_server: self.msg_server.local_addr()?,
        })
    }

    /// Serves until `shutdown` completes, then drains.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
        let a = self.addresses()?;
        tracing::info!(http = %a.http, client = %a.client, msg_server = %a.msg_server, "login_server listening");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let until = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let shared = self.shared.clone();
        let http = self
            .http
            .serve(until(stop_rx.clone()), move |stream, peer, stop| {
                http::serve(shared.clone(), stream, peer, stop)
            });
        let shared = self.shared.clone();
        let client = self
            .client
            .serve(until(stop_rx.clone()), move |stream, peer, stop| {
                let conn = Connection::new(stream, client_conn(shared.config.max_connections));
                let handler = discovery::Discovery {
                    shared: shared.clone(),
                    peer,
                    outbox: conn.outbox(),
                };
                conn.run(stop, handler)
            });
        let shared = self.shared.clone();
        let links = self
            .msg_server
            .serve(until(stop_rx), move |stream, peer, stop| {
                let config = &shared.config;
                let conn = Connection::new(
                    stream,
                    ConnConfig {
                        max_frame: ferry_proto::frame::DEFAULT_MAX_FRAME,
                        read_timeout: config.link_timeout,
                        heartbeat: Some(config.heartbeat),
                        queue: 64,
                        queue_bytes: usize::MAX,
                    },
                );
                let link = shared.next_link.fetch_add(1, Ordering::Relaxed) + 1;
                conn.run(
                    stop,
                    registration::Registration {
                        shared: shared.clone(),
                        link,
                        peer,
                    },
                )
            });
        let serving = async {
            tokio::join!(http, client, links);
        };
        tokio::pin!(serving);
        tokio::select! {
            _ = &mut serving => {}
            _ = shutdown => {
                let _ = stop_tx.send(true);
                serving.await;
            }
        }
        tracing::info!("login_server stopped");
        Ok(())
    }
}

/// A client's discovery connection: small frames, a short life.
fn client_conn(_max_connections: u32) -> ConnConfig {
    ConnConfig {
        max_frame: 64 << 10,
        read_timeout: Duration::from_secs(120),
        heartbeat: None,
        queue: 4,
        queue_bytes: usize::MAX,
    }
}
