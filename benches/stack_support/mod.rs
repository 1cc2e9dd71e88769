//! Support for `benches/stack.rs`: the `ferry up` child and its loadgen
//! runs (`up`), the TeamTalk-speaking splice relay the online loads are
//! compared with (`splice_relay`, on `relay_support`'s splice pump), and
//! db_proxy called alone (`db_proxy_load`).

pub(crate) mod db_proxy_load;
pub(crate) mod splice_relay;
pub(crate) mod up;
