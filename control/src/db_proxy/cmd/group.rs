//! CID_GROUP_NORMAL_LIST_REQUEST (the user's normal groups and versions),
//! CID_GROUP_INFO_REQUEST (details of groups newer than the client's copy)
//! and CID_GROUP_CREATE_REQUEST (result 0 with the group id, or 1; the
//! member list is the members asked for plus the creator, each once). A
//! group type outside GroupType is dropped unanswered, as TeamTalk does.

use ferry_proto::pb::im::base_define::GroupType;
use ferry_proto::pb::im::group::{
    ImGroupCreateReq, ImGroupCreateRsp, ImGroupInfoListReq, ImGroupInfoListRsp,
    ImNormalGroupListReq, ImNormalGroupListRsp,
};

use crate::Error;
use crate::store::utf8_arg;
use crate::store::{NewGroup, Store};

pub(super) async fn list(
    store: &Store,
    req: &ImNormalGroupListReq,
) -> Result<ImNormalGroupListRsp, Error> {
    Ok(ImNormalGroupListRsp {
        user_id: req.user_id,
        group_version_list: store.group_versions(req.user_id).await?,
        attach_data: req.attach_data.clone(),
    })
}

pub(super) async fn info(
    store: &Store,
    req: &ImGroupInfoListReq,
) -> Result<ImGroupInfoListRsp, Error> {
    Ok(ImGroupInfoListRsp {
        user_id: req.user_id,
        group_info_list: store
            .group_infos(req.user_id, &req.group_version_list)
            .await?,
        attach_data: req.attach_data.clone(),
    })
}

pub(super) async fn create(
    store: &Store,
    req: &ImGroupCreateReq,
) -> Result<Option<ImGroupCreateRsp>, Error> {
    if GroupType::try_from(req.group_type).is_err() {
        tracing::info!(
            group_type = req.group_type,
            "create group: no such group type"
        );
        return Ok(None);
    }
    let group = NewGroup {
        creator: req.user_id,
        group_type: req.group_type,
        name: utf8_arg("group_name", &req.group_name)?,
        avatar: utf8_arg("group_avatar", &req.group_avatar)?,
        members: &req.member_id_list,
    };
    let (id, members) = store.create_group(&group).await?;
    Ok(Some(ImGroupCreateRsp {
        user_id: req.user_id,
        result_code: 0,
        group_id: Some(id),
        group_name: req.group_name.clone(),
        user_id_list: members,
        attach_data: req.attach_data.clone(),
    }))
}

pub(super) fn create_failed(req: &ImGroupCreateReq) -> Option<ImGroupCreateRsp> {
    GroupType::try_from(req.group_type).ok()?;
    let mut members: Vec<u32> = req.member_id_list.clone();
    members.push(req.user_id);
    members.sort_unstable();
    members.dedup();
    Some(ImGroupCreateRsp {
        user_id: req.user_id,
        result_code: 1,
        group_id: None,
        group_name: req.group_name.clone(),
        user_id_list: members,
        attach_data: req.attach_data.clone(),
    })
}
