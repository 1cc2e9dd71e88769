//! Every way a task ends frees what it held: counts back to zero.

mod common;

use std::time::Duration;

use common::*;
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFileState};
use ferry_relay::Config;

#[test]
fn a_task_nobody_joins_expires() {
    let mut config = Config::local(2);
    config.task_timeout = Duration::from_millis(300);
    let relay = start(config);
    let mut link = MsgLink::connect(&relay);
    let task = link.create_task(1, 2, 10);
    assert_eq!(relay.stats().tasks, 1);
    wait_for(&relay, "task expired", |s| s.tasks == 0);
    let (mut late, rsp) = login(relay.addresses().client, &task, 1, SENDER);
    assert_eq!(rsp.result_code, 1, "an expired task cannot be joined");
    assert!(late.until_closed().is_empty());
    relay.shutdown();
}

#[test]
fn a_side_left_waiting_is_told_cancel_when_the_task_expires() {
    let mut config = Config::local(1);
    config.task_timeout = Duration::from_millis(300);
    let relay = start(config);
    let mut link = MsgLink::connect(&relay);
    let task = link.create_task(3, 4, 10);
    let (mut sender, _) = login(relay.addresses().client, &task, 3, SENDER);
    let frames = sender.until_closed();
    let state = frames[0].decode::<ImFileState>().unwrap();
    assert_eq!((state.state, state.user_id), (CANCEL, 4));
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}

#[test]
fn cancel_from_the_sender_is_forwarded_and_ends_the_task() {
    let relay = start(Config::local(2));
    let (task, mut sender, mut receiver) = pair(&relay, 5, 6, 1 << 20);
    receiver.send(
        &ImFilePullDataReq {
            offset_u64: None,
            task_id: task.clone().into(),
            user_id: 6,
            trans_mode: 1,
            offset: 0,
            data_size: 1024,
        },
        3,
    );
    let _ = sender.recv_msg::<ImFilePullDataReq>();
    sender.send(
        &ImFileState {
            state: CANCEL,
            task_id: task.clone().into(),
            user_id: 5,
            sha256: None,
        },
        0,
    );
    let state = receiver.until_closed()[0].decode::<ImFileState>().unwrap();
    assert_eq!((state.state, state.user_id), (CANCEL, 5));
    assert!(sender.until_closed().is_empty());
    wait_for(
        &relay,
        "everything freed (the pull in flight too)",
        all_free,
    );
    relay.shutdown();
}

#[test]
fn a_disconnect_tells_the_other_side() {
    let relay = start(Config::local(2));
    for receiver_leaves in [true, false] {
        let (_task, sender, receiver) = pair(&relay, 7, 8, 1 << 20);
        let (gone, mut stays, gone_user) = if receiver_leaves {
            (receiver, sender, 8)
        } else {
            (sender, receiver, 7)
        };
        drop(gone);
        let state = stays.until_closed()[0].decode::<ImFileState>().unwrap();
        assert_eq!((state.state, state.user_id), (CANCEL, gone_user));
        wait_for(&relay, "everything freed", all_free);
    }
    relay.shutdown();
}

#[test]
fn an_idle_transfer_is_closed_at_the_idle_timeout() {
    let mut config = Config::local(1);
    config.idle_timeout = Duration::from_millis(400);
    let relay = start(config);
    let started = std::time::Instant::now();
    let (_task, mut sender, mut receiver) = pair(&relay, 9, 10, 100);
    // Both sides fall silent; whichever times out first tells the other.
    for side in [&mut sender, &mut receiver] {
        for frame in side.until_closed() {
            assert_eq!(frame.decode::<ImFileState>().unwrap().state, CANCEL);
        }
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}

#[test]
fn shutdown_drains_and_returns() {
    let mut config = Config::local(2);
    config.drain_timeout = Duration::from_millis(500);
    let relay = start(config);
    let (_task, _sender, _receiver) = pair(&relay, 11, 12, 100);
    let started = std::time::Instant::now();
    relay.shutdown(); // the transfer stays open: bounded by the drain timeout
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(5),
        "{took:?}"
    );
}
