//! # ferry-relay
//!
//! The file server (docs/ARCHITECTURE.md, "The relay"), a drop-in for TeamTalk's
//! file_server: one monoio runtime per core on io_uring (epoll where the
//! kernel lacks it), per-core task tables, no locks on the data path. Tasks
//! live on `ferry_proto::core_for_task(task_id, cores)`; a client that lands
//! on another core is handed over after its login. Online transfers are
//! relayed pull by pull, each response forwarded as the bytes received.
//! Offline transfers are kept in the block store (ferry-storage), each
//! core serving its shard of it. Never depends on tokio.
//!
//! # Layout
//!
//! - [`config`]: what a relay runs with.
//! - [`server`]: [`Relay::start`] binds and starts the workers; addresses,
//!   counters, shutdown.
//! - `worker`: one thread + runtime per core (pinned unless `pin_cores` is
//!   off); its inbox loop, drain.
//! - `listener`: binding (SO_REUSEPORT for the shared port) and accepting.
//! - `core_state`: a core's task table and the cross-core [`CoreMsg`]s.
//! - `task`: a transfer task, its participants and pulls in flight.
//! - `session`: a client connection: login, hand-off, end of task.
//! - `handler`: the relay loop's commands (pulls, responses, states).
//! - `reader`: PDUs (or a payload's start) off a connection; `outbox`: the
//!   ordered writer with back-pressure (a PDU for an idle writer is sent
//!   at once by its sender's task), `budget` its byte budget; `conduit`:
//!   the pipe that splices payloads socket to socket.
//! - `spin`: optional busy polling after a forward (`busy_poll`, epoll).
//! - `msg_link`: the msg-server link (IP list, task creation, heartbeat).
//! - `offline`: offline uploads and downloads through the core's shard of
//!   the block store (`files`, `upload`, `download`).
//! - `expiry`: freeing tasks nobody joined.
//! - `handoff`: moving a socket between cores.
//! - [`stats`]: per-core counters and their Prometheus text; `metrics`
//!   serves it.
//! - [`error`]: [`RelayError`] (start-up) and the per-connection error.
//!
//! [`CoreMsg`]: core_state

mod budget;
mod conduit;
pub mod config;
mod core_state;
pub mod error;
mod expiry;
mod handler;
mod handoff;
mod listener;
mod metrics;
mod msg_link;
mod offline;
mod outbox;
mod reader;
pub mod server;
mod session;
mod spin;
pub mod stats;
mod task;
mod worker;

pub use config::{Config, CorePorts, Driver, LinkSecret, TaskRun};
pub use error::RelayError;
pub use server::{Addresses, Relay};
pub use stats::Snapshot;
