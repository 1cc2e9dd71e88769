//! Reading history: CID_MSG_LIST_REQUEST, CID_MSG_GET_LATEST_MSG_ID_REQ and
//! CID_MSG_GET_BY_MSG_ID_REQ. A user reads a pair they belong to, or a group
//! they are a member of; anything else is an empty answer (latest id 0).

use ferry_proto::pb::im::message::{
    ImGetLatestMsgIdReq, ImGetLatestMsgIdRsp, ImGetMsgByIdReq, ImGetMsgByIdRsp, ImGetMsgListReq,
    ImGetMsgListRsp,
};

use crate::Error;
use crate::store::{Conversation, Store};

fn conversation(user: u32, session_type: i32, session: u32) -> Conversation {
    if session_type == 2 {
        Conversation::Group {
            user,
            group: session,
        }
    } else {
        Conversation::Pair {
            user,
            peer: session,
        }
    }
}

pub(super) async fn apply(
    store: &Store,
    req: &ImGetMsgListReq,
) -> Result<Option<ImGetMsgListRsp>, Error> {
    let conv = conversation(req.user_id, req.session_type, req.session_id);
    let msg_list = store
        .message_page(conv, req.msg_id_begin, req.msg_cnt)
        .await?;
    Ok(Some(ImGetMsgListRsp {
        user_id: req.user_id,
        session_type: req.session_type,
        session_id: req.session_id,
        msg_id_begin: req.msg_id_begin,
        msg_list,
        attach_data: req.attach_data.clone(),
    }))
}

pub(super) fn error_result(_: &ImGetMsgListReq) -> Option<ImGetMsgListRsp> {
    None
}

pub(super) async fn latest(
    store: &Store,
    req: &ImGetLatestMsgIdReq,
) -> Result<ImGetLatestMsgIdRsp, Error> {
    let conv = conversation(req.user_id, req.session_type, req.session_id);
    let latest = store.latest(conv).await?;
    Ok(ImGetLatestMsgIdRsp {
        user_id: req.user_id,
        session_type: req.session_type,
        session_id: req.session_id,
        latest_msg_id: latest.map_or(0, |m| m.msg_id),
        attach_data: req.attach_data.clone(),
    })
}

pub(super) async fn by_id(store: &Store, req: &ImGetMsgByIdReq) -> Result<ImGetMsgByIdRsp, Error> {
    let conv = conversation(req.user_id, req.session_type, req.session_id);
    let msg_list = store.messages_by_id(conv, &req.msg_id_list).await?;
    Ok(ImGetMsgByIdRsp {
        user_id: req.user_id,
        session_type: req.session_type,
        session_id: req.session_id,
        msg_list,
        attach_data: req.attach_data.clone(),
    })
}
