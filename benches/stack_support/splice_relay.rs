//! A plain splice(2) relay that `ferry loadgen --relay ADDR --msg-link
//! ADDR` drives as it drives ferry's relay (online transfers only): the
//! least a TeamTalk relay can do, as the baseline of the online loads.
//!
//! ```text
//! msg link   IP_REQ ─> IP_RSP(this relay's client port)
//!            TRANSFER_REQ(online) ─> TRANSFER_RSP(result 0, a fresh UUID task id)
//! client     FILE_LOGIN_REQ(task, role) ─> FILE_LOGIN_RSP(result 0)   (each peer, at once)
//!            both roles in ─> FILE_STATE(PEER_READY) to the receiver
//! sender ──> receiver   splice(2) through a pipe: never read, never parsed
//! receiver ─> sender    copied PDU by PDU (its pulls, 42 B each): only the
//!                       16-byte header is looked at, for the FILE_STATE
//!                       (DONE, CANCEL) that ends the pair: it is passed on,
//!                       then both connections are shut (a FIN), as a relay
//!                       closes them
//! ```
//!
//! The receiver's direction cannot be a blind splice: TeamTalk's peers
//! leave only when the relay closes after DONE (a client closing first
//! could reset a last PDU in flight), so the relay must see DONE, and a
//! header is the least that shows it. The data direction, where the bytes
//! are, is never looked at. Tasks are not checked (any task id pairs two
//! logins with opposite roles); offline tasks are refused.

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, bail};
use bytes::{Bytes, BytesMut};
use ferry_proto::frame::{DEFAULT_MAX_FRAME, HEADER_LEN, Header, encode_to_bytes};
use ferry_proto::pb::im::base_define::{ClientFileRole, ClientFileState, IpAddr, TransferFileType};
use ferry_proto::pb::im::file::{ImFileLoginReq, ImFileLoginRsp, ImFileState};
use ferry_proto::pb::im::server::{
    ImFileServerIpReq, ImFileServerIpRsp, ImFileTransferReq, ImFileTransferRsp,
};
use ferry_proto::registry::CID_FILE_STATE;
use ferry_proto::{Frame, Pdu};

use crate::relay_support::splice::pump;

/// The relay's two ports.
pub(crate) struct SpliceRelay {
    /// Where peers log in (`loadgen --relay`).
    pub(crate) client: SocketAddr,
    /// Where msg_server (loadgen) asks for tasks (`loadgen --msg-link`).
    pub(crate) msg_link: SocketAddr,
}

/// A peer logged in, waiting for its other half.
struct Waiting {
    stream: TcpStream,
    role: i32,
    user: u32,
}

impl SpliceRelay {
    /// Binds both ports on loopback and serves them on threads (one per
    /// connection, two per joined pair) for the rest of the process.
    pub(crate) fn start() -> Result<SpliceRelay> {
        let clients = TcpListener::bind("127.0.0.1:0")?;
        let links = TcpListener::bind("127.0.0.1:0")?;
        let client = clients.local_addr()?;
        let relay = SpliceRelay {
            client,
            msg_link: links.local_addr()?,
        };
        std::thread::Builder::new()
            .name("splice-link".into())
            .spawn(move || {
                for link in links.incoming().flatten() {
                    std::thread::spawn(move || {
                        if let Err(e) = serve_link(link, client) {
                            eprintln!("splice relay: msg link: {e:#}");
                        }
                    });
                }
            })?;
        let waiting: Arc<Mutex<HashMap<Bytes, Waiting>>> = Arc::default();
        std::thread::Builder::new()
            .name("splice-accept".into())
            .spawn(move || {
                for peer in clients.incoming().flatten() {
                    let waiting = waiting.clone();
                    std::thread::spawn(move || {
                        if let Err(e) = log_in(peer, &waiting) {
                            eprintln!("splice relay: a peer: {e:#}");
                        }
                    });
                }
            })?;
        Ok(relay)
    }
}

/// One whole PDU from `from`, read exactly (nothing past it).
fn read_frame(from: &mut impl Read) -> Result<Frame> {
    let mut buf = BytesMut::zeroed(HEADER_LEN);
    from.read_exact(&mut buf)?;
    let header = Header::parse(buf[..HEADER_LEN].try_into().expect("16 bytes"));
    if header.length as usize > DEFAULT_MAX_FRAME as usize {
        bail!("a frame of {} bytes", header.length);
    }
    buf.resize(header.length as usize, 0);
    from.read_exact(&mut buf[HEADER_LEN..])?;
    Frame::take(&mut buf, DEFAULT_MAX_FRAME)?.context("a whole frame")
}

fn send<T: Pdu>(to: &mut TcpStream, msg: &T, seq: u16) -> Result<()> {
    to.write_all(&encode_to_bytes(msg, seq, DEFAULT_MAX_FRAME)?)?;
    Ok(())
}

