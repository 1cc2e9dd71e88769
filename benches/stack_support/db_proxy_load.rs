//! db_proxy alone, in the same run: the stack's own db_proxy port (ferry
//! up prints it) called straight with `ferry_client::raw::Caller`, as
//! msg_server calls it, from as many connections as loadgen has workers:
//!
//! - logins: CID_OTHER_VALIDATE_REQ for the same users (TeamTalk MD5
//!   rows), unpaced, one request in flight per connection;
//! - messages: CID_IM_MSG_DATA between the same users' ids (what
//!   msg_server stores for each message), paced per connection at the
//!   rate loadgen's msg-storm paces each worker, in step as its workers.
//!
//! The latency is one request's answer (µs); an answer that says no (a
//! wrong password, no message id) counts as failed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use ferry_client::raw::Caller;
use ferry_control::store::md5_hex;
use ferry_proto::pb::im::base_define::MsgType;
use ferry_proto::pb::im::message::ImMsgData;
use ferry_proto::pb::im::server::{ImValidateReq, ImValidateRsp};

/// What the connections got answered.
#[derive(Debug, Default)]
pub(crate) struct Answered {
    /// Successful answers' latencies, µs, sorted.
    pub(crate) latencies: Vec<u64>,
    pub(crate) failed: u64,
    pub(crate) elapsed: Duration,
}

impl Answered {
    /// Successful answers per second.
    pub(crate) fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile of the latencies, ms.
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        let l = &self.latencies;
        if l.is_empty() {
            return 0.0;
        }
        l[((l.len() - 1) as f64 * q).round() as usize] as f64 / 1e3
    }
}

/// `connections` connections validating `users` (connection `c` the
/// `c % len`th) with `password` for `run`.
pub(crate) async fn logins(
    addr: SocketAddr,
    users: &[String],
    password: &str,
    connections: usize,
    run: Duration,
) -> Result<Answered> {
    let password: Bytes = md5_hex(password.as_bytes()).into();
    let mut callers = Vec::new();
    for c in 0..connections {
        let caller = Caller::connect(addr).await?;
        let name: Bytes = users[c % users.len()].clone().into();
        callers.push((caller, name));
    }
    let started = Instant::now();
    let end = started + run;
    let tasks = callers.into_iter().map(|(mut caller, name)| {
        let password = password.clone();
        tokio::spawn(async move {
            let mut got = Answered::default();
            while Instant::now() < end {
                let t0 = Instant::now();
                let req = ImValidateReq {
                    user_name: name.clone(),
                    password: password.clone(),
                    attach_data: None,
                };
                let rsp: ImValidateRsp = caller.call(&req).await?;
                got.record(t0, rsp.result_code == 0);
            }
            anyhow::Ok(got)
        })
    });
    gather(tasks.collect(), started).await
}

/// `connections` connections storing a message from `pairs[c].0` to
/// `pairs[c].1` each, `per_connection` a second, for `run`. The
/// connections tick in step from the start, as loadgen's msg-storm
/// workers do (they start together, each paced from its first message),
/// so db_proxy sees the same bursts (and batches them alike: its message
/// writer stores what is queued in one transaction).
pub(crate) async fn messages(
    addr: SocketAddr,
    pairs: &[(u32, u32)],
    per_connection: f64,
    run: Duration,
) -> Result<Answered> {
    let mut callers = Vec::new();
    for &pair in pairs {
        callers.push((Caller::connect(addr).await?, pair));
    }
    let period = Duration::from_secs_f64(1.0 / per_connection);
    let started = Instant::now();
    let end = started + run;
    let tasks = callers.into_iter().map(|(mut caller, (from, to))| {
        tokio::spawn(async move {
            let mut got = Answered::default();
            let mut tick = tokio::time::interval_at(started.into(), period);
            for k in 0u64.. {
                tick.tick().await;
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let req = ImMsgData {
                    from_user_id: from,
                    to_session_id: to,
                    msg_id: 0,
                    create_time: 0,
                    msg_type: MsgType::SingleText as i32,
                    msg_data: format!("stack bench {k}").into(),
                    attach_data: None,
                };
                let rsp: ImMsgData = caller.call(&req).await?;
                got.record(t0, rsp.msg_id != 0);
            }
            anyhow::Ok(got)
        })
    });
    gather(tasks.collect(), started).await
}

impl Answered {
    fn record(&mut self, sent: Instant, ok: bool) {
        if ok {
            self.latencies.push(sent.elapsed().as_micros() as u64);
        } else {
            self.failed += 1;
        }
    }
}

async fn gather(
    tasks: Vec<tokio::task::JoinHandle<Result<Answered>>>,
    started: Instant,
) -> Result<Answered> {
    let mut all = Answered::default();
    for t in tasks {
        let got = t.await??;
        all.latencies.extend(got.latencies);
        all.failed += got.failed;
    }
    all.elapsed = started.elapsed();
    all.latencies.sort_unstable();
    Ok(all)
}
