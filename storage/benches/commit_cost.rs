//! What one commit of a task's record costs on the real disk, three ways:
//!
//! - `rename`: write a temp file, fsync it, rename it over the manifest,
//!   fsync the directory (DESIGN.md's first idea);
//! - `log`: append the framed record to a per-core log, fdatasync
//!   (raft-engine's way);
//! - `slots`: write the record in place over the older of two slots of a
//!   preallocated manifest, fdatasync (what ferry-storage does).
//!
//! Each way commits a real record (256 blocks: a 256 MiB file of 1 MiB
//! blocks) with std::fs. A first pass times single commits in interleaved
//! rounds and prints p50/p99; a second simulates a 256 MiB upload (1 MiB
//! writes, data fdatasync and a commit every 4 blocks) and prints the
//! commits' share of its time. criterion then measures each way's mean.
//!
//! Run: `cargo bench -p ferry-storage --bench commit_cost`
//! (`FERRY_BENCH_DIR` picks the directory; default the system temp dir,
//! which must be on the disk under test, not tmpfs).
//!
//! Last figures (2 cores, virtio disk /dev/vda, ext4; see the end of file).

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use ferry_storage::manifest;
use ferry_storage::record::Record;
use ferry_storage::{Geometry, TaskId};

const BLOCK: usize = 1 << 20;
const FILE: usize = 256 << 20;
const PER_COMMIT: usize = 4;
const SAMPLES: usize = 400;

fn record(seq: u64) -> Record {
    let id = TaskId::parse("6f9619ff-8b86-4d11-b42d-00c04fc964ff").unwrap();
    let mut r = Record::new(
        id,
        Geometry::new(FILE as u64, BLOCK as u32).unwrap(),
        1,
        2,
        1_700_000_000,
        b"holiday-photos.zip".to_vec(),
    );
    r.seq = seq;
    for b in 0..(seq as u32 * PER_COMMIT as u32).min(256) {
        r.committed.set(b, true);
        r.block_crc[b as usize] = b.wrapping_mul(2_654_435_761);
    }
    r
}

/// One way of committing, with whatever it keeps open.
enum Way {
    Rename { dir: PathBuf, dir_file: File },
    Log { log: File },
    Slots { file: File },
}

