//! # ferry-client
//!
//! An async (tokio) client for TeamTalk's protocol, as ferry and TeamTalk
//! servers speak it. Never depends on monoio (docs/ARCHITECTURE.md).
//!
//! - [`discovery`]: login_server's `GET /msg_server`: which msg_server.
//! - [`Session`] (`session.rs`): login, heartbeats, requests answered by
//!   seq, messages, and what the server sends on its own as [`Event`]s.
//! - [`Error`] (`error.rs`): one opaque error with `is_*` predicates.
//! - `conn.rs`: the PDU connection under a session.
//!
//! File transfers (relay login, online and offline send/receive with
//! resume), reconnect and the load generator come next (the client
//! issue).
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

mod conn;
pub mod discovery;
mod error;
mod session;

pub use error::Error;
pub use session::{Event, Login, Session, password_digest};
