//! CID_OTHER_VALIDATE_REQ -> CID_OTHER_VALIDATE_RSP: login check with
//! TeamTalk's result codes and strings (0 成功, 1 用户名/密码错误, 6 用户名/密码
//! 错误次数太多, 2 服务端内部错误 for a failure of ours).

use ferry_proto::pb::im::server::{ImValidateReq, ImValidateRsp};

use crate::Error;
use crate::store::{Store, Validation};

pub(super) async fn apply(
    store: &Store,
    req: &ImValidateReq,
) -> Result<Option<ImValidateRsp>, Error> {
    let (code, text, user_info) = match store.validate(&req.user_name, &req.password).await? {
        Validation::Ok(info) => (0, "成功", Some(*info)),
        Validation::Refused => (1, "用户名/密码错误", None),
        Validation::Locked => (6, "用户名/密码错误次数太多", None),
    };
    Ok(Some(ImValidateRsp {
        user_name: req.user_name.clone(),
        result_code: code,
        result_string: Some(text.into()),
        user_info,
        attach_data: req.attach_data.clone(),
    }))
}

pub(super) fn error_result(req: &ImValidateReq) -> Option<ImValidateRsp> {
    Some(ImValidateRsp {
        user_name: req.user_name.clone(),
        result_code: 2,
        result_string: Some("服务端内部错误".into()),
        user_info: None,
        attach_data: req.attach_data.clone(),
    })
}
