//! File signalling: a client asks for a transfer; msg_server picks a relay
//! that is up, asks it for a task, and tells the sender (IMFileRsp) and the
//! receiver (IMFileNotify, here and through route_server) where to go: the
//! relay core that owns the task first (`ferry_proto::core_for_task`, so a
//! ferry relay needs no hand-off), its shared port after. An online
//! transfer to a user with no PC client anywhere becomes offline, as in
//! TeamTalk. Offline rows (ADD / HAS / DEL) go to db_proxy with the user
//! forced to the session's.
//!
//! Online tasks go to the relays in turn. An offline task goes to its
//! receiver's preferred relay (`location::preferred`; the next up one if
//! that one refuses), and a receiver is sent to the relay that holds the
//! file, as the relays tell (`location`). An offline request whose file
//! name db_proxy could not record is refused at once.
//!
//! A size past 4 GiB - 1 travels in ferry's `file_size_u64` twin (stock
//! `file_size` 0xFFFFFFFF, PROTOCOL-EXTENSIONS.md): passed from the
//! request to the relay's TRANSFER_REQ and to both notifies, and in the
//! ADD_OFFLINE to db_proxy, whose TeamTalk column keeps the sentinel.

use bytes::Bytes;
use ferry_proto::extension::FileServerError;
use ferry_proto::pb::im::base_define::{IpAddr, TransferFileType, UserStatType};
use ferry_proto::pb::im::buddy::{ImUsersStatReq, ImUsersStatRsp};
use ferry_proto::pb::im::file::{
    ImFileAddOfflineReq, ImFileDelOfflineReq, ImFileHasOfflineReq, ImFileHasOfflineRsp,
    ImFileNotify, ImFileReq, ImFileRsp,
};
use ferry_proto::pb::im::server::{ImFileTransferReq, ImFileTransferRsp};
use ferry_proto::{Frame, core_for_task};

use super::client::{ClientConn, Refusal};
use super::{Shared, location};
use crate::store::OFFLINE_FILE_NAME_MAX_BYTES;

pub(super) async fn request(conn: &mut ClientConn, f: &Frame) -> Result<(), Refusal> {
    let mut req: ImFileReq = f.decode()?;
    req.from_user_id = conn.user;
    let (shared, handle, seq) = (conn.shared.clone(), conn.handle, f.header.seq_num);
    tokio::spawn(async move {
        let rsp = transfer(&shared, &req, seq, handle).await;
        let ok = rsp.result_code == 0;
        let outbox = shared.sessions().get(handle).map(|s| s.outbox.clone());
        if let (Some(outbox), Some(pdu)) = (outbox, shared.encode(&rsp, seq)) {
            let _ = outbox.send(pdu).await;
        }
        if ok {
            let notify = ImFileNotify {
                file_size_u64: req.file_size_u64,
                from_user_id: rsp.from_user_id,
                to_user_id: rsp.to_user_id,
                file_name: rsp.file_name.clone(),
                file_size: req.file_size,
                task_id: rsp.task_id.clone(),
                ip_addr_list: rsp.ip_addr_list.clone(),
                trans_mode: rsp.trans_mode,
                offline_ready: 0,
            };
            notify_receiver(&shared, &notify).await;
        }
    });
    Ok(())
}

