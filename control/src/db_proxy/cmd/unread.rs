//! CID_MSG_UNREAD_CNT_REQUEST -> CID_MSG_UNREAD_CNT_RESPONSE, and
//! CID_MSG_READ_ACK (clears the counter; TeamTalk's db_proxy sends nothing
//! back, msg_server notifies the reader's other connections itself).

use ferry_proto::pb::im::message::{ImMsgDataReadAck, ImUnreadMsgCntReq, ImUnreadMsgCntRsp};

use crate::Error;
use crate::store::Store;

pub(super) async fn apply(
    store: &Store,
    req: &ImUnreadMsgCntReq,
) -> Result<Option<ImUnreadMsgCntRsp>, Error> {
    let (total, list) = store.unread(req.user_id).await?;
    Ok(Some(ImUnreadMsgCntRsp {
        user_id: req.user_id,
        total_cnt: total,
        unreadinfo_list: list,
        attach_data: req.attach_data.clone(),
    }))
}

pub(super) fn error_result(_: &ImUnreadMsgCntReq) -> Option<ImUnreadMsgCntRsp> {
    None
}

pub(super) async fn read_ack(store: &Store, req: &ImMsgDataReadAck) -> Result<(), Error> {
    store
        .mark_read(req.user_id, req.session_id, req.session_type == 2)
        .await
}
