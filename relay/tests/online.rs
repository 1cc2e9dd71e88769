//! Online transfers through a real relay on real sockets, as TeamTalk's
//! msg_server and Windows client drive them, and windowed.

mod common;

use std::thread;

use common::*;
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFilePullDataRsp, ImFileState};
use ferry_relay::Config;

/// TeamTalk's Windows client: 34 KiB pulls, one in flight, receiver DONE.
#[test]
fn stock_transfer_64mib() {
    let mut config = Config::local(2);
    config.splice_above = 0; // splice even this one transfer
    let relay = start(config);
    let mut link = MsgLink::connect(&relay);
    let ips = link.ip_list();
    assert_eq!(ips.len(), 3, "two core ports, then the shared one");
    assert_eq!(ips[2], relay.addresses().advertised[2]);
    let size = 64 << 20;
    let task = link.create_task(1001, 1002, size);

    let shared = relay.addresses().client;
    let (sender, rsp) = login(shared, &task, 1001, SENDER);
    assert_eq!(
        (rsp.result_code, common::text(&rsp.task_id)),
        (0, task.as_str())
    );
    let sender_task = task.clone();
    let sending = thread::spawn(move || serve_pulls(sender, &sender_task, 1001, 7));

    let (mut receiver, rsp) = login(shared, &task, 1002, RECEIVER);
    assert_eq!(rsp.result_code, 0);
    let (ready, _) = receiver.recv_msg::<ImFileState>();
    assert_eq!(
        (ready.state, ready.user_id, common::text(&ready.task_id)),
        (PEER_READY, 1001, task.as_str())
    );

    pull_all(&mut receiver, &task, 1002, size, 34 << 10, 1, 7);
    assert_eq!(sending.join().unwrap(), DONE, "the sender is told DONE");
    assert!(
        receiver.until_closed().is_empty(),
        "the receiver is closed after DONE"
    );
    wait_for(&relay, "everything freed", all_free);
    assert_eq!(relay.stats().bytes_relayed, u64::from(size));
    if relay.zero_copy() {
        // 34 KiB answers are spliced; only the first bytes of each were read.
        let spliced = relay.stats().bytes_spliced;
        assert!(
            spliced > u64::from(size) * 9 / 10,
            "{spliced} of {size} bytes spliced"
        );
    }
    relay.shutdown();
}

/// W = 16 pulls of 1 MiB in flight, 1 GiB.
#[test]
fn windowed_transfer_1gib() {
    let relay = start(Config::local(2));
    let mut link = MsgLink::connect(&relay);
    let size = 1 << 30;
    let task = link.create_task(7, 8, size);
    let addr = relay.addresses().client;
    let (sender, _) = login(addr, &task, 7, SENDER);
    let t = task.clone();
    let sending = thread::spawn(move || serve_pulls(sender, &t, 7, 3));
    let (mut receiver, _) = login(addr, &task, 8, RECEIVER);
    assert_eq!(receiver.recv_msg::<ImFileState>().0.state, PEER_READY);
    pull_all(&mut receiver, &task, 8, size, 1 << 20, 16, 3);
    assert_eq!(sending.join().unwrap(), DONE);
    wait_for(&relay, "everything freed", all_free);
    assert_eq!(relay.stats().bytes_relayed, u64::from(size));
    relay.shutdown();
}

