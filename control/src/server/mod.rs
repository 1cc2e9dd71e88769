//! The server skeleton every control-plane service stands on: db_proxy,
//! msg_server, route_server and login_server. Nothing here knows
//! a command: a service brings a [`FrameHandler`] and gets the rest.
//!
//! ```text
//! listener::serve ──accept (backoff, connection limit)──> Connection::run ──frames──> FrameHandler
//!                                                              │  reader: Frame::take, max_frame, read timeout
//!                                                              └─ writer: Outbox queue, heartbeat when idle
//! link::Link ──connect (backoff), hello PDUs──> Connection::run  (the same loop, outgoing)
//! ```
//!
//! - [`listener`]: accepting with a backoff when accept fails, a permit per
//!   connection (the limit), a span per connection, and the drain at
//!   shutdown: stop accepting, let connections finish (bounded).
//! - [`connection`]: one PDU connection: frames in (an invalid header
//!   closes it with a logged reason), a bounded [`Outbox`] out, a heartbeat
//!   when it has sent nothing for a while (server links), closed when it has
//!   received nothing for a while.
//! - [`link`]: the outgoing side of a server-to-server link: connect,
//!   reconnect with backoff, say hello, heartbeat; and a pool of them.
//! - [`ops`]: the operator endpoint (`/health`, `/metrics`) a service opens
//!   on its `metrics_listen` address.

pub mod connection;
pub mod link;
pub mod listener;
pub mod ops;

pub use connection::{ConnConfig, Connection, Flow, FrameHandler, Outbox};
pub use link::{Link, LinkConfig, LinkPool};
pub use listener::{Listener, ListenerConfig};
