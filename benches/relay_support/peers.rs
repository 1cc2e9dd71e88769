//! The two ends of a transfer as TeamTalk clients behave (the receiver
//! pulls, the sender answers), on blocking std sockets, without checks
//! beyond lengths: the bench measures the path between them.

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
        use ferry_proto::pb::im::server::{ImFileTransferReq, ImFileTransferRsp};
        let req = ImFileTransferReq {
            file_size_u64: None,
            sha256: None,
            from_user_id: from,
            to_user_id: to,
            file_name: "bench".into(),
            file_size: size,
            trans_mode: 1,
            attach_data: None,
        };
        self.send(&req, 1);
        let rsp: ImFileTransferRsp = self.recv().unwrap().decode().unwrap();
        String::from_utf8(rsp.task_id.expect("task created").to_vec()).expect("UUID text")
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
        self.send(
            &ImFileState {
                state: 3,
                task_id: task.to_owned().into(),
                user_id: user,
                sha256: None,
            },
            0,
        );
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
            self.stream.write_all(&pdu).unwrap();
            if self.stream.write_all(&data).is_err() {
                return;
            }
        }
    }
}
