//! The operations a load run repeats, one worker per `--concurrency`
//! slot, each with its own pair of users (sender `2k`, receiver `2k + 1`):
//!
//! | scenario      | one operation                                                   | latency measured            |
//! |---------------|-----------------------------------------------------------------|-----------------------------|
//! | `login-storm` | a fresh login (login_server, msg_server, db_proxy), then logout | login answered              |
//! | `msg-storm`   | a text message from the sender to the receiver                  | sent → delivered            |
//! | `online`      | a file of `--size` bytes sent online, received by the receiver  | request → last byte written |
//! | `offline`     | a file uploaded offline, then downloaded by the receiver        | request → download done     |
//! | `mixed`       | the four above in turn                                           | as each                     |

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferry_client::transfer::Options;
use ferry_client::{Event, FileTask, Login, Mode, SendOptions, Session};
use ferry_proto::pb::im::base_define::ClientType;

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

/// One worker's pair of logged-in users and its files.
pub(crate) struct Worker {
    pub sender: Session,
    pub receiver: Session,
    pub sender_login: Login,
    /// The file the sender sends (`--size` bytes).
    pub source: PathBuf,
    /// Where the receiver writes (removed after each operation).
    pub sink: PathBuf,
    pub transfer: Options,
    /// Operations done, to rotate `mixed`.
    pub done: u64,
}

/// What one successful operation moved (bytes of payload).
pub(crate) type Moved = u64;

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
}

impl OpError {
    /// The kind it is counted under.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            OpError::Client(e) => super::record::kind(e),
            OpError::Timeout(_) => "timeout",
            OpError::Closed => "closed",
            OpError::Wrong(_) => "wrong-result",
        }
    }
}

impl Worker {
    /// Runs one operation of `scenario`; the latency is the caller's.
    pub(crate) async fn op(&mut self, scenario: Scenario) -> Result<Moved, OpError> {
        self.done += 1;
        let scenario = match scenario {
            Scenario::Mixed => [
                Scenario::LoginStorm,
                Scenario::MsgStorm,
                Scenario::Online,
                Scenario::Offline,
            ][(self.done % 4) as usize],
            s => s,
        };
        match scenario {
            Scenario::LoginStorm => {
                // As a mobile client: it never kicks the worker's own PC
                // sessions (TeamTalk kicks only the same kind).
                let mut login = self.sender_login.clone();
                login.client_type = ClientType::Android;
                let session = Session::login(&login).await?;
                drop(session);
                Ok(0)
            }
            Scenario::MsgStorm => self.message().await,
            Scenario::Online => self.file(Mode::Online).await,
            Scenario::Offline => self.file(Mode::Offline).await,
            Scenario::Mixed => unreachable!("rotated above"),
        }
    }

    /// A text message, until the receiver has it.
    async fn message(&mut self) -> Result<Moved, OpError> {
        let text = format!("loadgen {}", self.done);
        let to = self.receiver.user_id();
        self.sender.send_text(to, text.clone()).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let event = tokio::time::timeout_at(deadline.into(), self.receiver.next_event()).await;
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
    async fn file(&mut self, mode: Mode) -> Result<Moved, OpError> {
        let to = self.receiver.user_id();
        let send = SendOptions {
            mode,
            file_name: Some(format!("loadgen-{}.bin", self.done).into()),
            transfer: self.transfer.clone(),
        };
        let _ = std::fs::remove_file(&self.sink);
        let task = match mode {
            Mode::Online => {
                let (sent, received) = tokio::join!(
                    self.sender.send_file(to, &self.source, &send),
                    receive_offered(&mut self.receiver, &self.sink, &self.transfer),
                );
                received?;
                sent?
            }
            Mode::Offline => {
                let task = self.sender.send_file(to, &self.source, &send).await?;
                // ADD_OFFLINE has no answer (TeamTalk's protocol): the
                // record appears when db_proxy has written it.
                let listed = Instant::now() + Duration::from_secs(10);
                let mine = loop {
                    let pending = self.receiver.offline_files().await?;
                    if let Some(mine) = pending.into_iter().find(|t| t.task_id == task.task_id) {
                        break mine;
                    }
                    if Instant::now() > listed {
                        return Err(OpError::Wrong("the offline file is never listed"));
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                };
                self.receiver
                    .receive_file(&mine, &self.sink, &self.transfer)
                    .await?;
                task
            }
        };
        let got = std::fs::metadata(&self.sink).map(|m| m.len()).unwrap_or(0);
        let _ = std::fs::remove_file(&self.sink);
        if got != task.size {
            return Err(OpError::Wrong("the received file has the wrong size"));
        }
        Ok(task.size)
    }
}

/// Waits for the next online file offered to `receiver` and receives it.
async fn receive_offered(
    receiver: &mut Session,
    sink: &Path,
    opts: &Options,
) -> Result<(), OpError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let event = tokio::time::timeout_at(deadline.into(), receiver.next_event()).await;
        match event {
            Ok(Some(Event::File(notify))) => {
                let task = FileTask::from_notify(&notify)?;
                if task.mode == Mode::Online {
                    return Ok(receiver.receive_file(&task, sink, opts).await?);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err(OpError::Closed),
            Err(_) => return Err(OpError::Timeout("file offer")),
        }
    }
}
