//! The two ends of a transfer as TeamTalk clients behave (the receiver
//! pulls, the sender answers), on blocking std sockets, without checks
//! beyond lengths: the bench measures the path between them. The offline
//! roles too (benches/offline.rs): an uploader that answers the relay's
//! pulls until DONE, a downloader that pulls until the relay's DONE, and a
//! server answering pulls from a file on disk (the direct baseline).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ferry_proto::frame::{Frame, HEADER_LEN, Header, encode_to_bytes};
use ferry_proto::pb::im::file::{
    ImFileLoginReq, ImFileLoginRsp, ImFilePullDataReq, ImFilePullDataRsp, ImFileState,
};
use ferry_proto::registry::Pdu;
use prost::Message as _;

const MAX_FRAME: u32 = 8 << 20;
const ONLINE: i32 = 1;
const OFFLINE: i32 = 2;
/// IMFileState's CLIENT_FILE_DONE.
const DONE: i32 = 3;

pub(crate) struct Peer {
    stream: TcpStream,
    buf: BytesMut,
    /// Reads land here first (std's `Read` wants initialised memory), then
    /// are appended to `buf`: the same cost on every path measured.
    scratch: Vec<u8>,
}

impl Peer {
    pub(crate) fn new(stream: TcpStream) -> Peer {
        stream.set_nodelay(true).unwrap();
        Peer {
            stream,
            buf: BytesMut::with_capacity(4 << 20),
            scratch: vec![0; 1 << 20],
        }
    }

    fn send<T: Pdu>(&mut self, msg: &T, seq: u16) {
        self.stream
            .write_all(&encode_to_bytes(msg, seq, MAX_FRAME).unwrap())
            .unwrap();
    }

