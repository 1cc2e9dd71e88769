//! # ferry-client
//!
//! The async client SDK for the TeamTalk protocol and the load generator
//! (docs/ARCHITECTURE.md). Never depends on monoio.
//!
//! Nothing is implemented yet: the client and loadgen issue fills this crate.
