//! The Prometheus endpoint: `GET /metrics` (every core's counters) and
//! `GET /health`. A deliberately tiny HTTP/1.0 responder on core 0: one
//! request per connection, requests bounded to 4 KiB.

use std::rc::Rc;

use monoio::io::{AsyncReadRent, AsyncWriteRentExt, CancelHandle};
use monoio::net::{TcpListener, TcpStream};

use crate::core_state::Core;
use crate::session::is_cancel;
use crate::stats;

pub(crate) async fn serve(core: Rc<Core>, listener: std::net::TcpListener, cancel: CancelHandle) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => return tracing::error!(error = %e, "cannot adopt metrics listener"),
    };
    loop {
        match listener.cancelable_accept(cancel.clone()).await {
            Ok((stream, _)) => {
                monoio::spawn(respond(core.clone(), stream));
            }
            Err(e) if is_cancel(&e) => return,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                monoio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn respond(core: Rc<Core>, mut stream: TcpStream) {
    let mut request = Vec::with_capacity(4096);
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 4096 {
        let buf = Vec::with_capacity(4096 - request.len());
        let read = monoio::time::timeout(std::time::Duration::from_secs(5), stream.read(buf)).await;
        match read {
            Ok((Ok(n), buf)) if n > 0 => request.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
    let (status, body) = if request.starts_with(b"GET /metrics") {
        ("200 OK", stats::prometheus(&core.all_stats))
    } else if request.starts_with(b"GET /health") {
        ("200 OK", "ok\n".to_string())
    } else {
        ("404 Not Found", "not found\n".to_string())
    };
    let response = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.into_bytes()).await;
}
