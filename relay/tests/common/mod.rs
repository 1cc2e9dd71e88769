//! A blocking TeamTalk peer for relay tests: raw PDUs over std sockets,
//! the msg-server link as TeamTalk's msg_server drives it, and clients as
//! TeamTalk's Windows client behaves.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_proto::frame::{DEFAULT_MAX_FRAME, Frame, encode_to_bytes};
use ferry_proto::pb::im::file::{
    ImFileLoginReq, ImFileLoginRsp, ImFilePullDataReq, ImFilePullDataRsp, ImFileState,
};
use ferry_proto::pb::im::server::{
    ImFileServerIpReq, ImFileServerIpRsp, ImFileTransferReq, ImFileTransferRsp,
};
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
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Conn {
            stream,
            buf: BytesMut::new(),
        }
    }

    pub fn send<T: Pdu>(&mut self, msg: &T, seq: u16) {
        self.try_send(msg, seq).expect("send");
    }

    pub fn try_send<T: Pdu>(&mut self, msg: &T, seq: u16) -> std::io::Result<()> {
        let pdu = encode_to_bytes(msg, seq, DEFAULT_MAX_FRAME).unwrap();
        self.stream.write_all(&pdu)
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
            if let Some(frame) =
                Frame::take(&mut self.buf, DEFAULT_MAX_FRAME).expect("valid frame from the relay")
            {
                return Some(frame);
            }
            let mut chunk = [0u8; 64 << 10];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                // io_uring work in this process's relay threads can interrupt a read here.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("recv: {e}"),
            }
        }
    }

    pub fn recv_msg<T: Pdu>(&mut self) -> (T, u16) {
        let frame = self.recv();
        (
            frame.decode::<T>().unwrap_or_else(|e| panic!("{e}")),
            frame.header.seq_num,
        )
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
        rsp.ip_addr_list
            .iter()
            .map(|a| SocketAddr::new(text(&a.ip).parse().unwrap(), a.port as u16))
            .collect()
    }

    /// A TRANSFER_REQ as msg_server sends it (attach_data = HANDLE 9).
    pub fn create_task(&mut self, from: u32, to: u32, size: u32) -> String {
        let attach = Bytes::from_static(&[0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0]);
        let req = ImFileTransferReq {
            file_size_u64: None,
            sha256: None,
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
        assert_eq!(
            (
                rsp.from_user_id,
                rsp.to_user_id,
                rsp.file_size,
                rsp.trans_mode
            ),
            (from, to, Some(size), Some(1))
        );
        assert_eq!(rsp.file_name.as_deref(), Some(&b"report.bin"[..]));
        assert_eq!(rsp.attach_data, Some(attach));
        text(&rsp.task_id.expect("task_id")).to_string()
    }

    /// An offline TRANSFER_REQ (with the file's SHA-256 for an instant
    /// upload, if given); the task id, or `None` when the relay answers
    /// result 1 (after checking the answer echoes the request).
    pub fn create_offline(
        &mut self,
        from: u32,
        to: u32,
        size: u32,
        sha256: Option<Vec<u8>>,
    ) -> Option<String> {
        let req = ImFileTransferReq {
            file_size_u64: None,
            sha256: sha256.map(Bytes::from),
            from_user_id: from,
            to_user_id: to,
            file_name: "photos/../holiday.zip".into(),
            file_size: size,
            trans_mode: 2,
            attach_data: None,
        };
        self.0.send(&req, 31);
        let (rsp, seq) = self.0.recv_msg::<ImFileTransferRsp>();
        assert_eq!(
            (seq, rsp.trans_mode, rsp.file_size),
            (31, Some(2), Some(size))
        );
        if rsp.result_code != 0 {
            assert_eq!(rsp.task_id, None);
            return None;
        }
        Some(text(&rsp.task_id.expect("task_id")).to_string())
    }
}

pub fn login(addr: SocketAddr, task: &str, user: u32, role: i32) -> (Conn, ImFileLoginRsp) {
    let mut c = Conn::connect(addr);
    c.send(
        &ImFileLoginReq {
            file_size_u64: None,
            user_id: user,
            task_id: task.to_owned().into(),
            file_role: role,
        },
        5,
    );
    let (rsp, seq) = c.recv_msg::<ImFileLoginRsp>();
    assert_eq!(seq, 5, "LOGIN_RES echoes the request's seq");
    (c, rsp)
}

/// Test files repeat a pseudo-random pattern with a prime period, so any
/// chunk is a slice of it (cheap even in debug builds) and no two chunks of
/// a test file at different offsets (below 1 GiB apart by a multiple of the
/// period, i.e. never here) look alike.
const PERIOD: usize = 1_000_003;
const MAX_CHUNK: usize = 4 << 20;

fn pattern() -> &'static [u8] {
    static PATTERN: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let period: Vec<u8> = (0..PERIOD)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        // The period repeated past its end, so a chunk that crosses it
        // reads the same bytes as chunks split at it (the uploader's pieces).
        (0..PERIOD + MAX_CHUNK)
            .map(|i| period[i % PERIOD])
            .collect()
    })
}

/// `len` bytes at `offset` of test file number `salt`.
pub fn file_slice(offset: u64, len: usize, salt: u8) -> &'static [u8] {
    let start = (offset as usize + usize::from(salt) * 7919) % PERIOD;
    &pattern()[start..start + len]
}

pub fn fill(offset: u64, len: usize, salt: u8) -> Vec<u8> {
    file_slice(offset, len, salt).to_vec()
}

