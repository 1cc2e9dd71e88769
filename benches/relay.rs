//! Relay throughput, three paths side by side in one run:
//! ferry's relay, a plain splice(2) relay (`relay_support/splice.rs`) and a
//! direct socket, with the same TeamTalk peers pulling and answering.
//!
//!   cargo bench --bench relay
//!
//! After the criterion groups it prints relay CPU-seconds per GiB for ferry
//! and the splice relay, measured on the relay threads alone.
//! Machine and last figures: see the end of this file.

mod relay_support;

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use ferry_relay::{Config, Relay};
use relay_support::cpu::process_cpu_seconds;
use relay_support::peers::Peer;
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
    let (sender, receiver, task) = match path {
        Path::Ferry(relay) => {
            let mut link = Peer::new(TcpStream::connect(relay.addresses().msg).unwrap());
            let task = link.create_task(1, 2, size);
            let addr = relay.addresses().client;
            let mut sender = Peer::new(TcpStream::connect(addr).unwrap());
            sender.login(&task, 1, 1);
            let mut receiver = Peer::new(TcpStream::connect(addr).unwrap());
            receiver.login(&task, 2, 2);
            receiver.wait_ready();
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
                Peer::new(s)
            };
            let (sender, receiver) = (connect(), connect());
            (sender, receiver, "splice".into())
        }
        Path::Direct => {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let sender = Peer::new(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
            let receiver = Peer::new(listener.accept().unwrap().0);
            (sender, receiver, "direct".into())
        }
    };
    let (t, p) = (task.clone(), payload.clone());
    let sending = thread::spawn(move || sender.send_file(&t, 1, &p));
    let got = receiver.receive(&task, 2, u64::from(size), chunk, window);
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

/// The relays a run compares: ferry (payloads spliced), ferry with
/// splicing off (payloads read and written from memory), the plain splice
/// relay, and no relay at all.
struct Relays {
    ferry: Relay,
    ferry_copy: Relay,
    splice: SpliceRelay,
}

impl Relays {
    fn start(cores: usize) -> Relays {
        let config = |zero_copy| {
            let mut c = Config::local(cores);
            c.window = 64;
            c.zero_copy = zero_copy;
            Relay::start(c).unwrap()
        };
        Relays {
            ferry: config(true),
            ferry_copy: config(false),
            splice: SpliceRelay::start(),
        }
    }

    fn paths(&self) -> [(&'static str, Path<'_>); 4] {
        [
            ("ferry", Path::Ferry(&self.ferry)),
            ("ferry_copy", Path::Ferry(&self.ferry_copy)),
            ("splice", Path::Splice(&self.splice)),
            ("direct", Path::Direct),
        ]
    }

    fn shutdown(self) {
        self.ferry.shutdown();
        self.ferry_copy.shutdown();
    }
}

fn bench(c: &mut Criterion) {
    let payload = Bytes::from(vec![0x5a; 1 << 20]);
    let one_core = Relays::start(1);

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

    cpu_per_gib(&payload, &one_core);
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
    two_cores.shutdown();
}

/// Relay CPU-seconds per GiB moved, estimated as the process's CPU for a
/// transfer through the relay minus its CPU for the same transfer over a
/// direct socket (the peers' own work cancels out; relay threads, pump
/// threads and io_uring's kernel workers are all counted). 4 GiB each.
fn cpu_per_gib(payload: &Bytes, relays: &Relays) {
    let measure = |path: Path| {
        let before = process_cpu_seconds();
        for _ in 0..4 {
            transfer(path, payload, 1 << 30, 1 << 20, 8);
        }
        (process_cpu_seconds() - before) / 4.0
    };
    let direct = measure(Path::Direct);
    let ferry = measure(Path::Ferry(&relays.ferry)) - direct;
    let copy = measure(Path::Ferry(&relays.ferry_copy)) - direct;
    let splice = measure(Path::Splice(&relays.splice)) - direct;
    println!(
        "relay CPU-seconds per GiB (1 MiB pulls, W = 8; process CPU minus direct's {direct:.3}): \
         ferry {ferry:.3} ({:.2}x splice), ferry_copy {copy:.3} ({:.2}x), splice {splice:.3}",
        ferry / splice,
        copy / splice
    );
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);

// Machine: 2 vCPU AMD EPYC, 24 GiB, Linux 6.18, io_uring; a shared VM.
// 2026-11-22, `cargo bench --bench relay`, all paths in one run (medians),
// ferry = payloads spliced through the conduit (the default), ferry_copy =
// relay.zero_copy off:
//
// | group                                   | ferry      | ferry_copy | splice relay | direct     |
// |-----------------------------------------|------------|------------|--------------|------------|
// | 1 GiB, 1 MiB pulls, W = 8, 1 relay core | 2.21 GiB/s | 1.97 GiB/s | 2.59 GiB/s   | 3.83 GiB/s |
// | stock: 64 MiB, 34 KiB pulls, W = 1      | 437 MiB/s  | 416 MiB/s  | 856 MiB/s    | 818 MiB/s  |
// | 64 x 16 MiB at once, 2 relay cores      | 2.14 GiB/s | 1.53 GiB/s | 2.26 GiB/s   | 3.01 GiB/s |
//
// Relay CPU-seconds per GiB (process CPU minus the direct path's 0.337):
// ferry 0.189 (1.05x the splice relay), ferry_copy 0.372 (2.08x), splice
// relay 0.179. Ratios to the splice relay: one transfer 0.85, 64 at once
// 0.95, stock 0.51 (about 13,000 round trips/s). Goals: CPU <= 1.2x and
// aggregate >= 0.9x are met; one transfer >= 1.0x and the stock pattern
// are not yet (per-PDU hops between the reader and writer tasks, readiness
// polls per splice). An earlier run, with a build running alongside, gave
// 0.96 (one transfer) and 0.95 (64 at once).
