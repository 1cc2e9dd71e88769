//! Which msg_server to log in to: login_server's `GET /msg_server`, whose
//! JSON (TeamTalk's keys) names it as `priorIP` and `port` (a string).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::{Error, Kind};

/// Answers longer than this are refused (TeamTalk's are about 300 bytes).
const MAX_BODY: usize = 64 << 10;

fn failed(text: impl Into<String>) -> Error {
    Error::new(Kind::Discovery(text.into()))
}

/// Asks the login_server at `server` (`http://host:port`, a trailing path
/// ignored) for a msg_server, within `timeout`.
///
/// Errors: `is_discovery` when the URL, the HTTP exchange or the JSON is
/// wrong, or login_server has no msg_server (`code` other than 0, whose
/// `msg` is in the error); `is_timeout`; `is_io` when it cannot be reached.
pub async fn msg_server(server: &str, timeout: Duration) -> Result<SocketAddr, Error> {
    let rest = server
        .strip_prefix("http://")
        .ok_or_else(|| failed(format!("{server:?}: only http:// is spoken")))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let ask = async {
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|e| Error::io("login_server", e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(format!("HTTP: {e}")))?;
        tokio::spawn(conn);
        let req = hyper::Request::get("/msg_server")
            .header(hyper::header::HOST, authority)
            .body(Empty::<Bytes>::new())
            .map_err(|e| failed(format!("request: {e}")))?;
        let rsp = sender
            .send_request(req)
            .await
            .map_err(|e| failed(format!("HTTP: {e}")))?;
        if !rsp.status().is_success() {
            return Err(failed(format!("HTTP status {}", rsp.status())));
        }
        let body = Limited::new(rsp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| failed(format!("body: {e}")))?
            .to_bytes();
        Ok::<_, Error>(body)
    };
    let body = tokio::time::timeout(timeout, ask).await.map_err(|_| {
        Error::new(Kind::Timeout {
            what: "login_server",
            after: timeout,
        })
    })??;
    parse(&body)
}

/// The msg_server address in login_server's JSON answer.
fn parse(body: &[u8]) -> Result<SocketAddr, Error> {
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| failed(format!("JSON: {e}")))?;
    if json["code"] != 0 {
        return Err(failed(format!(
            "login_server answered code {}: {}",
            json["code"],
            json["msg"].as_str().unwrap_or("")
        )));
    }
    let ip: IpAddr = json["priorIP"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| failed("no priorIP"))?;
    // TeamTalk writes the port as a string; accept a number too.
    let port = match &json["port"] {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        _ => None,
    }
    .ok_or_else(|| failed("no port"))?;
    Ok(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teamtalks_answer_is_read() {
        let body = br#"{"backupIP":"10.0.0.6","code":0,"discovery":"x","msfsBackup":"y","msfsPrior":"z","msg":"","port":"8000","priorIP":"10.0.0.5"}"#;
        assert_eq!(parse(body).unwrap(), "10.0.0.5:8000".parse().unwrap());
        let none = br#"{"code":1,"msg":"no msg_server"}"#;
        let e = parse(none).unwrap_err();
        assert!(
            e.is_discovery() && e.to_string().contains("no msg_server"),
            "{e}"
        );
        assert!(parse(b"<html>").unwrap_err().is_discovery());
        assert!(parse(br#"{"code":0,"priorIP":"10.0.0.5","port":"99999"}"#).is_err());
    }
}
