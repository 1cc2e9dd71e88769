//! One PDU connection to a server: a writer task, a reader task that hands
//! each answer to the request with its seq and everything else (seq 0) to
//! the event queue, and a heartbeat while nothing else is sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferry_proto::pb::im::other::ImHeartBeat;
use ferry_proto::registry::CID_OTHER_HEARTBEAT;
use ferry_proto::{Frame, Pdu, frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Kind};

/// Frames from the server that answer no request, queued at most this many
/// before the reader stops reading (the server then sees back-pressure).
const EVENTS: usize = 1024;
/// PDUs queued for the writer at most.
const OUTGOING: usize = 256;

/// Requests waiting for their answer, by seq; `None` once the reader has
/// ended (a request made after that fails at once instead of waiting out
/// its timeout: the answer can never come).
type Pending = Arc<Mutex<Option<HashMap<u16, oneshot::Sender<Frame>>>>>;

pub(crate) struct Conn {
    out: mpsc::Sender<Bytes>,
    pending: Pending,
    seq: AtomicU16,
    max_frame: u32,
    timeout: Duration,
    /// The reader and the heartbeat: stopped with the connection.
    tasks: [tokio::task::AbortHandle; 2],
    /// The writer is not stopped: once the connection is dropped it writes
    /// what is queued (each PDU within `timeout`), then shuts the socket.
    /// A PDU with no answer (DEL_OFFLINE, a read ack) sent just before a
    /// session is dropped still goes out.
    write: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Conn {
    /// Starts the tasks on `stream`; unsolicited frames go to the returned
    /// receiver. `heartbeat`: how often a heartbeat goes out (TeamTalk's
    /// clients: every 5 s); `timeout`: how long a request may wait.
    pub(crate) fn start(
        stream: TcpStream,
        heartbeat: Duration,
        timeout: Duration,
        max_frame: u32,
    ) -> (Conn, mpsc::Receiver<Frame>) {
        let _ = stream.set_nodelay(true);
        let (mut reader, mut writer) = stream.into_split();
        let (out, mut queued) = mpsc::channel::<Bytes>(OUTGOING);
        let (events_tx, events) = mpsc::channel(EVENTS);
        let pending: Pending = Arc::new(Mutex::new(Some(HashMap::new())));
        let write = tokio::spawn(async move {
            while let Some(pdu) = queued.recv().await {
                match tokio::time::timeout(timeout, writer.write_all(&pdu)).await {
                    Ok(Ok(())) => {}
                    _ => return,
                }
            }
            let _ = writer.shutdown().await;
        });
        let read = {
            let pending = pending.clone();
            tokio::spawn(async move {
                let mut buf = BytesMut::with_capacity(8 << 10);
                loop {
                    loop {
                        match Frame::take(&mut buf, max_frame) {
                            Ok(Some(f)) => {
                                if f.header.command == CID_OTHER_HEARTBEAT {
                                    continue;
                                }
                                let waiting = (f.header.seq_num != 0)
                                    .then(|| lock(&pending).as_mut()?.remove(&f.header.seq_num))
                                    .flatten();
                                match waiting {
                                    Some(w) => {
                                        let _ = w.send(f);
                                    }
                                    None => {
                                        if events_tx.send(f).await.is_err() {
                                            return;
                                        }
                                    }
                                }
                            }
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "invalid frame from the server; closing");
                                *lock(&pending) = None;
                                return;
                            }
                        }
                    }
                    match reader.read_buf(&mut buf).await {
                        Ok(n) if n > 0 => {}
                        _ => {
                            // Waiting requests see the connection closed.
                            *lock(&pending) = None;
                            return;
                        }
                    }
                }
            })
        };
        let beat = {
            let out = out.clone();
            let pdu =
                frame::encode_to_bytes(&ImHeartBeat {}, 0, max_frame).expect("an empty PDU fits");
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(heartbeat);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if out.send(pdu.clone()).await.is_err() {
                        return;
                    }
                }
            })
        };
        let conn = Conn {
            out,
            pending,
            seq: AtomicU16::new(0),
            max_frame,
            timeout,
            tasks: [read.abort_handle(), beat.abort_handle()],
            write: Some(write),
        };
        (conn, events)
    }

    /// Ends the connection once what is queued is written (within the
    /// request timeout), for a process about to exit: a dropped connection
    /// writes it too, but only while the runtime still runs.
    pub(crate) async fn close(mut self) {
        let timeout = self.timeout;
        let write = self.write.take();
        drop(self);
        if let Some(write) = write {
            let _ = tokio::time::timeout(timeout, write).await;
        }
    }

    /// Connects to `what` at `at` within `timeout`, then [`Conn::start`]s
    /// (the default frame limit).
    ///
    /// Errors: `is_timeout`, `is_io`.
    pub(crate) async fn connect(
        at: std::net::SocketAddr,
        what: &'static str,
        heartbeat: Duration,
        timeout: Duration,
    ) -> Result<(Conn, mpsc::Receiver<Frame>), Error> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(at))
            .await
            .map_err(|_| {
                Error::new(Kind::Timeout {
                    what,
                    after: timeout,
                })
            })?
            .map_err(|e| Error::io(what, e))?;
        Ok(Conn::start(
            stream,
            heartbeat,
            timeout,
            ferry_proto::frame::DEFAULT_MAX_FRAME,
        ))
    }

    fn next_seq(&self) -> u16 {
        loop {
            let s = self.seq.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if s != 0 {
                return s;
            }
        }
    }

    fn encode<T: Pdu>(&self, msg: &T, seq: u16) -> Result<Bytes, Error> {
        frame::encode_to_bytes(msg, seq, self.max_frame)
            .map_err(|e| Error::protocol(format!("cannot encode {}: {e}", T::COMMAND)))
    }

    /// Sends `msg` expecting no answer.
    pub(crate) async fn send<T: Pdu>(&self, msg: &T) -> Result<(), Error> {
        self.send_pdu(self.encode(msg, self.next_seq())?).await
    }

    /// Sends a PDU encoded by the caller (header included), as it is: a
    /// relay's pull answered with its payload last (`ferry_proto::pull`).
    ///
    /// Errors: `is_closed` once the connection ended.
    pub(crate) async fn send_pdu(&self, pdu: Bytes) -> Result<(), Error> {
        self.out
            .send(pdu)
            .await
            .map_err(|_| Error::new(Kind::Closed))
    }

    /// Sends `req` and returns at once; [`Asked::answer`] waits for the
    /// frame answering its seq. Several may be in flight (a pull window).
    pub(crate) async fn ask<Req: Pdu>(&self, req: &Req) -> Result<Asked, Error> {
        let seq = self.next_seq();
        let pdu = self.encode(req, seq)?;
        let (tx, rx) = oneshot::channel();
        match lock(&self.pending).as_mut() {
            Some(waiting) => waiting.insert(seq, tx),
            None => return Err(Error::new(Kind::Closed)),
        };
        if self.out.send(pdu).await.is_err() {
            if let Some(waiting) = lock(&self.pending).as_mut() {
                waiting.remove(&seq);
            }
            return Err(Error::new(Kind::Closed));
        }
        Ok(Asked {
            seq,
            rx,
            pending: self.pending.clone(),
            timeout: self.timeout,
            command: Req::COMMAND,
        })
    }

    /// Sends `req` and waits for the frame answering its seq, decoded.
    pub(crate) async fn call<Req: Pdu, Rsp: Pdu>(&self, req: &Req) -> Result<Rsp, Error> {
        self.ask(req)
            .await?
            .answer()
            .await?
            .decode()
            .map_err(|e| Error::protocol(format!("answer to {}: {e}", Req::COMMAND)))
    }
}

