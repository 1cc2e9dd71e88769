//! CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST -> _RESPONSE: result 0 with the
//! stored text, or 1 without it (no such user, longer than IMUser.sign_info's
//! 128 characters, a failure). The text is stored literally, whatever it
//! holds: it is a bound parameter, never part of the SQL.

use ferry_proto::pb::im::buddy::{ImChangeSignInfoReq, ImChangeSignInfoRsp};

use crate::Error;
use crate::store::Store;

pub(super) async fn apply(
    store: &Store,
    req: &ImChangeSignInfoReq,
) -> Result<ImChangeSignInfoRsp, Error> {
    let ok = store.set_sign_info(req.user_id, &req.sign_info).await?;
    Ok(ImChangeSignInfoRsp {
        user_id: req.user_id,
        result_code: u32::from(!ok),
        sign_info: ok.then(|| req.sign_info.clone()),
        attach_data: req.attach_data.clone(),
    })
}

pub(super) fn failed(req: &ImChangeSignInfoReq) -> Option<ImChangeSignInfoRsp> {
    Some(ImChangeSignInfoRsp {
        user_id: req.user_id,
        result_code: 1,
        sign_info: None,
        attach_data: req.attach_data.clone(),
    })
}
