//! CID_LOGIN_REQ_DEVICETOKEN -> CID_LOGIN_RES_DEVICETOKEN (answered whatever
//! happened, as TeamTalk: the answer has no result field; a failure is
//! logged) and CID_OTHER_GET_DEVICE_TOKEN_REQ -> _RSP (the pushable tokens;
//! empty when the store fails, as TeamTalk answers without its cache).

use ferry_proto::pb::im::login::{ImDeviceTokenReq, ImDeviceTokenRsp};
use ferry_proto::pb::im::server::{ImGetDeviceTokenReq, ImGetDeviceTokenRsp};

use crate::Error;
use crate::store::{Store, quiet_hours};

pub(super) async fn set(store: &Store, req: &ImDeviceTokenReq) -> Result<ImDeviceTokenRsp, Error> {
    store
        .set_device_token(req.user_id, req.client_type.unwrap_or(0), &req.device_token)
        .await?;
    Ok(ImDeviceTokenRsp {
        user_id: req.user_id,
        attach_data: req.attach_data.clone(),
    })
}

pub(super) fn set_answer(req: &ImDeviceTokenReq) -> Option<ImDeviceTokenRsp> {
    Some(ImDeviceTokenRsp {
        user_id: req.user_id,
        attach_data: req.attach_data.clone(),
    })
}

pub(super) async fn get(
    store: &Store,
    req: &ImGetDeviceTokenReq,
) -> Result<ImGetDeviceTokenRsp, Error> {
    let hour = (crate::store::now() / 3600) % 24;
    let tokens = store.device_tokens(&req.user_id, quiet_hours(hour)).await?;
    Ok(ImGetDeviceTokenRsp {
        user_token_info: tokens,
        attach_data: req.attach_data.clone(),
    })
}

pub(super) fn get_failed(req: &ImGetDeviceTokenReq) -> Option<ImGetDeviceTokenRsp> {
    Some(ImGetDeviceTokenRsp {
        user_token_info: Vec::new(),
        attach_data: req.attach_data.clone(),
    })
}
