//! A reconnect supersedes its dead predecessor: a sender or receiver whose
//! network path died (no FIN, nothing answered) logs in again with the same
//! user, task and role; the new connection takes the role over at once and
//! the transfer goes on, instead of "role already taken" until timeouts
//! fire and the file must be sent again from the start.

mod common;

use common::*;
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFilePullDataRsp, ImFileState};
use ferry_relay::Config;

const SIZE: u32 = 1 << 20;
const CHUNK: u32 = 64 << 10;

fn pull(task: &str, user: u32, offset: u32) -> ImFilePullDataReq {
    ImFilePullDataReq {
        offset_u64: None,
        task_id: task.to_owned().into(),
        user_id: user,
        trans_mode: 1,
        offset,
        data_size: CHUNK,
    }
}

fn answer(task: &str, user: u32, req: &ImFilePullDataReq) -> ImFilePullDataRsp {
    ImFilePullDataRsp {
        offset_u64: None,
        result_code: 0,
        task_id: task.to_owned().into(),
        user_id: user,
        offset: req.offset,
        file_data: fill(u64::from(req.offset), req.data_size as usize, 1).into(),
    }
}

/// The sender answers two of four pulls, then falls silent without closing.
/// Its second login takes over: the two unanswered pulls are asked again on
/// the new connection with their original seqs, and the receiver gets every
/// byte; the silent connection is closed.
fn sender_reconnect(config: Config) {
    let relay = start(config);
    let addr = relay.addresses().client;
    let (task, mut old_sender, mut receiver) = pair(&relay, 11, 12, SIZE);
    for (i, offset) in [0, CHUNK, 2 * CHUNK, 3 * CHUNK].into_iter().enumerate() {
        receiver.send(&pull(&task, 12, offset), 10 + i as u16);
    }
    let asked: Vec<ImFilePullDataReq> = (0..4)
        .map(|_| old_sender.recv_msg::<ImFilePullDataReq>().0)
        .collect();
    for req in &asked[..2] {
        old_sender.send(&answer(&task, 11, req), 0);
    }
    for (i, offset) in [0, CHUNK].into_iter().enumerate() {
        let (rsp, seq) = receiver.recv_msg::<ImFilePullDataRsp>();
        assert_eq!((rsp.offset, seq), (offset, 10 + i as u16));
    }

    // The dead path: the old sender says nothing more and never closes.
    let (mut new_sender, rsp) = login(addr, &task, 11, SENDER);
    assert_eq!(rsp.result_code, 0, "the reconnect takes the role over");
    for (i, offset) in [2 * CHUNK, 3 * CHUNK].into_iter().enumerate() {
        let (again, seq) = new_sender.recv_msg::<ImFilePullDataReq>();
        assert_eq!(
            (again.offset, again.data_size, again.user_id),
            (offset, CHUNK, 12)
        );
        assert_eq!(seq, 12 + i as u16, "asked again with the receiver's seq");
        new_sender.send(&answer(&task, 11, &again), 0);
    }
    assert!(
        old_sender.until_closed().is_empty(),
        "the superseded connection is closed"
    );
    for (i, offset) in [2 * CHUNK, 3 * CHUNK].into_iter().enumerate() {
        let (rsp, seq) = receiver.recv_msg::<ImFilePullDataRsp>();
        assert_eq!((rsp.offset, seq), (offset, 12 + i as u16));
        assert!(rsp.file_data == file_slice(u64::from(offset), CHUNK as usize, 1));
    }
    // The rest of the file through the new connection, then DONE.
    let t = task.clone();
    let sending = std::thread::spawn(move || serve_pulls(new_sender, &t, 11, 1));
    let rest = SIZE - 4 * CHUNK;
    let mut seq = 200;
    for offset in (4 * CHUNK..SIZE).step_by(CHUNK as usize) {
        seq += 1;
        receiver.send(&pull(&task, 12, offset), seq);
        let (rsp, got) = receiver.recv_msg::<ImFilePullDataRsp>();
        assert_eq!((rsp.offset, got), (offset, seq));
        assert!(rsp.file_data == file_slice(u64::from(offset), CHUNK as usize, 1));
    }
    assert!(rest > 0);
    receiver.send(
        &ImFileState {
            state: DONE,
            task_id: task.clone().into(),
            user_id: 12,
            sha256: None,
        },
        0,
    );
    assert_eq!(sending.join().unwrap(), DONE);
    assert_eq!(relay.stats().superseded, 1);
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}