impl Way {
    fn name(&self) -> &'static str {
        match self {
            Way::Rename { .. } => "rename",
            Way::Log { .. } => "log",
            Way::Slots { .. } => "slots",
        }
    }

    fn open(kind: &str, dir: &Path) -> Way {
        let dir = dir.join(kind);
        std::fs::create_dir_all(&dir).unwrap();
        match kind {
            "rename" => Way::Rename {
                dir_file: File::open(&dir).unwrap(),
                dir,
            },
            "log" => Way::Log {
                log: OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join("core-0.log"))
                    .unwrap(),
            },
            _ => {
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(true)
                    .read(true)
                    .write(true)
                    .open(dir.join("manifest"))
                    .unwrap();
                let len = record(1).encoded_len();
                file.set_len(manifest::file_size(len)).unwrap();
                file.sync_all().unwrap();
                Way::Slots { file }
            }
        }
    }

    fn commit(&mut self, seq: u64) {
        let bytes = record(seq).encode();
        match self {
            Way::Rename { dir, dir_file } => {
                let tmp = dir.join("manifest.tmp");
                let mut f = File::create(&tmp).unwrap();
                f.write_all(&bytes).unwrap();
                f.sync_all().unwrap();
                drop(f);
                std::fs::rename(&tmp, dir.join("manifest")).unwrap();
                dir_file.sync_all().unwrap();
            }
            Way::Log { log } => {
                log.write_all(&bytes).unwrap();
                log.sync_data().unwrap();
            }
            Way::Slots { file } => {
                file.write_all_at(&bytes, manifest::slot_offset(seq, bytes.len()))
                    .unwrap();
                file.sync_data().unwrap();
            }
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A 256 MiB upload: (total, time in commits).
fn upload(way: &mut Way, dir: &Path, chunk: &[u8]) -> (Duration, Duration) {
    let path = dir.join(format!("data-{}", way.name()));
    let data = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    rustix::fs::fallocate(&data, rustix::fs::FallocateFlags::empty(), 0, FILE as u64).unwrap();
    data.sync_all().unwrap();
    let start = Instant::now();
    let mut in_commits = Duration::ZERO;
    for b in 0..FILE / BLOCK {
        data.write_all_at(chunk, (b * BLOCK) as u64).unwrap();
        if (b + 1) % PER_COMMIT == 0 {
            data.sync_data().unwrap();
            let c = Instant::now();
            way.commit(((b + 1) / PER_COMMIT) as u64);
            in_commits += c.elapsed();
        }
    }
    let total = start.elapsed();
    drop(data);
    std::fs::remove_file(path).unwrap();
    (total, in_commits)
}

fn bench_dir() -> tempfile::TempDir {
    let base = std::env::var_os("FERRY_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix("ferry-commit-cost")
        .tempdir_in(base)
        .unwrap()
}

fn report() {
    let dir = bench_dir();
    let mut ways: Vec<Way> = ["rename", "log", "slots"]
        .iter()
        .map(|k| Way::open(k, dir.path()))
        .collect();
    let mut times = vec![Vec::with_capacity(SAMPLES); ways.len()];
    // Interleaved: the disk's drift hits every way alike.
    for i in 0..SAMPLES {
        for (w, t) in ways.iter_mut().zip(&mut times) {
            let start = Instant::now();
            w.commit(i as u64 + 1);
            t.push(start.elapsed());
        }
    }
    let mut chunk = vec![0u8; BLOCK];
    ferry_storage::fault::Rng::new(7).fill(&mut chunk);
    let mut shares = vec![Vec::new(); ways.len()];
    for _round in 0..2 {
        for (w, s) in ways.iter_mut().zip(&mut shares) {
            s.push(upload(w, dir.path(), &chunk));
        }
    }
    println!(
        "commit_cost: {SAMPLES} commits each, record {} bytes; upload {} MiB, {} KiB blocks, commit every {PER_COMMIT}",
        record(1).encoded_len(),
        FILE >> 20,
        BLOCK >> 10
    );
    for ((w, t), s) in ways.iter().zip(&mut times).zip(&shares) {
        t.sort();
        let total: Duration = s.iter().map(|x| x.0).sum();
        let commits: Duration = s.iter().map(|x| x.1).sum();
        println!(
            "  {:7} p50 {:6.3} ms  p99 {:6.3} ms  upload {:7.1} ms, commits {:5.1}% of it",
            w.name(),
            ms(percentile(t, 0.5)),
            ms(percentile(t, 0.99)),
            ms(total) / s.len() as f64,
            100.0 * commits.as_secs_f64() / total.as_secs_f64()
        );
    }
}

fn commit_cost(c: &mut Criterion) {
    report();
    let dir = bench_dir();
    let mut g = c.benchmark_group("commit");
    g.sample_size(30).measurement_time(Duration::from_secs(3));
    for kind in ["rename", "log", "slots"] {
        let mut way = Way::open(kind, dir.path());
        let mut seq = 0;
        g.bench_function(kind, |b| {
            b.iter(|| {
                seq += 1;
                way.commit(black_box(seq));
            })
        });
    }
    g.finish();
}

criterion_group!(benches, commit_cost);
criterion_main!(benches);

// Last figures, 2026-12-01, 2 cores (shared), virtio disk /dev/vda, ext4
// (discard), kernel 6.18; two runs of
// `cargo bench -p ferry-storage --bench commit_cost`:
//
//   way      p50 ms        p99 ms        criterion mean   commits' share of a 256 MiB upload
//   rename   0.266 / 0.178 0.659 / 0.454 256 / 241 µs     7.0 / 6.9 %
//   log      0.085 / 0.057 0.241 / 0.117  98 /  95 µs     3.6 / 9.0 %
//   slots    0.056 / 0.037 0.125 / 0.062  56 /  49 µs     2.0 / 7.2 %
//
// Slots cost about a quarter of rename and half of a log append per
// commit, at p50 and p99. The upload share is noisy (the data fdatasync
// just before each commit varies run to run); per commit the order never
// changed.