/// A core splices only while more than `splice_above` senders stream
/// through it: a lone transfer is read into memory and written from it; with
/// another sender in, it is spliced.
#[test]
fn splicing_starts_above_the_threshold() {
    let mut config = Config::local(1);
    config.splice_above = 1;
    let relay = start(config);
    let size = 32 << 20;
    let (task, sender, mut receiver) = pair(&relay, 21, 22, size);
    let t = task.clone();
    let sending = thread::spawn(move || serve_pulls(sender, &t, 21, 5));
    pull_all(&mut receiver, &task, 22, size, 1 << 20, 8, 5);
    assert_eq!(sending.join().unwrap(), DONE);
    assert_eq!(
        relay.stats().bytes_spliced,
        0,
        "a lone transfer is not spliced"
    );

    // A second sender logged in (it need not be pulled yet): the core now
    // streams two transfers, so every payload is spliced.
    let (_idle_task, idle_sender, idle_receiver) = pair(&relay, 30, 31, size);
    let (task, sender, mut receiver) = pair(&relay, 32, 33, size);
    let t = task.clone();
    let sending = thread::spawn(move || serve_pulls(sender, &t, 32, 6));
    pull_all(&mut receiver, &task, 33, size, 1 << 20, 8, 6);
    assert_eq!(sending.join().unwrap(), DONE);
    // All but what each response's first read brought in with its head.
    let spliced = relay.stats().bytes_spliced;
    assert!(
        spliced > u64::from(size) * 99 / 100,
        "with two senders in, payloads are spliced: {spliced} of {size} bytes"
    );
    drop((idle_sender, idle_receiver));
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}

/// The same windowed transfer with splicing off: payloads read into memory
/// and written from it.
#[test]
fn windowed_transfer_without_zero_copy() {
    let mut config = Config::local(2);
    config.zero_copy = false;
    let relay = start(config);
    let (task, sender, mut receiver) = pair(&relay, 9, 10, 256 << 20);
    let t = task.clone();
    let sending = thread::spawn(move || serve_pulls(sender, &t, 9, 8));
    pull_all(&mut receiver, &task, 10, 256 << 20, 1 << 20, 16, 8);
    assert_eq!(sending.join().unwrap(), DONE);
    assert_eq!(relay.stats().bytes_spliced, 0);
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}

/// One pull in flight (the stock pattern), read into memory and spliced:
/// the relay writes each forwarded pull and response (a spliced one's head,
/// its payload pumped straight after it) to the idle peer's socket itself
/// (one send, no writer round). With `direct_writes` off the same transfer
/// goes through the writer tasks and nothing is counted: the counter is
/// real.
#[test]
fn forwards_are_written_directly_to_idle_peers() {
    for (direct, zero_copy) in [(true, false), (true, true), (false, false), (false, true)] {
        let mut config = Config::local(1);
        config.zero_copy = zero_copy;
        config.direct_writes = direct;
        let relay = start(config);
        let size = 4 << 20;
        let (task, sender, mut receiver) = pair(&relay, 11, 12, size);
        let t = task.clone();
        let sending = thread::spawn(move || serve_pulls(sender, &t, 11, 5));
        pull_all(&mut receiver, &task, 12, size, 34 << 10, 1, 5);
        assert_eq!(sending.join().unwrap(), DONE);
        wait_for(&relay, "everything freed", all_free);
        let pulls = u64::from(size.div_ceil(34 << 10));
        let spliced = relay.stats().bytes_spliced;
        assert_eq!(spliced > 0, zero_copy, "{spliced} bytes spliced");
        let direct_writes = relay.stats().direct_writes;
        if direct {
            // Every pull and every response found its peer's writer idle
            // (one in flight), give or take the first and the last.
            assert!(
                direct_writes >= 2 * pulls - 2,
                "{direct_writes} direct writes for {pulls} pulls"
            );
        } else {
            assert_eq!(direct_writes, 0);
        }
        relay.shutdown();
    }
}