/// The relay's task for `req`, as the answer to the sender; result 1 at
/// once when no relay is up (or it refuses).
async fn transfer(shared: &Shared, req: &ImFileReq, seq: u16, handle: u32) -> ImFileRsp {
    let mut rsp = ImFileRsp {
        result_code: 1,
        from_user_id: req.from_user_id,
        to_user_id: req.to_user_id,
        file_name: req.file_name.clone(),
        task_id: Default::default(),
        ip_addr_list: Vec::new(),
        trans_mode: req.trans_mode,
        file_server_error: None,
    };
    let links = shared.links();
    if !links.relays.any_up() {
        tracing::warn!(
            from = req.from_user_id,
            "file request refused: no relay is up"
        );
        return rsp;
    }
    let mode = if req.trans_mode == TransferFileType::FileTypeOnline as i32
        && pc_online(shared, req.from_user_id, req.to_user_id, handle).await
    {
        TransferFileType::FileTypeOnline
    } else {
        TransferFileType::FileTypeOffline
    };
    rsp.trans_mode = mode as i32;
    let task = ImFileTransferReq {
        file_size_u64: req.file_size_u64,
        // Instant upload: only an offline task can be created complete.
        sha256: (mode == TransferFileType::FileTypeOffline)
            .then(|| req.sha256.clone())
            .flatten(),
        from_user_id: req.from_user_id,
        to_user_id: req.to_user_id,
        file_name: req.file_name.clone(),
        file_size: req.file_size,
        trans_mode: mode as i32,
        attach_data: None,
    };
    if mode == TransferFileType::FileTypeOffline
        && req.file_name.len() > OFFLINE_FILE_NAME_MAX_BYTES
    {
        // db_proxy would refuse the ADD_OFFLINE (it has no answer): the
        // receiver would never hear of the file. Refused before a byte moves.
        tracing::warn!(
            from = req.from_user_id,
            bytes = req.file_name.len(),
            max = OFFLINE_FILE_NAME_MAX_BYTES,
            "offline file request refused: file name too long to record"
        );
        rsp.file_server_error = Some(FileServerError::BadRequest.code());
        return rsp;
    }
    let created = if mode == TransferFileType::FileTypeOffline {
        offline_task(shared, task, seq, handle).await
    } else {
        match shared.call_on(&links.relays, task, seq, handle).await {
            Ok((index, frame)) => accepted(index, &frame),
            Err(e) => {
                tracing::warn!(error = %e, "file request refused: the relay did not answer");
                Err(None)
            }
        }
    };
    let (index, task_id) = match created {
        Ok(created) => created,
        Err(why) => {
            // The relay's reason, passed on (a ferry extension).
            rsp.file_server_error = why;
            return rsp;
        }
    };
    rsp.ip_addr_list = owner_first(shared.relay_ips_of(index), &task_id);
    rsp.task_id = task_id;
    rsp.result_code = 0;
    rsp
}

/// A relay's task: the link it came on and its id; or, refused, the
/// relay's reason (`file_server_error`) if it gave one.
type Created = Result<(usize, Bytes), Option<u32>>;

/// The task id of a relay's TRANSFER_RSP that accepts, with the link it
/// came on; a refusal (logged) with the relay's reason.
fn accepted(index: usize, frame: &Frame) -> Created {
    let answer: ImFileTransferRsp = frame.decode().map_err(|_| None)?;
    match answer.task_id.filter(|_| answer.result_code == 0) {
        Some(id) => Ok((index, id)),
        None => {
            tracing::warn!(
                link = index,
                result = answer.result_code,
                reason = answer.file_server_error,
                "file request refused by the relay"
            );
            Err(answer.file_server_error)
        }
    }
}

/// An offline task on the receiver's preferred relay, or on the next up
/// relay after it that accepts (one without an offline store, or out of
/// space, refuses): the relay's link and the task id.
async fn offline_task(shared: &Shared, task: ImFileTransferReq, seq: u16, handle: u32) -> Created {
    let links = shared.links().relays.links();
    let first = location::preferred(shared, task.to_user_id).ok_or(None)?;
    // Every relay refusing: the last reason given.
    let mut why = None;
    for i in 0..links.len() {
        let link = &links[(first + i) % links.len()];
        if !link.is_up() {
            continue;
        }
        match shared.call_at(link, task.clone(), seq, handle).await {
            Ok((index, frame)) => match accepted(index, &frame) {
                Ok(created) => return Ok(created),
                Err(reason) => why = reason.or(why),
            },
            Err(e) => {
                tracing::warn!(link = link.index, error = %e, "offline task: the relay did not answer")
            }
        }
    }
    Err(why)
}

/// A relay's address list puts each core's own port first, in core order,
/// then its shared port (a TeamTalk file_server lists only the latter). The
/// owning core's address goes first.
pub(super) fn owner_first(mut ips: Vec<IpAddr>, task_id: &[u8]) -> Vec<IpAddr> {
    if ips.len() > 1 {
        let cores = ips.len() - 1;
        let owner = core_for_task(task_id, cores);
        let own = ips.remove(owner);
        ips.insert(0, own);
    }
    ips
}

/// Whether `to` has a PC client online anywhere: here, or as route_server
/// tells (TeamTalk's rule for keeping a transfer online).
async fn pc_online(shared: &Shared, from: u32, to: u32, handle: u32) -> bool {
    if shared.sessions().has_pc(to) {
        return true;
    }
    let links = shared.links();
    if !links.route.any_up() {
        return false;
    }
    let ask = ImUsersStatReq {
        user_id: from,
        user_id_list: vec![to],
        attach_data: None,
    };
    match shared.call(&links.route, ask, 0, handle).await {
        Ok(frame) => frame.decode::<ImUsersStatRsp>().is_ok_and(|r| {
            r.user_stat_list
                .iter()
                .any(|s| s.user_id == to && s.status == UserStatType::UserStatusOnline as i32)
        }),
        Err(_) => false,
    }
}

