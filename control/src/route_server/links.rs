//! One msg_server's link: what it says about its users, what it asks, and
//! what it hands over for users elsewhere.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use std::collections::HashMap;

use ferry_proto::Frame;
use ferry_proto::pb::im::base_define::{UserStat, UserStatType};
use ferry_proto::pb::im::buddy::ImRemoveSessionNotify;
use ferry_proto::pb::im::buddy::{ImUsersStatReq, ImUsersStatRsp};
use ferry_proto::pb::im::file::ImFileNotify;
use ferry_proto::pb::im::group::ImGroupChangeMemberNotify;
use ferry_proto::pb::im::message::{ImMsgData, ImMsgDataReadNotify};
use ferry_proto::pb::im::server::{ImOnlineUserInfo, ImServerKickUser, ImUserStatusUpdate};
use ferry_proto::pb::im::switch_service::Imp2pCmdMsg;
use ferry_proto::registry::*;

use super::Shared;
use super::delivery::{Move, Targets};
use super::presence::LinkId;
use crate::server::{Flow, FrameHandler, Outbox};

pub(super) struct MsgServerLink {
    shared: Arc<Shared>,
    id: LinkId,
    peer: SocketAddr,
}

impl MsgServerLink {
    pub(super) fn new(shared: Arc<Shared>, id: LinkId, peer: SocketAddr, outbox: Outbox) -> Self {
        shared.links().insert(id, outbox);
        tracing::info!(link = id, %peer, "msg_server linked");
        MsgServerLink { shared, id, peer }
    }

    async fn handle(&mut self, f: Frame) -> Result<(), ferry_proto::DecodeError> {
        let cmd = f.header.command;
        if cmd == CID_OTHER_USER_STATUS_UPDATE {
            let u: ImUserStatusUpdate = f.decode()?;
            let online = u.user_status != UserStatType::UserStatusOffline as u32;
            let (change, counted) = {
                let mut presence = self.shared.presence();
                // An offline for a session this link never reported
                // changes nothing, here or in Redis.
                let counted = online || presence.count_of(self.id, u.user_id, u.client_type) > 0;
                let change = presence.update(self.id, u.user_id, u.client_type, online);
                (change, counted)
            };
            let moves = if counted {
                vec![(u.user_id, u.client_type, if online { 1 } else { -1 })]
            } else {
                Vec::new()
            };
            let changes = self.shared.moved(moves, vec![change]).await;
            self.shared.announce(changes, Some(self.id)).await;
        } else if cmd == CID_OTHER_ONLINE_USER_INFO {
            let info: ImOnlineUserInfo = f.decode()?;
            let (changes, moves) = {
                let mut presence = self.shared.presence();
                let before = presence.sessions_of(self.id);
                let changes = presence.replace_link(self.id, &info.user_stat_list);
                (changes, net_moves(&before, &presence.sessions_of(self.id)))
            };
            tracing::info!(
                link = self.id,
                sessions = info.user_stat_list.len(),
                "msg_server's sessions restated"
            );
            let changes = self.shared.moved(moves, changes).await;
            self.shared.announce(changes, Some(self.id)).await;
        } else if cmd == CID_BUDDY_LIST_USERS_STATUS_REQUEST {
            let req: ImUsersStatReq = f.decode()?;
            let online = self.shared.pc_online(&req.user_id_list).await;
            let stats = req
                .user_id_list
                .iter()
                .zip(online)
                .map(|(&user_id, online)| UserStat {
                    user_id,
                    status: if online {
                        UserStatType::UserStatusOnline as i32
                    } else {
                        UserStatType::UserStatusOffline as i32
                    },
                })
                .collect();
            let rsp = ImUsersStatRsp {
                user_id: req.user_id,
                user_stat_list: stats,
                attach_data: req.attach_data,
            };
            if let Some(pdu) = self.shared.encode(&rsp, f.header.seq_num) {
                self.deliver_to_self(pdu).await;
            }
        } else if cmd == CID_MSG_DATA {
            let m: ImMsgData = f.decode()?;
            let group = m.msg_type & 0x10 != 0;
            let targets = if group {
                Targets::Others
            } else {
                Targets::Users(vec![m.from_user_id, m.to_session_id])
            };
            self.deliver(f.pdu, targets).await;
        } else if cmd == CID_SWITCH_P2P_CMD {
            let m: Imp2pCmdMsg = f.decode()?;
            self.deliver(f.pdu, Targets::Users(vec![m.from_user_id, m.to_user_id]))
                .await;
        } else if cmd == CID_MSG_READ_NOTIFY {
            let m: ImMsgDataReadNotify = f.decode()?;
            let mut users = vec![m.user_id];
            if m.session_type == 1 {
                users.push(m.session_id); // the peer learns it was read
            }
            self.deliver(f.pdu, Targets::Users(users)).await;
        } else if cmd == CID_OTHER_SERVER_KICK_USER {
            let m: ImServerKickUser = f.decode()?;
            self.deliver(f.pdu, Targets::Users(vec![m.user_id])).await;
        } else if cmd == CID_GROUP_CHANGE_MEMBER_NOTIFY {
            let m: ImGroupChangeMemberNotify = f.decode()?;
            let mut users = m.cur_user_id_list;
            users.extend(m.chg_user_id_list);
            users.push(m.user_id);
            self.deliver(f.pdu, Targets::Users(users)).await;
        } else if cmd == CID_FILE_NOTIFY {
            let m: ImFileNotify = f.decode()?;
            self.deliver(f.pdu, Targets::Users(vec![m.to_user_id]))
                .await;
        } else if cmd == CID_BUDDY_LIST_REMOVE_SESSION_NOTIFY {
            let m: ImRemoveSessionNotify = f.decode()?;
            self.deliver(f.pdu, Targets::Users(vec![m.user_id])).await;
        } else if cmd == CID_BUDDY_LIST_SIGN_INFO_CHANGED_NOTIFY {
            self.deliver(f.pdu, Targets::All).await;
        } else if cmd == CID_OTHER_ROLE_SET || cmd == CID_OTHER_HEARTBEAT {
            // TeamTalk's master/slave role: nothing depends on it here.
        } else {
            tracing::info!(command = %cmd, "ignored on a route link");
        }
        Ok(())
    }

