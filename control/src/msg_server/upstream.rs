//! What comes back on msg_server's links.
//!
//! - db_proxy: every answer carries the attach cookie. A call id hands it
//!   to the task that waits for it (`calls`); otherwise it is a forwarded
//!   request's answer and goes to the session the handle names, if that
//!   session is logged in as the user the answer is for, with the cookie
//!   taken out (clients never see it).
//! - route_server: answers to status queries (by handle or call), presence
//!   notifies (to the sessions interested), and what other msg_servers hand
//!   over for users here: messages, P2P commands, read notifies, kicks,
//!   group and file notifies, removed sessions, signature changes.
//! - relays: their client addresses, their challenge (link secret), and
//!   task and locate answers (calls; a locate answer also tells that the
//!   relay speaks ferry's locate extension).
//! - login_server: nothing is expected.

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use ferry_proto::attach::{ATTACH_FIELD, Attach, bytes_field, varint_field, without_field};
use ferry_proto::extension::{
    CID_OTHER_LINK_CHALLENGE, CID_OTHER_OFFLINE_DELETE_RSP, CID_OTHER_OFFLINE_LOCATE_RSP,
    OfflineDeleteResult, link_mac,
};
use ferry_proto::frame::HEADER_LEN;
use ferry_proto::pb::ferry::link::OfflineDeleteRsp;
use ferry_proto::pb::ferry::link::{LinkAuth, LinkChallenge};
use ferry_proto::pb::im::base_define::{KickReasonType, UserStatType};
use ferry_proto::pb::im::buddy::{
    ImRemoveSessionNotify, ImSignInfoChangedNotify, ImUserStatNotify, ImpcLoginStatusNotify,
};
use ferry_proto::pb::im::file::ImFileNotify;
use ferry_proto::pb::im::group::ImGroupChangeMemberNotify;
use ferry_proto::pb::im::message::{ImMsgData, ImMsgDataReadNotify};
use ferry_proto::pb::im::server::{
    ImFileServerIpRsp, ImServerKickUser, ImServerPcLoginStatusNotify,
};
use ferry_proto::pb::im::switch_service::Imp2pCmdMsg;
use ferry_proto::registry::*;
use ferry_proto::{Frame, Header};
use tokio::sync::mpsc;

use super::sessions::is_mobile;
use super::{Shared, group, login, message};

type Frames = mpsc::Receiver<(usize, Frame)>;

/// The cookie of an answer, if it has one.
fn cookie(frame: &Frame) -> Option<Attach> {
    let body = frame.body();
    let raw = bytes_field(&body, ATTACH_FIELD)?;
    Attach::parse(&body.slice_ref(raw))
}

/// `frame` without its cookie: the same header (seq included), the body
/// less field 20.
fn clean(frame: &Frame) -> Option<Bytes> {
    let body = without_field(&frame.body(), ATTACH_FIELD)?;
    let mut header = frame.header;
    header.length = (HEADER_LEN + body.len()) as u32;
    let mut out = BytesMut::with_capacity(HEADER_LEN + body.len());
    header.write(&mut out);
    out.put_slice(&body);
    Some(out.freeze())
}

/// An answer either completes a call or goes to the session its cookie
/// names, cleaned.
fn route_answer(shared: &Shared, index: usize, frame: Frame) {
    let Some(attach) = cookie(&frame) else {
        tracing::debug!(command = %frame.header.command, "answer without a cookie; dropped");
        return;
    };
    if attach.service_type != 0 {
        if !shared.calls.complete(attach.service_type, index, frame) {
            tracing::debug!("answer to a call nobody waits for (timed out); dropped");
        }
        return;
    }
    let session = {
        let sessions = shared.sessions();
        sessions
            .get(attach.handle)
            .filter(|s| s.user != 0)
            .map(|s| (s.user, s.outbox.clone()))
    };
    let Some((user, outbox)) = session else {
        return; // the session is gone, or never logged in
    };
    if let Some(for_user) = varint_field(&frame.body(), 1)
        && for_user != u64::from(user)
    {
        tracing::warn!(command = %frame.header.command, user, for_user, "answer for another user; dropped");
        return;
    }
    if let Some(pdu) = clean(&frame) {
        shared.push(&outbox, pdu);
    }
}

