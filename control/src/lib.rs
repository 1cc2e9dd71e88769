//! # ferry-control
//!
//! The control plane on tokio (docs/ARCHITECTURE.md, "The control plane"): today db_proxy,
//! later msg_server, route_server and login_server. Never depends on monoio.
//!
//! # Layout
//!
//! - [`store`]: the database behind db_proxy: sqlx pools for SQLite (the
//!   embedded default) or MySQL/MariaDB with TeamTalk's schema, embedded
//!   migrations, optional Redis with TeamTalk's keys, and one file per domain
//!   noun (`user`, `profile`, `department`, `message`, `history`, `session`,
//!   `unread`, `group`, `group_member`, `group_shield`, `device_token`,
//!   `offline_file`, `counter`, `password`, `lockout`, `content`, `audio`).
//! - [`server`]: the skeleton every service stands on: the listener
//!   (accept with backoff, connection limit, drain), the PDU connection
//!   (frames in, a bounded outbox out, heartbeats, timeouts) and the
//!   outgoing server-to-server link with reconnect.
//! - [`db_proxy`]: the PDU server in front of the store: `dispatch`
//!   (bounded concurrency, heavy answers, the command table) and `cmd/`,
//!   one file per group of TeamTalk commands.
//! - [`admission`]: [`admission::Gate`], the explicit bound every heavy
//!   step a peer can trigger runs under (password hashing, large reads).
//! - [`login_server`]: which msg_server a client should use: HTTP
//!   `/msg_server`, the binary discovery, msg_server registration.
//! - [`msg_server`]: client sessions: login through db_proxy, messages,
//!   presence, groups, file signalling with relays, kicks.
//! - [`route_server`]: presence and delivery across msg_servers, targeted
//!   at the links that hold the users a PDU names.
//! - [`error`]: [`Error`], the one error type of the crate.

pub mod admission;
pub mod db_proxy;
pub mod error;
pub mod login_server;
pub mod msg_server;
pub mod route_server;
pub mod server;
pub mod store;

pub use error::Error;
