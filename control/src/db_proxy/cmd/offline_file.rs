//! CID_FILE_HAS_OFFLINE_REQ -> _RES (the files waiting for the user; the
//! relay addresses are msg_server's to add), CID_FILE_ADD_OFFLINE_REQ and
//! CID_FILE_DEL_OFFLINE_REQ (no answer, as in TeamTalk). A delete removes
//! only the row whose sender, receiver and task id all match: an unrelated
//! user's request, or a task id like `x' or '1'='1`, removes nothing.

use ferry_proto::extension::join_u64;
use ferry_proto::pb::im::file::{
    ImFileAddOfflineReq, ImFileDelOfflineReq, ImFileHasOfflineReq, ImFileHasOfflineRsp,
};

use crate::Error;
use crate::store::Store;

pub(super) async fn apply(
    store: &Store,
    req: &ImFileHasOfflineReq,
) -> Result<Option<ImFileHasOfflineRsp>, Error> {
    let files = store.offline_files(req.user_id).await?;
    Ok(Some(ImFileHasOfflineRsp {
        user_id: req.user_id,
        offline_file_list: files,
        ip_addr_list: Vec::new(),
        attach_data: req.attach_data.clone(),
    }))
}

pub(super) fn error_result(_: &ImFileHasOfflineReq) -> Option<ImFileHasOfflineRsp> {
    None
}

pub(super) async fn add(store: &Store, req: &ImFileAddOfflineReq) -> Result<(), Error> {
    // A ferry peer's size past 4 GiB rides in file_size_u64 (PROTOCOL-EXTENSIONS.md).
    let size = join_u64(req.file_size, req.file_size_u64)
        .map_err(|e| Error::InvalidArgument(format!("file size: {e}")))?;
    store
        .add_offline_file(
            req.from_user_id,
            req.to_user_id,
            &req.task_id,
            &req.file_name,
            size,
        )
        .await
}

pub(super) async fn delete(store: &Store, req: &ImFileDelOfflineReq) -> Result<(), Error> {
    let gone = store
        .delete_offline_file(req.from_user_id, req.to_user_id, &req.task_id)
        .await?;
    if gone == 0 {
        tracing::info!(
            from = req.from_user_id,
            to = req.to_user_id,
            "offline file delete matched no file of this sender and receiver"
        );
    }
    Ok(())
}
