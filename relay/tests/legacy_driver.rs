//! The same relay on the epoll driver (monoio's legacy fallback, used where
//! io_uring is unavailable): transfers, hand-offs, back-pressure, cancel.

mod common;

use common::*;
use ferry_proto::core_for_task;
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFileState};
use ferry_relay::{Config, Driver};

fn legacy(cores: usize) -> Config {
    let mut config = Config::local(cores);
    config.driver = Driver::Legacy;
    config
}

#[test]
fn windowed_transfer_on_epoll() {
    let mut config = legacy(2);
    config.splice_above = 0;
    let relay = start(config);
    let (task, sender, mut receiver) = pair(&relay, 1, 2, 64 << 20);
    let t = task.clone();
    let sending = std::thread::spawn(move || serve_pulls(sender, &t, 1, 4));
    pull_all(&mut receiver, &task, 2, 64 << 20, 1 << 20, 8, 4);
    assert_eq!(sending.join().unwrap(), DONE);
    assert!(
        relay.stats().bytes_spliced > 60 << 20,
        "payloads are spliced on epoll too"
    );
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}

#[test]
fn hand_off_on_epoll() {
    let relay = start(legacy(2));
    let cores = relay.addresses().cores.clone();
    let mut link = MsgLink::connect(&relay);
    let task = link.create_task(3, 4, 1 << 20);
    let wrong = cores[(core_for_task(&task, 2) + 1) % 2];
    let (sender, rsp) = login(wrong, &task, 3, SENDER);
    assert_eq!(rsp.result_code, 0);
    let t = task.clone();
    let sending = std::thread::spawn(move || serve_pulls(sender, &t, 3, 6));
    let (mut receiver, _) = login(wrong, &task, 4, RECEIVER);
    assert_eq!(receiver.recv_msg::<ImFileState>().0.state, PEER_READY);
    pull_all(&mut receiver, &task, 4, 1 << 20, 64 << 10, 4, 6);
    assert_eq!(sending.join().unwrap(), DONE);
    assert_eq!(relay.stats().handoffs_in, 2);
    relay.shutdown();
}

#[test]
fn disconnect_and_back_pressure_on_epoll() {
    let mut config = legacy(1);
    config.task_buffer = 4 << 20;
    let relay = start(config);
    let (task, sender, mut receiver) = pair(&relay, 5, 6, 16 << 20);
    let t = task.clone();
    let sending = std::thread::spawn(move || serve_pulls(sender, &t, 5, 2));
    for i in 0..16u32 {
        let req = ImFilePullDataReq {
            offset_u64: None,
            task_id: task.clone().into(),
            user_id: 6,
            trans_mode: 1,
            offset: i << 20,
            data_size: 1 << 20,
        };
        receiver.send(&req, i as u16);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(relay.stats().bytes_buffered <= 4 << 20);
    drop(receiver);
    assert_eq!(
        sending.join().unwrap(),
        CANCEL,
        "the sender is told the receiver left"
    );
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}

/// `busy_poll` on epoll: after each forward the core polls instead of
/// sleeping. A transfer with one pull in flight moves every byte (pulls are
/// checked by `pull_all`) and the task ends cleanly. (Its speed is the
/// round-trip bench's business: benches/relay.rs, ferry_epoll_busy.)
#[test]
fn busy_polling_moves_a_stock_transfer() {
    let mut config = legacy(1);
    config.busy_poll = std::time::Duration::from_micros(200);
    let relay = start(config);
    let size = 8 << 20;
    let (task, sender, mut receiver) = pair(&relay, 21, 22, size);
    let t = task.clone();
    let sending = std::thread::spawn(move || serve_pulls(sender, &t, 21, 8));
    pull_all(&mut receiver, &task, 22, size, 34 << 10, 1, 8);
    assert_eq!(sending.join().unwrap(), DONE);
    assert_eq!(relay.stats().bytes_relayed, u64::from(size));
    relay.shutdown();
}
