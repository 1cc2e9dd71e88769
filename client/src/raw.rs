//! TeamTalk-shaped file peers on blocking std sockets, for benches and
//! load tests that measure the path between two peers rather than the
//! client: no tasks, no channels, one thread per peer, the checks a stock
//! client makes and no more (lengths, results). Every server answer is
//! checked; nothing panics on one.
//!
//! [`Caller`] is the same for a server's PDU port (db_proxy's, as
//! msg_server calls it): one request, then its answer.
//!
//! ```text
//! msg-server link:  Peer::create_task / create_offline_task / delete_offline
//! online:   sender: login(ROLE_SENDER) ─> send_file        receiver: login(ROLE_RECEIVER) ─> wait_ready ─> receive
//! offline:  uploader: login(ROLE_UPLOAD) ─> upload        downloader: login(ROLE_DOWNLOAD) ─> download
//! direct baseline (no relay): serve_file answers pulls from a file on disk
//! ```
//!
//! Answers are written as ferry's relay writes them: the PDU's prefix by
//! hand, then the payload as is (`file_data` is IMFilePullDataRsp's last
//! field), so the payload is never copied into a message.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ferry_proto::extension::OfflineDeleteResult;
use ferry_proto::frame::{Frame, HEADER_LEN, Header, encode_to_bytes};
use ferry_proto::pb::ferry::link::{OfflineDeleteReq, OfflineDeleteRsp};
use ferry_proto::pb::im::file::{
    ImFileLoginReq, ImFileLoginRsp, ImFilePullDataReq, ImFilePullDataRsp, ImFileState,
};
use ferry_proto::pb::im::server::{ImFileTransferReq, ImFileTransferRsp};
use ferry_proto::pull::PullDataRspHead;
use ferry_proto::registry::Pdu;
use prost::Message as _;

use crate::error::Error;

/// The largest frame a peer reads (bytes): a 1 MiB pull's answer and more.
const MAX_FRAME: u32 = 8 << 20;
/// TransferFileType: online and offline.
const ONLINE: i32 = 1;
const OFFLINE: i32 = 2;
/// ClientFileState: PEER_READY and DONE.
const READY: i32 = 0;
const DONE: i32 = 3;

/// ClientFileRole of an online sender.
pub const ROLE_SENDER: i32 = 1;
/// ClientFileRole of an online receiver.
pub const ROLE_RECEIVER: i32 = 2;
/// ClientFileRole of an offline uploader.
pub const ROLE_UPLOAD: i32 = 3;
/// ClientFileRole of an offline downloader.
pub const ROLE_DOWNLOAD: i32 = 4;

/// One end of a connection to a relay (its client port or its msg-server
/// link), or to another peer.
pub struct Peer {
    stream: TcpStream,
    buf: BytesMut,
    /// Reads land here first (std's `Read` wants initialised memory), then
    /// are appended to `buf`.
    scratch: Vec<u8>,
}

impl Peer {
    /// A peer on `stream` (TCP_NODELAY set, as TeamTalk's clients do).
    ///
    /// Errors: `is_io` if the option cannot be set.
    pub fn new(stream: TcpStream) -> Result<Peer, Error> {
        stream
            .set_nodelay(true)
            .map_err(|e| Error::io("a peer's socket", e))?;
        Ok(Peer {
            stream,
            buf: BytesMut::with_capacity(4 << 20),
            scratch: vec![0; 1 << 20],
        })
    }

    fn send<T: Pdu>(&mut self, msg: &T, seq: u16) -> Result<(), Error> {
        let pdu = encode_to_bytes(msg, seq, MAX_FRAME)
            .map_err(|e| Error::invalid(format!("encoding {}: {e}", T::COMMAND)))?;
        self.stream
            .write_all(&pdu)
            .map_err(|e| Error::io("a peer's socket", e))
    }