/// IMFileNotify to every session of the receiver, here and elsewhere.
async fn notify_receiver(shared: &Shared, notify: &ImFileNotify) {
    if let Some(pdu) = shared.encode(notify, 0) {
        shared.to_user(notify.to_user_id, &pdu, None);
        let _ = shared.links().route.send(pdu).await;
    }
}

/// Offline files waiting for the session's user, with the addresses of
/// the relay that holds them (TeamTalk hands the client its internal
/// cookie too, and any relay's addresses; this one does neither).
pub(super) async fn has_offline(conn: &mut ClientConn, f: &Frame) -> Result<(), Refusal> {
    let mut req: ImFileHasOfflineReq = f.decode()?;
    req.user_id = conn.user;
    let (shared, handle, user, seq) = (
        conn.shared.clone(),
        conn.handle,
        conn.user,
        f.header.seq_num,
    );
    tokio::spawn(async move {
        let answer = shared.call(&shared.links().db, req, seq, handle).await;
        let mut rsp = match answer
            .ok()
            .and_then(|f| f.decode::<ImFileHasOfflineRsp>().ok())
        {
            Some(rsp) => rsp,
            None => ImFileHasOfflineRsp {
                user_id: user,
                offline_file_list: Vec::new(),
                ip_addr_list: Vec::new(),
                attach_data: None,
            },
        };
        rsp.attach_data = None;
        let ids: Vec<Bytes> = rsp
            .offline_file_list
            .iter()
            .map(|f| f.task_id.clone())
            .collect();
        rsp.ip_addr_list = location::list_addresses(&shared, &ids, user).await;
        if rsp.ip_addr_list.is_empty() {
            rsp.ip_addr_list = shared.any_relay_ips();
        }
        let outbox = shared.sessions().get(handle).map(|s| s.outbox.clone());
        if let (Some(outbox), Some(pdu)) = (outbox, shared.encode(&rsp, seq)) {
            let _ = outbox.send(pdu).await;
        }
    });
    Ok(())
}

/// The sender's upload is done: db_proxy records it (no answer; repeating
/// it changes nothing) and the receiver is told it is ready, with the
/// addresses of the relay that holds it.
pub(super) async fn add_offline(conn: &mut ClientConn, f: &Frame) -> Result<(), Refusal> {
    let mut req: ImFileAddOfflineReq = f.decode()?;
    req.from_user_id = conn.user;
    let shared = &conn.shared;
    if let Some(pdu) = shared.encode(&req, f.header.seq_num)
        && shared.links().db.send(pdu).await.is_err()
    {
        tracing::warn!("offline file not recorded: no db_proxy link up");
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let mut ip_addr_list =
            location::task_addresses(&shared, &req.task_id, req.to_user_id).await;
        if ip_addr_list.is_empty() {
            ip_addr_list = shared.any_relay_ips();
        }
        let notify = ImFileNotify {
            file_size_u64: req.file_size_u64,
            from_user_id: req.from_user_id,
            to_user_id: req.to_user_id,
            file_name: req.file_name,
            file_size: req.file_size,
            task_id: req.task_id,
            ip_addr_list,
            trans_mode: TransferFileType::FileTypeOffline as i32,
            offline_ready: 1,
        };
        notify_receiver(&shared, &notify).await;
    });
    Ok(())
}

/// Deletes an offline file's row: only its sender or receiver may (TeamTalk
/// trusts whatever ids the client sends). The receiver's delete also drops
/// the stored file on the relay that holds it (`location::delete`); the
/// sender's leaves it to expire.
pub(super) async fn del_offline(conn: &mut ClientConn, f: &Frame) -> Result<(), Refusal> {
    let req: ImFileDelOfflineReq = f.decode()?;
    if req.from_user_id != conn.user && req.to_user_id != conn.user {
        tracing::warn!(
            user = conn.user,
            from = req.from_user_id,
            to = req.to_user_id,
            "offline file delete refused: not the session's file"
        );
        return Ok(());
    }
    if let Some(pdu) = conn.shared.encode(&req, f.header.seq_num) {
        let _ = conn.shared.links().db.send(pdu).await;
    }
    if req.to_user_id == conn.user {
        let shared = conn.shared.clone();
        tokio::spawn(async move { location::delete(&shared, req.task_id, req.to_user_id).await });
    }
    Ok(())
}