    async fn deliver(&self, pdu: Bytes, targets: Targets) {
        self.shared.deliver(pdu, targets, Some(self.id)).await;
    }

    async fn deliver_to_self(&self, pdu: Bytes) {
        let outbox = self.shared.links().get(&self.id).cloned();
        if let Some(outbox) = outbox {
            let _ = outbox.send(pdu).await;
        }
    }
}

impl FrameHandler for MsgServerLink {
    async fn on_frame(&mut self, frame: Frame) -> Flow {
        let command = frame.header.command;
        if let Err(e) = self.handle(frame).await {
            // As TeamTalk: a body that does not parse is dropped; the link,
            // which carries every other user's traffic, stays.
            tracing::warn!(%command, error = %e, "dropped");
        }
        Flow::Continue
    }

    async fn on_end(self) {
        self.shared.links().remove(&self.id);
        let (changes, moves) = {
            let mut presence = self.shared.presence();
            let gone = presence.sessions_of(self.id);
            let changes = presence.remove_link(self.id);
            (changes, net_moves(&gone, &[]))
        };
        tracing::info!(link = self.id, peer = %self.peer, users = changes.len(), "msg_server link closed; its sessions are offline");
        let changes = self.shared.moved(moves, changes).await;
        self.shared.announce(changes, None).await;
    }
}

/// The moves that turn a link's sessions `before` into `after`.
fn net_moves(before: &[(u32, i32, u32)], after: &[(u32, i32, u32)]) -> Vec<Move> {
    let mut net: HashMap<(u32, i32), i64> = HashMap::new();
    for (u, t, n) in before {
        *net.entry((*u, *t)).or_default() -= i64::from(*n);
    }
    for (u, t, n) in after {
        *net.entry((*u, *t)).or_default() += i64::from(*n);
    }
    net.into_iter()
        .filter(|(_, d)| *d != 0)
        .map(|((u, t), d)| (u, t, d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restated_link_moves_only_what_changed() {
        let before = [(5, 1, 1), (6, 1, 2), (7, 0x12, 1)];
        let after = [(6, 1, 1), (7, 0x12, 1), (8, 1, 1)];
        let mut moves = net_moves(&before, &after);
        moves.sort_unstable();
        assert_eq!(moves, [(5, 1, -1), (6, 1, -1), (8, 1, 1)]);
        let mut gone = net_moves(&before, &[]);
        gone.sort_unstable();
        assert_eq!(gone, [(5, 1, -1), (6, 1, -2), (7, 0x12, -1)]);
    }
}
