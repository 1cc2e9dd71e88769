//! Accepting connections for a service: a permit per connection (the
//! limit; past it new connections wait in the kernel's backlog), a backoff
//! when accept fails (out of file descriptors) instead of a spin, a span per
//! connection, and the drain at shutdown: stop accepting, tell every
//! connection to stop reading, let them finish what they took, bounded.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::Error;

/// Connections the kernel completes before they are accepted (the kernel
/// caps it at net.core.somaxconn). tokio's `TcpListener::bind` asks for
/// 128, as the standard library does: a burst of logins (200 connects at
/// once, tests/msg_server_sessions.rs) then overflowed it whenever the
/// accept loop lagged, and each dropped SYN cost its client a 1 s
/// retransmit.
pub const LISTEN_BACKLOG: u32 = 1024;

/// How a listener runs.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// For logs and spans: `db_proxy`, `msg_server`, …
    pub service: &'static str,
    /// Connections served at once at most.
    pub max_connections: u32,
    /// How long shutdown waits for connections to finish.
    pub drain_timeout: Duration,
}

/// A bound listening socket, not yet accepting.
#[derive(Debug)]
pub struct Listener {
    socket: TcpListener,
    config: ListenerConfig,
}

impl Listener {
    /// Binds `addr` (SO_REUSEADDR, a backlog of [`LISTEN_BACKLOG`]); a
    /// taken port is [`Error::Bind`] naming it.
    pub async fn bind(addr: SocketAddr, config: ListenerConfig) -> Result<Listener, Error> {
        let bind = || {
            let socket = if addr.is_ipv4() {
                TcpSocket::new_v4()
            } else {
                TcpSocket::new_v6()
            }?;
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(LISTEN_BACKLOG)
        };
        let socket = bind().map_err(|source| Error::Bind { addr, source })?;
        Ok(Listener { socket, config })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        Ok(self.socket.local_addr()?)
    }

    /// Accepts until `shutdown` completes, running `serve(stream, peer,
    /// stop)` for each connection inside a span; then drains. `stop` turns
    /// true when shutdown starts: a connection stops reading and finishes.
    pub async fn serve<F, Fut>(self, shutdown: impl Future<Output = ()>, serve: F)
    where
        F: Fn(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Listener { socket, config } = self;
        let limit = Arc::new(Semaphore::new(config.max_connections as usize));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                _ = &mut shutdown => break,
                permit = limit.clone().acquire_owned() => permit.expect("limit is never closed"),
            };
            let (stream, peer) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = accept(&socket, config.service) => accepted,
            };
            let span = tracing::info_span!("conn", service = config.service, %peer);
            let run = serve(stream, peer, stop_rx.clone());
            connections.spawn(
                async move {
                    run.await;
                    drop(permit);
                }
                .instrument(span),
            );
            while connections.try_join_next().is_some() {}
        }
        drop(socket);
        tracing::info!(
            service = config.service,
            connections = connections.len(),
            "draining: no new connections, finishing what was taken"
        );
        let _ = stop_tx.send(true);
        let drained = tokio::time::timeout(config.drain_timeout, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                service = config.service,
                left = connections.len(),
                "drain deadline passed; closing the remaining connections"
            );
            connections.shutdown().await;
        }
    }
}

/// Accepts one connection, backing off 1, 2, 4 … 64 ms while accept fails
/// (EMFILE and the like), as mini-redis does, instead of spinning.
async fn accept(listener: &TcpListener, service: &str) -> (TcpStream, SocketAddr) {
    let mut backoff = Duration::from_millis(1);
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(e) => {
                tracing::warn!(service, error = %e, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(64));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of connects larger than the standard library's 128 all
    /// complete before any is accepted: past a full accept queue the
    /// kernel drops SYNs, and each dropped one would wait a 1 s
    /// retransmit, well past the timeout here.
    #[tokio::test]
    async fn a_connect_burst_fits_the_backlog() {
        let config = ListenerConfig {
            service: "test",
            max_connections: 1,
            drain_timeout: Duration::from_millis(10),
        };
        let listener = Listener::bind("127.0.0.1:0".parse().unwrap(), config)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut connects = JoinSet::new();
        for _ in 0..300 {
            connects.spawn(tokio::time::timeout(
                Duration::from_millis(500),
                TcpStream::connect(addr),
            ));
        }
        let mut held = Vec::new();
        while let Some(c) = connects.join_next().await {
            let stream = c.unwrap().expect("connected within 500 ms").unwrap();
            held.push(stream);
        }
        assert_eq!(held.len(), 300);
        drop(listener);
    }
}
