//! Where an offline file lives: on the relay that took its upload, and
//! nowhere else unless a standby relay serves a copy of its store (then
//! every holder is named, in link order, and a client that loses the first
//! moves on to the next). Nothing in TeamTalk's records says which relay that is
//! (IMTransmitFile has no such column), so a msg_server asks the relays:
//! ferry's locate extension (`ferry_proto::extension`,
//! `PROTOCOL-EXTENSIONS.md`) names task ids, and each relay answers with
//! those its offline store holds. The answer is the relays' own truth, so
//! it holds for any msg_server, one restarted, or one that never saw the
//! upload.
//!
//! ```text
//! link up:    OFFLINE_LOCATE_REQ {}            ─> relay   (a probe)
//!             OFFLINE_LOCATE_RSP {}            <─ ferry relay: it answers; a stock file_server never does
//! a receiver: OFFLINE_LOCATE_REQ {ids, cookie} ─> every relay that answers, at once
//!             OFFLINE_LOCATE_RSP {held ids}    <─ each
//! a delete:  OFFLINE_DELETE_REQ {id, receiver}  ─> the relay that claims the task
//!             OFFLINE_DELETE_RSP {result}       <─ (logged)
//! ```
//!
//! Only relays that answered the probe are asked, so a stock file_server
//! costs no wait. A link stays marked once it answered (a ferry relay
//! replaced by a stock one at the same address would cost each locate
//! `call_timeout`, then fall back as below). A file no relay claims (stock relays, a relay down) gets
//! the relay new offline tasks for its receiver go to ([`preferred`]):
//! msg_server places a receiver's offline files on one relay, by user id,
//! so that even then, and in TeamTalk's single address list of a
//! HAS_OFFLINE answer, one relay holds them all.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use ferry_proto::attach::Attach;
use ferry_proto::extension::OFFLINE_LOCATE_MAX_TASKS;
use ferry_proto::pb::ferry::link::{OfflineDeleteReq, OfflineLocateReq, OfflineLocateRsp};
use ferry_proto::pb::im::base_define::IpAddr;

use super::Shared;
use super::file::owner_first;
use crate::server::Link;

/// Which relay links answer ferry's locate request, by link index: learned
/// from the answer to the probe each link sends when it comes up.
#[derive(Debug, Default)]
pub(super) struct Locating {
    answers: Vec<AtomicBool>,
}

