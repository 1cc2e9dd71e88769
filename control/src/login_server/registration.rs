//! A msg_server's link to login_server: it registers (IMMsgServInfo: its
//! addresses, port, maximum and current sessions) and reports each login
//! and logout (IMUserCntUpdate, 1 in / 2 out). When the link closes the
//! msg_server is no longer offered to clients.

use std::net::SocketAddr;
use std::sync::Arc;

use ferry_proto::Frame;
use ferry_proto::pb::im::server::{ImMsgServInfo, ImUserCntUpdate};
use ferry_proto::registry::{
    CID_OTHER_HEARTBEAT, CID_OTHER_MSG_SERV_INFO, CID_OTHER_USER_CNT_UPDATE,
};
use ferry_proto::text;

use super::Shared;
use super::registry::MsgServer;
use crate::server::{Flow, FrameHandler};

pub(super) struct Registration {
    pub(super) shared: Arc<Shared>,
    pub(super) link: u64,
    pub(super) peer: SocketAddr,
}

impl FrameHandler for Registration {
    async fn on_frame(&mut self, f: Frame) -> Flow {
        let cmd = f.header.command;
        if cmd == CID_OTHER_MSG_SERV_INFO {
            match f.decode::<ImMsgServInfo>() {
                Ok(info) => {
                    let server = MsgServer {
                        ip1: String::from_utf8_lossy(&info.ip1).into_owned(),
                        ip2: String::from_utf8_lossy(&info.ip2).into_owned(),
                        port: info.port,
                        max_conn: info.max_conn_cnt,
                        cur_conn: info.cur_conn_cnt,
                        host: String::from_utf8_lossy(&info.host_name).into_owned(),
                    };
                    tracing::info!(
                        link = self.link,
                        peer = %self.peer,
                        ip1 = %text::show(&info.ip1),
                        port = info.port,
                        max = info.max_conn_cnt,
                        cur = info.cur_conn_cnt,
                        "msg_server registered"
                    );
                    self.shared.registry().register(self.link, server);
                }
                Err(e) => tracing::warn!(error = %e, "bad msg_server registration; dropped"),
            }
        } else if cmd == CID_OTHER_USER_CNT_UPDATE {
            match f.decode::<ImUserCntUpdate>() {
                Ok(u) => self.shared.registry().count(self.link, u.user_action == 1),
                Err(e) => tracing::warn!(error = %e, "bad session count update; dropped"),
            }
        } else if cmd != CID_OTHER_HEARTBEAT {
            tracing::info!(command = %cmd, "ignored on a msg_server registration link");
        }
        Flow::Continue
    }

    async fn on_end(self) {
        if self.shared.registry().remove(self.link).is_some() {
            tracing::warn!(link = self.link, peer = %self.peer, "msg_server link closed; no longer offered");
        }
    }
}