/// The sender's side: answers every pull from the "file" until DONE or
/// CANCEL arrives; returns the final state seen.
pub fn serve_pulls(mut c: Conn, task: &str, user: u32, salt: u8) -> i32 {
    loop {
        let Some(frame) = c.try_recv() else { return -1 };
        if let Ok(state) = frame.decode::<ImFileState>() {
            return state.state;
        }
        let req = frame.decode::<ImFilePullDataReq>().expect("pull request");
        assert_eq!(req.task_id, task);
        let data = fill(u64::from(req.offset), req.data_size as usize, salt);
        let rsp = ImFilePullDataRsp {
            offset_u64: None,
            result_code: 0,
            task_id: task.to_owned().into(),
            user_id: user,
            offset: req.offset,
            file_data: data.into(),
        };
        // A stock sender answers with seq 0; the relay restamps it.
        if c.try_send(&rsp, 0).is_err() {
            break;
        }
    }
    // The relay stopped reading us: the reason is the last state it sent.
    c.until_closed()
        .iter()
        .rev()
        .find_map(|f| f.decode::<ImFileState>().ok())
        .map_or(-1, |s| s.state)
}

/// The receiver's side: pulls `size` bytes in `chunk`-sized pieces with up
/// to `window` in flight, verifying every byte and every seq, then DONE.
pub fn pull_all(
    c: &mut Conn,
    task: &str,
    user: u32,
    size: u32,
    chunk: u32,
    window: usize,
    salt: u8,
) {
    let mut next = 0u32;
    let mut in_flight = std::collections::VecDeque::new();
    let mut seq = 100u16;
    while next < size || !in_flight.is_empty() {
        while next < size && in_flight.len() < window {
            let len = chunk.min(size - next);
            seq = seq.wrapping_add(1);
            let req = ImFilePullDataReq {
                offset_u64: None,
                task_id: task.to_owned().into(),
                user_id: user,
                trans_mode: 1,
                offset: next,
                data_size: len,
            };
            c.send(&req, seq);
            in_flight.push_back((next, len, seq));
            next += len;
        }
        let (offset, len, want_seq) = in_flight.pop_front().unwrap();
        let (rsp, got_seq) = c.recv_msg::<ImFilePullDataRsp>();
        assert_eq!(
            (rsp.offset, rsp.file_data.len() as u32, got_seq),
            (offset, len, want_seq)
        );
        assert!(
            rsp.file_data == file_slice(u64::from(offset), len as usize, salt),
            "bytes differ in the chunk at {offset}"
        );
    }
    c.send(
        &ImFileState {
            state: DONE,
            task_id: task.to_owned().into(),
            user_id: user,
            sha256: None,
        },
        0,
    );
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

/// A small complete transfer (4 pulls of 16 KiB): proof the relay still
/// serves others after whatever a test did.
pub fn small_transfer(relay: &Relay, addr: SocketAddr) {
    let mut link = MsgLink::connect(relay);
    let size = 64 << 10;
    let task = link.create_task(501, 502, size);
    let (sender, rsp) = login(addr, &task, 501, SENDER);
    assert_eq!(rsp.result_code, 0);
    let t = task.clone();
    let sending = std::thread::spawn(move || serve_pulls(sender, &t, 501, 9));
    let (mut receiver, _) = login(addr, &task, 502, RECEIVER);
    assert_eq!(receiver.recv_msg::<ImFileState>().0.state, PEER_READY);
    pull_all(&mut receiver, &task, 502, size, 16 << 10, 2, 9);
    assert_eq!(sending.join().unwrap(), DONE);
}

/// Sender and receiver logged in to a fresh task of `size` bytes; the
/// receiver has seen PEER_READY.
pub fn pair(relay: &Relay, from: u32, to: u32, size: u32) -> (String, Conn, Conn) {
    let mut link = MsgLink::connect(relay);
    let task = link.create_task(from, to, size);
    let addr = relay.addresses().client;
    let (sender, rsp) = login(addr, &task, from, SENDER);
    assert_eq!(rsp.result_code, 0);
    let (mut receiver, rsp) = login(addr, &task, to, RECEIVER);
    assert_eq!(rsp.result_code, 0);
    assert_eq!(receiver.recv_msg::<ImFileState>().0.state, PEER_READY);
    (task, sender, receiver)
}

/// Resident memory of this process, in bytes.
pub fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// A text field that must be UTF-8 (addresses, task ids) as `str`.
pub fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("UTF-8 text")
}

/// Two tests of one scenario (a `fn(Driver)`): `$name` on io_uring
/// (`Driver::Auto`) and `$epoll` on the epoll driver (`Driver::Legacy`):
/// every offline scenario also runs on the fallback driver.
#[macro_export]
macro_rules! on_both_drivers {
    ($scenario:ident: $name:ident, $epoll:ident) => {
        #[test]
        fn $name() {
            $scenario(ferry_relay::Driver::Auto);
        }

        #[test]
        fn $epoll() {
            $scenario(ferry_relay::Driver::Legacy);
        }
    };
}

/// A temporary directory on /dev/shm when there is one with `need` bytes
/// free (big offline uploads move fast there, and a SIGKILL loses the
/// process, not the page cache; a container's /dev/shm may be 64 MiB),
/// else the default temporary directory.
pub fn shm_dir(need: u64) -> tempfile::TempDir {
    use ferry_storage::FileSystem as _;
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && ferry_storage::StdFs
            .free_space(shm)
            .is_ok_and(|free| free >= need)
        && let Ok(dir) = tempfile::tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}