pub(super) async fn db_frames(shared: Arc<Shared>, mut frames: Frames) {
    while let Some((index, frame)) = frames.recv().await {
        if frame.header.command == CID_OTHER_STOP_RECV_PACKET {
            tracing::info!(link = index, "db_proxy is stopping");
            continue;
        }
        route_answer(&shared, index, frame);
    }
}

pub(super) async fn login_frames(mut frames: Frames) {
    while let Some((_, frame)) = frames.recv().await {
        tracing::debug!(command = %frame.header.command, "ignored from login_server");
    }
}

pub(super) async fn relay_frames(shared: Arc<Shared>, mut frames: Frames) {
    while let Some((index, frame)) = frames.recv().await {
        let cmd = frame.header.command;
        if cmd == CID_OTHER_FILE_SERVER_IP_RSP {
            match frame.decode::<ImFileServerIpRsp>() {
                Ok(rsp) => {
                    tracing::info!(
                        link = index,
                        addresses = rsp.ip_addr_list.len(),
                        "relay addresses learned"
                    );
                    let mut ips = shared.relay_ips.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(slot) = ips.get_mut(index) {
                        *slot = rsp.ip_addr_list;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "bad relay address list"),
            }
        } else if cmd == CID_OTHER_LINK_CHALLENGE {
            answer_challenge(&shared, index, &frame).await;
        } else if cmd == CID_OTHER_FILE_TRANSFER_RSP {
            route_answer(&shared, index, frame);
        } else if cmd == CID_OTHER_OFFLINE_LOCATE_RSP {
            shared.locating.answered(index);
            if cookie(&frame).is_some() {
                route_answer(&shared, index, frame); // a locate call's answer
            }
        } else if cmd == CID_OTHER_OFFLINE_DELETE_RSP {
            match frame.decode::<OfflineDeleteRsp>() {
                Ok(rsp) => {
                    let result = OfflineDeleteResult::from_code(rsp.result_code);
                    tracing::info!(
                        link = index,
                        task = %ferry_proto::text::show(&rsp.task_id),
                        ?result,
                        code = rsp.result_code,
                        "relay answered an offline delete"
                    );
                }
                Err(e) => tracing::warn!(error = %e, "bad offline delete answer"),
            }
        } else {
            tracing::debug!(command = %cmd, "ignored from a relay");
        }
    }
}

/// ferry's link handshake: the relay's challenge answered with the shared
/// secret, then the address list asked for and the locate probe sent.
async fn answer_challenge(shared: &Shared, index: usize, frame: &Frame) {
    let Some(secret) = &shared.config.file_server_secret else {
        tracing::error!("the relay asks for a link secret; set msg_server.file_server_secret");
        return;
    };
    let Ok(challenge) = frame.decode::<LinkChallenge>() else {
        return;
    };
    let auth = LinkAuth {
        mac: Bytes::copy_from_slice(&link_mac(secret.as_bytes(), &challenge.nonce)),
    };
    let link = &shared.links().relays.links()[index];
    for pdu in shared
        .encode(&auth, 0)
        .into_iter()
        .chain(super::relay_questions())
    {
        let _ = link.send(pdu).await;
    }
}

pub(super) async fn route_frames(shared: Arc<Shared>, mut frames: Frames) {
    while let Some((index, frame)) = frames.recv().await {
        let cmd = frame.header.command;
        if let Err(e) = from_route(&shared, index, frame).await {
            tracing::warn!(command = %cmd, error = %e, "dropped from route_server");
        }
    }
}

/// A clean copy of a PDU handed over by another msg_server, for clients:
/// no cookie, seq 0.
fn for_clients(frame: &Frame) -> Option<Bytes> {
    let body = without_field(&frame.body(), ATTACH_FIELD)?;
    let header = Header {
        length: (HEADER_LEN + body.len()) as u32,
        seq_num: 0,
        ..frame.header
    };
    let mut out = BytesMut::with_capacity(HEADER_LEN + body.len());
    header.write(&mut out);
    out.put_slice(&body);
    Some(out.freeze())
}

async fn from_route(
    shared: &Shared,
    index: usize,
    f: Frame,
) -> Result<(), ferry_proto::DecodeError> {
    let cmd = f.header.command;
    if cmd == CID_BUDDY_LIST_USERS_STATUS_RESPONSE {
        route_answer(shared, index, f);
    } else if cmd == CID_BUDDY_LIST_STATUS_NOTIFY {
        let n: ImUserStatNotify = f.decode()?;
        if let Some(pdu) = for_clients(&f) {
            shared.tell_presence(n.user_stat.user_id, pdu).await;
        }
    } else if cmd == CID_OTHER_LOGIN_STATUS_NOTIFY {
        let n: ImServerPcLoginStatusNotify = f.decode()?;
        let notify = ImpcLoginStatusNotify {
            user_id: n.user_id,
            login_stat: if n.login_status == 1 {
                UserStatType::UserStatusOnline as i32
            } else {
                UserStatType::UserStatusOffline as i32
            },
        };
        if let Some(pdu) = shared.encode(&notify, 0) {
            let sessions = shared.sessions().of_user(n.user_id);
            for (_, o, t) in sessions {
                if is_mobile(t) {
                    shared.push(&o, pdu.clone());
                }
            }
        }
    } else if cmd == CID_MSG_DATA {
        let m: ImMsgData = f.decode()?;
        let Some(pdu) = for_clients(&f) else {
            return Ok(());
        };
        if message::is_group(m.msg_type) {
            group::deliver(shared, &m, &pdu, None).await;
        } else {
            shared.to_user(m.to_session_id, &pdu, None);
            shared.to_user(m.from_user_id, &pdu, None);
        }
    } else if cmd == CID_SWITCH_P2P_CMD {
        let m: Imp2pCmdMsg = f.decode()?;
        if let Some(pdu) = for_clients(&f) {
            shared.to_user(m.to_user_id, &pdu, None);
            shared.to_user(m.from_user_id, &pdu, None);
        }
    } else if cmd == CID_MSG_READ_NOTIFY {
        let m: ImMsgDataReadNotify = f.decode()?;
        if let Some(pdu) = for_clients(&f) {
            shared.to_user(m.user_id, &pdu, None);
            if m.session_type == 1 {
                shared.to_user(m.session_id, &pdu, None);
            }
        }
    } else if cmd == CID_OTHER_SERVER_KICK_USER {
        let k: ImServerKickUser = f.decode()?;
        let victims = shared.sessions().same_kind(k.user_id, k.client_type, None);
        let reason = KickReasonType::try_from(k.reason as i32)
            .unwrap_or(KickReasonType::KickReasonDuplicateUser);
        for (_, outbox) in victims {
            login::kick(shared, k.user_id, &outbox, reason);
        }
    } else if cmd == CID_GROUP_CHANGE_MEMBER_NOTIFY {
        let n: ImGroupChangeMemberNotify = f.decode()?;
        if let Some(pdu) = for_clients(&f) {
            let mut users: Vec<u32> = n
                .cur_user_id_list
                .iter()
                .chain(&n.chg_user_id_list)
                .copied()
                .collect();
            users.sort_unstable();
            users.dedup();
            for u in users {
                shared.to_user(u, &pdu, None);
            }
        }
    } else if cmd == CID_FILE_NOTIFY {
        let n: ImFileNotify = f.decode()?;
        if let Some(pdu) = for_clients(&f) {
            shared.to_user(n.to_user_id, &pdu, None);
        }
    } else if cmd == CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY {
        let n: ImRemoveSessionNotify = f.decode()?;
        if let Some(pdu) = for_clients(&f) {
            shared.to_user(n.user_id, &pdu, None);
        }
    } else if cmd == CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY {
        let n: ImSignInfoChangedNotify = f.decode()?;
        if let Some(pdu) = for_clients(&f) {
            shared.tell_presence(n.changed_user_id, pdu).await;
        }
    } else {
        tracing::debug!(command = %cmd, "ignored from route_server");
    }
    Ok(())
}
