//! CID_BUDDY_LIST_DEPARTMENT_REQUEST -> _RESPONSE: departments changed
//! since the client's time, and the newest change time.

use ferry_proto::pb::im::buddy::{ImDepartmentReq, ImDepartmentRsp};

use crate::Error;
use crate::store::Store;

pub(super) async fn apply(store: &Store, req: &ImDepartmentReq) -> Result<ImDepartmentRsp, Error> {
    let (latest, list) = store
        .departments_changed_since(req.latest_update_time)
        .await?;
    Ok(ImDepartmentRsp {
        user_id: req.user_id,
        latest_update_time: latest,
        dept_list: list,
        attach_data: req.attach_data.clone(),
    })
}
