//! Support for `benches/relay.rs`: TeamTalk peers on blocking sockets, the
//! three paths a transfer can take (ferry's relay, a plain splice(2) relay,
//! a direct socket) and per-thread CPU accounting; `benches/offline.rs`
//! uses the peers and the CPU accounting. Each bench uses part of it.
#![allow(dead_code)]

pub(crate) mod cpu;
pub(crate) mod peers;
pub(crate) mod splice;
