//! CID_LOGIN_REQ_PUSH_SHIELD -> CID_LOGIN_RES_PUSH_SHIELD and
//! CID_LOGIN_REQ_QUERY_PUSH_SHIELD -> CID_LOGIN_RES_QUERY_PUSH_SHIELD: the
//! user's push shield in IMUser. Result 0 with the status, or 1 (no such
//! user, a status other than 0/1, a failure) without it, as TeamTalk.

use ferry_proto::pb::im::login::{
    ImPushShieldReq, ImPushShieldRsp, ImQueryPushShieldReq, ImQueryPushShieldRsp,
};

use crate::Error;
use crate::store::Store;

pub(super) async fn set(store: &Store, req: &ImPushShieldReq) -> Result<ImPushShieldRsp, Error> {
    let ok = store
        .set_push_shield(req.user_id, req.shield_status)
        .await?;
    Ok(ImPushShieldRsp {
        user_id: req.user_id,
        result_code: u32::from(!ok),
        shield_status: ok.then_some(req.shield_status),
        attach_data: req.attach_data.clone(),
    })
}

pub(super) fn set_failed(req: &ImPushShieldReq) -> Option<ImPushShieldRsp> {
    Some(ImPushShieldRsp {
        user_id: req.user_id,
        result_code: 1,
        shield_status: None,
        attach_data: req.attach_data.clone(),
    })
}

pub(super) async fn query(
    store: &Store,
    req: &ImQueryPushShieldReq,
) -> Result<ImQueryPushShieldRsp, Error> {
    let status = store.push_shield(req.user_id).await?;
    Ok(ImQueryPushShieldRsp {
        user_id: req.user_id,
        result_code: u32::from(status.is_none()),
        shield_status: status,
        attach_data: req.attach_data.clone(),
    })
}

pub(super) fn query_failed(req: &ImQueryPushShieldReq) -> Option<ImQueryPushShieldRsp> {
    Some(ImQueryPushShieldRsp {
        user_id: req.user_id,
        result_code: 1,
        shield_status: None,
        attach_data: req.attach_data.clone(),
    })
}
