//! CID_MSG_DATA: store a message and answer with the same IMMsgData carrying
//! the assigned msg_id (what TeamTalk's db_proxy sends back; msg_server acks
//! the sender from it). msg_id 0 means "not stored": msg_server does not ack
//! it. Single text/audio go to IMMessage_x, group text/audio to
//! IMGroupMessage_x; the bytes of msg_data are kept exactly (see
//! `store::content`).

use ferry_proto::pb::im::base_define::MsgType;
use ferry_proto::pb::im::message::ImMsgData;

use crate::Error;
use crate::store::{Outgoing, Store, now};

pub(super) async fn apply(store: &Store, req: &ImMsgData) -> Result<Option<ImMsgData>, Error> {
    if req.msg_data.is_empty() {
        return Err(Error::InvalidArgument("empty msg_data".into()));
    }
    let create_time = if req.create_time == 0 {
        now()
    } else {
        req.create_time
    };
    let msg = Outgoing {
        from: req.from_user_id,
        to: req.to_session_id,
        msg_type: req.msg_type,
        data: &req.msg_data,
        create_time,
    };
    let msg_id = match MsgType::try_from(req.msg_type) {
        Ok(MsgType::SingleText | MsgType::SingleAudio) => store.send_single(&msg).await?,
        Ok(MsgType::GroupText | MsgType::GroupAudio) => store.send_group(&msg).await?,
        Err(_) => {
            return Err(Error::InvalidArgument(format!("msg_type {}", req.msg_type)));
        }
    };
    Ok(Some(ImMsgData {
        msg_id,
        create_time,
        ..req.clone()
    }))
}

pub(super) fn error_result(req: &ImMsgData) -> Option<ImMsgData> {
    Some(ImMsgData {
        msg_id: 0,
        ..req.clone()
    })
}
