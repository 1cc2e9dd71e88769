//! CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST -> _RESPONSE and
//! CID_BUDDY_LIST_REMOVE_SESSION_REQ -> _RES.

use ferry_proto::pb::im::base_define::SessionType;
use ferry_proto::pb::im::buddy::{
    ImRecentContactSessionReq, ImRecentContactSessionRsp, ImRemoveSessionReq, ImRemoveSessionRsp,
};

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

/// CID_BUDDY_LIST_REMOVE_SESSION_REQ -> _RES: result 0 when a live session
/// was removed (and its unread count cleared), 1 otherwise. A session type
/// outside SessionType is dropped unanswered, as TeamTalk does.
pub(super) async fn remove(
    store: &Store,
    req: &ImRemoveSessionReq,
) -> Result<Option<ImRemoveSessionRsp>, Error> {
    if SessionType::try_from(req.session_type).is_err() {
        tracing::info!(
            session_type = req.session_type,
            "remove session: no such session type"
        );
        return Ok(None);
    }
    let removed = store
        .remove_session(req.user_id, req.session_id, req.session_type as u32)
        .await?;
    Ok(remove_answer(req, removed))
}

pub(super) fn remove_failed(req: &ImRemoveSessionReq) -> Option<ImRemoveSessionRsp> {
    remove_answer(req, false)
}

fn remove_answer(req: &ImRemoveSessionReq, removed: bool) -> Option<ImRemoveSessionRsp> {
    Some(ImRemoveSessionRsp {
        user_id: req.user_id,
        result_code: u32::from(!removed),
        session_type: req.session_type,
        session_id: req.session_id,
        attach_data: req.attach_data.clone(),
    })
}
