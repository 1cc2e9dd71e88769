//! The msg-server link (TeamTalk's port 8601): heartbeats echoed,
//! IP_REQ -> IP_RSP, TRANSFER_REQ -> a task on its core -> TRANSFER_RSP.
//! A bad request gets result_code 1 and the link stays up; a bad frame
//! closes the link. Peers outside `msg_allow` are refused at accept. File
//! names are bytes (any encoding; `ferry_proto::text`): a GBK name creates
//! its task like any other.
//!
//! A file past 4 GiB - 1 is asked for with the stock `file_size` at
//! 0xFFFFFFFF and the size in ferry's `file_size_u64` twin (echoed in the
//! answer); a twin that disagrees with the stock field is refused. Such a
//! task, online or offline, is joined only by ferry peers (their file
//! login carries `file_size_u64`); a stock peer's login is refused.
//!
//! ferry's locate extension (`ferry_proto::extension`): OFFLINE_LOCATE_REQ
//! names offline task ids; the answer lists those this relay's store holds
//! (each asked of its owning core), so msg_servers send a receiver to the
//! relay that took the upload. An empty request is a probe and gets an
//! empty answer. OFFLINE_DELETE_REQ (the receiver deleted its offline
//! file) deletes the task in its owning core's store if the user named is
//! its receiver; the answer says what happened (`OfflineDeleteResult`).
//!
//! The link is kept alive from this side too, as TeamTalk's servers do: a
//! writer task sends a heartbeat after [`HEARTBEAT`] without sending
//! anything, so a peer that times out silent links never sees one here.
//!
//! With `link_secret` set, the link first runs ferry's handshake (an
//! extension, `ferry_proto::extension`): the relay sends a challenge of 32
//! random bytes, and the peer's first PDU must be the HMAC-SHA256 answer,
//! within the login timeout; anything else closes the link with its reason
//! logged. Stock TeamTalk msg_servers cannot answer, so the secret is for
//! deployments whose msg_servers are ferry's.

use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_proto::extension::{
    CID_OTHER_LINK_AUTH, CID_OTHER_OFFLINE_DELETE_REQ, CID_OTHER_OFFLINE_LOCATE_REQ,
    FileServerError, LINK_NONCE_LEN, OFFLINE_LOCATE_MAX_TASKS, OfflineDeleteResult, join_u64,
    verify_link_mac,
};
use ferry_proto::frame::{Frame, encode_to_bytes};
use ferry_proto::pb::ferry::link::{
    LinkAuth, LinkChallenge, OfflineDeleteReq, OfflineDeleteRsp, OfflineLocateReq, OfflineLocateRsp,
};
use ferry_proto::pb::im::base_define::{IpAddr, TransferFileType};
use ferry_proto::pb::im::other::ImHeartBeat;
use ferry_proto::pb::im::server::{ImFileServerIpRsp, ImFileTransferReq, ImFileTransferRsp};
use ferry_proto::registry::{
    CID_OTHER_FILE_SERVER_IP_REQ, CID_OTHER_FILE_TRANSFER_REQ, CID_OTHER_HEARTBEAT,
};
use ferry_proto::{DecodeError, core_for_task};
use monoio::io::{AsyncWriteRent as _, AsyncWriteRentExt, CancelHandle, Canceller, Splitable as _};
use monoio::net::tcp::{TcpOwnedReadHalf, TcpOwnedWriteHalf};
use monoio::net::{TcpListener, TcpStream};
use tracing::Instrument as _;

use crate::config::LinkSecret;
use crate::core_state::{Core, CoreMsg};
use crate::error::ConnError;
use crate::reader::FrameReader;
use crate::session::{error_chain, is_cancel};
use crate::task::TaskSpec;

/// A link with no inbound bytes for this long is closed (TeamTalk's
/// msg_server heartbeats every 5 s; the original's timeout is 30 s).
const LINK_TIMEOUT: Duration = Duration::from_secs(30);
/// A heartbeat goes out after this long without sending (TeamTalk: 5 s).
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);
/// Answers queued for the link's writer at most; the reader waits past it.
const LINK_QUEUE: usize = 64;

