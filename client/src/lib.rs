//! # ferry-client
//!
//! An async (tokio) client for TeamTalk's protocol, as ferry and TeamTalk
//! servers speak it. Never depends on monoio (docs/ARCHITECTURE.md).
//!
//! # Layout
//!
//! - [`discovery`]: login_server's `GET /msg_server`: which msg_server.
//! - [`Session`] (`session.rs`): login, heartbeats, requests answered by
//!   seq, messages, and what the server sends on its own as [`Event`]s.
//! - [`transfer`]: files: tasks asked of msg_server, online send and
//!   receive through a relay with a window of pulls, offline upload and
//!   download with resume and retries, progress.
//! - [`link`]: a relay's msg link from msg_server's side (tasks asked of a
//!   relay alone, as a load generator playing msg_server does).
//! - [`raw`]: TeamTalk-shaped file peers on blocking sockets, for benches
//!   that measure the path between two peers, not the client.
//! - [`Error`] (`error.rs`): one opaque error with `is_*` predicates.
//! - `conn.rs`: the PDU connection under a session or a relay login.
//!
//! A session whose msg_server connection is lost logs in again by itself
//! (through login_server, so a stopped msg_server is left for another):
//! [`Event::Reconnected`] says so.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_client::Error> {
//! use ferry_client::{Event, Login, Session};
//!
//! let mut alice = Session::login(&Login::new("http://127.0.0.1:8080", "alice", "secret")).await?;
//! let msg_id = alice.send_text(2, "hello").await?;
//! println!("stored as {msg_id}");
//! while let Some(event) = alice.next_event().await {
//!     if let Event::Message(m) = event {
//!         println!("from {}: {}", m.from_user_id, String::from_utf8_lossy(&m.msg_data));
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Files: the sender sends (online when the receiver is connected, else
//! the relay keeps it), the receiver takes what it is offered. Sizes are
//! bytes: a stock TeamTalk peer moves at most 4 GiB − 1 a file; through
//! ferry's relay two ferry peers move more, online or offline (the u64
//! fields of PROTOCOL-EXTENSIONS.md).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_client::Error> {
//! use std::path::Path;
//! use ferry_client::{Event, FileTask, Login, Mode, Options, SendOptions, Session};
//!
//! let alice = Session::login(&Login::new("http://127.0.0.1:8080", "alice", "secret")).await?;
//! let bob_id = alice.user_id_by_name("bob").await?.expect("bob exists");
//! let mut send = SendOptions::default();
//! let mut progress = send.transfer.watch_progress();
//! tokio::spawn(async move {
//!     while progress.changed().await.is_ok() {
//!         let p = *progress.borrow();
//!         eprintln!("{} of {} bytes", p.done, p.total);
//!     }
//! });
//! let task = alice.send_file(bob_id, Path::new("holiday.zip"), &send).await?;
//! println!("sent as task {} ({:?})", task.task_id, task.mode);
//!
//! // Bob: what waits for him, then what is offered while he is on.
//! let mut bob = Session::login(&Login::new("http://127.0.0.1:8080", "bob", "secret")).await?;
//! let opts = Options::default().with_window(8).with_chunk(256 << 10);
//! for task in bob.offline_files().await? {
//!     bob.receive_file(&task, Path::new("incoming.part"), &opts).await?;
//! }
//! while let Some(event) = bob.next_event().await {
//!     if let Event::File(notify) = event {
//!         let task = FileTask::from_notify(&notify)?;
//!         if task.mode == Mode::Offline && !task.offline_ready {
//!             continue; // still uploading: a second notify says when it is ready
//!         }
//!         bob.receive_file(&task, Path::new("incoming.part"), &opts).await?;
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod conn;
pub mod discovery;
mod error;
pub mod link;
pub mod raw;
mod session;
pub mod transfer;

pub use error::Error;
pub use ferry_proto::extension::FileServerError;
pub use session::{Event, Login, Session, password_digest};
pub use transfer::{
    FileTask, Mode, Options, Pattern, Payload, Progress, SendOptions, UPLOAD_LANE_BYTES,
};
