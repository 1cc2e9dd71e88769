//! One client connection to msg_server: the command table. Before a login
//! is validated only the login and heartbeats are taken; anything else
//! closes the connection with its reason logged (TeamTalk processes it all,
//! with the client's own ids). After, every user id a client sends is
//! replaced by its session's, and each command is answered here, forwarded
//! (db_proxy or route_server, answered by handle), or run as a flow
//! (`login`, `message`, `group`, `file`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ferry_proto::pb::im::base_define::{UserStat, UserStatType};
use ferry_proto::pb::im::buddy::{
    ImAllUserReq, ImChangeAvatarReq, ImChangeAvatarRsp, ImChangeSignInfoReq, ImChangeSignInfoRsp,
    ImDepartmentReq, ImRecentContactSessionReq, ImRemoveSessionNotify, ImRemoveSessionReq,
    ImSignInfoChangedNotify, ImUsersInfoReq, ImUsersStatReq, ImUsersStatRsp,
};
use ferry_proto::pb::im::group::{
    ImGroupCreateReq, ImGroupInfoListReq, ImGroupShieldReq, ImNormalGroupListReq,
};
use ferry_proto::pb::im::login::{
    ImDeviceTokenReq, ImDeviceTokenRsp, ImKickPcClientReq, ImKickPcClientRsp, ImLogoutReq,
    ImLogoutRsp, ImPushShieldReq, ImQueryPushShieldReq,
};
use ferry_proto::pb::im::message::{
    ImClientTimeReq, ImClientTimeRsp, ImGetLatestMsgIdReq, ImGetMsgByIdReq, ImGetMsgListReq,
    ImUnreadMsgCntReq,
};
use ferry_proto::registry::*;
use ferry_proto::{DecodeError, Frame};

use super::sessions::{Handle, is_mobile};
use super::{Shared, file, group, login, message};
use crate::server::{Flow, FrameHandler, Outbox};

/// Why a client connection is closed.
#[derive(Debug, thiserror::Error)]
pub(super) enum Refusal {
    #[error("{0} before login")]
    BeforeLogin(CommandId),
    #[error("bad body: {0}")]
    Body(#[from] DecodeError),
}

pub(super) struct ClientConn {
    pub(super) shared: Arc<Shared>,
    pub(super) handle: Handle,
    /// This connection's own outbox (answers need no session lookup).
    outbox: Outbox,
    /// 0 until the login is validated.
    pub(super) user: u32,
    pub(super) client_type: i32,
    pub(super) login_tried: bool,
    connected: Instant,
    /// Messages sent in the current one-second window.
    window: (Instant, u32),
}

impl ClientConn {
    pub(super) fn new(shared: Arc<Shared>, handle: Handle, outbox: Outbox) -> ClientConn {
        ClientConn {
            shared,
            handle,
            outbox,
            user: 0,
            client_type: 0,
            login_tried: false,
            connected: Instant::now(),
            window: (Instant::now(), 0),
        }
    }

    /// Counts a message; false when this second's allowance is used up.
    pub(super) fn within_rate(&mut self) -> bool {
        let now = Instant::now();
        if now.duration_since(self.window.0) >= Duration::from_secs(1) {
            self.window = (now, 0);
        }
        self.window.1 += 1;
        self.window.1 <= self.shared.config.messages_per_second
    }

    /// Answers on this connection (its own outbox: waits for room).
    pub(super) async fn reply<T: ferry_proto::Pdu>(&self, msg: &T, seq: u16) {
        if let Some(pdu) = self.shared.encode(msg, seq) {
            let _ = self.outbox.send(pdu).await;
        }
    }

