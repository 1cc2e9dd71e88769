//! Hostile and broken peers: each case closes only the offending
//! connection (the reason is logged) and a transfer right after works.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use ferry_proto::frame::{DEFAULT_MAX_FRAME, encode_to_bytes};
use ferry_proto::pb::im::file::{
    ImFileLoginReq, ImFileLoginRsp, ImFilePullDataReq, ImFilePullDataRsp, ImFileState,
};
use ferry_relay::Config;

fn header(length: u32, sid: u16, cid: u16) -> Vec<u8> {
    let mut h = length.to_be_bytes().to_vec();
    for v in [1u16, 0, sid, cid, 1, 0] {
        h.extend_from_slice(&v.to_be_bytes());
    }
    h
}

/// The relay closes `c` without sending anything (or after `expect` PDUs).
fn closed(c: &mut Conn) -> usize {
    c.until_closed().len()
}

#[test]
fn broken_frames_before_login_close_only_that_connection() {
    let relay = start(Config::local(2));
    let addr = relay.addresses().client;
    let bystander = Conn::connect(addr); // an idle connection that must survive

    let mut c = Conn::connect(addr);
    c.send_raw(&header(5, 7, 0x0701)); // length 5: TeamTalk aborts on this
    assert_eq!(closed(&mut c), 0);

    let mut c = Conn::connect(addr);
    c.send_raw(&0xFFFF_FFF0u32.to_be_bytes()); // 4 GiB: refused from 4 bytes
    assert_eq!(closed(&mut c), 0);

    let mut c = Conn::connect(addr);
    let mut pdu = header(16 + 7, 5, 0x0501);
    pdu.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]); // garbage body
    c.send_raw(&pdu);
    assert_eq!(closed(&mut c), 0);

    let mut c = Conn::connect(addr);
    c.send_raw(&header(16, 5, 0x05ff)); // unknown command
    assert_eq!(closed(&mut c), 0);

    small_transfer(&relay, addr);
    wait_for(&relay, "only the bystander left", |s| {
        s.connections == 1 && s.tasks == 0
    });
    assert!(relay.stats().rejected >= 4);
    drop(bystander);
    relay.shutdown();
}

#[test]
fn logins_that_must_fail_get_result_1_and_are_closed() {
    let relay = start(Config::local(2));
    let addr = relay.addresses().client;
    let mut link = MsgLink::connect(&relay);
    let task = link.create_task(11, 12, 1000);

    for (user, task_id, role) in [
        (13, task.as_str(), SENDER),                          // not a participant
        (12, task.as_str(), SENDER), // the receiver claiming the sender's role
        (11, "../../etc/passwd", SENDER), // not a UUID: never a path or a lookup
        (11, "6f9619ff-8b86-4d11-b42d-00c04fc964ff", SENDER), // no such task
        (11, task.as_str(), 3),      // offline upload: not served yet
    ] {
        let mut c = Conn::connect(addr);
        c.send(
            &ImFileLoginReq {
                file_size_u64: None,
                user_id: user,
                task_id: task_id.to_owned().into(),
                file_role: role,
            },
            9,
        );
        let (rsp, seq) = c.recv_msg::<ImFileLoginRsp>();
        assert_eq!(
            (rsp.result_code, seq, common::text(&rsp.task_id)),
            (1, 9, task_id),
            "user {user} task {task_id}"
        );
        assert_eq!(closed(&mut c), 0);
    }
    // The task is intact: its real participants can still use it.
    let (mut sender, rsp) = login(addr, &task, 11, SENDER);
    assert_eq!(rsp.result_code, 0);
    // A second login of the same user and role takes it over (a reconnect):
    // the first connection is closed, the second holds the role.
    let (second, rsp) = login(addr, &task, 11, SENDER);
    assert_eq!(rsp.result_code, 0, "a reconnect takes the role over");
    assert_eq!(closed(&mut sender), 0);
    drop(second);
    small_transfer(&relay, addr);
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}

#[test]
fn a_response_that_answers_no_pull_closes_the_sender_and_cancels_the_receiver() {
    let relay = start(Config::local(2));
    let (task, mut sender, mut receiver) = pair(&relay, 21, 22, 1 << 20);
    let rsp = ImFilePullDataRsp {
        offset_u64: None,
        result_code: 0,
        task_id: task.clone().into(),
        user_id: 21,
        offset: 0,
        file_data: Bytes::from(vec![1; 100]),
    };
    sender.send(&rsp, 0);
    assert_eq!(closed(&mut sender), 0);
    let frames = receiver.until_closed();
    let state = frames[0].decode::<ImFileState>().unwrap();
    assert_eq!((state.state, state.user_id), (CANCEL, 21));
    wait_for(&relay, "everything freed", all_free);
    small_transfer(&relay, relay.addresses().client);
    relay.shutdown();
}

