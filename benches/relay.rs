//! Relay throughput, three paths side by side in one run:
//! ferry's relay, a plain splice(2) relay (`relay_support/splice.rs`) and a
//! direct socket, with the same TeamTalk peers pulling and answering.
//!
//!   cargo bench --bench relay
//!
//! First the round trips: one pull in flight, as every stock client pulls
//! (64 MiB in 34 KiB pulls, and 8 MiB in 4 KiB pulls: pure latency), in
//! interleaved rounds, reported as MiB/s while pulling, the ratio to the
//! splice relay, and µs per round trip (p50, p99, mean). Then the criterion
//! groups, and the windowed cases side by side with relay CPU-seconds per
//! GiB (measured on the process, the direct path's CPU subtracted).
//!
//! Knobs (environment): `FERRY_BENCH_ONLY=round-trip` stops after the round
//! trips, `FERRY_BENCH_ONLY=side-by-side` skips the criterion groups;
//! `FERRY_BENCH_PATHS=ferry,ferry_busy,splice,...` picks the paths (ferry's
//! variants are listed in `VARIANTS`); `FERRY_BENCH_ROUNDS=N` sets the
//! round trips' rounds. Machine and last figures: see the end of this file.

mod relay_support;

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use ferry_client::raw::Peer;
use ferry_relay::{Config, Relay};
use relay_support::cpu::process_cpu_seconds;
use relay_support::splice::SpliceRelay;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy)]
enum Path<'a> {
    Ferry(&'a Relay),
    Splice(&'a SpliceRelay),
    Direct,
}

/// One whole transfer of `size` bytes; returns the bytes received.
fn transfer(path: Path, payload: &Bytes, size: u32, chunk: u32, window: usize) -> u64 {
    transfer_timed(path, payload, size, chunk, window, None)
}

/// [`transfer`], pushing each response's wait (ns) onto `waits`.
fn transfer_timed(
    path: Path,
    payload: &Bytes,
    size: u32,
    chunk: u32,
    window: usize,
    waits: Option<&mut Vec<u64>>,
) -> u64 {
    let (sender, receiver, task) = match path {
        Path::Ferry(relay) => {
            let mut link = Peer::new(TcpStream::connect(relay.addresses().msg).unwrap()).unwrap();
            let task = link.create_task(1, 2, size).unwrap();
            let addr = relay.addresses().client;
            let mut sender = Peer::new(TcpStream::connect(addr).unwrap()).unwrap();
            sender.login(&task, 1, 1).unwrap();
            let mut receiver = Peer::new(TcpStream::connect(addr).unwrap()).unwrap();
            receiver.login(&task, 2, 2).unwrap();
            receiver.wait_ready().unwrap();
            (sender, receiver, task)
        }
        Path::Splice(relay) => {
            static PAIR: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let id = PAIR
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .to_be_bytes();
            let connect = || {
                let mut s = TcpStream::connect(relay.addr).unwrap();
                std::io::Write::write_all(&mut s, &id).unwrap();
                Peer::new(s).unwrap()
            };
            let (sender, receiver) = (connect(), connect());
            (sender, receiver, "splice".into())
        }
        Path::Direct => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let sender =
                Peer::new(TcpStream::connect(listener.local_addr().unwrap()).unwrap()).unwrap();
            let receiver = Peer::new(listener.accept().unwrap().0).unwrap();
            (sender, receiver, "direct".into())
        }
    };
    let (t, p) = (task.clone(), payload.clone());
    let sending = thread::spawn(move || sender.send_file(&t, 1, &p).unwrap());
    let got = receiver
        .receive(&task, 2, u64::from(size), chunk, window, waits)
        .unwrap();
    sending.join().unwrap();
    got
}

