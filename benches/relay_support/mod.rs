//! Support for `benches/relay.rs`: the plain splice(2) relay (one of the
//! three paths a transfer can take, beside ferry's relay and a direct
//! socket) and per-thread CPU accounting; `benches/offline.rs` uses the CPU
//! accounting; `benches/stack.rs` drives the splice pump behind a
//! TeamTalk front (`stack_support/splice_relay.rs`). The TeamTalk-shaped
//! peers are ferry-client's (`ferry_client::raw`). Each bench uses part
//! of it.
#![allow(dead_code)]

pub(crate) mod cpu;
pub(crate) mod splice;