impl Locating {
    pub(super) fn new(relays: usize) -> Locating {
        Locating {
            answers: (0..relays).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Link `index` answered a locate request: it is a ferry relay.
    pub(super) fn answered(&self, index: usize) {
        if let Some(a) = self.answers.get(index)
            && !a.swap(true, Ordering::Relaxed)
        {
            tracing::info!(link = index, "relay answers offline locate requests");
        }
    }

    fn answers(&self, index: usize) -> bool {
        self.answers
            .get(index)
            .is_some_and(|a| a.load(Ordering::Relaxed))
    }
}

/// The probe sent on each relay link as it comes up: an empty request.
pub(super) fn probe() -> Option<Bytes> {
    let req = OfflineLocateReq {
        task_id: Vec::new(),
        attach_data: None,
    };
    ferry_proto::frame::encode_to_bytes(&req, 0, ferry_proto::frame::DEFAULT_MAX_FRAME).ok()
}

/// The relay (link index) new offline tasks for receiver `to` go to first:
/// `to` modulo the number of relays configured, or the next one up after
/// it in list order. Several msg_servers with the same `file_server` list
/// pick the same relay.
pub(super) fn preferred(shared: &Shared, to: u32) -> Option<usize> {
    let links = shared.links().relays.links();
    let n = links.len();
    if n == 0 {
        return None;
    }
    let start = to as usize % n;
    (0..n).map(|i| (start + i) % n).find(|&i| links[i].is_up())
}

/// Which relays (link indexes, ascending) hold each of `ids`, as the
/// relays that answer locate requests tell; an id no relay claims is
/// absent. More than one holds a file when a standby relay serves a copy
/// of another's store (multi-node.md). Every relay is asked at once; one
/// that does not answer within `call_timeout` is left out (its files then
/// go by [`preferred`]).
pub(super) async fn locate(shared: &Arc<Shared>, ids: &[Bytes]) -> HashMap<Bytes, Vec<usize>> {
    let mut found = HashMap::new();
    if ids.is_empty() {
        return found;
    }
    let mut asks = tokio::task::JoinSet::new();
    for link in shared.links().relays.links() {
        if !link.is_up() || !shared.locating.answers(link.index) {
            continue;
        }
        for chunk in ids.chunks(OFFLINE_LOCATE_MAX_TASKS) {
            asks.spawn(ask(shared.clone(), link.clone(), chunk.to_vec()));
        }
    }
    while let Some(answer) = asks.join_next().await {
        if let Ok(Some((index, held))) = answer {
            for id in held {
                if ids.contains(&id) {
                    let holders: &mut Vec<usize> = found.entry(id).or_default();
                    if !holders.contains(&index) {
                        holders.push(index);
                    }
                }
            }
        }
    }
    for holders in found.values_mut() {
        holders.sort_unstable();
    }
    found
}

/// One locate request on `link`, awaited as a call.
async fn ask(shared: Arc<Shared>, link: Link, ids: Vec<Bytes>) -> Option<(usize, Vec<Bytes>)> {
    let pending = shared.calls.start();
    let req = OfflineLocateReq {
        task_id: ids,
        attach_data: Some(Attach::handle(0, pending.id).encode()),
    };
    let pdu = shared.encode(&req, 0)?;
    link.send(pdu).await.ok()?;
    match pending.answer(shared.config.call_timeout).await {
        Ok((_, frame)) => match frame.decode::<OfflineLocateRsp>() {
            Ok(rsp) => Some((link.index, rsp.task_id)),
            Err(e) => {
                tracing::warn!(link = link.index, error = %e, "bad offline locate answer");
                None
            }
        },
        Err(e) => {
            tracing::warn!(link = link.index, error = %e, "offline locate: no answer from a relay");
            None
        }
    }
}

/// The addresses a receiver downloads offline task `task_id` (for user
/// `to`) from: each relay that holds it in link order (a client moves to
/// the next relay's when one dies), each with its owning core's port
/// first; the preferred relay's when none claims it; empty when no relay
/// is up.
pub(super) async fn task_addresses(shared: &Arc<Shared>, task_id: &Bytes, to: u32) -> Vec<IpAddr> {
    let mut found = locate(shared, std::slice::from_ref(task_id)).await;
    let holders = found.remove(task_id).unwrap_or_else(|| {
        tracing::debug!(task = %ferry_proto::text::show(task_id), "no relay claims the offline task");
        preferred(shared, to).into_iter().collect()
    });
    holders
        .into_iter()
        .flat_map(|i| owner_first(shared.relay_ips_of(i), task_id))
        .collect()
}

/// The address list of a HAS_OFFLINE answer for `user`, whose files are
/// `ids`. TeamTalk's answer has one list for all its files: the relay
/// holding most of them comes first (a tie: link order), then any other
/// relay holding some (a standby serving a copy of the store among them)
/// (a client that moves to the next address when a relay refuses its
/// login finds those too), then the preferred relay if some file is
/// claimed by none (or there is no file).
pub(super) async fn list_addresses(shared: &Arc<Shared>, ids: &[Bytes], user: u32) -> Vec<IpAddr> {
    let found = locate(shared, ids).await;
    let mut counts: Vec<(usize, usize)> = Vec::new();
    for index in found.values().flatten() {
        match counts.iter_mut().find(|(i, _)| i == index) {
            Some((_, n)) => *n += 1,
            None => counts.push((*index, 1)),
        }
    }
    counts.sort_by_key(|&(i, n)| (std::cmp::Reverse(n), i));
    let mut order: Vec<usize> = counts.into_iter().map(|(i, _)| i).collect();
    if (found.len() < ids.len() || order.is_empty())
        && let Some(p) = preferred(shared, user)
        && !order.contains(&p)
    {
        order.push(p);
    }
    if order.len() > 1 {
        tracing::info!(
            user,
            relays = order.len(),
            "offline files of one receiver lie on several relays"
        );
    }
    order
        .into_iter()
        .flat_map(|i| shared.relay_ips_of(i))
        .collect()
}

/// Receiver `user` deleted offline task `task_id`: every relay that holds
/// it (a standby serving a copy of the store too) is told to drop the
/// stored file (ferry's delete extension; each checks that `user` is the
/// task's receiver). No relay claims it (a stock file_server, a relay
/// down): nothing to tell, the file expires there.
pub(super) async fn delete(shared: &Arc<Shared>, task_id: Bytes, user: u32) {
    let found = locate(shared, std::slice::from_ref(&task_id)).await;
    let Some(holders) = found.get(&task_id) else {
        tracing::debug!(task = %ferry_proto::text::show(&task_id), "offline delete: no relay claims the task");
        return;
    };
    let req = OfflineDeleteReq {
        task_id: task_id.clone(),
        user_id: user,
        attach_data: None,
    };
    let Some(pdu) = shared.encode(&req, 0) else {
        return;
    };
    let links = shared.links().relays.links();
    for &index in holders {
        if let Some(link) = links.get(index) {
            let _ = link.send(pdu.clone()).await;
        }
    }
}