/// `uring_taskrun`: rings set up with COOP_TASKRUN, or DEFER_TASKRUN +
/// SINGLE_ISSUER (every io_uring call of a core from its own thread; the
/// deferred completions reaped when the core waits), move a stock transfer
/// and a windowed one, every byte checked. Their speed: benches/relay.rs
/// (ferry_coop, ferry_defer).
#[test]
fn rings_with_deferred_completions_move_transfers() {
    for taskrun in [ferry_relay::TaskRun::Coop, ferry_relay::TaskRun::Defer] {
        let mut config = Config::local(1);
        config.uring_taskrun = taskrun;
        let relay = start(config);
        let size = 8 << 20;
        for (window, chunk, users) in [(1, 34 << 10, (41, 42)), (8, 1 << 20, (43, 44))] {
            let (task, sender, mut receiver) = pair(&relay, users.0, users.1, size);
            let t = task.clone();
            let sending = thread::spawn(move || serve_pulls(sender, &t, users.0, 9));
            pull_all(&mut receiver, &task, users.1, size, chunk, window, 9);
            assert_eq!(sending.join().unwrap(), DONE, "{taskrun:?} W {window}");
        }
        assert_eq!(
            relay.stats().bytes_relayed,
            2 * u64::from(size),
            "{taskrun:?}"
        );
        wait_for(&relay, "everything freed", all_free);
        relay.shutdown();
    }
}

/// `busy_poll`: after each forward the core polls instead of sleeping. A
/// transfer with one pull in flight moves every byte (each answer checked
/// by `pull_all`) and ends cleanly. Its speed is the round-trip bench's
/// business (benches/relay.rs, ferry_busy); the epoll driver's twin is in
/// legacy_driver.rs.
#[test]
fn busy_polling_moves_a_stock_transfer() {
    let mut config = Config::local(1);
    config.busy_poll = std::time::Duration::from_micros(200);
    let relay = start(config);
    let size = 8 << 20;
    let (task, sender, mut receiver) = pair(&relay, 31, 32, size);
    let t = task.clone();
    let sending = thread::spawn(move || serve_pulls(sender, &t, 31, 9));
    pull_all(&mut receiver, &task, 32, size, 34 << 10, 1, 9);
    assert_eq!(sending.join().unwrap(), DONE);
    assert_eq!(relay.stats().bytes_relayed, u64::from(size));
    assert!(
        relay.stats().busy_polls > 0,
        "a stock transfer was never spun for"
    );
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}

/// Busy polling is spent only where the answer comes in time: a stock
/// transfer (one pull in flight) spins for both sides' turns while they
/// are quick, and not for a sender that takes longer than `busy_poll`.
#[test]
fn busy_polling_skips_a_slow_sender() {
    let pulls = 40u32;
    let chunk = 4u32 << 10;
    let spins = |sender_delay: std::time::Duration| {
        let mut config = Config::local(1);
        config.busy_poll = std::time::Duration::from_millis(5);
        let relay = start(config);
        let (task, mut sender, mut receiver) = pair(&relay, 33, 34, pulls * chunk);
        let t = task.clone();
        let sending = thread::spawn(move || {
            for _ in 0..pulls {
                let req = sender.recv_msg::<ImFilePullDataReq>().0;
                thread::sleep(sender_delay);
                let rsp = ImFilePullDataRsp {
                    offset_u64: None,
                    result_code: 0,
                    task_id: t.clone().into(),
                    user_id: 33,
                    offset: req.offset,
                    file_data: fill(u64::from(req.offset), req.data_size as usize, 3).into(),
                };
                sender.send(&rsp, 0);
            }
            sender.recv_msg::<ImFileState>().0.state
        });
        pull_all(&mut receiver, &task, 34, pulls * chunk, chunk, 1, 3);
        assert_eq!(sending.join().unwrap(), DONE);
        let spins = relay.stats().busy_polls;
        relay.shutdown();
        spins
    };
    let quick = spins(std::time::Duration::ZERO);
    let slow = spins(std::time::Duration::from_millis(20));
    // Quick: a spin per pull and per answer (a test thread may now and
    // then miss 5 ms on a loaded machine). Slow: the sender's turns are
    // spun for once (both sides start out taken as quick), the receiver's
    // every time.
    assert!(
        quick >= u64::from(pulls) * 3 / 2,
        "quick peers: {quick} spins for {pulls} pulls"
    );
    assert!(
        slow <= u64::from(pulls) + 2,
        "slow sender: {slow} spins for {pulls} pulls"
    );
    assert!(
        slow >= u64::from(pulls) / 2,
        "slow sender: {slow} spins for {pulls} pulls"
    );
}