pub(crate) async fn accept_links(
    core: Rc<Core>,
    listener: std::net::TcpListener,
    cancel: CancelHandle,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => return tracing::error!(error = %e, "cannot adopt msg-server listener"),
    };
    loop {
        match listener.cancelable_accept(cancel.clone()).await {
            Ok((stream, peer)) => {
                let allow = &core.config.msg_allow;
                if !allow.is_empty() && !allow.contains(&peer.ip()) {
                    tracing::warn!(%peer, "msg-server link refused: peer not in msg_allow");
                    continue;
                }
                let span = tracing::info_span!("msg_link", %peer);
                monoio::spawn(serve(core.clone(), stream).instrument(span));
            }
            Err(e) if is_cancel(&e) => return,
            Err(e) => {
                tracing::warn!(error = %e, "msg-server accept failed");
                monoio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve(core: Rc<Core>, stream: TcpStream) {
    tracing::info!("msg-server link up");
    let canceller = Canceller::new();
    let mut reader = FrameReader::new(
        stream,
        BytesMut::new(),
        core.config.max_frame,
        canceller.handle(),
    );
    let result = match &core.config.link_secret {
        Some(secret) => authenticate(&core, &mut reader, secret).await,
        None => Ok(()),
    };
    let result = match result {
        Ok(()) => link_loop(&core, reader).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => tracing::info!("msg-server link closed"),
        Err(e) => tracing::warn!(reason = %error_chain(&e), "msg-server link closed"),
    }
}

/// ferry's link handshake: a fresh challenge out; the peer's first PDU
/// must answer it.
async fn authenticate(
    core: &Core,
    reader: &mut FrameReader<TcpStream>,
    secret: &LinkSecret,
) -> Result<(), ConnError> {
    let nonce: [u8; LINK_NONCE_LEN] = rand::random();
    let challenge = LinkChallenge {
        nonce: Bytes::copy_from_slice(&nonce),
    };
    let pdu = encode_to_bytes(&challenge, 0, u32::MAX).expect("a challenge fits a frame");
    let (res, _) = reader.io_mut().write_all(pdu).await;
    res?;
    let wait = core.config.login_timeout;
    let next = monoio::time::timeout(wait, reader.next()).await;
    let Some(frame) = next.map_err(|_| ConnError::Timeout(wait))?? else {
        return Err(ConnError::LinkAuth("closed before answering the challenge"));
    };
    if frame.header.command != CID_OTHER_LINK_AUTH {
        return Err(ConnError::LinkAuthCommand(frame.header.command));
    }
    let auth: LinkAuth = ferry_proto::schema::decode(frame.body())?;
    if !verify_link_mac(secret.bytes(), &nonce, &auth.mac) {
        return Err(ConnError::LinkAuth("wrong answer to the challenge"));
    }
    tracing::info!("msg-server link authenticated");
    Ok(())
}

async fn link_loop(core: &Core, reader: FrameReader<TcpStream>) -> Result<(), ConnError> {
    let (stream, rest) = reader.into_parts();
    let (rd, wr) = stream.into_split();
    let mut reader = FrameReader::new(rd, rest, core.config.max_frame, Canceller::new().handle());
    let (out, queued) = flume::bounded::<Bytes>(LINK_QUEUE);
    let writer =
        monoio::spawn(write_loop(wr, queued, core.config.link_heartbeat).in_current_span());
    let result = read_loop(core, &mut reader, &out).await;
    drop(out); // the writer flushes what is queued, then ends
    let _ = writer.await;
    result
}

async fn read_loop(
    core: &Core,
    reader: &mut FrameReader<TcpOwnedReadHalf>,
    out: &flume::Sender<Bytes>,
) -> Result<(), ConnError> {
    loop {
        let next = monoio::time::timeout(LINK_TIMEOUT, reader.next()).await;
        let Some(frame) = next.map_err(|_| ConnError::Timeout(LINK_TIMEOUT))?? else {
            return Ok(());
        };
        let reply = match frame.header.command.command_id {
            c if c == CID_OTHER_HEARTBEAT.command_id => frame.pdu.clone(),
            c if c == CID_OTHER_FILE_SERVER_IP_REQ.command_id => ip_rsp(core, frame.header.seq_num),
            c if c == CID_OTHER_FILE_TRANSFER_REQ.command_id => transfer(core, &frame).await?,
            c if c == CID_OTHER_OFFLINE_LOCATE_REQ.command_id => locate(core, &frame).await?,
            c if c == CID_OTHER_OFFLINE_DELETE_REQ.command_id => delete(core, &frame).await?,
            _ => {
                tracing::info!(command = %frame.header.command, "ignored on the msg-server link");
                continue;
            }
        };
        if out.send_async(reply).await.is_err() {
            return Ok(()); // the writer failed: the peer is gone
        }
    }
}

/// Writes what the link answers; a heartbeat after `heartbeat` of silence.
async fn write_loop(
    mut wr: TcpOwnedWriteHalf,
    queued: flume::Receiver<Bytes>,
    heartbeat: Duration,
) {
    let beat = encode_to_bytes(&ImHeartBeat {}, 0, u32::MAX).expect("an empty PDU fits a frame");
    loop {
        let pdu = match monoio::time::timeout(heartbeat, queued.recv_async()).await {
            Ok(Ok(pdu)) => pdu,
            Ok(Err(_)) => break,
            Err(_) => beat.clone(),
        };
        let (res, _) = wr.write_all(pdu).await;
        if let Err(e) = res {
            tracing::debug!(error = %e, "msg-server link write failed");
            return;
        }
    }
    let _ = wr.shutdown().await;
}

/// Every core's own address in core order, then the shared one.
fn ip_rsp(core: &Core, seq: u16) -> Bytes {
    let ip_addr_list = core
        .advertised
        .iter()
        .map(|a| IpAddr {
            ip: a.ip().to_string().into(),
            port: u32::from(a.port()),
        })
        .collect();
    encode_to_bytes(&ImFileServerIpRsp { ip_addr_list }, seq, u32::MAX)
        .expect("IP list fits a frame")
}

async fn transfer(core: &Core, frame: &Frame) -> Result<Bytes, ConnError> {
    let req: ImFileTransferReq = match frame.decode() {
        Ok(req) => req,
        // An undeclared trans_mode is an invalid request, not a broken
        // frame: answer result 1 (echoing what was sent) and keep the link.
        Err(DecodeError::InvalidEnum { .. }) => {
            prost::Message::decode(frame.body()).map_err(|source| DecodeError::Malformed {
                message: "IM.Server.IMFileTransferReq",
                source,
            })?
        }
        Err(e) => return Err(e.into()),
    };
    let mut rsp = ImFileTransferRsp {
        file_size_u64: req.file_size_u64,
        result_code: 1,
        from_user_id: req.from_user_id,
        to_user_id: req.to_user_id,
        file_name: Some(req.file_name.clone()),
        file_size: Some(req.file_size),
        task_id: None,
        trans_mode: Some(req.trans_mode),
        file_server_error: None,
        attach_data: req.attach_data.clone(),
    };
    match create_task(core, &req).await {
        Ok(id) => {
            rsp.result_code = 0;
            rsp.task_id = Some(id.into());
        }
        Err(why) => rsp.file_server_error = Some(why.code()),
    }
    encode_to_bytes(&rsp, frame.header.seq_num, core.config.max_frame).map_err(ConnError::from)
}

/// The task a TRANSFER_REQ asks for, created on its owning core; its id,
/// or why it was refused (logged here or by the owner).
async fn create_task(core: &Core, req: &ImFileTransferReq) -> Result<String, FileServerError> {
    use FileServerError as Why;
    // The size: the stock field, or its u64 twin (ferry's extension).
    let size = join_u64(req.file_size, req.file_size_u64);
    if core.draining.get() {
        tracing::info!("transfer refused: draining");
        return Err(Why::Draining);
    }
    let size = size.map_err(|e| {
        tracing::warn!(error = %e, "transfer refused: the sizes disagree");
        Why::BadRequest
    })?;
    if let Some(len) = req.sha256.as_ref().map(|d| d.len()).filter(|l| *l != 32) {
        tracing::warn!(len, "transfer refused: a sha256 of {len} bytes, not 32");
        return Err(Why::BadRequest);
    }
    if req.trans_mode == TransferFileType::FileTypeOffline as i32 {
        return offline_task(core, req, size).await;
    }
    if req.trans_mode != TransferFileType::FileTypeOnline as i32 {
        tracing::warn!(
            mode = req.trans_mode,
            "transfer refused: unknown trans_mode"
        );
        return Err(Why::BadRequest);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let owner = core_for_task(&id, core.cores());
    let spec = TaskSpec {
        id: id.clone(),
        from_user: req.from_user_id,
        to_user: req.to_user_id,
        file_name: req.file_name.clone(),
        file_size: size,
    };
    if ask(core, owner, |ack| CoreMsg::CreateTask { spec, ack })
        .await
        .is_none()
    {
        return Err(Why::Draining);
    }
    tracing::info!(task = %id, owner, from = req.from_user_id, to = req.to_user_id, size, "task created");
    Ok(id)
}

/// The ids of a locate request that this relay's offline store holds, each
/// asked of the core that owns it; ids past [`OFFLINE_LOCATE_MAX_TASKS`]
/// are not looked at.
async fn locate(core: &Core, frame: &Frame) -> Result<Bytes, ConnError> {
    let req: OfflineLocateReq = frame.decode()?;
    let mut by_core: Vec<Vec<Bytes>> = vec![Vec::new(); core.cores()];
    if core.config.offline.is_some() {
        for id in req.task_id.into_iter().take(OFFLINE_LOCATE_MAX_TASKS) {
            by_core[core_for_task(&id[..], core.cores())].push(id);
        }
    }
    let mut held = Vec::new();
    for (owner, ids) in by_core.into_iter().enumerate() {
        if ids.is_empty() {
            continue;
        }
        if let Some(found) = ask(core, owner, |ack| CoreMsg::Locate { ids, ack }).await {
            held.extend(found);
        }
    }
    tracing::debug!(held = held.len(), "offline tasks located");
    let rsp = OfflineLocateRsp {
        task_id: held,
        attach_data: req.attach_data,
    };
    encode_to_bytes(&rsp, frame.header.seq_num, core.config.max_frame).map_err(ConnError::from)
}

/// The receiver deleted an offline task: its owning core deletes it from
/// the store if `user_id` is its receiver. The task id is checked before
/// it is placed on a core or touches the store.
async fn delete(core: &Core, frame: &Frame) -> Result<Bytes, ConnError> {
    let req: OfflineDeleteReq = frame.decode()?;
    let result = if core.config.offline.is_none() {
        OfflineDeleteResult::NoStore
    } else if ferry_storage::TaskId::parse(&req.task_id[..]).is_err() {
        OfflineDeleteResult::BadTaskId
    } else {
        let owner = core_for_task(&req.task_id[..], core.cores());
        let (id, user) = (req.task_id.clone(), req.user_id);
        ask(core, owner, |ack| CoreMsg::DeleteOffline { id, user, ack })
            .await
            .unwrap_or(OfflineDeleteResult::Failed)
    };
    let task = ferry_proto::text::show(&req.task_id);
    match result {
        OfflineDeleteResult::Deleted => {
            tracing::info!(%task, user = req.user_id, "offline file deleted by its receiver")
        }
        r => tracing::info!(%task, user = req.user_id, result = ?r, "offline delete refused"),
    }
    let rsp = OfflineDeleteRsp {
        task_id: req.task_id,
        result_code: result.code(),
        attach_data: req.attach_data,
    };
    encode_to_bytes(&rsp, frame.header.seq_num, core.config.max_frame).map_err(ConnError::from)
}

/// An offline task in its owning core's store; its id, or why it was
/// refused (no store, quota, space, size, a failed store: the owner logs
/// the cause). `size` is the file's (bytes, from the stock field or its u64
/// twin).
async fn offline_task(
    core: &Core,
    req: &ImFileTransferReq,
    size: u64,
) -> Result<String, FileServerError> {
    if core.config.offline.is_none() {
        tracing::warn!("offline transfer refused: no offline store is configured");
        return Err(FileServerError::NoStore);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let owner = core_for_task(&id, core.cores());
    let task = ferry_storage::NewTask {
        task_id: id.clone().into_bytes(),
        from_user: req.from_user_id,
        to_user: req.to_user_id,
        name: req.file_name.to_vec(),
        size,
        // 32 bytes (checked by the caller): instant when the store holds it.
        sha256: req
            .sha256
            .as_ref()
            .and_then(|d| <[u8; 32]>::try_from(&d[..]).ok()),
    };
    ask(core, owner, |ack| CoreMsg::CreateOffline { task, ack })
        .await
        .unwrap_or(Err(FileServerError::Draining))
        .map(|()| id)
}

/// Sends core `owner` the message `msg` makes around an answer channel,
/// and waits for the answer; `None` if that core is gone (it drains).
async fn ask<T>(
    core: &Core,
    owner: usize,
    msg: impl FnOnce(flume::Sender<T>) -> CoreMsg,
) -> Option<T> {
    let (ack, done) = flume::bounded(1);
    core.inboxes[owner].send(msg(ack)).ok()?;
    done.recv_async().await.ok()
}
