//! CID_GROUP_CHANGE_MEMBER_REQUEST -> _RESPONSE: result 0 with the members
//! afterwards (cur) and who changed (chg), or 1 with both empty (refused, no
//! such group, a failure). Who may change what: `store::group_member`. A
//! change type outside GroupModifyType is dropped unanswered, as TeamTalk
//! does; an unknown group gets result 1 (TeamTalk sends nothing).

use ferry_proto::pb::im::base_define::GroupModifyType;
use ferry_proto::pb::im::group::{ImGroupChangeMemberReq, ImGroupChangeMemberRsp};

use crate::Error;
use crate::store::{MemberChange, Store};

pub(super) async fn apply(
    store: &Store,
    req: &ImGroupChangeMemberReq,
) -> Result<Option<ImGroupChangeMemberRsp>, Error> {
    let Ok(kind) = GroupModifyType::try_from(req.change_type) else {
        tracing::info!(
            change_type = req.change_type,
            "change group member: no such change type"
        );
        return Ok(None);
    };
    let change = store
        .change_members(req.user_id, req.group_id, kind, &req.member_id_list)
        .await?;
    let (current, changed) = match change {
        MemberChange::Done { current, changed } => (current, changed),
        MemberChange::Refused | MemberChange::NoGroup => {
            tracing::info!(
                user = req.user_id,
                group = req.group_id,
                ?change,
                "group member change refused"
            );
            return Ok(failed(req));
        }
    };
    Ok(Some(ImGroupChangeMemberRsp {
        user_id: req.user_id,
        change_type: req.change_type,
        result_code: 0,
        group_id: req.group_id,
        cur_user_id_list: current,
        chg_user_id_list: changed,
        attach_data: req.attach_data.clone(),
    }))
}

pub(super) fn failed(req: &ImGroupChangeMemberReq) -> Option<ImGroupChangeMemberRsp> {
    GroupModifyType::try_from(req.change_type).ok()?;
    Some(ImGroupChangeMemberRsp {
        user_id: req.user_id,
        change_type: req.change_type,
        result_code: 1,
        group_id: req.group_id,
        cur_user_id_list: Vec::new(),
        chg_user_id_list: Vec::new(),
        attach_data: req.attach_data.clone(),
    })
}