    async fn handle(&mut self, f: Frame) -> Result<Flow, Refusal> {
        let cmd = f.header.command;
        let seq = f.header.seq_num;
        if cmd == CID_OTHER_HEARTBEAT {
            let _ = self.outbox.send(f.pdu).await;
            return Ok(Flow::Continue);
        }
        if cmd == CID_LOGIN_REQ_USERLOGIN {
            return Ok(login::login(self, &f).await);
        }
        if self.user == 0 {
            self.shared
                .stats
                .unauthenticated
                .fetch_add(1, Ordering::Relaxed);
            return Err(Refusal::BeforeLogin(cmd));
        }
        let user = self.user;
        let links = self.shared.links();
        // A plain forward to db_proxy: user id forced, answered by handle.
        macro_rules! to_db {
            ($t:ty, |$m:ident| $force:expr) => {{
                let mut $m: $t = f.decode()?;
                $force;
                if !self.shared.forward(&links.db, $m, seq, self.handle, 0).await {
                    tracing::warn!(command = %cmd, "no db_proxy link up; request dropped");
                }
            }};
        }
        match cmd {
            c if c == CID_LOGIN_REQ_LOGINOUT => {
                let _: ImLogoutReq = f.decode()?;
                // As TeamTalk: the push token is cleared at logout.
                let clear = ImDeviceTokenReq {
                    user_id: user,
                    device_token: Default::default(),
                    client_type: None,
                    attach_data: None,
                };
                if let Some(pdu) = self.shared.encode(&clear, seq) {
                    let _ = links.db.send(pdu).await;
                }
                self.reply(&ImLogoutRsp { result_code: 0 }, seq).await;
                return Ok(Flow::Close);
            }
            c if c == CID_LOGIN_REQ_DEVICETOKEN => {
                let mut req: ImDeviceTokenReq = f.decode()?;
                req.user_id = user;
                req.client_type = Some(self.client_type);
                req.attach_data = None;
                if let Some(pdu) = self.shared.encode(&req, seq) {
                    let _ = links.db.send(pdu).await;
                }
                // TeamTalk answers with an empty body; this one is filled.
                let rsp = ImDeviceTokenRsp {
                    user_id: user,
                    attach_data: None,
                };
                self.reply(&rsp, seq).await;
            }
            c if c == CID_LOGIN_REQ_KICKPCCLIENT => {
                let _: ImKickPcClientReq = f.decode()?;
                let result_code = if is_mobile(self.client_type) {
                    login::kick_pc_sessions(&self.shared, user).await;
                    0
                } else {
                    1 // only a phone may log its owner's PC out
                };
                self.reply(
                    &ImKickPcClientRsp {
                        user_id: user,
                        result_code,
                    },
                    seq,
                )
                .await;
            }
            c if c == CID_LOGIN_REQ_PUSH_SHIELD => to_db!(ImPushShieldReq, |m| m.user_id = user),
            c if c == CID_LOGIN_REQ_QUERY_PUSH_SHIELD => {
                to_db!(ImQueryPushShieldReq, |m| m.user_id = user)
            }
            c if c == CID_MSG_DATA => message::send(self, &f).await?,
            c if c == CID_MSG_DATA_ACK => {} // delivery receipts are not tracked
            c if c == CID_MSG_READ_ACK => message::read_ack(self, &f).await?,
            c if c == CID_MSG_TIME_REQUEST => {
                let _: ImClientTimeReq = f.decode()?;
                let rsp = ImClientTimeRsp {
                    server_time: crate::store::now(),
                };
                self.reply(&rsp, seq).await;
            }
            c if c == CID_MSG_UNREAD_CNT_REQUEST => to_db!(ImUnreadMsgCntReq, |m| m.user_id = user),
            c if c == CID_MSG_LIST_REQUEST => to_db!(ImGetMsgListReq, |m| m.user_id = user),
            c if c == CID_MSG_GET_LATEST_MSG_ID_REQ => {
                to_db!(ImGetLatestMsgIdReq, |m| m.user_id = user)
            }
            c if c == CID_MSG_GET_BY_MSG_ID_REQ => to_db!(ImGetMsgByIdReq, |m| m.user_id = user),
            c if c == CID_SWITCH_P2P_CMD => message::p2p(self, &f).await?,
            c if c == CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST => {
                to_db!(ImRecentContactSessionReq, |m| m.user_id = user)
            }
            c if c == CID_BUDDY_LIST_USER_INFO_REQUEST => {
                to_db!(ImUsersInfoReq, |m| m.user_id = user)
            }
            c if c == CID_BUDDY_LIST_REMOVE_SESSION_REQ => {
                let mut m: ImRemoveSessionReq = f.decode()?;
                m.user_id = user;
                let notify = ImRemoveSessionNotify {
                    user_id: user,
                    session_type: m.session_type,
                    session_id: m.session_id,
                };
                if !self.shared.forward(&links.db, m, seq, self.handle, 0).await {
                    tracing::warn!(command = %cmd, "no db_proxy link up; request dropped");
                }
                if let Some(pdu) = self.shared.encode(&notify, 0) {
                    self.shared.to_user(user, &pdu, Some(self.handle));
                    let _ = links.route.send(pdu).await;
                }
            }
            c if c == CID_BUDDY_LIST_ALL_USER_REQUEST => to_db!(ImAllUserReq, |m| m.user_id = user),
            c if c == CID_BUDDY_LIST_USERS_STATUS_REQUEST => self.users_status(&f).await?,
            c if c == CID_BUDDY_LIST_CHANGE_AVATAR_REQUEST => {
                let _: ImChangeAvatarReq = f.decode()?;
                // Neither TeamTalk's db_proxy nor ferry's stores avatars;
                // TeamTalk leaves the client waiting, this says no.
                self.reply(
                    &ImChangeAvatarRsp {
                        user_id: user,
                        result_code: 1,
                        attach_data: None,
                    },
                    seq,
                )
                .await;
            }
            c if c == CID_BUDDY_LIST_DEPARTMENT_REQUEST => {
                to_db!(ImDepartmentReq, |m| m.user_id = user)
            }
            c if c == CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST => self.sign_info(&f).await?,
            c if c == CID_GROUP_NORMAL_LIST_REQUEST => {
                to_db!(ImNormalGroupListReq, |m| m.user_id = user)
            }
            c if c == CID_GROUP_INFO_REQUEST => to_db!(ImGroupInfoListReq, |m| m.user_id = user),
            c if c == CID_GROUP_CREATE_REQUEST => to_db!(ImGroupCreateReq, |m| m.user_id = user),
            c if c == CID_GROUP_CHANGE_MEMBER_REQUEST => group::change_member(self, &f).await?,
            c if c == CID_GROUP_SHIELD_GROUP_REQUEST => {
                to_db!(ImGroupShieldReq, |m| m.user_id = user)
            }
            c if c == CID_FILE_REQUEST => file::request(self, &f).await?,
            c if c == CID_FILE_HAS_OFFLINE_REQ => file::has_offline(self, &f).await?,
            c if c == CID_FILE_ADD_OFFLINE_REQ => file::add_offline(self, &f).await?,
            c if c == CID_FILE_DEL_OFFLINE_REQ => file::del_offline(self, &f).await?,
            other => {
                tracing::info!(command = %other, "not a client command here; ignored");
            }
        }
        Ok(Flow::Continue)
    }

