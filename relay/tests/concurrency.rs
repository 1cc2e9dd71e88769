//! Many transfers at once, spread over the cores, all verified.

mod common;

use std::thread;

use common::*;
use ferry_proto::pb::im::file::ImFileState;
use ferry_relay::Config;

#[test]
fn a_thousand_concurrent_1mib_transfers() {
    const TRANSFERS: u32 = 1000;
    const SIZE: u32 = 1 << 20;
    let relay = start(Config::local(2));
    let mut link = MsgLink::connect(&relay);
    let tasks: Vec<String> = (0..TRANSFERS)
        .map(|i| link.create_task(10_000 + 2 * i, 10_001 + 2 * i, SIZE))
        .collect();
    assert_eq!(relay.stats().tasks, u64::from(TRANSFERS));
    let addr = relay.addresses().client;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2 * TRANSFERS as usize));
    let mut threads = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        let (from, to, salt) = (10_000 + 2 * i as u32, 10_001 + 2 * i as u32, i as u8);
        let (t, b) = (task.clone(), barrier.clone());
        threads.push(
            thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let (sender, rsp) = login(addr, &t, from, SENDER);
                    assert_eq!(rsp.result_code, 0);
                    b.wait(); // every sender and receiver is connected at once
                    serve_pulls(sender, &t, from, salt)
                })
                .unwrap(),
        );
        let b = barrier.clone();
        threads.push(
            thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || {
                    let (mut receiver, rsp) = login(addr, &task, to, RECEIVER);
                    assert_eq!(rsp.result_code, 0);
                    assert_eq!(receiver.recv_msg::<ImFileState>().0.state, PEER_READY);
                    b.wait();
                    pull_all(&mut receiver, &task, to, SIZE, 256 << 10, 2, salt);
                    DONE
                })
                .unwrap(),
        );
    }
    for t in threads {
        assert_eq!(t.join().unwrap(), DONE);
    }
    wait_for(&relay, "everything freed", all_free);
    assert_eq!(
        relay.stats().bytes_relayed,
        u64::from(TRANSFERS) * u64::from(SIZE)
    );
    relay.shutdown();
}