#[test]
fn responses_with_a_wrong_offset_or_too_long_are_refused() {
    let relay = start(Config::local(1));
    for (offset, len) in [(4096u32, 100usize), (0, 4097)] {
        let (task, mut sender, mut receiver) = pair(&relay, 31, 32, 1 << 20);
        receiver.send(
            &ImFilePullDataReq {
                offset_u64: None,
                task_id: task.clone().into(),
                user_id: 32,
                trans_mode: 1,
                offset: 0,
                data_size: 4096,
            },
            1,
        );
        let (req, _) = sender.recv_msg::<ImFilePullDataReq>();
        assert_eq!((req.offset, req.data_size), (0, 4096));
        let rsp = ImFilePullDataRsp {
            offset_u64: None,
            result_code: 0,
            task_id: task.clone().into(),
            user_id: 31,
            offset,
            file_data: vec![0; len].into(),
        };
        sender.send(&rsp, 0);
        assert_eq!(closed(&mut sender), 0, "offset {offset} len {len}");
        assert_eq!(
            receiver.until_closed()[0]
                .decode::<ImFileState>()
                .unwrap()
                .state,
            CANCEL
        );
        wait_for(&relay, "everything freed", all_free);
    }
    relay.shutdown();
}

#[test]
fn pulls_outside_the_file_beyond_the_chunk_or_the_window_are_refused() {
    let mut config = Config::local(1);
    config.window = 4;
    config.max_chunk = 64 << 10;
    let relay = start(config);
    let cases: [(u32, u32, usize); 4] = [
        (1000, 100, 1),         // runs past the end of a 1050-byte file
        (0, (64 << 10) + 1, 1), // more than max_chunk
        (0, 0, 1),              // empty pull
        (0, 1024, 5),           // a fifth pull in flight with window 4
    ];
    for (i, (offset, size, count)) in cases.into_iter().enumerate() {
        let file = if i == 0 { 1050 } else { 1 << 20 };
        let (task, _sender, mut receiver) = pair(&relay, 41, 42, file);
        for n in 0..count as u32 {
            let req = ImFilePullDataReq {
                offset_u64: None,
                task_id: task.clone().into(),
                user_id: 42,
                trans_mode: 1,
                offset: offset + n * size,
                data_size: size,
            };
            receiver.send(&req, n as u16);
        }
        assert_eq!(closed(&mut receiver), 0, "case {i}");
        wait_for(&relay, "everything freed", all_free);
    }
    relay.shutdown();
}

#[test]
fn silent_connections_are_closed_at_the_login_timeout() {
    let mut config = Config::local(1);
    config.login_timeout = Duration::from_millis(300);
    let relay = start(config);
    let started = Instant::now();
    let mut silent = Conn::connect(relay.addresses().client);
    assert_eq!(closed(&mut silent), 0);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    wait_for(&relay, "connection counted out", all_free);
    relay.shutdown();
}

/// A sender pushing 256 MiB of responses nobody asked for: closed at the
/// first one, and the relay's memory does not follow the flood.
#[test]
fn an_unsolicited_flood_costs_nothing() {
    let relay = start(Config::local(2));
    let (task, mut sender, mut receiver) = pair(&relay, 51, 52, u32::MAX);
    let chunk = ImFilePullDataRsp {
        offset_u64: None,
        result_code: 0,
        task_id: task.clone().into(),
        user_id: 51,
        offset: 0,
        file_data: vec![7; 1 << 20].into(),
    };
    let pdu = encode_to_bytes(&chunk, 0, DEFAULT_MAX_FRAME).unwrap();
    let before = rss();
    let mut sent = 0usize;
    for _ in 0..256 {
        use std::io::Write;
        if sender.stream.write_all(&pdu).is_err() {
            break;
        }
        sent += 1;
    }
    let grown = rss().saturating_sub(before);
    assert!(sent < 256, "the relay kept reading a flood ({sent} MiB)");
    assert!(grown < 32 << 20, "RSS grew by {grown} bytes");
    assert_eq!(
        receiver.until_closed()[0]
            .decode::<ImFileState>()
            .unwrap()
            .state,
        CANCEL
    );
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}

/// A receiver that asks for 16 MiB and does not read: the relay holds at
/// most task_buffer toward it and stops reading the sender; when the
/// receiver reads again everything arrives intact.
#[test]
fn a_receiver_that_does_not_drain_stops_the_sender() {
    let mut config = Config::local(1);
    config.task_buffer = 4 << 20;
    let relay = start(config);
    let size = 16 << 20;
    let (task, sender, mut receiver) = pair(&relay, 61, 62, size);
    let t = task.clone();
    let sending = std::thread::spawn(move || serve_pulls(sender, &t, 61, 5));
    for i in 0..16u32 {
        let req = ImFilePullDataReq {
            offset_u64: None,
            task_id: task.clone().into(),
            user_id: 62,
            trans_mode: 1,
            offset: i << 20,
            data_size: 1 << 20,
        };
        receiver.send(&req, i as u16);
    }
    std::thread::sleep(Duration::from_millis(500));
    let held = relay.stats().bytes_buffered;
    assert!(
        held <= 4 << 20,
        "relay holds {held} bytes toward a stalled receiver"
    );
    assert!(
        relay.stats().bytes_relayed < u64::from(size),
        "the sender was not stopped"
    );
    for i in 0..16u32 {
        let (rsp, seq) = receiver.recv_msg::<ImFilePullDataRsp>();
        assert_eq!((rsp.offset, seq), (i << 20, i as u16));
        assert!(rsp.file_data == fill(u64::from(i) << 20, 1 << 20, 5));
    }
    receiver.send(
        &ImFileState {
            state: DONE,
            task_id: task.into(),
            user_id: 62,
            sha256: None,
        },
        0,
    );
    assert_eq!(sending.join().unwrap(), DONE);
    wait_for(&relay, "everything freed", all_free);
    relay.shutdown();
}
