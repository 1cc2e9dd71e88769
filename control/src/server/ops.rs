//! The operator endpoint of a control service (its `metrics_listen` key):
//! `GET /health` answers 200 `ok` or 503 with the reason, `GET /metrics`
//! Prometheus text (exposition format 0.0.4). Plain HTTP/1 on hyper, one
//! request per connection, 10 s per connection, 8 KiB of request head.

use std::convert::Infallible;
use std::fmt::{Display, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONNECTION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::Error;

/// What a service reports on its operator endpoint.
pub trait Report: Send + Sync + 'static {
    /// `Err(reason)` when the service cannot do its job now (a link it
    /// needs is down, its database does not answer): `/health` says 503.
    fn health(&self) -> Result<(), String>;
    /// Prometheus text: every metric with HELP and TYPE lines.
    fn metrics(&self) -> String;
}

/// Prometheus text, one metric at a time.
#[derive(Debug, Default)]
pub struct Metrics(String);

impl Metrics {
    /// A value that goes up and down (connections, sessions).
    pub fn gauge(&mut self, name: &str, help: &str, value: impl Display) -> &mut Self {
        self.metric("gauge", name, help, value)
    }

    /// A count since start (`name` ends in `_total`).
    pub fn counter(&mut self, name: &str, help: &str, value: impl Display) -> &mut Self {
        self.metric("counter", name, help, value)
    }

    fn metric(&mut self, kind: &str, name: &str, help: &str, value: impl Display) -> &mut Self {
        let _ = writeln!(
            self.0,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
        self
    }

    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.0)
    }
}

/// A running operator endpoint; dropping it stops it.
#[derive(Debug)]
pub struct Ops {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Ops {
    /// Binds `addr` and serves `report` on it until dropped.
    ///
    /// Errors: [`Error::Bind`] when the port is taken.
    pub async fn start(addr: SocketAddr, report: Arc<dyn Report>) -> Result<Ops, Error> {
        let socket = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let addr = socket.local_addr()?;
        tracing::info!(%addr, "health and metrics listening");
        let task = tokio::spawn(async move {
            loop {
                let stream = match socket.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::debug!(error = %e, "ops accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let report = report.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let rsp = answer(&*report, req.uri().path());
                        async move { Ok::<_, Infallible>(rsp) }
                    });
                    let conn = http1::Builder::new()
                        .keep_alive(false)
                        .max_buf_size(8192)
                        .serve_connection(TokioIo::new(stream), service);
                    let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
                });
            }
        });
        Ok(Ops { addr, task })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Ops {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(report: &dyn Report, path: &str) -> Response<Full<Bytes>> {
    match path {
        "/health" => match report.health() {
            Ok(()) => text(StatusCode::OK, "ok\n".into()),
            Err(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
        },
        "/metrics" => text(StatusCode::OK, report.metrics()),
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

/// A plain-text answer (Prometheus' content type), connection closed after.
pub fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from(body)));
    *rsp.status_mut() = status;
    rsp.headers_mut().insert(
        CONTENT_TYPE,
        "text/plain; version=0.0.4".parse().expect("header"),
    );
    rsp.headers_mut()
        .insert(CONNECTION, "close".parse().expect("header"));
    rsp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text_has_help_and_type() {
        let text = Metrics::default()
            .gauge("ferry_x", "Things now.", 3)
            .counter("ferry_y_total", "Things ever.", 7u64)
            .finish();
        assert_eq!(
            text,
            "# HELP ferry_x Things now.\n# TYPE ferry_x gauge\nferry_x 3\n\
             # HELP ferry_y_total Things ever.\n# TYPE ferry_y_total counter\nferry_y_total 7\n"
        );
    }
}
