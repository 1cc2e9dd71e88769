//! # ferry-client
//!
//! The async client SDK for the TeamTalk protocol and the load generator
//! (DESIGN.md, "Client, CLI, load generator"). Never depends on monoio.
//!
//! Nothing is implemented yet: the client and loadgen issue fills this crate.