/// `n` transfers at once; returns the bytes received in all.
fn concurrent(path: Path, payload: &Bytes, n: usize, size: u32, chunk: u32, window: usize) -> u64 {
    thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| s.spawn(|| transfer(path, payload, size, chunk, window)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

/// The relays a run compares: ferry as configured by default (payloads
/// spliced socket to socket), ferry reading payloads into memory while a
/// core streams at most two transfers (`ferry_above_2`), ferry never
/// splicing, more variants for the round-trip cases (chosen with
/// FERRY_BENCH_PATHS), the plain splice relay, and no relay at all.
struct Relays {
    ferry: Vec<(&'static str, Relay)>,
    splice: SpliceRelay,
}

/// How a variant differs from the default config.
type Tune = fn(&mut Config);

/// Ferry's variants by name: how each differs from the default.
const VARIANTS: [(&str, Tune); 10] = [
    ("ferry", |_| {}),
    ("ferry_above_2", |c| c.splice_above = 2),
    ("ferry_buffered", |c| c.zero_copy = false),
    ("ferry_unpinned", |c| c.pin_cores = false),
    ("ferry_queued", |c| c.direct_writes = false),
    ("ferry_epoll", |c| c.driver = ferry_relay::Driver::Legacy),
    ("ferry_coop", |c| {
        c.uring_taskrun = ferry_relay::TaskRun::Coop
    }),
    ("ferry_defer", |c| {
        c.uring_taskrun = ferry_relay::TaskRun::Defer
    }),
    ("ferry_busy", |c| c.busy_poll = Duration::from_micros(50)),
    ("ferry_epoll_busy", |c| {
        c.driver = ferry_relay::Driver::Legacy;
        c.busy_poll = Duration::from_micros(50);
    }),
];

impl Relays {
    fn start(cores: usize) -> Relays {
        let only = std::env::var("FERRY_BENCH_PATHS").unwrap_or_default();
        let wanted = |name: &str| {
            only.is_empty() && matches!(name, "ferry" | "ferry_above_2" | "ferry_buffered")
                || only.split(',').any(|o| o == name)
        };
        let ferry = VARIANTS
            .iter()
            .filter(|(name, _)| wanted(name))
            .map(|(name, tune)| {
                let mut c = Config::local(cores);
                c.window = 64;
                tune(&mut c);
                (*name, Relay::start(c).unwrap())
            })
            .collect();
        Relays {
            ferry,
            splice: SpliceRelay::start(),
        }
    }

    fn paths(&self) -> Vec<(&'static str, Path<'_>)> {
        let mut paths: Vec<_> = (self.ferry.iter())
            .map(|(name, relay)| (*name, Path::Ferry(relay)))
            .collect();
        paths.push(("splice", Path::Splice(&self.splice)));
        paths.push(("direct", Path::Direct));
        paths
    }

    fn shutdown(self) {
        for (_, relay) in self.ferry {
            relay.shutdown();
        }
    }
}

fn bench(c: &mut Criterion) {
    let payload = Bytes::from(vec![0x5a; 1 << 20]);
    let one_core = Relays::start(1);

    // The stock pattern (one pull in flight) is bound by round-trip latency.
    round_trips(
        "stock: 64 MiB, 34 KiB pulls, W = 1, 1 relay core",
        &one_core,
        &payload,
        64 << 20,
        34 << 10,
    );
    round_trips(
        "latency: 8 MiB, 4 KiB pulls, W = 1, 1 relay core",
        &one_core,
        &payload,
        8 << 20,
        4 << 10,
    );
    let only = std::env::var("FERRY_BENCH_ONLY").unwrap_or_default();
    if only == "round-trip" {
        one_core.shutdown();
        return;
    }
    let one_transfer = |relays: &Relays| {
        side_by_side("1 GiB, 1 MiB pulls, W = 8, 1 relay core", relays, |path| {
            transfer(path, &payload, 1 << 30, 1 << 20, 8)
        })
    };
    let sixty_four = |relays: &Relays| {
        side_by_side(
            "64 x 16 MiB at once, W = 8, 2 relay cores",
            relays,
            |path| concurrent(path, &payload, 64, 16 << 20, 1 << 20, 8),
        )
    };
    if only == "side-by-side" {
        one_transfer(&one_core);
        one_core.shutdown();
        let two_cores = Relays::start(2);
        sixty_four(&two_cores);
        two_cores.shutdown();
        return;
    }

    let mut g = c.benchmark_group("relay_1gib_1mib_w8");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(1 << 30));
    for (name, path) in one_core.paths() {
        g.bench_function(name, |b| {
            b.iter(|| transfer(path, &payload, 1 << 30, 1 << 20, 8))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("relay_stock_64mib_34k_w1");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Bytes(64 << 20));
    for (name, path) in one_core.paths() {
        g.bench_function(name, |b| {
            b.iter(|| transfer(path, &payload, 64 << 20, 34 << 10, 1))
        });
    }
    g.finish();

    one_transfer(&one_core);
    one_core.shutdown();

    let two_cores = Relays::start(2);
    let mut g = c.benchmark_group("relay_64x16mib_1mib_w8");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(1 << 30));
    for (name, path) in two_cores.paths() {
        g.bench_function(name, |b| {
            b.iter(|| concurrent(path, &payload, 64, 16 << 20, 1 << 20, 8))
        });
    }
    g.finish();
    sixty_four(&two_cores);
    two_cores.shutdown();
}

/// A case again, 1 GiB per round, interleaved: each round runs every path once, in
/// a rotating order, so a slow spell of this shared machine hits all paths
/// alike. Reports per path the median throughput, the median of the
/// per-round ratios to the splice relay, and relay CPU-seconds per GiB: the
/// process's CPU for the transfer (relay threads, pump threads, io_uring's
/// kernel workers, the peers) minus the direct path's in the same round, so
/// the peers' own work cancels out.
fn side_by_side(label: &str, relays: &Relays, run: impl Fn(Path) -> u64) {
    const ROUNDS: usize = 12;
    let paths = relays.paths();
    let mut rate = vec![Vec::new(); paths.len()];
    let mut cpu = vec![Vec::new(); paths.len()];
    for round in 0..ROUNDS {
        let mut secs = vec![0.0; paths.len()];
        let mut cpus = vec![0.0; paths.len()];
        for k in 0..paths.len() {
            let p = (round + k) % paths.len();
            let (t0, c0) = (std::time::Instant::now(), process_cpu_seconds());
            let moved = run(paths[p].1);
            assert_eq!(moved, 1 << 30, "{label}: every byte arrives");
            secs[p] = t0.elapsed().as_secs_f64();
            cpus[p] = process_cpu_seconds() - c0;
        }
        let direct = paths.len() - 1;
        for p in 0..paths.len() {
            rate[p].push(1.0 / secs[p]);
            cpu[p].push(cpus[p] - cpus[direct]);
        }
    }
    let splice = paths
        .iter()
        .position(|(n, _)| *n == "splice")
        .expect("splice path");
    println!("side by side, {label}, {ROUNDS} interleaved rounds (medians):");
    for (p, (name, _)) in paths.iter().enumerate() {
        let ratios: Vec<f64> = (0..ROUNDS).map(|r| rate[p][r] / rate[splice][r]).collect();
        let cpu_ratio: Vec<f64> = (0..ROUNDS).map(|r| cpu[p][r] / cpu[splice][r]).collect();
        println!(
            "  {name:<14} {:.2} GiB/s  {:.2}x splice  relay CPU {:.3} s/GiB ({:.2}x splice)",
            median(&rate[p]),
            median(&ratios),
            median(&cpu[p]),
            median(&cpu_ratio),
        );
    }
}

/// Transfers with one pull in flight, as every stock TeamTalk client pulls:
/// `size` bytes in `chunk`-byte pulls, in interleaved rounds as in
/// [`side_by_side`]. Reports per path the median MiB/s, the median of the
/// per-round ratios to the splice relay, and the round trip (pull written
/// by the receiver -> its response read) in µs: p50, p99 and mean over
/// every pull of every round.
fn round_trips(label: &str, relays: &Relays, payload: &Bytes, size: u32, chunk: u32) {
    const ROUNDS: usize = 12;
    let rounds = std::env::var("FERRY_BENCH_ROUNDS").map_or(ROUNDS, |v| v.parse().unwrap());
    let only = std::env::var("FERRY_BENCH_PATHS").unwrap_or_default();
    let paths: Vec<_> = (relays.paths().into_iter())
        .filter(|(name, _)| only.is_empty() || only.split(',').any(|o| o == *name))
        .collect();
    let mut rate = vec![Vec::new(); paths.len()];
    let mut waits = vec![Vec::new(); paths.len()];
    for round in 0..rounds {
        for k in 0..paths.len() {
            let p = (round + k) % paths.len();
            let before = waits[p].len();
            let moved = transfer_timed(paths[p].1, payload, size, chunk, 1, Some(&mut waits[p]));
            assert_eq!(moved, u64::from(size), "{label}: every byte arrives");
            // While pulling: the sum of the round trips (setup excluded).
            let ns: u64 = waits[p][before..].iter().sum();
            rate[p].push(moved as f64 / (ns as f64 / 1e9) / f64::from(1 << 20));
        }
    }
    // Without the splice relay (FERRY_BENCH_PATHS), ratios are to the first path.
    let splice = paths.iter().position(|(n, _)| *n == "splice").unwrap_or(0);
    println!("side by side, {label}, {rounds} interleaved rounds:");
    for (p, (name, _)) in paths.iter().enumerate() {
        let ratios: Vec<f64> = (0..rounds).map(|r| rate[p][r] / rate[splice][r]).collect();
        let w = &mut waits[p];
        w.sort_unstable();
        let us = |q: f64| w[((w.len() - 1) as f64 * q) as usize] as f64 / 1e3;
        let mean = w.iter().sum::<u64>() as f64 / w.len() as f64 / 1e3;
        println!(
            "  {name:<14} {:>7.1} MiB/s  {:.2}x splice  round trip p50 {:>6.1} µs  p99 {:>6.1} µs  mean {:>6.1} µs",
            median(&rate[p]),
            median(&ratios),
            us(0.50),
            us(0.99),
            mean,
        );
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);

// Machine: 2 vCPU AMD EPYC, 24 GiB, Linux 6.18, io_uring; a shared VM whose
// speed drifts by tens of percent within minutes: trust the interleaved
// "side by side" ratios over the criterion groups, which run one path after
// another.
//
// 2026-12-01 (session 5), nothing else running:
//   FERRY_BENCH_ONLY=side-by-side FERRY_BENCH_PATHS=ferry,ferry_above_2,ferry_queued,\
//     ferry_busy,ferry_epoll,ferry_epoll_busy,splice,direct cargo bench --bench relay
// Paths: ferry = the default (splice_above 0: payloads spliced; direct
// writes to idle peers), ferry_above_2 = payloads read into memory while a
// core streams <= 2 transfers (the old default), ferry_queued = direct
// writes off (every PDU through the writer task), ferry_busy = busy_poll
// 50 µs, ferry_epoll = the epoll driver, ferry_epoll_busy = both.
//
// | case (12 interleaved rounds)     | path             | rate       | / splice | round trip p50 / p99 / mean µs |
// |----------------------------------|------------------|------------|----------|--------------------------------|
// | stock: 64 MiB, 34 KiB, W = 1     | ferry            | 595 MiB/s  | 0.84x    | 55.8 / 93.6 / 57.1             |
// |                                  | ferry_above_2    | 583        | 0.84x    | 56.8 / 88.9 / 59.2             |
// |                                  | ferry_queued     | 625        | 0.87x    | 54.3 / 98.6 / 59.2             |
// |                                  | ferry_epoll      | 597        | 0.86x    | 54.4 / 91.6 / 56.2             |
// |                                  | ferry_busy       | 618        | 0.83x    | 52.4 / 92.7 / 56.4             |
// |                                  | ferry_epoll_busy | 749        | 1.08x    | 42.2 / 72.2 / 44.6             |
// |                                  | splice relay     | 724        | 1.00x    | 46.0 / 78.1 / 48.5             |
// |                                  | direct           | 1,116      | 1.59x    | 29.4 / 49.7 / 30.1             |
// | latency: 8 MiB, 4 KiB, W = 1     | ferry            | 80.0       | 0.77x    | 48.9 / 72.5 / 50.7             |
// |                                  | ferry_above_2    | 82.5       | 0.81x    | 46.8 / 69.1 / 47.8             |
// |                                  | ferry_queued     | 72.4       | 0.72x    | 53.2 / 79.3 / 54.9             |
// |                                  | ferry_epoll      | 82.1       | 0.82x    | 47.1 / 69.4 / 48.3             |
// |                                  | ferry_busy       | 92.2       | 0.97x    | 40.9 / 62.2 / 41.4             |
// |                                  | ferry_epoll_busy | 102.4      | 1.08x    | 36.8 / 56.6 / 37.0             |
// |                                  | splice relay     | 100.5      | 1.00x    | 38.7 / 58.9 / 39.4             |
// |                                  | direct           | 178.1      | 1.72x    | 22.6 / 37.9 / 22.9             |
//
// | case (12 interleaved rounds, medians) | path          | GiB/s | / splice | relay CPU s/GiB (/ splice) |
// |---------------------------------------|---------------|-------|----------|----------------------------|
// | 1 GiB, 1 MiB pulls, W = 8, 1 core     | ferry         | 2.48  | 1.16x    | 0.257 (0.91x)              |
// |                                       | ferry_above_2 | 2.05  | 0.90x    | 0.344 (1.48x)              |
// |                                       | ferry_queued  | 2.56  | 1.21x    | 0.255 (1.01x)              |
// |                                       | splice relay  | 2.28  | 1.00x    | 0.277                      |
// |                                       | direct        | 4.27  | 1.91x    |                            |
// | 64 x 16 MiB at once, W = 8, 2 cores   | ferry         | 2.54  | 1.08x    | 0.205 (0.88x)              |
// |                                       | ferry_above_2 | 2.59  | 1.09x    | 0.169 (0.62x)              |
// |                                       | ferry_queued  | 2.56  | 1.07x    | 0.197 (0.76x)              |
// |                                       | splice relay  | 2.39  | 1.00x    | 0.263                      |
// |                                       | direct        | 3.44  | 1.46x    |                            |
//
// Read: with one pull in flight the relay's share is its wake-ups. Busy
// polling (epoll) removes them and beats the splice relay (1.08x in both
// round-trip cases); on io_uring it helps 4 KiB pulls (0.97x) but not
// 34 KiB ones. Direct writes save about 4 µs per 4 KiB round trip (0.72x
// -> 0.77x); 34 KiB answers are spliced by default, which queues them.
// Splicing always is 1.16x for one windowed transfer where reading into
// memory (the old default for few transfers) fell to 0.90x on this machine.
//
// Earlier: session 2's record below (another VM of the same kind, slower).
//
// Paths: ferry = the default (zero_copy on, splice_above = 2: payloads read
// into memory and written from the same buffer while a core streams at most
// two transfers, spliced beyond), ferry_spliced = splice_above 0 (always
// spliced), ferry_buffered = zero_copy off (never spliced).
//
// 2026-11-22 (session 2), `cargo bench --bench relay`, one run, nothing else
// running. Side by side, 12 interleaved rounds, medians:
//
// | case                                     | path           | GiB/s | / splice | relay CPU s/GiB | / splice |
// |------------------------------------------|----------------|-------|----------|-----------------|----------|
// | 1 GiB, 1 MiB pulls, W = 8, 1 relay core  | ferry          | 2.14  | 1.10x    | 0.290           | 1.05x    |
// |                                          | ferry_spliced  | 1.94  | 1.01x    | 0.271           | 1.00x    |
// |                                          | ferry_buffered | 2.19  | 1.14x    | 0.244           | 0.99x    |
// |                                          | splice relay   | 2.03  | 1.00x    | 0.265           | 1.00x    |
// |                                          | direct         | 3.63  | 1.83x    |                 |          |
// | 64 x 16 MiB at once, W = 8, 2 relay cores| ferry          | 1.77  | 1.00x    | 0.405           | 0.98x    |
// |                                          | ferry_spliced  | 1.85  | 1.03x    | 0.351           | 0.97x    |
// |                                          | ferry_buffered | 1.45  | 0.78x    | 0.642           | 1.79x    |
// |                                          | splice relay   | 1.84  | 1.00x    | 0.406           | 1.00x    |
// |                                          | direct         | 3.09  | 1.78x    |                 |          |
//
// Criterion groups of the same run (medians, run one path after another):
// 1 GiB: ferry 2.18, ferry_spliced 2.13, ferry_buffered 2.48, splice 2.01,
// direct 3.56 GiB/s. 64 at once: ferry 1.86, ferry_spliced 1.77,
// ferry_buffered 1.52, splice 1.75, direct 2.61 GiB/s. Stock pattern (64 MiB,
// 34 KiB pulls, W = 1): ferry 230, ferry_spliced 231, ferry_buffered 237,
// splice 260, direct 428 MiB/s; ferry's 230 MiB/s is about 6,900 round
// trips/s (0.89x the splice relay; W = 1 is bound by round-trip latency).
//
// Goals (issue 4): one transfer >= 1.0x the splice relay (1.10x) with relay
// CPU <= 1.2x (1.05x); 64 at once >= 0.9x (1.00x). Met. Splicing always is
// at parity for one transfer (1.01x) and best at 64 (1.03x, the least
// CPU); reading into memory wins for a few transfers (1.14x) and loses
// under load (0.78x, 1.79x the CPU), hence the default switches on the
// number of transfers a core streams.

// 2026-12-01 (session 6), another machine of the same kind whose syscalls
// cost about 3x more (a direct-socket round trip 86-97 µs here against
// 29 µs in session 5); nothing else running:
//   FERRY_BENCH_PATHS=ferry,ferry_queued,splice,direct cargo bench --bench relay
// ferry = the default after this session's changes: a spliced response to a
// receiver waiting on nothing else has its head written at once and its
// payload pumped into the socket by the filling task (no writer round);
// windowed transfers' PDUs go through the writer's io_uring batches.
//
// | case (12 interleaved rounds)  | path         | rate       | / splice | round trip p50 / p99 / mean µs |
// |-------------------------------|--------------|------------|----------|--------------------------------|
// | stock: 64 MiB, 34 KiB, W = 1  | ferry        | 193 MiB/s  | 0.84x    | 171 / 317 / 180                |
// |                               | ferry_queued | 158        | 0.73x    | 201 / 331 / 209                |
// |                               | splice relay | 211        | 1.00x    | 148 / 261 / 156                |
// |                               | direct       | 356        | 1.67x    | 97 / 176 / 97                  |
// | latency: 8 MiB, 4 KiB, W = 1  | ferry        | 23.5       | 0.81x    | 152 / 306 / 167                |
// |                               | ferry_queued | 24.3       | 0.85x    | 150 / 288 / 162                |
// |                               | splice relay | 28.7       | 1.00x    | 130 / 229 / 136                |
// |                               | direct       | 47.6       | 1.62x    | 89 / 159 / 83                  |
// | 1 GiB, 1 MiB pulls, W = 8     | ferry        | 1.67 GiB/s | 1.00x    | relay CPU 1.15x splice's       |
// |                               | ferry_queued | 1.66       | 0.95x    | 1.34x                          |
// | 64 x 16 MiB, W = 8, 2 cores   | ferry        | 1.70       | 0.99x    | 0.98x                          |
// |                               | ferry_queued | 1.77       | 1.04x    | 0.81x                          |
//
// Busy polling (ferry_busy, 50 µs, now only for a task with one pull in
// flight whose peer answered within 50 µs) lost on this machine: stock
// 0.72x-0.84x, 4 KiB 0.69x-0.74x in three runs against 0.78x-0.85x and
// 0.78x-0.89x for the default; spinning costs a syscall per turn and takes
// the CPU the peers need (two cores for three busy threads). Two earlier
// runs the same hour had the default at 0.78x/0.83x and 0.81x/0.78x. The
// windowed cases swing by 0.05x-0.1x between runs (ferry 0.95x-1.00x and
// 0.89x-1.04x, ferry_queued 0.95x-1.06x and 0.98x-1.06x over three runs).
// perf trace, two rounds: the relay thread made 3.0 io_uring_enter calls per
// pull before the head change and 2.5 after (one per stock pull fewer),
// 1.5 then 2.0 sendto, 1.0 splice per stock pull.

// 2026-12-01 (session 7), a third machine of the kind: a direct-socket
// round trip 49-54 µs, the splice relay's 79-89 µs (it pays more per hop
// here than on session 5's machine, 46 µs); nothing else running.
//
// Ring completion flags (relay.uring_taskrun), round trips only, two runs:
//   FERRY_BENCH_ONLY=round-trip FERRY_BENCH_PATHS=ferry,ferry_coop,ferry_defer,splice,direct \
//     [FERRY_BENCH_ROUNDS=16] cargo bench --bench relay
//
// | case (12 / 16 rounds)        | path        | / splice (run 1, run 2) | round trip p50 µs (run 1, run 2) |
// |------------------------------|-------------|-------------------------|----------------------------------|
// | stock: 64 MiB, 34 KiB, W = 1 | ferry       | 1.04x, 1.04x            | 90.8, 89.5                       |
// |                              | ferry_coop  | 0.89x, 0.86x            | 100.0, 105.5                     |
// |                              | ferry_defer | 0.86x, 0.80x            | 103.1, 107.3                     |
// |                              | direct      | 1.93x, 1.84x            | 53.7, 51.5                       |
// | latency: 8 MiB, 4 KiB, W = 1 | ferry       | 0.99x, 1.01x            | 78.3, 80.2                       |
// |                              | ferry_coop  | 1.01x, 0.99x            | 78.7, 82.8                       |
// |                              | ferry_defer | 1.01x, 1.00x            | 77.6, 80.9                       |
// |                              | direct      | 1.77x, 1.96x            | 46.5, 49.6                       |
//
// COOP_TASKRUN and DEFER_TASKRUN (+ SINGLE_ISSUER; strace shows the kernel
// accepts both) cost 10-20 µs per stock round trip and nothing at 4 KiB:
// a stock response's payload waits for socket readiness through the ring,
// and a completion posted only at the core's next kernel entry (coop) or
// wait (defer) arrives later than one that interrupts it. The default
// stays; the key stays for kernels and machines where that may differ.
//
// The whole bench, the same hour:
//   FERRY_BENCH_PATHS=ferry,ferry_queued,ferry_busy,splice,direct cargo bench --bench relay
//
// | case (12 interleaved rounds)  | path         | rate       | / splice | round trip p50 / p99 / mean µs |
// |-------------------------------|--------------|------------|----------|--------------------------------|
// | stock: 64 MiB, 34 KiB, W = 1  | ferry        | 335 MiB/s  | 0.91x    | 91.2 / 206.6 / 100.4           |
// |                               | ferry_queued | 314        | 0.85x    | 104.4 / 180.7 / 108.0          |
// |                               | ferry_busy   | 439        | 1.10x    | 70.4 / 199.4 / 82.1            |
// |                               | splice relay | 381        | 1.00x    | 78.7 / 163.2 / 86.7            |
// |                               | direct       | 733        | 1.99x    | 48.9 / 91.1 / 46.7             |
// | latency: 8 MiB, 4 KiB, W = 1  | ferry        | 41.1       | 0.87x    | 89.1 / 193.2 / 98.1            |
// |                               | ferry_queued | 43.9       | 0.99x    | 86.7 / 168.1 / 95.9            |
// |                               | ferry_busy   | 37.8       | 0.91x    | 85.5 / 206.5 / 103.6           |
// |                               | splice relay | 48.7       | 1.00x    | 81.2 / 167.8 / 89.1            |
// |                               | direct       | 86.1       | 1.74x    | 52.4 / 104.5 / 50.6            |
//
// | case (12 interleaved rounds, medians) | path         | GiB/s | / splice | relay CPU s/GiB (/ splice) |
// |---------------------------------------|--------------|-------|----------|----------------------------|
// | 1 GiB, 1 MiB pulls, W = 8, 1 core     | ferry        | 2.15  | 1.10x    | 0.247 (0.79x)              |
// |                                       | ferry_queued | 2.03  | 1.09x    | 0.275 (0.96x)              |
// |                                       | ferry_busy   | 2.00  | 1.05x    | 0.294 (0.96x)              |
// |                                       | splice relay | 1.95  | 1.00x    | 0.293                      |
// |                                       | direct       | 3.80  | 1.95x    |                            |
// | 64 x 16 MiB at once, W = 8, 2 cores   | ferry        | 2.14  | 1.02x    | 0.328 (0.97x)              |
// |                                       | ferry_queued | 2.22  | 1.07x    | 0.264 (0.88x)              |
// |                                       | ferry_busy   | 2.18  | 1.05x    | 0.317 (0.91x)              |
// |                                       | splice relay | 2.09  | 1.00x    | 0.339                      |
// |                                       | direct       | 3.78  | 1.84x    |                            |
//
// Read: on this machine the default stock ratio was 1.04x, 1.04x and 0.91x
// in three runs of the same build within an hour, 4 KiB 0.99x, 1.01x and
// 0.87x; sessions 5 and 6 (other machines, same code) had 0.84x / 0.77-0.81x.
// ferry's round trip sits at the splice relay's, within the run-to-run
// swing, but not reliably above it. The windowed ratios held (1.10x, 1.02x).
//
// 2026-12-01, session 8, a quiet machine (nothing else running; direct
// round trip 47 µs), no relay hot-path change since the figures above:
// `FERRY_BENCH_ONLY=round-trip FERRY_BENCH_PATHS=ferry,ferry_busy,splice,direct
// cargo bench --bench relay` (12 rounds):
//
// | case                         | path       | MiB/s | / splice | round trip p50 / p99 / mean µs |
// |------------------------------|------------|-------|----------|--------------------------------|
// | stock 64 MiB, 34 KiB, W = 1  | ferry      | 387.6 | 0.97x    | 83.1 / 152.2 / 88.7            |
// |                              | ferry_busy | 466.5 | 1.09x    | 68.9 / 157.5 / 75.2            |
// |                              | splice     | 429.4 | 1.00x    | 75.6 / 125.9 / 80.1            |
// |                              | direct     | 724.9 | 1.77x    | 47.3 / 73.9 / 45.0             |
// | 8 MiB, 4 KiB, W = 1          | ferry      | 47.9  | 0.97x    | 75.6 / 126.6 / 81.2            |
// |                              | ferry_busy | 59.6  | 1.14x    | 65.2 / 121.2 / 66.6            |
// |                              | splice     | 50.6  | 1.00x    | 71.5 / 123.5 / 76.7            |
// |                              | direct     | 95.1  | 1.84x    | 42.4 / 65.2 / 39.9             |
//
// 2026-12-01, session 9, after the reader change (splice-path reads offer
// just their room) and u64 online offsets; AMD EPYC, 2 cores, a direct
// round trip 51-53 µs (slower than session 8's 47). Two runs, each 12
// interleaved rounds:
//   run 1: FERRY_BENCH_ONLY=round-trip FERRY_BENCH_PATHS=ferry,ferry_buffered,ferry_busy,splice,direct
//   run 2: FERRY_BENCH_ONLY=side-by-side FERRY_BENCH_PATHS=ferry,ferry_busy,splice,direct
//
// | case                         | path           | / splice (run 1, run 2) | round trip p50 / p99 µs (run 1; run 2) |
// |------------------------------|----------------|-------------------------|----------------------------------------|
// | stock 64 MiB, 34 KiB, W = 1  | ferry          | 0.92x, 0.95x            | 106.7 / 241.8; 103.7 / 217.4           |
// |                              | ferry_buffered | 0.97x, -                | 102.9 / 205.2                          |
// |                              | ferry_busy     | 1.09x, 0.95x            | 89.9 / 175.2; 97.9 / 199.3             |
// |                              | splice         | 1.00x                   | 95.4 / 188.5; 94.0 / 168.2             |
// |                              | direct         | 1.80x, 1.85x            | 53.2 / 106.7; 51.2 / 97.4              |
// | 8 MiB, 4 KiB, W = 1          | ferry          | 1.04x, 0.97x            | 84.0 / 202.3; 92.0 / 192.8             |
// |                              | ferry_buffered | 1.01x, -                | 82.6 / 264.6                           |
// |                              | ferry_busy     | 1.10x, 1.04x            | 76.1 / 167.1; 81.6 / 318.5             |
// |                              | splice         | 1.00x                   | 86.0 / 199.6; 84.5 / 157.8             |
// | 1 GiB, 1 MiB, W = 8 (run 2)  | ferry          | 0.99x (1.30 GiB/s), relay CPU 1.09x splice's              |
// |                              | ferry_busy     | 0.97x, CPU 1.09x                                           |
// | 64 x 16 MiB, W = 8 (run 2)   | ferry          | 1.01x (1.37 GiB/s), relay CPU 1.16x                       |
// |                              | ferry_busy     | 1.06x, CPU 0.89x                                           |
//
// Read: reading a 34 KiB stock answer whole (ferry_buffered: one read, one
// send, two copies) beat splicing it (a 256-byte read, the head's send, a
// splice in, a splice out) by 0.05x in run 1; busy polling won run 1 and
// tied run 2. Neither is above the splice relay in both runs, so neither
// becomes the default on this evidence; the windowed ratios held.
//
// Tried and dropped the same hour: a latency-bound sender's first read of
// a frame offering the last frame's size (so a stock answer would come in
// one read, spliced only past it). Four round-trip runs on a machine that
// had turned noisy (p99 near 1 ms on every path, the direct socket's
// included): ferry's stock p50 113.1 / 115.7 / 118.9 / 111.3 µs against
// ferry_buffered's 107.2 / 108.8 / 103.6 / 109.3 and the splice relay's
// 98.5 / 95.6 / 103.9 / 92.2, no better than before the change (run 1:
// 106.7 against splice's 95.4). An io_uring read completes with whatever
// has arrived, so a 34 KiB answer often came in part and was then spliced
// anyway: a head read, a splice and a second copy path for nothing.
//
// 2026-12-01, session 10, an Intel Xeon machine of the kind (2 cores; a
// direct round trip 23-25 µs). The spliced stock answer's head is now sent
// with MSG_MORE (`outbox.rs`, `send_spliced`): it waits in the socket for
// the payload's first pump, so head and payload leave in one segment and
// the receiver wakes once per answer, as through the splice relay. TCP
// OutSegs over 4 rounds of both cases (`FERRY_BENCH_PATHS=ferry
// FERRY_BENCH_ROUNDS=4`, /proc/net/snmp): 111,136 before, 95,724 after.
// Builds before (A) and after (B) the change, each run 12 interleaved
// rounds of `FERRY_BENCH_ONLY=round-trip FERRY_BENCH_PATHS=ferry,splice,direct`,
// runs alternating A B A B, then B A B A B A:
//
// | build | stock 34 KiB W = 1, ferry / splice | ferry p50 µs (splice's) | 4 KiB W = 1, ferry / splice |
// |-------|------------------------------------|-------------------------|-----------------------------|
// | A     | 0.92x 0.92x 0.89x 0.90x 0.89x      | 49.6 40.5 52.3 49.2 52.6 (44.7 36.1 45.8 45.0 48.1) | 1.06x 1.01x 0.95x 0.97x 1.03x |
// | B     | 1.03x 0.93x 0.93x 0.99x 1.00x      | 40.8 44.1 42.4 44.4 45.7 (41.5 40.7 38.5 41.8 43.5) | 1.08x 0.96x 0.96x 1.01x 0.93x |
//
// Medians: stock 0.90x before, 0.99x after; the 4 KiB case (its answers
// are not spliced) is unchanged, as it should be. Still not reliably at
// or above the splice relay.
//
// The same build (B) once more, the whole side-by-side set in one quiet
// run (`FERRY_BENCH_ONLY=side-by-side FERRY_BENCH_PATHS=ferry,splice,direct`,
// 12 rounds): stock 34 KiB W = 1 1.04x the splice relay (p50 32.5 µs
// against 34.1; p99 52.2 against 49.4), 4 KiB W = 1 1.04x (26.2 against
// 27.4 µs), 1 GiB W = 8 1.08x (3.89 GiB/s, relay CPU 0.97x splice's),
// 64 x 16 MiB W = 8 1.05x (2.95 GiB/s, relay CPU 0.70x): the windowed
// ratios did not fall.
//
// Tried and dropped the same hour: on a splicing connection, a frame's
// first read offering the last frame's size when that frame was too small
// to splice, so a 4 KiB stock answer would come in one read instead of a
// 256-byte head read and a read of the rest. Interleaved B (without) C
// (with), 12 rounds each: 4 KiB W = 1 B 1.05x 1.06x 1.01x, C 0.98x 1.12x
// 1.01x the splice relay; stock 34 KiB B 1.03x 0.99x 0.94x, C 1.04x 0.92x
// 0.95x. No gain above the noise: the second read finds its bytes already
// there and completes at submission. Not kept.
