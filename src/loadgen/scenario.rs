//! The operations a load run repeats, one worker per `--concurrency`
//! slot, each with its own pair of users (sender `2k`, receiver `2k + 1`):
//!
//! | scenario      | one operation                                                   | latency measured            |
//! |---------------|-----------------------------------------------------------------|-----------------------------|
//! | `login-storm` | a fresh login (login_server, msg_server, db_proxy), then logout | login answered              |
//! | `msg-storm`   | a text message from the sender to the receiver                  | sent → delivered            |
//! | `online`      | a file of `--size` bytes sent online, received by the receiver  | request → last byte received |
//! | `offline`     | a file uploaded offline, then downloaded by the receiver        | request → download done; each half apart ([`Phases`]) |
//! | `mixed`       | the four above in turn (against a relay alone: the two files)   | as each                     |
//!
//! Against a stack (`--server`) the users log in and msg_server asks the
//! relay for each task. Against a relay alone (`--relay`, `--msg-link`)
//! the worker plays msg_server: it asks the relay's msg link for the task
//! (CID_OTHER_FILE_TRANSFER_REQ) and its users are synthetic ids.
//!
//! A file's bytes come from a file on disk (written before the latency
//! starts, rewritten only when the size changes) and go to one, or with
//! `--no-disk` from a generated [`Pattern`] that the receiver checks byte
//! by byte and discards.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferry_client::link::RelayLink;
use ferry_client::transfer::{Options, receive_payload, send_payload};
use ferry_client::{Event, FileTask, Login, Mode, Pattern, Payload, Session};
use ferry_proto::pb::im::base_define::ClientType;

use super::size::{Rng, SizeSpec};

/// `--scenario`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Scenario {
    Online,
    Offline,
    Mixed,
    LoginStorm,
    MsgStorm,
}

/// Who a worker's two users are.
pub(crate) enum Side {
    /// Logged in to a stack.
    Stack(Box<Pair>),
    /// Synthetic users of a relay alone, whose tasks this worker asks for
    /// on the shared msg link.
    Relay {
        link: Arc<RelayLink>,
        from: u32,
        to: u32,
    },
}

/// A worker's two users logged in to a stack.
pub(crate) struct Pair {
    pub sender: Session,
    pub receiver: Session,
    /// The sender's login, again for login-storm.
    pub sender_login: Login,
}

/// Where file bytes come from and go.
pub(crate) enum Files {
    /// Files in the run's directory.
    Disk {
        /// The file the sender sends; `source_size` bytes once written.
        source: PathBuf,
        source_size: Option<u64>,
        /// Where the receiver writes (removed after each operation).
        sink: PathBuf,
    },
    /// A generated pattern per operation (`--no-disk`).
    Memory,
}

/// One worker: its users, its files and its share of the sizes.
pub(crate) struct Worker {
    pub side: Side,
    pub files: Files,
    pub sizes: SizeSpec,
    /// Sizes and pattern seeds, from `--seed`.
    pub rng: Rng,
    pub transfer: Options,
    /// Operations done, to rotate `mixed`.
    pub done: u64,
}

/// One operation, prepared (its file written) before its latency starts.
pub(crate) struct Job {
    scenario: Scenario,
    /// Bytes of the file, if it moves one.
    size: u64,
    /// The bytes' pattern.
    pattern: Pattern,
}

/// What one successful operation moved.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moved {
    /// Bytes of payload (a file, a message's text).
    pub bytes: u64,
    /// A file of `bytes` bytes was moved (its size goes in the report).
    pub file: bool,
    /// An offline file's two halves, timed apart.
    pub phases: Option<Phases>,
}

