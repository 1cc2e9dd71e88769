//! One msg_server's link: what it says about its users, what it asks, and
//! what it hands over for users elsewhere.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use ferry_proto::pb::im::base_define::{UserStat, UserStatType};
use ferry_proto::pb::im::buddy::ImRemoveSessionNotify;
use ferry_proto::pb::im::buddy::{ImUserStatNotify, ImUsersStatReq, ImUsersStatRsp};
use ferry_proto::pb::im::file::ImFileNotify;
use ferry_proto::pb::im::group::ImGroupChangeMemberNotify;
use ferry_proto::pb::im::message::{ImMsgData, ImMsgDataReadNotify};
use ferry_proto::pb::im::server::{
    ImOnlineUserInfo, ImServerKickUser, ImServerPcLoginStatusNotify, ImUserStatusUpdate,
};
use ferry_proto::pb::im::switch_service::Imp2pCmdMsg;
use ferry_proto::registry::*;
use ferry_proto::{Frame, Pdu, frame};

use super::Shared;
use super::presence::{Change, LinkId};
use crate::server::{Flow, FrameHandler, Outbox};

/// Where a PDU handed over goes.
enum Targets {
    /// The links holding a session of any of these users, but the sender.
    Users(Vec<u32>),
    /// Every link but the sender.
    Others,
    /// Every link, the sender too (it does not deliver locally first).
    All,
}

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

    fn encode<T: Pdu>(&self, msg: &T, seq: u16) -> Option<Bytes> {
        frame::encode_to_bytes(msg, seq, self.shared.max_frame)
            .map_err(|e| tracing::error!(error = %e, "not sent"))
            .ok()
    }

    /// Tells every link of the users whose PC presence moved: status
    /// notifies to all links (each msg_server passes them on to the
    /// sessions that watch the user), PC-login notifies to the links of the
    /// user (their mobile sessions show it).
    async fn announce(&self, changes: Vec<Change>) {
        for c in changes.into_iter().filter(|c| c.pc_before != c.pc_after) {
            let status = if c.pc_after {
                UserStatType::UserStatusOnline
            } else {
                UserStatType::UserStatusOffline
            };
            let notify = ImUserStatNotify {
                user_stat: UserStat {
                    user_id: c.user,
                    status: status as i32,
                },
            };
            if let Some(pdu) = self.encode(&notify, 0) {
                self.deliver(pdu, Targets::All).await;
            }
            if c.present {
                let pc = ImServerPcLoginStatusNotify {
                    user_id: c.user,
                    login_status: u32::from(c.pc_after),
                };
                if let Some(pdu) = self.encode(&pc, 0) {
                    self.deliver(pdu, Targets::Users(vec![c.user])).await;
                }
            }
        }
    }

    async fn deliver(&self, pdu: Bytes, targets: Targets) {
        let outboxes: Vec<Outbox> = {
            let links = self.shared.links();
            match targets {
                Targets::All => links.values().cloned().collect(),
                Targets::Others => links
                    .iter()
                    .filter(|(id, _)| **id != self.id)
                    .map(|(_, o)| o.clone())
                    .collect(),
                Targets::Users(users) => {
                    let presence = self.shared.presence();
                    let mut ids: Vec<LinkId> = users
                        .iter()
                        .flat_map(|u| presence.links_of(*u))
                        .filter(|id| *id != self.id)
                        .collect();
                    ids.sort_unstable();
                    ids.dedup();
                    ids.iter().filter_map(|id| links.get(id).cloned()).collect()
                }
            }
        };
        for outbox in outboxes {
            let _ = outbox.send(pdu.clone()).await;
        }
    }

    async fn handle(&mut self, f: Frame) -> Result<(), ferry_proto::DecodeError> {
        let cmd = f.header.command;
        if cmd == CID_OTHER_USER_STATUS_UPDATE {
            let u: ImUserStatusUpdate = f.decode()?;
            let online = u.user_status != UserStatType::UserStatusOffline as u32;
            let change = self
                .shared
                .presence()
                .update(self.id, u.user_id, u.client_type, online);
            self.announce(vec![change]).await;
        } else if cmd == CID_OTHER_ONLINE_USER_INFO {
            let info: ImOnlineUserInfo = f.decode()?;
            let changes = self
                .shared
                .presence()
                .replace_link(self.id, &info.user_stat_list);
            tracing::info!(
                link = self.id,
                sessions = info.user_stat_list.len(),
                "msg_server's sessions restated"
            );
            self.announce(changes).await;
        } else if cmd == CID_BUDDY_LIST_USERS_STATUS_REQUEST {
            let req: ImUsersStatReq = f.decode()?;
            let stats = {
                let presence = self.shared.presence();
                req.user_id_list
                    .iter()
                    .map(|&user_id| UserStat {
                        user_id,
                        status: if presence.pc_online(user_id) {
                            UserStatType::UserStatusOnline as i32
                        } else {
                            UserStatType::UserStatusOffline as i32
                        },
                    })
                    .collect()
            };
            let rsp = ImUsersStatRsp {
                user_id: req.user_id,
                user_stat_list: stats,
                attach_data: req.attach_data,
            };
            if let Some(pdu) = self.encode(&rsp, f.header.seq_num) {
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
        let changes = self.shared.presence().remove_link(self.id);
        tracing::info!(link = self.id, peer = %self.peer, users = changes.len(), "msg_server link closed; its sessions are offline");
        self.announce(changes).await;
    }
}
