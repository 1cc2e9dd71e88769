//! Group traffic: a group message reaches every member's sessions (the
//! members asked of db_proxy, as TeamTalk does), and a member change is
//! told to the members old and new once db_proxy has made it.

use bytes::Bytes;
use ferry_proto::Frame;
use ferry_proto::pb::im::base_define::GroupVersionInfo;
use ferry_proto::pb::im::group::{
    ImGroupChangeMemberNotify, ImGroupChangeMemberReq, ImGroupChangeMemberRsp, ImGroupInfoListReq,
    ImGroupInfoListRsp,
};
use ferry_proto::pb::im::message::ImMsgData;

use super::Shared;
use super::client::{ClientConn, Refusal};
use super::sessions::Handle;

/// The current members of `group` as db_proxy tells them to `asker` (who
/// must be one); empty when it cannot.
pub(super) async fn members(shared: &Shared, group: u32, asker: u32, handle: Handle) -> Vec<u32> {
    let req = ImGroupInfoListReq {
        user_id: asker,
        group_version_list: vec![GroupVersionInfo {
            group_id: group,
            version: 0,
        }],
        attach_data: None,
    };
    match shared.call(&shared.links().db, req, 0, handle).await {
        Ok(frame) => match frame.decode::<ImGroupInfoListRsp>() {
            Ok(rsp) => rsp
                .group_info_list
                .into_iter()
                .find(|g| g.group_id == group)
                .map(|g| g.group_member_list)
                .unwrap_or_default(),
            Err(e) => {
                tracing::warn!(group, error = %e, "bad group info answer");
                Vec::new()
            }
        },
        Err(e) => {
            tracing::warn!(group, error = %e, "group members unknown; message not delivered here");
            Vec::new()
        }
    }
}

/// A stored group message (`pdu`, its clean frame) to every member's
/// sessions here but `except` (the sender's own connection).
pub(super) async fn deliver(shared: &Shared, msg: &ImMsgData, pdu: &Bytes, except: Option<Handle>) {
    let members = members(
        shared,
        msg.to_session_id,
        msg.from_user_id,
        except.unwrap_or(0),
    )
    .await;
    if !members.contains(&msg.from_user_id) {
        return; // the sender is no member (any more): nobody hears it
    }
    for member in members {
        shared.to_user(member, pdu, except);
    }
}

/// Forwards the change to db_proxy; once made, the members before and after
/// and the changed users hear of it (all their sessions, here and through
/// route_server; the requesting connection gets the answer instead).
pub(super) async fn change_member(conn: &mut ClientConn, f: &Frame) -> Result<(), Refusal> {
    let mut req: ImGroupChangeMemberReq = f.decode()?;
    req.user_id = conn.user;
    let (shared, handle, user, seq) = (
        conn.shared.clone(),
        conn.handle,
        conn.user,
        f.header.seq_num,
    );
    tokio::spawn(async move {
        let links = shared.links();
        let (change_type, group_id) = (req.change_type, req.group_id);
        let rsp = match shared.call(&links.db, req, seq, handle).await {
            Ok(frame) => frame.decode::<ImGroupChangeMemberRsp>().ok(),
            Err(e) => {
                tracing::warn!(user, error = %e, "group change not made");
                None
            }
        };
        let mut rsp = rsp.unwrap_or(ImGroupChangeMemberRsp {
            user_id: user,
            change_type,
            result_code: 1,
            group_id,
            cur_user_id_list: Vec::new(),
            chg_user_id_list: Vec::new(),
            attach_data: None,
        });
        rsp.attach_data = None;
        if rsp.result_code == 0 {
            let notify = ImGroupChangeMemberNotify {
                user_id: user,
                change_type: rsp.change_type,
                group_id: rsp.group_id,
                cur_user_id_list: rsp.cur_user_id_list.clone(),
                chg_user_id_list: rsp.chg_user_id_list.clone(),
            };
            if let Some(pdu) = shared.encode(&notify, 0) {
                let mut users: Vec<u32> = notify
                    .cur_user_id_list
                    .iter()
                    .chain(&notify.chg_user_id_list)
                    .copied()
                    .collect();
                users.sort_unstable();
                users.dedup();
                for u in users {
                    shared.to_user(u, &pdu, Some(handle));
                }
                let _ = links.route.send(pdu).await;
            }
        }
        let outbox = shared.sessions().get(handle).map(|s| s.outbox.clone());
        if let (Some(outbox), Some(pdu)) = (outbox, shared.encode(&rsp, seq)) {
            let _ = outbox.send(pdu).await;
        }
    });
    Ok(())
}
