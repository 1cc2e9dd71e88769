//! # ferry-relay
//!
//! The file server (DESIGN.md, "Relay"): one monoio runtime per core on
//! io_uring, per-core task tables, online relay and offline upload/download.
//! Never depends on tokio.
//!
//! Nothing is implemented yet: the relay issue fills this crate.
