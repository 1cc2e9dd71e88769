//! What one latency-bound stream costs on each kind of event loop: a
//! client writes a message, waits for it to come back, writes the next
//! (one in flight, as a stock TeamTalk client pulls), against echo servers
//! that differ only in how they wait for the socket:
//!
//! - `monoio_uring`: a monoio runtime on io_uring, as ferry's relay cores
//!   run (read into a buffer, write it back);
//! - `monoio_epoll`: the same code on monoio's epoll driver;
//! - `epoll`: a hand-written level-triggered epoll loop on one thread;
//! - `thread`: a blocking thread per connection (how the splice relay of
//!   benches/relay.rs waits);
//!
//! each with its thread pinned to one CPU (as ferry pins its cores) and
//! unpinned (the kernel places it). Interleaved rounds, so a slow spell
//! of a shared machine hits every server alike; per server the round trip
//! (message written -> echo read) in µs, p50 / p99 / mean over every
//! message of every round.
//!
//!   cargo bench --bench echo
//!
//! Last figures: see the end of this file.

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

/// Messages per server per round.
const MESSAGES: usize = 2_000;
const ROUNDS: usize = 8;

#[derive(Clone, Copy, Debug)]
enum Server {
    MonoioUring,
    /// MonoioUring with tasks that keep the loop turning (never parks):
    /// busy polling, as ferry's `relay.busy_poll` does.
    MonoioUringSpin,
    MonoioEpoll,
    Epoll,
    Thread,
}

fn main() {
    // `cargo bench` passes --bench; nothing else is read.
    let mut servers = Vec::new();
    for pin in [true, false] {
        for kind in [
            Server::MonoioUring,
            Server::MonoioUringSpin,
            Server::MonoioEpoll,
            Server::Epoll,
            Server::Thread,
        ] {
            let name = format!(
                "{}{}",
                format!("{kind:?}").to_lowercase(),
                if pin { "_pinned" } else { "" }
            );
            servers.push((name, start(kind, pin.then_some(0))));
        }
    }
    for size in [64usize, 4 << 10, 34 << 10] {
        let message = vec![0x5au8; size];
        let mut waits: Vec<Vec<u64>> = vec![Vec::new(); servers.len()];
        for round in 0..ROUNDS {
            for k in 0..servers.len() {
                let s = (round + k) % servers.len();
                ping_pong(servers[s].1, &message, &mut waits[s]);
            }
        }
        println!(
            "echo, {size} B messages, one in flight, {ROUNDS} interleaved rounds x {MESSAGES}:"
        );
        for (s, (name, _)) in servers.iter().enumerate() {
            let w = &mut waits[s];
            w.sort_unstable();
            let us = |q: f64| w[((w.len() - 1) as f64 * q) as usize] as f64 / 1e3;
            let mean = w.iter().sum::<u64>() as f64 / w.len() as f64 / 1e3;
            println!(
                "  {name:<20} round trip p50 {:>6.1} µs  p99 {:>6.1} µs  mean {:>6.1} µs",
                us(0.50),
                us(0.99),
                mean
            );
        }
    }
}

/// One connection, `MESSAGES` round trips; each one's time (ns) pushed.
fn ping_pong(server: SocketAddr, message: &[u8], waits: &mut Vec<u64>) {
    let mut stream = TcpStream::connect(server).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut back = vec![0u8; message.len()];
    for _ in 0..MESSAGES {
        let t0 = Instant::now();
        stream.write_all(message).unwrap();
        stream.read_exact(&mut back).unwrap();
        waits.push(t0.elapsed().as_nanos() as u64);
    }
}

