//! CID_GROUP_SHIELD_GROUP_REQUEST -> _RESPONSE (result 0, or 1 for a
//! non-member, an unknown group, a status other than 0/1 or a failure;
//! TeamTalk sends nothing for an unknown group) and CID_OTHER_GET_SHIELD_REQ
//! -> _RSP (each asked user's status, 0 when never set; empty for an unknown
//! group or a failure).

use ferry_proto::pb::im::group::{ImGroupShieldReq, ImGroupShieldRsp};
use ferry_proto::pb::im::server::{ImGroupGetShieldReq, ImGroupGetShieldRsp};

use crate::Error;
use crate::store::Store;

pub(super) async fn set(store: &Store, req: &ImGroupShieldReq) -> Result<ImGroupShieldRsp, Error> {
    let ok = store
        .set_group_shield(req.user_id, req.group_id, req.shield_status)
        .await?;
    Ok(ImGroupShieldRsp {
        user_id: req.user_id,
        group_id: req.group_id,
        result_code: u32::from(!ok),
        attach_data: req.attach_data.clone(),
    })
}

pub(super) fn set_failed(req: &ImGroupShieldReq) -> Option<ImGroupShieldRsp> {
    Some(ImGroupShieldRsp {
        user_id: req.user_id,
        group_id: req.group_id,
        result_code: 1,
        attach_data: req.attach_data.clone(),
    })
}

pub(super) async fn get(
    store: &Store,
    req: &ImGroupGetShieldReq,
) -> Result<ImGroupGetShieldRsp, Error> {
    let list = if store.group_exists(req.group_id).await? {
        store.group_shields(req.group_id, &req.user_id).await?
    } else {
        Vec::new()
    };
    Ok(ImGroupGetShieldRsp {
        group_id: req.group_id,
        shield_status_list: list,
        attach_data: req.attach_data.clone(),
    })
}

pub(super) fn get_failed(req: &ImGroupGetShieldReq) -> Option<ImGroupGetShieldRsp> {
    Some(ImGroupGetShieldRsp {
        group_id: req.group_id,
        shield_status_list: Vec::new(),
        attach_data: req.attach_data.clone(),
    })
}
