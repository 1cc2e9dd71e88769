//! Codec bench under mimalloc, the `ferry` binary's global allocator.
//! Run both allocators side by side:
//!   cargo bench --bench codec_system --bench codec_mimalloc
//! Machine and last figures: see `benches/codec_system.rs`.

mod codec;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn codec(c: &mut criterion::Criterion) {
    codec::benches(c, "mimalloc");
}

criterion::criterion_group!(benches, codec);
criterion::criterion_main!(benches);
