//! CID_BUDDY_LIST_USER_INFO_REQUEST (users by id) and
//! CID_BUDDY_LIST_ALL_USER_REQUEST (users changed since a time).

use ferry_proto::pb::im::buddy::{ImAllUserReq, ImAllUserRsp, ImUsersInfoReq, ImUsersInfoRsp};

use crate::Error;
use crate::store::Store;

pub(super) async fn apply(
    store: &Store,
    req: &ImUsersInfoReq,
) -> Result<Option<ImUsersInfoRsp>, Error> {
    let users = store.users_by_id(&req.user_id_list).await?;
    Ok(Some(ImUsersInfoRsp {
        user_id: req.user_id,
        user_info_list: users,
        attach_data: req.attach_data.clone(),
    }))
}

pub(super) fn error_result(_: &ImUsersInfoReq) -> Option<ImUsersInfoRsp> {
    None
}

pub(super) async fn all_users(store: &Store, req: &ImAllUserReq) -> Result<ImAllUserRsp, Error> {
    let (latest, users) = store.users_changed_since(req.latest_update_time).await?;
    Ok(ImAllUserRsp {
        user_id: req.user_id,
        latest_update_time: latest,
        user_list: users,
        attach_data: req.attach_data.clone(),
    })
}
