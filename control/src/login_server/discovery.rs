//! The binary face of login_server on its client port: IMMsgServReq is
//! answered with IMMsgServRsp (result 0 with the chosen msg_server, or
//! TeamTalk's result codes 1 no msg_server / 2 all full), seq echoed, then
//! the connection is closed, as TeamTalk means to (its own never answers:
//! the connections are not dispatched). Anything else closes it too.

use std::net::SocketAddr;
use std::sync::Arc;

use ferry_proto::pb::im::base_define::ResultType;
use ferry_proto::pb::im::login::{ImMsgServReq, ImMsgServRsp};
use ferry_proto::registry::{CID_LOGIN_REQ_MSGSERVER, CID_OTHER_HEARTBEAT};
use ferry_proto::{Frame, frame};

use super::Shared;
use super::registry::Choice;
use crate::server::{Flow, FrameHandler, Outbox};

pub(super) struct Discovery {
    pub(super) shared: Arc<Shared>,
    pub(super) peer: SocketAddr,
    pub(super) outbox: Outbox,
}

impl FrameHandler for Discovery {
    async fn on_frame(&mut self, f: Frame) -> Flow {
        if f.header.command == CID_OTHER_HEARTBEAT {
            let _ = self.outbox.send(f.pdu).await;
            return Flow::Continue;
        }
        if f.header.command != CID_LOGIN_REQ_MSGSERVER {
            tracing::info!(command = %f.header.command, "not a msg_server request; closing");
            return Flow::Close;
        }
        if let Err(e) = f.decode::<ImMsgServReq>() {
            tracing::info!(error = %e, "bad msg_server request; closing");
            return Flow::Close;
        }
        let rsp = match self.shared.registry().choose(self.peer.ip()) {
            Choice::Server {
                prior_ip,
                backup_ip,
                port,
            } => ImMsgServRsp {
                result_code: ResultType::RefuseReasonNone as i32,
                prior_ip: Some(prior_ip.into()),
                backip_ip: Some(backup_ip.into()),
                port: Some(port),
            },
            Choice::NoServer => refused(ResultType::RefuseReasonNoMsgServer),
            Choice::AllFull => refused(ResultType::RefuseReasonMsgServerFull),
        };
        if let Ok(pdu) = frame::encode_to_bytes(&rsp, f.header.seq_num, u32::MAX) {
            let _ = self.outbox.send(pdu).await;
        }
        Flow::Close
    }

    async fn on_end(self) {}
}

fn refused(reason: ResultType) -> ImMsgServRsp {
    ImMsgServRsp {
        result_code: reason as i32,
        prior_ip: None,
        backip_ip: None,
        port: None,
    }
}