/// Starts an echo server of `kind` on its own thread, pinned to `cpu`.
fn start(kind: Server, cpu: Option<usize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Some(cpu) = cpu {
            monoio::utils::bind_to_cpu_set([cpu]).unwrap();
        }
        match kind {
            Server::MonoioUring => {
                let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                    .enable_timer()
                    .build()
                    .unwrap();
                rt.block_on(monoio_serve(listener));
            }
            Server::MonoioUringSpin => {
                let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                    .enable_timer()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    // Two tasks waking each other: a task that wakes itself
                    // goes to the front of monoio's run queue and starves
                    // the rest (see relay/src/spin.rs).
                    let turn: Rc<[Cell<Option<Waker>>; 2]> = Rc::default();
                    for me in 0..2 {
                        let turn = turn.clone();
                        monoio::spawn(async move {
                            loop {
                                let mut passed = false;
                                std::future::poll_fn(|cx| {
                                    if passed {
                                        return Poll::Ready(());
                                    }
                                    passed = true;
                                    if let Some(w) = turn[1 - me].take() {
                                        w.wake();
                                    }
                                    turn[me].set(Some(cx.waker().clone()));
                                    Poll::Pending
                                })
                                .await;
                            }
                        });
                    }
                    if let Some(w) = turn[0].take() {
                        w.wake();
                    }
                    monoio_serve(listener).await
                });
            }
            Server::MonoioEpoll => {
                let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                    .enable_timer()
                    .build()
                    .unwrap();
                rt.block_on(monoio_serve(listener));
            }
            Server::Epoll => epoll_serve(listener),
            Server::Thread => {
                for stream in listener.incoming() {
                    let mut stream = stream.unwrap();
                    std::thread::spawn(move || {
                        if let Some(cpu) = cpu {
                            monoio::utils::bind_to_cpu_set([cpu]).unwrap();
                        }
                        stream.set_nodelay(true).unwrap();
                        let mut buf = vec![0u8; 64 << 10];
                        loop {
                            match stream.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => stream.write_all(&buf[..n]).unwrap(),
                            }
                        }
                    });
                }
            }
        }
    });
    addr
}

async fn monoio_serve(listener: TcpListener) {
    use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
    listener.set_nonblocking(true).unwrap();
    let listener = monoio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.set_nodelay(true).unwrap();
        monoio::spawn(async move {
            let mut buf = Vec::with_capacity(64 << 10);
            loop {
                let (res, b) = stream.read(buf).await;
                match res {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let (res, b) = stream.write_all(b).await;
                if res.is_err() {
                    return;
                }
                buf = b;
                buf.clear();
            }
        });
    }
}

/// A level-triggered epoll loop: the listener and every connection on one
/// thread; a readable connection is read once and answered in full.
#[allow(unsafe_code)]
fn epoll_serve(listener: TcpListener) {
    use std::collections::HashMap;
    listener.set_nonblocking(true).unwrap();
    // SAFETY: plain epoll syscalls on fds this function owns; events is a
    // buffer of the length passed.
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        assert!(ep >= 0);
        let add = |fd: i32| {
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: fd as u64,
            };
            assert_eq!(libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev), 0);
        };
        add(listener.as_raw_fd());
        let mut conns: HashMap<i32, TcpStream> = HashMap::new();
        let mut buf = vec![0u8; 64 << 10];
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        loop {
            let n = libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1);
            for ev in &events[..n.max(0) as usize] {
                let fd = ev.u64 as i32;
                if fd == listener.as_raw_fd() {
                    while let Ok((s, _)) = listener.accept() {
                        s.set_nodelay(true).unwrap();
                        add(s.as_raw_fd());
                        conns.insert(s.as_raw_fd(), s);
                    }
                    continue;
                }
                let Some(stream) = conns.get_mut(&fd) else {
                    continue;
                };
                // The socket is blocking: one read of what is there, then
                // the whole echo (it fits the send buffer).
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        conns.remove(&fd);
                    }
                    Ok(n) => stream.write_all(&buf[..n]).unwrap(),
                }
            }
        }
    }
}

// Machine: 2 vCPU AMD EPYC, 24 GiB, Linux 6.18, a shared VM.
// 2026-12-01 (session 5), `cargo bench --bench echo`, nothing else running;
// servers pinned to CPU 0 (as ferry pins its cores), the client unpinned:
//
// | server (pinned)        | 64 B p50 / mean µs | 4 KiB p50 / mean | 34 KiB p50 / mean |
// |------------------------|--------------------|------------------|-------------------|
// | monoio, io_uring       | 9.8 / 23.8         | 15.7 / 31.0      | 23.1 / 44.1       |
// | monoio, io_uring, busy | 6.9 / 15.0         | 7.2 / 12.8       | 15.0 / 28.8       |
// | monoio, epoll          | 7.0 / 17.4         | 6.9 / 17.5       | 12.8 / 32.0       |
// | epoll loop             | 6.3 / 17.9         | 6.3 / 18.0       | 11.3 / 32.0       |
// | thread                 | 5.5 / 17.3         | 5.8 / 17.2       | 10.3 / 30.2       |
//
// Unpinned servers vary more between runs (the scheduler may put server
// and client on one CPU or on two). Read: for one latency-bound stream,
// monoio's io_uring driver costs about 8 µs more per round trip than epoll
// here (its wake-up goes through io_uring's task work); epoll, a thread
// and monoio on epoll are within a microsecond of each other; busy polling
// on io_uring recovers the difference. In the relay (benches/relay.rs)
// the two drivers are within noise of each other, because the relay
// writes with plain send(2) when the peer is idle.
