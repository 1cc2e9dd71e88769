//! Listening sockets: bound on the starting thread (so their real addresses
//! are known before any worker runs), adopted by the worker that serves
//! them, accepted from until the core drains.

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::BytesMut;
use monoio::io::CancelHandle;
use monoio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};

use crate::core_state::Core;
use crate::session;

/// Binds `addr`; `reuse_port` lets every core bind the shared port, the
/// kernel spreading connections among them.
pub(crate) fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(reuse_port)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Accepts client connections and serves each on this core.
pub(crate) async fn accept_clients(
    core: Rc<Core>,
    listener: std::net::TcpListener,
    cancel: CancelHandle,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            return tracing::error!(core = core.id, error = %e, "cannot adopt client listener");
        }
    };
    loop {
        match listener.cancelable_accept(cancel.clone()).await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                monoio::spawn(session::serve(core.clone(), stream, BytesMut::new()));
            }
            Err(e) if session::is_cancel(&e) => return,
            Err(e) => {
                // Out of fds or similar: back off instead of spinning.
                tracing::warn!(core = core.id, error = %e, "accept failed");
                monoio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}