/// How long an offline operation spent uploading and downloading.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phases {
    /// From the task's request to the relay's DONE to the uploader.
    pub upload: std::time::Duration,
    /// From the file being listed for the receiver (a stack) or the
    /// upload's end (a relay alone) to the download's last byte checked.
    /// The offline record's round trip between the two (ADD_OFFLINE, the
    /// receiver's listing) is in neither.
    pub download: std::time::Duration,
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpError {
    #[error(transparent)]
    Client(#[from] ferry_client::Error),
    #[error("no {0} within the deadline")]
    Timeout(&'static str),
    #[error("the receiver's session ended")]
    Closed,
    #[error("{0}")]
    Wrong(&'static str),
    #[error("writing the source file: {0}")]
    Source(std::io::Error),
}

impl OpError {
    /// The kind it is counted under.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            OpError::Client(e) => super::record::kind(e),
            OpError::Timeout(_) => "timeout",
            OpError::Closed => "closed",
            OpError::Wrong(_) => "wrong-result",
            OpError::Source(_) => "local-file",
        }
    }
}

impl Worker {
    /// Logs the worker's users out once what they sent is written: the
    /// last transfer's DEL_OFFLINE has no answer, and without this it
    /// could be lost as the process exits, its file left on the relay.
    pub(crate) async fn close(self) {
        if let Side::Stack(pair) = self.side {
            let Pair {
                sender, receiver, ..
            } = *pair;
            tokio::join!(sender.close(), receiver.close());
        }
    }

    /// The next operation of `scenario`, its source file written.
    pub(crate) fn prepare(&mut self, scenario: Scenario) -> Result<Job, OpError> {
        self.done += 1;
        let scenario = match (scenario, &self.side) {
            (Scenario::Mixed, Side::Stack(_)) => [
                Scenario::LoginStorm,
                Scenario::MsgStorm,
                Scenario::Online,
                Scenario::Offline,
            ][(self.done % 4) as usize],
            (Scenario::Mixed, Side::Relay { .. }) => {
                [Scenario::Online, Scenario::Offline][(self.done % 2) as usize]
            }
            (s, _) => s,
        };
        let (mut size, mut pattern) = (0, Pattern::new(0));
        if matches!(scenario, Scenario::Online | Scenario::Offline) {
            size = self.sizes.sample(&mut self.rng);
            pattern = Pattern::new(self.rng.next_u64());
            if let Files::Disk {
                source,
                source_size,
                ..
            } = &mut self.files
                && *source_size != Some(size)
            {
                write_pattern(source, &pattern, size).map_err(OpError::Source)?;
                *source_size = Some(size);
            }
        }
        Ok(Job {
            scenario,
            size,
            pattern,
        })
    }

    /// Runs `job`; the latency is the caller's.
    pub(crate) async fn run(&mut self, job: Job) -> Result<Moved, OpError> {
        let text = |n: u64| Moved {
            bytes: n,
            file: false,
            phases: None,
        };
        match (job.scenario, &self.side) {
            (Scenario::LoginStorm, Side::Stack(pair)) => {
                // As a mobile client: it never kicks the worker's own PC
                // sessions (TeamTalk kicks only the same kind).
                let mut login = pair.sender_login.clone();
                login.client_type = ClientType::Android;
                let session = Session::login(&login).await?;
                drop(session);
                Ok(text(0))
            }
            (Scenario::MsgStorm, Side::Stack(_)) => self.message().await.map(text),
            (Scenario::Online, _) => self.file(Mode::Online, &job).await,
            (Scenario::Offline, _) => self.file(Mode::Offline, &job).await,
            _ => Err(OpError::Wrong("this scenario needs --server")),
        }
    }

    /// A text message, until the receiver has it.
    async fn message(&mut self) -> Result<u64, OpError> {
        let Side::Stack(pair) = &mut self.side else {
            return Err(OpError::Wrong("msg-storm needs --server"));
        };
        let Pair {
            sender, receiver, ..
        } = &mut **pair;
        let text = format!("loadgen {}", self.done);
        let to = receiver.user_id();
        sender.send_text(to, text.clone()).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let event = tokio::time::timeout_at(deadline.into(), receiver.next_event()).await;
            match event {
                Ok(Some(Event::Message(m))) if m.msg_data == text.as_bytes() => {
                    return Ok(text.len() as u64);
                }
                Ok(Some(_)) => {}
                Ok(None) => return Err(OpError::Closed),
                Err(_) => return Err(OpError::Timeout("delivery of the message")),
            }
        }
    }

    /// A file sent in `mode` and received whole.
    async fn file(&mut self, mode: Mode, job: &Job) -> Result<Moved, OpError> {
        let name = Bytes::from(format!("loadgen-{}.bin", self.done));
        let opts = &self.transfer;
        let (from, to): (Payload<'_>, Payload<'_>) = match &self.files {
            Files::Disk { source, sink, .. } => {
                let _ = std::fs::remove_file(sink);
                (Payload::File(source), Payload::File(sink))
            }
            Files::Memory => (Payload::Pattern(job.pattern), Payload::Pattern(job.pattern)),
        };
        let started = Instant::now();
        let mut phases = None;
        match &mut self.side {
            Side::Stack(pair) => {
                let Pair {
                    sender, receiver, ..
                } = &mut **pair;
                let peer = receiver.user_id();
                let task = sender.request_file(peer, name, job.size, mode).await?;
                tracing::debug!(task = %task.task_id, size = job.size, mode = ?task.mode, "file task");
                match task.mode {
                    Mode::Online => {
                        let (sent, received) = tokio::join!(
                            send_payload(&task, sender.user_id(), from, opts),
                            receive_offered(receiver, &task.task_id, to, opts),
                        );
                        received?;
                        sent?;
                    }
                    Mode::Offline => {
                        if let Err(e) = send_payload(&task, sender.user_id(), from, opts).await {
                            // A cut upload's stored part goes too, as for a
                            // file downloaded (best effort).
                            let _ = receiver.del_offline(&task).await;
                            return Err(e.into());
                        }
                        let upload = started.elapsed();
                        sender.add_offline(&task).await?;
                        // ADD_OFFLINE has no answer (TeamTalk's protocol):
                        // the record appears when db_proxy has written it.
                        let listed = Instant::now() + Duration::from_secs(10);
                        let mine = loop {
                            let pending = receiver.offline_files().await?;
                            if let Some(mine) =
                                pending.into_iter().find(|t| t.task_id == task.task_id)
                            {
                                break mine;
                            }
                            if Instant::now() > listed {
                                return Err(OpError::Wrong("the offline file is never listed"));
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        };
                        let found = Instant::now();
                        let received = receive_payload(&mine, receiver.user_id(), to, opts).await;
                        // Deleted whether or not the download went through,
                        // so the relay's store does not grow over a run.
                        let deleted = receiver.del_offline(&mine).await;
                        received?;
                        deleted?;
                        phases = Some(Phases {
                            upload,
                            download: found.elapsed(),
                        });
                    }
                }
            }
            Side::Relay {
                link,
                from: a,
                to: b,
            } => {
                let task = link.request_task(*a, *b, name, job.size, mode).await?;
                tracing::debug!(task = %task.task_id, size = job.size, ?mode, "file task");
                match mode {
                    Mode::Online => {
                        let (sent, received) = tokio::join!(
                            send_payload(&task, *a, from, opts),
                            receive_payload(&task, *b, to, opts),
                        );
                        received?;
                        sent?;
                    }
                    Mode::Offline => {
                        let moved = async {
                            send_payload(&task, *a, from, opts).await?;
                            let (upload, uploaded) = (started.elapsed(), Instant::now());
                            receive_payload(&task, *b, to, opts).await?;
                            Ok::<_, ferry_client::Error>(Phases {
                                upload,
                                download: uploaded.elapsed(),
                            })
                        }
                        .await;
                        // Deleted whatever happened (a cut upload's stored
                        // part too), as msg_server would for its receiver,
                        // so the relay's store does not grow over a run.
                        let deleted = link.delete_offline(&task).await;
                        phases = Some(moved?);
                        deleted?;
                    }
                }
            }
        }
        if let Files::Disk { sink, .. } = &self.files {
            let got = std::fs::metadata(sink).map(|m| m.len()).unwrap_or(0);
            let _ = std::fs::remove_file(sink);
            if got != job.size {
                return Err(OpError::Wrong("the received file has the wrong size"));
            }
        }
        Ok(Moved {
            bytes: job.size,
            file: true,
            phases,
        })
    }
}

/// Waits for the notify of online task `task_id` to `receiver` and
/// receives it into `to`.
async fn receive_offered(
    receiver: &mut Session,
    task_id: &str,
    to: Payload<'_>,
    opts: &Options,
) -> Result<(), OpError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let event = tokio::time::timeout_at(deadline.into(), receiver.next_event()).await;
        match event {
            Ok(Some(Event::File(notify))) => {
                let task = FileTask::from_notify(&notify)?;
                if task.mode == Mode::Online && task.task_id == task_id {
                    return Ok(receive_payload(&task, receiver.user_id(), to, opts).await?);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err(OpError::Closed),
            Err(_) => return Err(OpError::Timeout("file offer")),
        }
    }
}

/// `size` bytes of `pattern` at `path`.
fn write_pattern(path: &Path, pattern: &Pattern, size: u64) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < size {
        let n = (size - at).min(buf.len() as u64) as usize;
        pattern.fill(at, &mut buf[..n]);
        file.write_all(&buf[..n])?;
        at += n as u64;
    }
    file.flush()
}