/// The msg link: this relay's address, and a fresh task per online
/// request (offline ones refused); heartbeats and the rest ignored.
fn serve_link(mut link: TcpStream, client: SocketAddr) -> Result<()> {
    link.set_nodelay(true)?;
    loop {
        let frame = match read_frame(&mut link) {
            Ok(f) => f,
            Err(_) => return Ok(()), // msg_server (loadgen) left
        };
        let seq = frame.header.seq_num;
        if frame.header.command == ImFileServerIpReq::COMMAND {
            let addr = IpAddr {
                ip: client.ip().to_string().into(),
                port: u32::from(client.port()),
            };
            let rsp = ImFileServerIpRsp {
                ip_addr_list: vec![addr],
            };
            send(&mut link, &rsp, seq)?;
        } else if frame.header.command == ImFileTransferReq::COMMAND {
            let req: ImFileTransferReq = frame.decode()?;
            let online = req.trans_mode == TransferFileType::FileTypeOnline as i32;
            let rsp = ImFileTransferRsp {
                result_code: u32::from(!online),
                from_user_id: req.from_user_id,
                to_user_id: req.to_user_id,
                file_name: Some(req.file_name),
                file_size: Some(req.file_size),
                task_id: Some(uuid::Uuid::new_v4().to_string().into()),
                trans_mode: Some(req.trans_mode),
                file_size_u64: req.file_size_u64,
                file_server_error: None,
                attach_data: req.attach_data,
            };
            send(&mut link, &rsp, seq)?;
        }
    }
}

/// A peer's file login: answered at once; joined with the other role's
/// login of the same task, or left waiting for it.
fn log_in(mut peer: TcpStream, waiting: &Mutex<HashMap<Bytes, Waiting>>) -> Result<()> {
    peer.set_nodelay(true)?; // pulls leave at once
    let frame = read_frame(&mut peer)?;
    if frame.header.command != ImFileLoginReq::COMMAND {
        bail!("{} before the file login", frame.header.command);
    }
    let req: ImFileLoginReq = frame.decode()?;
    let (sender, receiver) = (
        ClientFileRole::ClientRealtimeSender as i32,
        ClientFileRole::ClientRealtimeRecver as i32,
    );
    let online = req.file_role == sender || req.file_role == receiver;
    let rsp = ImFileLoginRsp {
        file_size_u64: None,
        result_code: u32::from(!online),
        task_id: req.task_id.clone(),
        file_server_error: None,
    };
    send(&mut peer, &rsp, frame.header.seq_num)?;
    if !online {
        return Ok(());
    }
    let me = Waiting {
        stream: peer,
        role: req.file_role,
        user: req.user_id,
    };
    let other = {
        let mut waiting = waiting.lock().expect("pairs");
        match waiting.remove(&req.task_id) {
            Some(other) if other.role != me.role => other,
            Some(_) => bail!("two logins in one role"),
            None => {
                waiting.insert(req.task_id, me);
                return Ok(());
            }
        }
    };
    let (from, to) = if me.role == sender {
        (me, other)
    } else {
        (other, me)
    };
    join(from, to, req.task_id)
}

/// Tells the receiver its sender is in, then moves bytes both ways until
/// the receiver's DONE (or either side leaving).
fn join(sender: Waiting, mut receiver: Waiting, task_id: Bytes) -> Result<()> {
    let ready = ImFileState {
        state: ClientFileState::ClientFilePeerReady as i32,
        task_id,
        user_id: sender.user,
        sha256: None,
    };
    send(&mut receiver.stream, &ready, 0)?;
    let (data_from, data_to) = (sender.stream.try_clone()?, receiver.stream.try_clone()?);
    std::thread::Builder::new()
        .name("splice-data".into())
        .spawn(move || pump(data_from, data_to))?;
    pulls(receiver.stream, sender.stream)
}

/// The receiver's PDUs to the sender as they come; after a FILE_STATE,
/// both connections are shut for writing (the data pump ends when the
/// sender then closes).
fn pulls(receiver: TcpStream, mut sender: TcpStream) -> Result<()> {
    let mut from = BufReader::with_capacity(64 << 10, receiver.try_clone()?);
    let mut pdu = Vec::with_capacity(256);
    loop {
        pdu.resize(HEADER_LEN, 0);
        if from.read_exact(&mut pdu).is_err() {
            break;
        }
        let header = Header::parse(pdu[..HEADER_LEN].try_into().expect("16 bytes"));
        if (header.length as usize) < HEADER_LEN || header.length > DEFAULT_MAX_FRAME {
            break;
        }
        pdu.resize(header.length as usize, 0);
        if from.read_exact(&mut pdu[HEADER_LEN..]).is_err() || sender.write_all(&pdu).is_err() {
            break;
        }
        if header.command == CID_FILE_STATE {
            break;
        }
    }
    // A FIN behind what was written: each peer reads to it and closes;
    // the sender's close ends the data pump.
    let _ = sender.shutdown(Shutdown::Write);
    let _ = receiver.shutdown(Shutdown::Write);
    Ok(())
}
