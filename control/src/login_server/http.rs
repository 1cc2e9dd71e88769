//! The HTTP face of login_server: `GET /msg_server` answers TeamTalk's JSON
//! (which msg_server a client should log in to), `/health` and `/metrics`
//! (Prometheus text) are for operators.
//!
//! Body of `/msg_server`, keys as TeamTalk's login_server writes them (its
//! JSON library sorts them), `port` a string:
//!
//! ```text
//! {"backupIP":"10.0.0.5","code":0,"discovery":"…","msfsBackup":"…","msfsPrior":"…",
//!  "msg":"","port":"8000","priorIP":"10.0.0.5"}
//! ```
//! On failure only `code` (1: no msg_server, 2: all full) and `msg`.
//! TeamTalk answers any path that starts with `/msg_server`, whatever the
//! method; so does this. Unlike TeamTalk it writes standard headers
//! (`Content-Type: application/json`), never truncates a long body, and
//! keeps a connection to the configured size and time.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::Shared;
use super::registry::Choice;
use crate::server::ops::text;

/// A request and its answer must be done within this (TeamTalk: 60 s).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Request head bytes buffered at most (hyper's floor; TeamTalk: 1 KiB).
const MAX_BUF: usize = 8192;

/// TeamTalk's success body, keys in its order.
#[derive(Serialize)]
struct Found<'a> {
    #[serde(rename = "backupIP")]
    backup_ip: &'a str,
    code: u32,
    discovery: &'a str,
    #[serde(rename = "msfsBackup")]
    msfs_backup: &'a str,
    #[serde(rename = "msfsPrior")]
    msfs_prior: &'a str,
    msg: &'a str,
    port: String,
    #[serde(rename = "priorIP")]
    prior_ip: &'a str,
}

#[derive(Serialize)]
struct Failed<'a> {
    code: u32,
    msg: &'a str,
}

/// Serves one HTTP connection until it is answered, times out or `stop`.
pub(super) async fn serve(
    shared: Arc<Shared>,
    stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let service = service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(route(&shared, &req, peer)) }
    });
    let conn = http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(MAX_BUF)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        done = tokio::time::timeout(CONNECTION_TIMEOUT, conn) => match done {
            Ok(Err(e)) => tracing::debug!(error = %e, "http connection failed"),
            Err(_) => tracing::debug!("http connection timed out"),
            Ok(Ok(())) => {}
        },
        _ = stop.wait_for(|s| *s) => {}
    }
}

fn route(shared: &Shared, req: &Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if path.starts_with("/msg_server") {
        shared.stats.http_requests.fetch_add(1, Ordering::Relaxed);
        return json(msg_server(shared, peer));
    }
    match path {
        "/health" => text(StatusCode::OK, "ok\n".into()),
        "/metrics" => text(StatusCode::OK, shared.metrics()),
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

/// The JSON body answering `/msg_server` for a client at `peer`.
pub(super) fn msg_server(shared: &Shared, peer: SocketAddr) -> String {
    let config = &shared.config;
    let body = match shared.registry().choose(peer.ip()) {
        Choice::Server {
            prior_ip,
            backup_ip,
            port,
        } => serde_json::to_string(&Found {
            backup_ip: &backup_ip,
            code: 0,
            discovery: &config.discovery_url,
            msfs_backup: &config.msfs_url,
            msfs_prior: &config.msfs_url,
            msg: "",
            port: port.to_string(),
            prior_ip: &prior_ip,
        }),
        Choice::NoServer => serde_json::to_string(&Failed {
            code: 1,
            msg: "没有msg_server",
        }),
        Choice::AllFull => serde_json::to_string(&Failed {
            code: 2,
            msg: "负载过高",
        }),
    };
    body.expect("plain structs serialize")
}

fn json(body: String) -> Response<Full<Bytes>> {
    let mut rsp = Response::new(Full::new(Bytes::from(body)));
    rsp.headers_mut().insert(
        CONTENT_TYPE,
        "application/json; charset=utf-8".parse().expect("header"),
    );
    rsp.headers_mut()
        .insert(CONNECTION, "close".parse().expect("header"));
    rsp
}
