//! Messages: sending (stored by db_proxy, acked to the sender, delivered to
//! the receiver's sessions and the sender's others, here and through
//! route_server), read acks and P2P commands.
//!
//! A message the server will not take (over the per-connection rate, empty,
//! to oneself) is answered with an ack whose msg_id is 0, the same answer a
//! message db_proxy refuses gets: TeamTalk drops these silently and the
//! client waits for an ack that never comes.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use ferry_proto::Frame;
use ferry_proto::pb::im::base_define::SessionType;
use ferry_proto::pb::im::message::{
    ImMsgData, ImMsgDataAck, ImMsgDataReadAck, ImMsgDataReadNotify,
};
use ferry_proto::pb::im::switch_service::Imp2pCmdMsg;

use super::client::{ClientConn, Refusal};
use super::group;

/// Group message types have bit 0x10 set (MSG_TYPE_GROUP_TEXT 0x11, _AUDIO 0x12).
pub(super) fn is_group(msg_type: i32) -> bool {
    msg_type & 0x10 != 0
}

pub(super) async fn send(conn: &mut ClientConn, f: &Frame) -> Result<(), Refusal> {
    let mut m: ImMsgData = f.decode()?;
    let seq = f.header.seq_num;
    let group = is_group(m.msg_type);
    let session_type = if group {
        SessionType::Group
    } else {
        SessionType::Single
    };
    let refused = if !conn.within_rate() {
        Some("over the per-connection message rate")
    } else if m.msg_data.is_empty() {
        Some("empty message")
    } else if !group && m.to_session_id == conn.user {
        Some("a message to oneself")
    } else {
        None
    };
    if let Some(why) = refused {
        conn.shared
            .stats
            .messages_refused
            .fetch_add(1, Ordering::Relaxed);
        tracing::info!(user = conn.user, why, "message refused");
        let ack = ImMsgDataAck {
            user_id: conn.user,
            session_id: m.to_session_id,
            msg_id: 0,
            session_type: session_type as i32,
        };
        conn.reply(&ack, seq).await;
        return Ok(());
    }
    m.from_user_id = conn.user;
    m.create_time = crate::store::now();
    let (shared, handle, user, to) = (conn.shared.clone(), conn.handle, conn.user, m.to_session_id);
    tokio::spawn(async move {
        let stored = match shared.call(&shared.links().db, m, seq, handle).await {
            Ok(frame) => frame.decode::<ImMsgData>().ok(),
            Err(e) => {
                tracing::warn!(user, error = %e, "message not stored");
                None
            }
        };
        let msg_id = stored.as_ref().map_or(0, |m| m.msg_id);
        let ack = ImMsgDataAck {
            user_id: user,
            session_id: to,
            msg_id,
            session_type: session_type as i32,
        };
        let outbox = shared.sessions().get(handle).map(|s| s.outbox.clone());
        if let (Some(outbox), Some(pdu)) = (outbox, shared.encode(&ack, seq)) {
            let _ = outbox.send(pdu).await;
        }
        let Some(mut stored) = stored.filter(|m| m.msg_id != 0) else {
            shared
                .stats
                .messages_refused
                .fetch_add(1, Ordering::Relaxed);
            return;
        };
        shared.stats.messages.fetch_add(1, Ordering::Relaxed);
        stored.attach_data = None;
        let Some(pdu) = shared.encode(&stored, 0) else {
            return;
        };
        if group {
            group::deliver(&shared, &stored, &pdu, Some(handle)).await;
        } else {
            shared.to_user(to, &pdu, None);
            shared.to_user(user, &pdu, Some(handle));
        }
        let _ = shared.links().route.send(pdu).await;
    });
    Ok(())
}

/// The reader's unread count is cleared (db_proxy; no answer) and the
/// reader's other sessions and, for a single chat, the peer's hear it was
/// read (TeamTalk misses the peer when both are on one msg_server).
pub(super) async fn read_ack(conn: &mut ClientConn, f: &Frame) -> Result<(), Refusal> {
    let mut ack: ImMsgDataReadAck = f.decode()?;
    ack.user_id = conn.user;
    let shared = &conn.shared;
    if let Some(pdu) = shared.encode(&ack, f.header.seq_num) {
        let _ = shared.links().db.send(pdu).await;
    }
    let notify = ImMsgDataReadNotify {
        user_id: conn.user,
        session_id: ack.session_id,
        msg_id: ack.msg_id,
        session_type: ack.session_type,
    };
    if let Some(pdu) = shared.encode(&notify, 0) {
        shared.to_user(conn.user, &pdu, Some(conn.handle));
        if ack.session_type == SessionType::Single as i32 {
            shared.to_user(ack.session_id, &pdu, None);
        }
        let _ = shared.links().route.send(pdu).await;
    }
    Ok(())
}

/// A P2P command (typing, shaking) to another user, from the session's
/// user whatever the client wrote (TeamTalk passes its from_user_id on).
pub(super) async fn p2p(conn: &mut ClientConn, f: &Frame) -> Result<(), Refusal> {
    let mut m: Imp2pCmdMsg = f.decode()?;
    m.from_user_id = conn.user;
    let shared = &conn.shared;
    let Some(pdu): Option<Bytes> = shared.encode(&m, f.header.seq_num) else {
        return Ok(());
    };
    shared.to_user(m.to_user_id, &pdu, Some(conn.handle));
    shared.to_user(conn.user, &pdu, Some(conn.handle));
    let _ = shared.links().route.send(pdu).await;
    Ok(())
}
