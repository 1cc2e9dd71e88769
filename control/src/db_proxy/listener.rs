//! Accepting msg_server connections: a permit per connection (the limit), a
//! backoff when accept fails (out of file descriptors), one task per
//! connection, and the drain at shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::{Config, Shared, connection};

pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    options: &Config,
    shutdown: impl Future<Output = ()>,
) {
    let limit = Arc::new(Semaphore::new(options.max_connections as usize));
    // Connections watch this to stop reading when shutdown starts.
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
            accepted = accept(&listener) => accepted,
        };
        let shared = shared.clone();
        let stop = stop_rx.clone();
        connections.spawn(async move {
            connection::run(stream, peer, shared, stop).await;
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    tracing::info!(
        connections = connections.len(),
        "db_proxy draining: no new connections, answering requests in flight"
    );
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(options.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "drain deadline passed; closing the remaining connections"
        );
        connections.shutdown().await;
    }
}

/// Accepts one connection, backing off 1, 2, 4 … 64 ms while accept fails
/// (EMFILE and the like), as mini-redis does, instead of spinning.
async fn accept(listener: &TcpListener) -> (TcpStream, std::net::SocketAddr) {
    let mut backoff = Duration::from_millis(1);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                return (stream, peer);
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(64));
            }
        }
    }
}