#[test]
fn a_sender_reconnect_supersedes_its_silent_predecessor() {
    sender_reconnect(Config::local(2));
}

#[test]
fn a_sender_reconnect_supersedes_its_silent_predecessor_spliced() {
    let mut config = Config::local(2);
    config.splice_above = 0;
    sender_reconnect(config);
}

/// The receiver asks two pulls and falls silent. Its second login takes
/// over and gets PEER_READY; the sender's answers to the old connection's
/// pulls are dropped, and the new connection pulls the whole file.
fn receiver_reconnect(config: Config) {
    let relay = start(config);
    let addr = relay.addresses().client;
    let (task, mut sender, mut old_receiver) = pair(&relay, 21, 22, SIZE);
    for (i, offset) in [0, CHUNK].into_iter().enumerate() {
        old_receiver.send(&pull(&task, 22, offset), 30 + i as u16);
    }
    let asked: Vec<ImFilePullDataReq> = (0..2)
        .map(|_| sender.recv_msg::<ImFilePullDataReq>().0)
        .collect();

    let (mut new_receiver, rsp) = login(addr, &task, 22, RECEIVER);
    assert_eq!(rsp.result_code, 0, "the reconnect takes the role over");
    assert_eq!(new_receiver.recv_msg::<ImFileState>().0.state, PEER_READY);
    assert!(
        old_receiver.until_closed().is_empty(),
        "the superseded connection is closed, nothing more sent to it"
    );
    // The sender answers what it was asked before; those answers have no
    // one to go to now and are dropped, not forwarded to the new receiver.
    for req in &asked {
        sender.send(&answer(&task, 21, req), 0);
    }
    let t = task.clone();
    let sending = std::thread::spawn(move || serve_pulls(sender, &t, 21, 1));
    pull_all(&mut new_receiver, &task, 22, SIZE, CHUNK, 4, 1);
    assert_eq!(sending.join().unwrap(), DONE);
    let stats = relay.stats();
    assert_eq!(stats.superseded, 1);
    assert_eq!(stats.bytes_dropped, 2 * u64::from(CHUNK));
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}

#[test]
fn a_receiver_reconnect_supersedes_its_silent_predecessor() {
    receiver_reconnect(Config::local(2));
}

#[test]
fn a_receiver_reconnect_supersedes_its_silent_predecessor_spliced() {
    let mut config = Config::local(2);
    config.splice_above = 0;
    receiver_reconnect(config);
}

/// Only the role's own user takes it over: anyone else is still refused and
/// the connection in the role is untouched.
#[test]
fn another_user_cannot_take_a_role_over() {
    let relay = start(Config::local(1));
    let addr = relay.addresses().client;
    let (task, sender, mut receiver) = pair(&relay, 31, 32, SIZE);
    let (mut intruder, rsp) = login(addr, &task, 33, SENDER);
    assert_eq!(rsp.result_code, 1);
    assert!(intruder.until_closed().is_empty());
    let t = task.clone();
    let sending = std::thread::spawn(move || serve_pulls(sender, &t, 31, 1));
    pull_all(&mut receiver, &task, 32, SIZE, CHUNK, 2, 1);
    assert_eq!(sending.join().unwrap(), DONE);
    assert_eq!(relay.stats().superseded, 0);
    relay.shutdown();
}

#[test]
fn reconnects_supersede_on_the_epoll_driver_too() {
    let legacy = || {
        let mut config = Config::local(2);
        config.driver = ferry_relay::Driver::Legacy;
        config
    };
    sender_reconnect(legacy());
    receiver_reconnect(legacy());
}
