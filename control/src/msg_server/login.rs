//! A login, from IMLoginReq to IMLoginRes, and what a session's arrival and
//! departure tell the other servers.
//!
//! ```text
//! IMLoginReq ─> db_proxy, login_server (if configured), route_server (if configured) up?
//!     no  ─> IMLoginRes result 3 / 4 / 5 (TeamTalk's codes), close
//!     yes ─> IMValidateReq (call) ─> refused: IMLoginRes 6 + db's text, close
//!                                └─> validated: sessions of the same kind (PC or mobile) here are
//!                                    kicked (IMKickUser, then closed) and elsewhere (route:
//!                                    IMServerKickUser); login_server +1, route_server ONLINE;
//!                                    IMLoginRes 0 with the user's info
//! ```

use std::sync::atomic::Ordering;

use bytes::Bytes;
use ferry_proto::pb::im::base_define::{
    ClientType, KickReasonType, ResultType, UserStat, UserStatType,
};
use ferry_proto::pb::im::buddy::ImUserStatNotify;
use ferry_proto::pb::im::login::{ImKickUser, ImLoginReq, ImLoginRes};
use ferry_proto::pb::im::server::{
    ImServerKickUser, ImUserCntUpdate, ImUserStatusUpdate, ImValidateReq, ImValidateRsp,
};
use ferry_proto::{Frame, text};

use super::Shared;
use super::client::ClientConn;
use crate::server::Flow;

/// TeamTalk's text for a login refused by a missing server.
const SERVER_TROUBLE: &str = "服务端异常";

pub(super) async fn login(conn: &mut ClientConn, f: &Frame) -> Flow {
    if conn.user != 0 || conn.login_tried {
        return Flow::Continue; // TeamTalk ignores a second login on a connection
    }
    conn.login_tried = true;
    let seq = f.header.seq_num;
    let req: ImLoginReq = match f.decode() {
        Ok(req) => req,
        Err(e) => {
            tracing::warn!(error = %e, "bad login request; closing");
            return Flow::Close;
        }
    };
    let shared = conn.shared.clone();
    let links = shared.links();
    let missing = if !links.db.any_up() {
        Some(ResultType::RefuseReasonNoDbServer)
    } else if !links.login.is_empty() && !links.login.any_up() {
        Some(ResultType::RefuseReasonNoLoginServer)
    } else if !links.route.is_empty() && !links.route.any_up() {
        Some(ResultType::RefuseReasonNoRouteServer)
    } else {
        None
    };
    if let Some(reason) = missing {
        return refuse(conn, seq, reason, SERVER_TROUBLE.as_bytes().to_vec().into()).await;
    }
    let online_status = match UserStatType::try_from(req.online_status) {
        Ok(s) => s as i32,
        Err(_) => UserStatType::UserStatusOnline as i32,
    };
    let validate = ImValidateReq {
        user_name: req.user_name.clone(),
        password: req.password.clone(),
        attach_data: None,
    };
    let answer = match shared.call(&links.db, validate, seq, conn.handle).await {
        Ok(frame) => frame.decode::<ImValidateRsp>(),
        Err(e) => {
            tracing::warn!(error = %e, "login not validated: db_proxy");
            return refuse(
                conn,
                seq,
                ResultType::RefuseReasonNoDbServer,
                SERVER_TROUBLE.as_bytes().to_vec().into(),
            )
            .await;
        }
    };
    let rsp = match answer {
        Ok(rsp) => rsp,
        Err(e) => {
            tracing::warn!(error = %e, "bad validation answer from db_proxy");
            return refuse(
                conn,
                seq,
                ResultType::RefuseReasonDbValidateFailed,
                Default::default(),
            )
            .await;
        }
    };
    let info = match (rsp.result_code, rsp.user_info) {
        (0, Some(info)) => info,
        (code, _) => {
            tracing::info!(name = %text::show(&req.user_name), code, "login refused");
            let text = rsp.result_string.unwrap_or_default();
            return refuse(conn, seq, ResultType::RefuseReasonDbValidateFailed, text).await;
        }
    };
    let user = info.user_id;
    conn.user = user;
    conn.client_type = req.client_type;
    let kicked = shared.sessions().validate(
        conn.handle,
        user,
        req.client_type,
        online_status,
        info.department_id,
    );
    for (handle, outbox) in kicked {
        kick(
            &shared,
            user,
            &outbox,
            KickReasonType::KickReasonDuplicateUser,
        );
        tracing::info!(
            user,
            old = handle,
            "a new login of the same kind of client supersedes a session"
        );
    }
    // This session is counted before any other is kicked: route_server
    // handles a link's PDUs in order, so the user never looks offline in
    // between (with several route_servers, the kicked session's end may be
    // counted on another one first).
    let presence = announce(&shared, user, req.client_type, true).await;
    // The same user's session of this kind on other msg_servers goes too.
    let kick_elsewhere = ImServerKickUser {
        user_id: user,
        client_type: req.client_type,
        reason: KickReasonType::KickReasonDuplicateUser as u32,
    };
    if let Some(pdu) = shared.encode(&kick_elsewhere, 0) {
        let _ = links.route.send(pdu).await;
    }
    shared.stats.logins.fetch_add(1, Ordering::Relaxed);
    tracing::info!(user, client_type = req.client_type, "logged in");
    let res = ImLoginRes {
        server_time: crate::store::now(),
        result_code: ResultType::RefuseReasonNone as i32,
        result_string: rsp.result_string,
        online_status: Some(online_status),
        user_info: Some(info),
    };
    conn.reply(&res, seq).await;
    shared.sessions().answered(conn.handle);
    // The local presence fan-out after the answer: queued first, the
    // answer is written before the hundreds of notifies a department may
    // take (tests/msg_server_sessions.rs, a login among 19,900 sessions).
    if let Some(pdu) = presence {
        shared.tell_presence(user, pdu).await;
    }
    Flow::Continue
}

