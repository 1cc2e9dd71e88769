//! CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST -> _RESPONSE.

use ferry_proto::pb::im::buddy::{ImRecentContactSessionReq, ImRecentContactSessionRsp};

use crate::Error;
use crate::store::Store;

pub(super) async fn apply(
    store: &Store,
    req: &ImRecentContactSessionReq,
) -> Result<Option<ImRecentContactSessionRsp>, Error> {
    let list = store
        .recent_sessions(req.user_id, req.latest_update_time)
        .await?;
    Ok(Some(ImRecentContactSessionRsp {
        user_id: req.user_id,
        contact_session_list: list,
        attach_data: req.attach_data.clone(),
    }))
}

pub(super) fn error_result(_: &ImRecentContactSessionReq) -> Option<ImRecentContactSessionRsp> {
    None
}
