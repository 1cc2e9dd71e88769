//! Placement: a task lives on `core_for_task(task_id, cores)`; clients that
//! arrive through the shared port or another core's port are handed to it
//! with the bytes already read, and notice nothing.

mod common;

use std::thread;

use common::*;
use ferry_proto::core_for_task;
use ferry_proto::pb::im::file::ImFileState;
use ferry_relay::Config;

fn transfer_via(
    relay: &ferry_relay::Relay,
    pick: impl Fn(&str) -> std::net::SocketAddr,
    from: u32,
) {
    let mut link = MsgLink::connect(relay);
    let size = 256 << 10;
    let task = link.create_task(from, from + 1, size);
    let (sender, rsp) = login(pick(&task), &task, from, SENDER);
    assert_eq!(rsp.result_code, 0);
    let t = task.clone();
    let sending = thread::spawn(move || serve_pulls(sender, &t, from, 1));
    let (mut receiver, rsp) = login(pick(&task), &task, from + 1, RECEIVER);
    assert_eq!(rsp.result_code, 0);
    assert_eq!(receiver.recv_msg::<ImFileState>().0.state, PEER_READY);
    pull_all(&mut receiver, &task, from + 1, size, 32 << 10, 4, 1);
    assert_eq!(sending.join().unwrap(), DONE);
}

#[test]
fn ip_rsp_lists_core_ports_in_core_order_then_the_shared_port() {
    let relay = start(Config::local(3));
    let ips = MsgLink::connect(&relay).ip_list();
    let a = relay.addresses();
    assert_eq!(ips.len(), 4);
    for (core, addr) in a.cores.iter().enumerate() {
        assert_eq!(ips[core].port(), addr.port());
    }
    assert_eq!(ips[3].port(), a.client.port());
    relay.shutdown();
}

#[test]
fn every_connection_through_the_shared_port() {
    let relay = start(Config::local(2));
    let shared = relay.addresses().client;
    for i in 0..12 {
        transfer_via(&relay, |_| shared, 100 + 2 * i);
    }
    wait_for(&relay, "everything freed", all_free);
    // With two cores the kernel spreads connections; some needed a hand-off.
    assert!(relay.stats().handoffs_in > 0, "{:?}", relay.stats());
    relay.shutdown();
}

#[test]
fn through_the_wrong_cores_port_and_the_right_one() {
    let relay = start(Config::local(3));
    let cores = relay.addresses().cores.clone();
    for i in 0..6 {
        transfer_via(
            &relay,
            |task| cores[(core_for_task(task, 3) + 1) % 3],
            200 + 2 * i,
        );
    }
    let wrong = relay.stats().handoffs_in;
    assert_eq!(wrong, 12, "every login through a wrong core was handed off");
    for i in 0..6 {
        transfer_via(&relay, |task| cores[core_for_task(task, 3)], 300 + 2 * i);
    }
    assert_eq!(
        relay.stats().handoffs_in,
        wrong,
        "the owning core's port needs no hand-off"
    );
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}

#[test]
fn core_ports_past_65535_are_refused_at_start() {
    let mut config = ferry_relay::Config::local(4);
    config.core_ports = ferry_relay::CorePorts::Base(65534);
    let err = ferry_relay::Relay::start(config).err().expect("refused");
    assert!(err.to_string().contains("runs past port 65535"), "{err}");
}
