//! Codec bench under the system allocator (glibc malloc), the baseline for
//! `codec_mimalloc.rs`. Run both side by side:
//!   cargo bench --bench codec_system --bench codec_mimalloc
//!
//! Machine: 2 vCPU AMD EPYC, 24 GiB, Linux 6.18 (a shared, noisy VM; a
//! cargo-fuzz run occupied the other core). 2026-11-22, ferry 0.1.0, run as
//!   cargo bench --bench codec_system --bench codec_mimalloc -- --warm-up-time 2 --measurement-time 6
//!
//! | bench (median)                       | system    | mimalloc  | mimalloc gain |
//! |--------------------------------------|-----------|-----------|---------------|
//! | receive_pull_data_rsp_1mib           | 205 ns    | 195 ns    | 1.05x         |
//! | receive_msg_data (55-byte text)      | 162 ns    | 163 ns    | 1.00x         |
//! | encode_msg_data                      | 103 ns    | 99 ns     | 1.05x         |
//! | receive_all_user_rsp_200 (200 users) | 155.3 us  | 109.3 us  | 1.42x         |
//!
//! The 1 MiB pull response costs the same as a small message: the header
//! check reads 4 bytes, validation skips file_data by its length, and prost
//! hands back a slice of the receive buffer (no copy). mimalloc matters where
//! decoding allocates many small strings (the buddy list, 1.42x); it is kept.

mod codec;

fn codec(c: &mut criterion::Criterion) {
    codec::benches(c, "system");
}

criterion::criterion_group!(benches, codec);
criterion::criterion_main!(benches);