    /// The next frame; `None` once the other side closed.
    fn recv(&mut self) -> Result<Option<Frame>, Error> {
        loop {
            match Frame::take(&mut self.buf, MAX_FRAME) {
                Ok(Some(f)) => return Ok(Some(f)),
                Ok(None) => {}
                Err(e) => return Err(Error::protocol(format!("bad frame: {e}"))),
            }
            match self.stream.read(&mut self.scratch) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(0) => return Ok(None),
                Err(e) => return Err(Error::io("a peer's socket", e)),
                Ok(n) => self.buf.extend_from_slice(&self.scratch[..n]),
            }
        }
    }

    /// The next frame, decoded as `T`.
    ///
    /// Errors: `is_closed` when the other side closed; `is_protocol` for
    /// another message.
    fn expect<T: Pdu>(&mut self) -> Result<(Frame, T), Error> {
        let frame = self.recv()?.ok_or_else(Error::closed)?;
        let msg = frame
            .decode::<T>()
            .map_err(|e| Error::protocol(format!("expected {}: {e}", T::COMMAND)))?;
        Ok((frame, msg))
    }

    /// On the msg-server link: a TRANSFER_REQ as msg_server sends it; the
    /// task id.
    ///
    /// Errors: `is_refused` (with the relay's `file_server_error`),
    /// `is_protocol`, `is_closed`, `is_io`.
    pub fn create_task(&mut self, from: u32, to: u32, size: u32) -> Result<String, Error> {
        self.transfer_req(from, to, size, ONLINE)
    }

    /// [`Peer::create_task`] in offline mode: the relay creates the task in
    /// its store.
    ///
    /// Errors: as [`Peer::create_task`].
    pub fn create_offline_task(&mut self, from: u32, to: u32, size: u32) -> Result<String, Error> {
        self.transfer_req(from, to, size, OFFLINE)
    }

    fn transfer_req(&mut self, from: u32, to: u32, size: u32, mode: i32) -> Result<String, Error> {
        let req = ImFileTransferReq {
            file_size_u64: None,
            sha256: None,
            from_user_id: from,
            to_user_id: to,
            file_name: "raw".into(),
            file_size: size,
            trans_mode: mode,
            attach_data: None,
        };
        self.send(&req, 1)?;
        let (_, rsp) = self.expect::<ImFileTransferRsp>()?;
        if rsp.result_code != 0 {
            return Err(Error::refused_because(
                rsp.result_code,
                "the relay refused the task",
                rsp.file_server_error,
            ));
        }
        let id = rsp
            .task_id
            .ok_or_else(|| Error::protocol("a task without an id"))?;
        crate::transfer::task_id(&id)
    }

    /// On the msg-server link: the receiver deleted its offline file (as
    /// msg_server passes on db_proxy's DEL_OFFLINE); the relay drops it.
    ///
    /// Errors: `is_refused` with the delete's result code; `is_protocol`,
    /// `is_closed`, `is_io`.
    pub fn delete_offline(&mut self, task: &str, user: u32) -> Result<(), Error> {
        let req = OfflineDeleteReq {
            task_id: task.to_owned().into(),
            user_id: user,
            attach_data: None,
        };
        self.send(&req, 1)?;
        let (_, rsp) = self.expect::<OfflineDeleteRsp>()?;
        if rsp.result_code != OfflineDeleteResult::Deleted.code() {
            return Err(Error::refused(rsp.result_code, "offline delete refused"));
        }
        Ok(())
    }

    /// Logs in to a relay for `task` as `user` in `role` (`ROLE_*`).
    ///
    /// Errors: `is_refused` (with the relay's `file_server_error`),
    /// `is_protocol`, `is_closed`, `is_io`.
    pub fn login(&mut self, task: &str, user: u32, role: i32) -> Result<(), Error> {
        let req = ImFileLoginReq {
            file_size_u64: None,
            user_id: user,
            task_id: task.to_owned().into(),
            file_role: role,
        };
        self.send(&req, 1)?;
        let (_, rsp) = self.expect::<ImFileLoginRsp>()?;
        if rsp.result_code != 0 {
            return Err(Error::refused_because(
                rsp.result_code,
                "the relay refused the login",
                rsp.file_server_error,
            ));
        }
        Ok(())
    }

    /// An online receiver: waits for PEER_READY (the sender is in).
    ///
    /// Errors: `is_protocol` for another state; `is_closed`, `is_io`.
    pub fn wait_ready(&mut self) -> Result<(), Error> {
        let (_, state) = self.expect::<ImFileState>()?;
        if state.state != READY {
            return Err(Error::protocol(format!(
                "state {} before PEER_READY",
                state.state
            )));
        }
        Ok(())
    }

    /// An online receiver: pulls `size` bytes, `chunk` at a time, `window`
    /// in flight; then DONE. Pushes onto `waits` each answer's wait in
    /// nanoseconds from the moment its pull was written (with one pull in
    /// flight: the round trip). Returns the payload bytes received.
    ///
    /// Errors: `is_protocol` for an answer of the wrong length or shape;
    /// `is_closed`, `is_io`.
    pub fn receive(
        mut self,
        task: &str,
        user: u32,
        size: u64,
        chunk: u32,
        window: usize,
        waits: Option<&mut Vec<u64>>,
    ) -> Result<u64, Error> {
        let got = self.pull(task, user, size, chunk, window, waits)?;
        let done = ImFileState {
            state: DONE,
            task_id: task.to_owned().into(),
            user_id: user,
            sha256: None,
        };
        self.send(&done, 0)?;
        Ok(got)
    }

    /// An offline downloader (logged in): pulls as [`Peer::receive`] does,
    /// then reads the DONE the relay sends after the last answer.
    ///
    /// Errors: as [`Peer::receive`]; `is_protocol` when the end is not DONE.
    pub fn download(
        mut self,
        task: &str,
        user: u32,
        size: u64,
        chunk: u32,
        window: usize,
        waits: Option<&mut Vec<u64>>,
    ) -> Result<u64, Error> {
        let got = self.pull(task, user, size, chunk, window, waits)?;
        let (_, done) = self.expect::<ImFileState>()?;
        if done.state != DONE {
            return Err(Error::protocol(format!(
                "the download ended with state {}",
                done.state
            )));
        }
        Ok(got)
    }

    fn pull(
        &mut self,
        task: &str,
        user: u32,
        size: u64,
        chunk: u32,
        window: usize,
        mut waits: Option<&mut Vec<u64>>,
    ) -> Result<u64, Error> {
        let (mut next, mut got, mut in_flight) = (0u64, 0u64, VecDeque::new());
        while next < size || !in_flight.is_empty() {
            while next < size && in_flight.len() < window.max(1) {
                let len = u64::from(chunk).min(size - next) as u32;
                let offset = u32::try_from(next)
                    .map_err(|_| Error::invalid("raw peers pull within 4 GiB"))?;
                let req = ImFilePullDataReq {
                    offset_u64: None,
                    task_id: task.to_owned().into(),
                    user_id: user,
                    trans_mode: ONLINE,
                    offset,
                    data_size: len,
                };
                let asked = Instant::now();
                self.send(&req, in_flight.len() as u16)?;
                in_flight.push_back((len, asked));
                next += u64::from(len);
            }
            let (want, asked) = in_flight.pop_front().expect("a pull in flight");
            let frame = self.recv()?.ok_or_else(Error::closed)?;
            if let Some(waits) = waits.as_deref_mut() {
                waits.push(asked.elapsed().as_nanos() as u64);
            }
            let head = PullDataRspHead::parse(&frame.pdu[HEADER_LEN..])
                .map_err(|e| Error::protocol(format!("an answer: {e}")))?;
            if head.data_len != want as usize {
                return Err(Error::protocol(format!(
                    "an answer of {} bytes to a pull of {want}",
                    head.data_len
                )));
            }
            got += head.data_len as u64;
        }
        Ok(got)
    }

    /// An online sender: answers pulls with `payload`'s bytes until the
    /// other side closes or a state (DONE, CANCEL) arrives.
    ///
    /// Errors: `is_io` when an answer cannot be written.
    pub fn send_file(mut self, task: &str, user: u32, payload: &Bytes) -> Result<(), Error> {
        while let Some(frame) = self.recv()? {
            let Ok(req) = frame.decode::<ImFilePullDataReq>() else {
                return Ok(());
            };
            let data = payload.slice(..(req.data_size as usize).min(payload.len()));
            self.answer(task, user, &frame, &req, &data)?;
        }
        Ok(())
    }

    /// An offline uploader (logged in): answers the relay's pulls with
    /// `payload`'s bytes until the relay's DONE. Pushes onto `waits` the
    /// wait from each answer written to the next PDU read (with one pull
    /// in flight: the round trip through the relay and its store). Returns
    /// when the last answer was written.
    ///
    /// Errors: `is_protocol` when the relay ends with another state or
    /// sends something else; `is_closed`, `is_io`.
    pub fn upload(
        mut self,
        task: &str,
        user: u32,
        payload: &Bytes,
        mut waits: Option<&mut Vec<u64>>,
    ) -> Result<Instant, Error> {
        let mut answered = Instant::now();
        loop {
            let frame = self.recv()?.ok_or_else(Error::closed)?;
            if let Some(waits) = waits.as_deref_mut() {
                waits.push(answered.elapsed().as_nanos() as u64);
            }
            if let Ok(state) = frame.decode::<ImFileState>() {
                if state.state != DONE {
                    return Err(Error::protocol(format!(
                        "the upload ended with state {}",
                        state.state
                    )));
                }
                return Ok(answered);
            }
            let req: ImFilePullDataReq = frame
                .decode()
                .map_err(|e| Error::protocol(format!("expected a pull: {e}")))?;
            let data = payload.slice(..(req.data_size as usize).min(payload.len()));
            self.answer(task, user, &frame, &req, &data)?;
            answered = Instant::now();
        }
    }

    /// Answers pulls with the bytes of `file` until the other side closes:
    /// one read into a reused buffer, then the PDU prefix and the bytes;
    /// DONE after the answer that reaches the end (as ferry's offline
    /// download does). The direct baseline: a file served from disk with
    /// nothing between it and the socket.
    ///
    /// Errors: `is_file` when the file cannot be read; `is_io`;
    /// `is_protocol` for a pull past the end.
    pub fn serve_file(mut self, task: &str, user: u32, file: &std::fs::File) -> Result<(), Error> {
        use std::os::unix::fs::FileExt as _;
        let path = std::path::Path::new("the file served");
        let size = file
            .metadata()
            .map_err(|e| Error::file("reading", path, e))?
            .len();
        let mut buf = Vec::new();
        while let Some(frame) = self.recv()? {
            let Ok(req) = frame.decode::<ImFilePullDataReq>() else {
                return Ok(());
            };
            let offset = u64::from(req.offset);
            if offset >= size {
                return Err(Error::protocol(format!(
                    "a pull at {offset} of a {size}-byte file"
                )));
            }
            let len = u64::from(req.data_size).min(size - offset) as usize;
            buf.resize(len, 0);
            file.read_exact_at(&mut buf, offset)
                .map_err(|e| Error::file("reading", path, e))?;
            self.answer(task, user, &frame, &req, &buf)?;
            if offset + len as u64 == size {
                let done = ImFileState {
                    state: DONE,
                    task_id: task.to_owned().into(),
                    user_id: user,
                    sha256: None,
                };
                self.send(&done, 0)?;
            }
        }
        Ok(())
    }

    /// One pull's answer: the PDU prefix written by hand, then `data` as is.
    fn answer(
        &mut self,
        task: &str,
        user: u32,
        frame: &Frame,
        req: &ImFilePullDataReq,
        data: &[u8],
    ) -> Result<(), Error> {
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
        let mut pdu = Vec::with_capacity(HEADER_LEN + prefix.len());
        let mut header = Header::new(ImFilePullDataRsp::COMMAND, frame.header.seq_num, 0);
        header.length = (HEADER_LEN + prefix.len() + data.len()) as u32;
        header.write(&mut pdu);
        pdu.extend_from_slice(&prefix);
        let io = |e| Error::io("a peer's socket", e);
        self.stream.write_all(&pdu).map_err(io)?;
        self.stream.write_all(data).map_err(io)
    }
}

