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
use relay_support::cpu::thread_cpu_seconds;
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
            let sender = Peer::new(TcpStream::connect(relay.addr).unwrap());
            let receiver = Peer::new(TcpStream::connect(relay.addr).unwrap());
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

fn paths<'a>(ferry: &'a Relay, splice: &'a SpliceRelay) -> [(&'static str, Path<'a>); 3] {
    [
        ("ferry", Path::Ferry(ferry)),
        ("splice", Path::Splice(splice)),
        ("direct", Path::Direct),
    ]
}

fn relays(cores: usize) -> (Relay, SpliceRelay) {
    let mut config = Config::local(cores);
    config.window = 64;
    (Relay::start(config).unwrap(), SpliceRelay::start())
}

fn bench(c: &mut Criterion) {
    let payload = Bytes::from(vec![0x5a; 1 << 20]);
    let (ferry1, splice) = relays(1);

    let mut g = c.benchmark_group("relay_1gib_1mib_w8");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(1 << 30));
    for (name, path) in paths(&ferry1, &splice) {
        g.bench_function(name, |b| {
            b.iter(|| transfer(path, &payload, 1 << 30, 1 << 20, 8))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("relay_stock_64mib_34k_w1");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Bytes(64 << 20));
    for (name, path) in paths(&ferry1, &splice) {
        g.bench_function(name, |b| {
            b.iter(|| transfer(path, &payload, 64 << 20, 34 << 10, 1))
        });
    }
    g.finish();
    ferry1.shutdown();

    let (ferry2, _) = relays(2);
    let mut g = c.benchmark_group("relay_64x16mib_1mib_w8");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Bytes(1 << 30));
    for (name, path) in paths(&ferry2, &splice) {
        g.bench_function(name, |b| {
            b.iter(|| concurrent(path, &payload, 64, 16 << 20, 1 << 20, 8))
        });
    }
    g.finish();

    cpu_per_gib(&payload, &ferry2, &splice);
}

/// Relay-thread CPU-seconds per GiB moved, ferry vs splice, 4 GiB each.
fn cpu_per_gib(payload: &Bytes, ferry: &Relay, splice: &SpliceRelay) {
    let measure = |path: Path, prefix: &str| {
        let before = thread_cpu_seconds(prefix);
        for _ in 0..4 {
            transfer(path, payload, 1 << 30, 1 << 20, 8);
        }
        (thread_cpu_seconds(prefix) - before) / 4.0
    };
    let ferry_cpu = measure(Path::Ferry(ferry), "ferry-relay");
    let splice_cpu = measure(Path::Splice(splice), "splice-relay");
    println!(
        "relay CPU-seconds per GiB (1 MiB pulls, W = 8): ferry {ferry_cpu:.3}, splice {splice_cpu:.3}, ratio {:.2}",
        ferry_cpu / splice_cpu
    );
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