/// A request sent and not answered yet.
pub(crate) struct Asked {
    seq: u16,
    rx: oneshot::Receiver<Frame>,
    pending: Pending,
    timeout: Duration,
    command: ferry_proto::CommandId,
}

impl Asked {
    /// The frame answering the request, within the connection's timeout.
    /// Errors: `is_closed` when the connection ended first, `is_timeout`.
    pub(crate) async fn answer(mut self) -> Result<Frame, Error> {
        match tokio::time::timeout(self.timeout, &mut self.rx).await {
            Ok(Ok(f)) => Ok(f),
            Ok(Err(_)) => Err(Error::new(Kind::Closed)),
            Err(_) => {
                tracing::debug!(command = %self.command, seq = self.seq, "no answer in time");
                Err(Error::new(Kind::Timeout {
                    what: "the server",
                    after: self.timeout,
                }))
            }
        }
    }
}

impl Drop for Asked {
    /// An answer nobody waits for any more (timed out, or the caller was
    /// cancelled) goes nowhere.
    fn drop(&mut self) {
        if let Some(waiting) = lock(&self.pending).as_mut() {
            waiting.remove(&self.seq);
        }
    }
}

fn lock(p: &Pending) -> std::sync::MutexGuard<'_, Option<HashMap<u16, oneshot::Sender<Frame>>>> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that closes the connection: a request made after the reader
    /// saw the close fails `is_closed` at once, not after its timeout.
    #[tokio::test]
    async fn a_request_after_the_close_fails_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        let closer = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            drop(s);
        });
        let stream = TcpStream::connect(at).await.unwrap();
        let timeout = Duration::from_secs(30);
        let (conn, _events) = Conn::start(stream, timeout, timeout, 1 << 20);
        closer.await.unwrap();
        // The reader sees the close and gives up on every request.
        for _ in 0..200 {
            if lock(&conn.pending).is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = std::time::Instant::now();
        let err = conn.ask(&ImHeartBeat {}).await.err().expect("refused");
        assert!(err.is_closed(), "{err}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