async fn refuse(conn: &ClientConn, seq: u16, reason: ResultType, text: bytes::Bytes) -> Flow {
    conn.shared
        .stats
        .logins_refused
        .fetch_add(1, Ordering::Relaxed);
    let res = ImLoginRes {
        server_time: crate::store::now(),
        result_code: reason as i32,
        result_string: Some(text),
        online_status: None,
        user_info: None,
    };
    conn.reply(&res, seq).await;
    Flow::Close
}

/// Tells a superseded session why, then closes it (TeamTalk tells and
/// leaves it open).
pub(super) fn kick(
    shared: &Shared,
    user: u32,
    outbox: &crate::server::Outbox,
    reason: KickReasonType,
) {
    shared.stats.kicked.fetch_add(1, Ordering::Relaxed);
    if let Some(pdu) = shared.encode(
        &ImKickUser {
            user_id: user,
            kick_reason: reason as i32,
        },
        0,
    ) {
        let _ = outbox.try_send(pdu);
    }
    outbox.close();
}

/// A phone logs its owner's PC sessions out, here and elsewhere.
pub(super) async fn kick_pc_sessions(shared: &Shared, user: u32) {
    let pcs = shared
        .sessions()
        .same_kind(user, ClientType::Windows as i32, None);
    for (_, outbox) in pcs {
        kick(shared, user, &outbox, KickReasonType::KickReasonMobileKick);
    }
    let elsewhere = ImServerKickUser {
        user_id: user,
        client_type: ClientType::Mac as i32,
        reason: KickReasonType::KickReasonMobileKick as u32,
    };
    if let Some(pdu) = shared.encode(&elsewhere, 0) {
        let _ = shared.links().route.send(pdu).await;
    }
}

/// A session of `user` came (`online`) or went: login_server counts it,
/// every route_server learns it (TeamTalk sends ONLINE whatever status the
/// client chose; so does this: status queries only tell online or not).
///
/// Returns the presence notify this msg_server must tell its own sessions
/// itself (`Shared::tell_presence`), when the user's PC presence flipped
/// and no route_server is up to tell them; the caller sends it when it
/// suits (a login, after its answer).
#[must_use]
pub(super) async fn announce(
    shared: &Shared,
    user: u32,
    client_type: i32,
    online: bool,
) -> Option<Bytes> {
    let links = shared.links();
    let count = ImUserCntUpdate {
        user_action: if online { 1 } else { 2 },
        user_id: user,
    };
    if let Some(pdu) = shared.encode(&count, 0) {
        links.login.send_all(pdu).await;
    }
    let status = ImUserStatusUpdate {
        user_status: if online {
            UserStatType::UserStatusOnline as u32
        } else {
            UserStatType::UserStatusOffline as u32
        },
        user_id: user,
        client_type,
    };
    if let Some(pdu) = shared.encode(&status, 0) {
        links.route.send_all(pdu).await;
    }
    // With no route_server up (none configured, or it is down), this
    // msg_server tells its own sessions of its own users' PC presence, so
    // presence works for a msg_server alone and degrades to local when the
    // route_server is lost.
    let flip = {
        let mut sessions = shared.sessions();
        sessions.pc_flipped(user).then(|| sessions.has_pc(user))
    };
    let pc_online = flip.filter(|_| !links.route.any_up())?;
    let status = if pc_online {
        UserStatType::UserStatusOnline
    } else {
        UserStatType::UserStatusOffline
    };
    let notify = ImUserStatNotify {
        user_stat: UserStat {
            user_id: user,
            status: status as i32,
        },
    };
    shared.encode(&notify, 0)
}