    fn recv(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = Frame::take(&mut self.buf, MAX_FRAME).unwrap() {
                return Some(f);
            }
            match self.stream.read(&mut self.scratch) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&self.scratch[..n]),
            }
        }
    }

    /// On the msg-server link: a TRANSFER_REQ as msg_server sends it.
    pub(crate) fn create_task(&mut self, from: u32, to: u32, size: u32) -> String {
        self.transfer_req(from, to, size, ONLINE)
    }

    /// [`Peer::create_task`] in offline mode: the relay creates the task in
    /// its store (directory, preallocated data file, first record, synced).
    pub(crate) fn create_offline_task(&mut self, from: u32, to: u32, size: u32) -> String {
        self.transfer_req(from, to, size, OFFLINE)
    }

    fn transfer_req(&mut self, from: u32, to: u32, size: u32, mode: i32) -> String {
        use ferry_proto::pb::im::server::{ImFileTransferReq, ImFileTransferRsp};
        let req = ImFileTransferReq {
            file_size_u64: None,
            sha256: None,
            from_user_id: from,
            to_user_id: to,
            file_name: "bench".into(),
            file_size: size,
            trans_mode: mode,
            attach_data: None,
        };
        self.send(&req, 1);
        let rsp: ImFileTransferRsp = self.recv().unwrap().decode().unwrap();
        assert_eq!(rsp.result_code, 0, "task created");
        String::from_utf8(rsp.task_id.expect("task created").to_vec()).expect("UUID text")
    }

    /// On the msg-server link: the receiver deleted its offline file (as
    /// msg_server relays db_proxy's DEL_OFFLINE); the relay drops it.
    pub(crate) fn delete_offline(&mut self, task: &str, user: u32) {
        use ferry_proto::pb::ferry::link::{OfflineDeleteReq, OfflineDeleteRsp};
        let req = OfflineDeleteReq {
            task_id: task.to_owned().into(),
            user_id: user,
            attach_data: None,
        };
        self.send(&req, 1);
        let rsp: OfflineDeleteRsp = self.recv().unwrap().decode().unwrap();
        let deleted = ferry_proto::extension::OfflineDeleteResult::Deleted.code();
        assert_eq!(rsp.result_code, deleted, "offline task deleted");
    }

    /// Logs in to ferry's relay; the receiver also waits for PEER_READY.
    pub(crate) fn login(&mut self, task: &str, user: u32, role: i32) {
        self.send(
            &ImFileLoginReq {
                file_size_u64: None,
                user_id: user,
                task_id: task.to_owned().into(),
                file_role: role,
            },
            1,
        );
        let rsp: ImFileLoginRsp = self.recv().unwrap().decode().unwrap();
        assert_eq!(rsp.result_code, 0);
    }

    pub(crate) fn wait_ready(&mut self) {
        let state: ImFileState = self.recv().unwrap().decode().unwrap();
        assert_eq!(state.state, 0);
    }

    /// Pulls `size` bytes, `chunk` at a time, `window` in flight; then DONE.
    /// Pushes onto `waits` each response's wait in nanoseconds, from the
    /// moment its pull was written (with one pull in flight: the round trip
    /// through the path).
    pub(crate) fn receive(
        mut self,
        task: &str,
        user: u32,
        size: u64,
        chunk: u32,
        window: usize,
        waits: Option<&mut Vec<u64>>,
    ) -> u64 {
        let got = self.pull(task, user, size, chunk, window, waits);
        self.send(
            &ImFileState {
                state: DONE,
                task_id: task.to_owned().into(),
                user_id: user,
                sha256: None,
            },
            0,
        );
        got
    }

    /// An offline download (role 4, logged in): pulls as [`Peer::receive`]
    /// does, then reads the DONE the relay sends after the last answer (a
    /// stock client's end: the relay closes, nothing more is written).
    pub(crate) fn download(
        mut self,
        task: &str,
        user: u32,
        size: u64,
        chunk: u32,
        window: usize,
        waits: Option<&mut Vec<u64>>,
    ) -> u64 {
        let got = self.pull(task, user, size, chunk, window, waits);
        let done: ImFileState = self.recv().expect("DONE").decode().unwrap();
        assert_eq!(done.state, DONE, "the download ends with DONE");
        got
    }

    fn pull(
        &mut self,
        task: &str,
        user: u32,
        size: u64,
        chunk: u32,
        window: usize,
        mut waits: Option<&mut Vec<u64>>,
    ) -> u64 {
        let (mut next, mut got, mut in_flight) = (0u64, 0u64, VecDeque::new());
        while next < size || !in_flight.is_empty() {
            while next < size && in_flight.len() < window {
                let len = u64::from(chunk).min(size - next) as u32;
                let req = ImFilePullDataReq {
                    offset_u64: None,
                    task_id: task.to_owned().into(),
                    user_id: user,
                    trans_mode: 1,
                    offset: next as u32,
                    data_size: len,
                };
                let asked = Instant::now();
                self.send(&req, in_flight.len() as u16);
                in_flight.push_back((len, asked));
                next += u64::from(len);
            }
            let (want, asked) = in_flight.pop_front().unwrap();
            let frame = self.recv().expect("response");
            if let Some(waits) = waits.as_deref_mut() {
                waits.push(asked.elapsed().as_nanos() as u64);
            }
            let head = ferry_proto::pull::PullDataRspHead::parse(&frame.pdu[HEADER_LEN..]).unwrap();
            assert_eq!(head.data_len, want as usize);
            got += head.data_len as u64;
        }
        got
    }

    /// Answers pulls with `payload`'s bytes until the stream ends or a state
    /// arrives. The PDU prefix is written by hand, then the payload as is
    /// (file_data is the last field), as ferry's offline path does.
    pub(crate) fn send_file(mut self, task: &str, user: u32, payload: &Bytes) {
        while let Some(frame) = self.recv() {
            let Ok(req) = frame.decode::<ImFilePullDataReq>() else {
                return;
            };
            let data = payload.slice(..req.data_size as usize);
            if self.answer(task, user, &frame, &req, &data).is_err() {
                return;
            }
        }
    }

    /// An offline upload (role 3, logged in): answers the relay's pulls with
    /// `payload`'s bytes (as [`Peer::send_file`]) until the relay's DONE.
    /// Pushes onto `waits` the wait from each answer written to the next
    /// PDU read (with one pull in flight: the round trip through the relay
    /// and its store). Returns when the last answer was written.
    pub(crate) fn upload(
        mut self,
        task: &str,
        user: u32,
        payload: &Bytes,
        mut waits: Option<&mut Vec<u64>>,
    ) -> Instant {
        let mut answered = Instant::now();
        loop {
            let frame = self.recv().expect("a pull or DONE");
            if let Some(waits) = waits.as_deref_mut() {
                waits.push(answered.elapsed().as_nanos() as u64);
            }
            if let Ok(state) = frame.decode::<ImFileState>() {
                assert_eq!(state.state, DONE, "the upload ends with DONE");
                return answered;
            }
            let req: ImFilePullDataReq = frame.decode().unwrap();
            let data = payload.slice(..req.data_size as usize);
            self.answer(task, user, &frame, &req, &data).unwrap();
            answered = Instant::now();
        }
    }

    /// Answers pulls with the bytes of `file` until the stream ends: one
    /// read into a reused buffer, then the PDU prefix and the bytes; DONE
    /// after the answer that reaches the end (as the relay's offline
    /// download does). The direct baseline: a file served from disk with
    /// nothing between it and the socket.
    pub(crate) fn serve_file(mut self, task: &str, user: u32, file: &std::fs::File) {
        use std::os::unix::fs::FileExt as _;
        let size = file.metadata().unwrap().len();
        let mut buf = Vec::new();
        while let Some(frame) = self.recv() {
            let Ok(req) = frame.decode::<ImFilePullDataReq>() else {
                return;
            };
            let offset = u64::from(req.offset);
            let len = u64::from(req.data_size).min(size - offset) as usize;
            buf.resize(len, 0);
            file.read_exact_at(&mut buf, offset).unwrap();
            if self.answer(task, user, &frame, &req, &buf).is_err() {
                return;
            }
            if offset + len as u64 == size {
                let done = ImFileState {
                    state: DONE,
                    task_id: task.to_owned().into(),
                    user_id: user,
                    sha256: None,
                };
                self.send(&done, 0);
            }
        }
    }

    /// One pull's answer: the PDU prefix written by hand, then `data` as is
    /// (file_data is the last field), as ferry's offline path does.
    fn answer(
        &mut self,
        task: &str,
        user: u32,
        frame: &Frame,
        req: &ImFilePullDataReq,
        data: &[u8],
    ) -> std::io::Result<()> {
        let head = ImFilePullDataRsp {
            offset_u64: None,
            result_code: 0,
            task_id: task.to_owned().into(),
            user_id: user,
            offset: req.offset,
            file_data: Bytes::new(),
        };
        let mut prefix = head.encode_to_vec();
        prefix.pop(); // the empty file_data's length (0); written below
        prost::encoding::encode_varint(data.len() as u64, &mut prefix);
        let length = (HEADER_LEN + prefix.len() + data.len()) as u32;
        let mut pdu = Vec::with_capacity(HEADER_LEN + prefix.len());
        let mut header = Header::new(ImFilePullDataRsp::COMMAND, frame.header.seq_num, 0);
        header.length = length;
        header.write(&mut pdu);
        pdu.extend_from_slice(&prefix);
        self.stream.write_all(&pdu)?;
        self.stream.write_all(data)
    }
}
