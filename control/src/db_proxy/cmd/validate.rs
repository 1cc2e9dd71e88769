//! CID_OTHER_VALIDATE_REQ -> CID_OTHER_VALIDATE_RSP: login check with
//! TeamTalk's result codes and strings (0 成功, 1 用户名/密码错误, 6 用户名/密码
//! 错误次数太多, 2 服务端内部错误 for a failure of ours). A login refused
//! because too many argon2 checks already wait (the store's hashing gate) is
//! answered 2 with 服务端忙，请稍后重试 ("server busy, try again later"):
//! the name is never locked out for it and nothing is wrong with it.

use ferry_proto::pb::im::server::{ImValidateReq, ImValidateRsp};

use crate::Error;
use crate::store::{Store, Validation};

pub(super) async fn apply(
    store: &Store,
    req: &ImValidateReq,
) -> Result<Option<ImValidateRsp>, Error> {
    let (code, text, user_info) = match store.validate(&req.user_name, &req.password).await {
        Ok(Validation::Ok(info)) => (0, "成功", Some(*info)),
        Ok(Validation::Refused) => (1, "用户名/密码错误", None),
        Ok(Validation::Locked) => (6, "用户名/密码错误次数太多", None),
        Err(Error::Busy { what, waiting }) => {
            tracing::warn!(
                what,
                waiting,
                "login refused: too many password checks waiting"
            );
            (2, BUSY, None)
        }
        Err(e) => return Err(e),
    };
    Ok(Some(ImValidateRsp {
        user_name: req.user_name.clone(),
        result_code: code,
        result_string: Some(text.into()),
        user_info,
        attach_data: req.attach_data.clone(),
    }))
}

/// The answer to a login refused unprocessed for load.
const BUSY: &str = "服务端忙，请稍后重试";

pub(super) fn error_result(req: &ImValidateReq) -> Option<ImValidateRsp> {
    Some(ImValidateRsp {
        user_name: req.user_name.clone(),
        result_code: 2,
        result_string: Some("服务端内部错误".into()),
        user_info: None,
        attach_data: req.attach_data.clone(),
    })
}