    /// Users' online status: ONLINE when a PC client of theirs is on any
    /// msg_server (route_server knows; TeamTalk's rule). The session is
    /// told later changes of these users. Without a route link, answered
    /// from this msg_server's own sessions.
    async fn users_status(&mut self, f: &Frame) -> Result<(), Refusal> {
        let mut req: ImUsersStatReq = f.decode()?;
        req.user_id = self.user;
        let limit = self.shared.config.watch_limit as usize;
        self.shared
            .sessions()
            .watch(self.handle, &req.user_id_list, limit);
        let links = self.shared.links();
        let ids = req.user_id_list.clone();
        if links.route.any_up()
            && self
                .shared
                .forward(&links.route, req, f.header.seq_num, self.handle, 0)
                .await
        {
            return Ok(());
        }
        self.local_status(f.header.seq_num, &ids).await;
        Ok(())
    }

    async fn local_status(&self, seq: u16, ids: &[u32]) {
        let stats = {
            let sessions = self.shared.sessions();
            ids.iter()
                .map(|&user_id| UserStat {
                    user_id,
                    status: if sessions.has_pc(user_id) {
                        UserStatType::UserStatusOnline as i32
                    } else {
                        UserStatType::UserStatusOffline as i32
                    },
                })
                .collect()
        };
        let rsp = ImUsersStatRsp {
            user_id: self.user,
            user_stat_list: stats,
            attach_data: None,
        };
        self.reply(&rsp, seq).await;
    }

    /// A new signature: stored through db_proxy; when it is, everyone who
    /// watches the user hears of it.
    async fn sign_info(&mut self, f: &Frame) -> Result<(), Refusal> {
        let mut req: ImChangeSignInfoReq = f.decode()?;
        req.user_id = self.user;
        let (shared, handle, user, seq) = (
            self.shared.clone(),
            self.handle,
            self.user,
            f.header.seq_num,
        );
        tokio::spawn(async move {
            let links = shared.links();
            let answer = shared.call(&links.db, req, seq, handle).await;
            let rsp = match answer
                .ok()
                .and_then(|f| f.decode::<ImChangeSignInfoRsp>().ok())
            {
                Some(mut rsp) => {
                    rsp.attach_data = None;
                    rsp
                }
                None => ImChangeSignInfoRsp {
                    user_id: user,
                    result_code: 1,
                    sign_info: None,
                    attach_data: None,
                },
            };
            if rsp.result_code == 0
                && let Some(sign_info) = rsp.sign_info.clone()
            {
                let notify = ImSignInfoChangedNotify {
                    changed_user_id: user,
                    sign_info,
                };
                if let Some(pdu) = shared.encode(&notify, 0) {
                    shared.tell_presence(user, pdu.clone()).await;
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
}

impl FrameHandler for ClientConn {
    async fn on_frame(&mut self, frame: Frame) -> Flow {
        let command = frame.header.command;
        match self.handle(frame).await {
            Ok(flow) => flow,
            Err(e) => {
                tracing::warn!(%command, user = self.user, reason = %e, "client refused; closing");
                Flow::Close
            }
        }
    }

    async fn on_end(self) {
        let session = self.shared.sessions().remove(self.handle);
        if let Some(s) = session
            && s.user != 0
            && let Some(pdu) = login::announce(&self.shared, s.user, s.client_type, false).await
        {
            self.shared.tell_presence(s.user, pdu).await;
        }
    }

    fn read_timeout(&self) -> Option<Duration> {
        let c = &self.shared.config;
        Some(if self.user == 0 {
            (self.connected + c.login_timeout)
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        } else if is_mobile(self.client_type) {
            c.mobile_timeout
        } else {
            c.pc_timeout
        })
    }
}