/// A server's PDU port as msg_server uses db_proxy's: one request, then
/// its answer, on one connection with no tasks of its own (tokio). For
/// benches and load tests that measure the server, not the client: no
/// heartbeat, no events, one request in flight.
pub struct Caller {
    stream: tokio::net::TcpStream,
    buf: BytesMut,
    seq: u16,
    max_frame: u32,
}

impl Caller {
    /// Connects to `addr` (TCP_NODELAY set).
    ///
    /// Errors: `is_io`.
    pub async fn connect(addr: std::net::SocketAddr) -> Result<Caller, Error> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| Error::io("connecting", e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| Error::io("a caller's socket", e))?;
        Ok(Caller {
            stream,
            buf: BytesMut::with_capacity(4096),
            seq: 0,
            max_frame: ferry_proto::frame::DEFAULT_MAX_FRAME,
        })
    }

    /// Sends `req` under the next seq and reads its answer.
    ///
    /// Errors: `is_closed` when the server closes first; `is_protocol` for
    /// a bad frame, an answer under another seq, or another message; `is_io`.
    pub async fn call<Req: Pdu, Rsp: Pdu>(&mut self, req: &Req) -> Result<Rsp, Error> {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        self.seq = self.seq.wrapping_add(1);
        let pdu = encode_to_bytes(req, self.seq, self.max_frame)
            .map_err(|e| Error::invalid(format!("encoding {}: {e}", Req::COMMAND)))?;
        let io = |e| Error::io("a caller's socket", e);
        self.stream.write_all(&pdu).await.map_err(io)?;
        loop {
            match Frame::take(&mut self.buf, self.max_frame) {
                Ok(Some(f)) if f.header.seq_num != self.seq => {
                    return Err(Error::protocol(format!(
                        "an answer under seq {} to request {}",
                        f.header.seq_num, self.seq
                    )));
                }
                Ok(Some(f)) => {
                    return f
                        .decode::<Rsp>()
                        .map_err(|e| Error::protocol(format!("expected {}: {e}", Rsp::COMMAND)));
                }
                Ok(None) => {}
                Err(e) => return Err(Error::protocol(format!("bad frame: {e}"))),
            }
            if self.stream.read_buf(&mut self.buf).await.map_err(io)? == 0 {
                return Err(Error::closed());
            }
        }
    }
}
