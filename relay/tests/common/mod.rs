//! A blocking TeamTalk peer for relay tests: raw PDUs over std sockets,
//! the msg-server link as TeamTalk's msg_server drives it, and clients as
//! TeamTalk's Windows client behaves.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_proto::frame::{DEFAULT_MAX_FRAME, Frame, encode_to_bytes};
use ferry_proto::pb::im::file::{ImFileLoginReq, ImFileLoginRsp, ImFilePullDataReq, ImFilePullDataRsp, ImFileState};
use ferry_proto::pb::im::server::{ImFileServerIpReq, ImFileServerIpRsp, ImFileTransferReq, ImFileTransferRsp};
use ferry_proto::registry::Pdu;
use ferry_relay::{Config, Relay};

pub const SENDER: i32 = 1;
pub const RECEIVER: i32 = 2;
pub const PEER_READY: i32 = 0;
pub const CANCEL: i32 = 1;
pub const DONE: i32 = 3;

pub fn start(config: Config) -> Relay {
    let _ = tracing_subscriber_init();
    Relay::start(config).expect("relay starts")
}

fn tracing_subscriber_init() -> Option<()> {
    None
}

/// One TCP connection speaking PDUs.
pub struct Conn {
    pub stream: TcpStream,
    buf: BytesMut,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn { stream, buf: BytesMut::new() }
    }

    pub fn send<T: Pdu>(&mut self, msg: &T, seq: u16) {
        let pdu = encode_to_bytes(msg, seq, DEFAULT_MAX_FRAME).unwrap();
        self.stream.write_all(&pdu).expect("send");
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// The next PDU; panics on EOF or timeout.
    pub fn recv(&mut self) -> Frame {
        self.try_recv().expect("a PDU, not end of stream")
    }

    /// The next PDU, or `None` at end of stream (or a reset).
    pub fn try_recv(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = Frame::take(&mut self.buf, DEFAULT_MAX_FRAME).expect("valid frame from the relay") {
                return Some(frame);
            }
            let mut chunk = [0u8; 64 << 10];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("recv: {e}"),
            }
        }
    }

    pub fn recv_msg<T: Pdu>(&mut self) -> (T, u16) {
        let frame = self.recv();
        (frame.decode::<T>().unwrap_or_else(|e| panic!("{e}")), frame.header.seq_num)
    }

    /// Reads until the relay closes the connection; returns what came first.
    pub fn until_closed(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(f) = self.try_recv() {
            frames.push(f);
        }
        frames
    }
}

/// The msg-server link, driven like TeamTalk's msg_server.
pub struct MsgLink(pub Conn);

impl MsgLink {
    pub fn connect(relay: &Relay) -> MsgLink {
        MsgLink(Conn::connect(relay.addresses().msg))
    }

    pub fn ip_list(&mut self) -> Vec<SocketAddr> {
        self.0.send(&ImFileServerIpReq {}, 1);
        let (rsp, _) = self.0.recv_msg::<ImFileServerIpRsp>();
        rsp.ip_addr_list.iter().map(|a| SocketAddr::new(a.ip.parse().unwrap(), a.port as u16)).collect()
    }

    /// A TRANSFER_REQ as msg_server sends it (attach_data = HANDLE 9).
    pub fn create_task(&mut self, from: u32, to: u32, size: u32) -> String {
        let attach = Bytes::from_static(&[0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0]);
        let req = ImFileTransferReq {
            from_user_id: from,
            to_user_id: to,
            file_name: "report.bin".into(),
            file_size: size,
            trans_mode: 1,
            attach_data: Some(attach.clone()),
        };
        self.0.send(&req, 77);
        let (rsp, seq) = self.0.recv_msg::<ImFileTransferRsp>();
        assert_eq!((rsp.result_code, seq), (0, 77));
        assert_eq!((rsp.from_user_id, rsp.to_user_id, rsp.file_size, rsp.trans_mode), (from, to, Some(size), Some(1)));
        assert_eq!(rsp.file_name.as_deref(), Some("report.bin"));
        assert_eq!(rsp.attach_data, Some(attach));
        rsp.task_id.expect("task_id")
    }
}

pub fn login(addr: SocketAddr, task: &str, user: u32, role: i32) -> (Conn, ImFileLoginRsp) {
    let mut c = Conn::connect(addr);
    c.send(&ImFileLoginReq { user_id: user, task_id: task.into(), file_role: role }, 5);
    let (rsp, seq) = c.recv_msg::<ImFileLoginRsp>();
    assert_eq!(seq, 5, "LOGIN_RES echoes the request's seq");
    (c, rsp)
}

/// The byte at `offset` of a test file: cheap, position-dependent.
pub fn byte_at(offset: u64, salt: u8) -> u8 {
    (offset.wrapping_mul(2654435761) >> 13) as u8 ^ salt
}

pub fn fill(offset: u64, len: usize, salt: u8) -> Vec<u8> {
    (0..len as u64).map(|i| byte_at(offset + i, salt)).collect()
}

/// The sender's side: answers every pull from the "file" until DONE or
/// CANCEL arrives; returns the final state seen.
pub fn serve_pulls(mut c: Conn, task: &str, user: u32, salt: u8) -> i32 {
    loop {
        let frame = c.recv();
        if let Ok(state) = frame.decode::<ImFileState>() {
            return state.state;
        }
        let req = frame.decode::<ImFilePullDataReq>().expect("pull request");
        assert_eq!(req.task_id, task);
        let data = fill(u64::from(req.offset), req.data_size as usize, salt);
        let rsp = ImFilePullDataRsp { result_code: 0, task_id: task.into(), user_id: user, offset: req.offset, file_data: data.into() };
        // A stock sender answers with seq 0; the relay restamps it.
        c.send(&rsp, 0);
    }
}

/// The receiver's side: pulls `size` bytes in `chunk`-sized pieces with up
/// to `window` in flight, verifying every byte and every seq, then DONE.
pub fn pull_all(c: &mut Conn, task: &str, user: u32, size: u32, chunk: u32, window: usize, salt: u8) {
    let mut next = 0u32;
    let mut in_flight = std::collections::VecDeque::new();
    let mut seq = 100u16;
    while next < size || !in_flight.is_empty() {
        while next < size && in_flight.len() < window {
            let len = chunk.min(size - next);
            seq = seq.wrapping_add(1);
            let req = ImFilePullDataReq { task_id: task.into(), user_id: user, trans_mode: 1, offset: next, data_size: len };
            c.send(&req, seq);
            in_flight.push_back((next, len, seq));
            next += len;
        }
        let (offset, len, want_seq) = in_flight.pop_front().unwrap();
        let (rsp, got_seq) = c.recv_msg::<ImFilePullDataRsp>();
        assert_eq!((rsp.offset, rsp.file_data.len() as u32, got_seq), (offset, len, want_seq));
        let expected = fill(u64::from(offset), len as usize, salt);
        assert!(rsp.file_data == expected, "bytes differ in the chunk at {offset}");
    }
    c.send(&ImFileState { state: DONE, task_id: task.into(), user_id: user }, 0);
}

/// Waits (bounded) until the relay's counters satisfy `cond`.
pub fn wait_for(relay: &Relay, what: &str, cond: impl Fn(&ferry_relay::Snapshot) -> bool) {
    for _ in 0..500 {
        if cond(&relay.stats()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what}: {:?}", relay.stats());
}

pub fn all_free(s: &ferry_relay::Snapshot) -> bool {
    s.connections == 0 && s.tasks == 0 && s.pulls_in_flight == 0 && s.bytes_buffered == 0
}
