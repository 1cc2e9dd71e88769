//! The msg-server link as TeamTalk's msg_server uses it.

mod common;

use common::*;
use ferry_proto::extension::{CID_OTHER_LINK_CHALLENGE, link_mac};
use ferry_proto::frame::{DEFAULT_MAX_FRAME, Frame, encode_to_bytes};
use ferry_proto::pb::ferry::link::{LinkAuth, LinkChallenge};
use ferry_proto::pb::im::other::ImHeartBeat;
use ferry_proto::pb::im::server::{ImFileServerIpReq, ImFileServerIpRsp};
use ferry_proto::pb::im::server::{ImFileTransferReq, ImFileTransferRsp};
use ferry_relay::{Config, LinkSecret};

#[test]
fn heartbeat_is_echoed_and_a_bad_request_gets_result_1_on_a_live_link() {
    let relay = start(Config::local(2));
    let mut link = MsgLink::connect(&relay);
    link.0.send(&ImHeartBeat {}, 41);
    let echo: Frame = link.0.recv();
    assert_eq!(
        (
            echo.header.command.command_id,
            echo.header.seq_num,
            echo.pdu.len()
        ),
        (0x0701, 41, 16)
    );

    for mode in [7, 2] {
        // 7: no such mode; 2: offline, which this relay does not serve yet.
        let req = ImFileTransferReq {
            file_size_u64: None,
            sha256: None,
            from_user_id: 1,
            to_user_id: 2,
            file_name: "x".into(),
            file_size: 9,
            trans_mode: mode,
            attach_data: None,
        };
        link.0.send(&req, 3);
        let (rsp, seq) = link.0.recv_msg::<ImFileTransferRsp>();
        assert_eq!((rsp.result_code, seq, rsp.task_id), (1, 3, None));
    }
    assert_eq!(relay.stats().tasks, 0);
    let task = link.create_task(1, 2, 9); // the link is still up
    assert_eq!(task.len(), 36);
    relay.shutdown();
}

#[test]
fn peers_outside_the_allow_list_are_refused() {
    let mut config = Config::local(1);
    config.msg_allow = vec!["10.9.9.9".parse().unwrap()];
    let relay = start(config);
    let mut link = MsgLink::connect(&relay);
    link.0.send(&ImHeartBeat {}, 1);
    assert!(
        link.0.try_recv().is_none(),
        "the link from 127.0.0.1 must be closed"
    );
    relay.shutdown();
}

const SECRET: &[u8] = b"sixteen+ byte secret";

fn with_secret() -> Config {
    let mut config = Config::local(2);
    config.link_secret = LinkSecret::new(SECRET);
    config.login_timeout = std::time::Duration::from_millis(500);
    config
}

/// The relay's challenge, the first PDU on a secured link.
fn challenge(link: &mut MsgLink) -> Vec<u8> {
    let frame = link.0.recv();
    assert_eq!(frame.header.command, CID_OTHER_LINK_CHALLENGE);
    let c: LinkChallenge = frame.decode().unwrap();
    assert_eq!(c.nonce.len(), 32);
    c.nonce.to_vec()
}

#[test]
fn a_link_that_answers_the_challenge_is_served() {
    let relay = start(with_secret());
    let mut link = MsgLink::connect(&relay);
    let nonce = challenge(&mut link);
    let mac = link_mac(SECRET, &nonce);
    link.0.send(
        &LinkAuth {
            mac: mac.to_vec().into(),
        },
        1,
    );
    assert_eq!(link.ip_list().len(), 3, "served after the handshake");
    let task = link.create_task(1, 2, 9);
    assert_eq!(task.len(), 36);

    // Each link gets its own challenge: the answer above is worth nothing here.
    let mut other = MsgLink::connect(&relay);
    assert_ne!(challenge(&mut other), nonce);
    other.0.send(
        &LinkAuth {
            mac: mac.to_vec().into(),
        },
        1,
    );
    let _ = other.0.try_send(&ImFileServerIpReq {}, 2);
    assert!(
        other.0.until_closed().is_empty(),
        "a replayed answer is refused"
    );
    relay.shutdown();
}

#[test]
fn a_link_without_the_right_answer_is_closed() {
    let relay = start(with_secret());
    // A wrong secret.
    let mut link = MsgLink::connect(&relay);
    let nonce = challenge(&mut link);
    let mac = link_mac(b"not the secret, but long", &nonce);
    link.0.send(
        &LinkAuth {
            mac: mac.to_vec().into(),
        },
        1,
    );
    let _ = link.0.try_send(&ImFileServerIpReq {}, 2);
    assert!(
        link.0.until_closed().is_empty(),
        "wrong secret: closed, nothing served"
    );

    // A stock msg_server: IP_REQ straight away.
    let mut stock = MsgLink::connect(&relay);
    stock.0.send(&ImFileServerIpReq {}, 1);
    let frames = stock.0.until_closed();
    assert_eq!(frames.len(), 1, "only the challenge, no IP_RSP");
    assert_eq!(frames[0].header.command, CID_OTHER_LINK_CHALLENGE);

    // Silence: closed at the login timeout.
    let mut silent = MsgLink::connect(&relay);
    let _ = challenge(&mut silent);
    let started = std::time::Instant::now();
    assert!(silent.0.until_closed().is_empty());
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(relay.stats().tasks, 0);
    relay.shutdown();
}

#[test]
fn without_a_secret_the_link_is_teamtalks() {
    let relay = start(Config::local(1));
    let mut link = MsgLink::connect(&relay);
    link.0.send(&ImFileServerIpReq {}, 5);
    let (rsp, seq) = link.0.recv_msg::<ImFileServerIpRsp>();
    assert_eq!((rsp.ip_addr_list.len(), seq), (2, 5), "no challenge first");
    relay.shutdown();
}

/// A TRANSFER_REQ whose file_name is GBK (a Chinese Windows client's name,
/// not UTF-8) creates its task like any other, its name echoed byte for
/// byte; the request pipelined behind it is answered on the same link.
#[test]
fn a_gbk_file_name_creates_its_task_and_the_link_stays_up() {
    let relay = start(Config::local(2));
    let mut link = MsgLink::connect(&relay);
    // "报告.pdf" in GBK.
    let gbk: &'static [u8] = &[0xb1, 0xa8, 0xb8, 0xe6, b'.', b'p', b'd', b'f'];
    let req = |name: &'static [u8]| ImFileTransferReq {
        file_size_u64: None,
        sha256: None,
        from_user_id: 1,
        to_user_id: 2,
        file_name: bytes::Bytes::from_static(name),
        file_size: 9,
        trans_mode: 1,
        attach_data: None,
    };
    let mut both = encode_to_bytes(&req(gbk), 3, DEFAULT_MAX_FRAME)
        .unwrap()
        .to_vec();
    both.extend_from_slice(&encode_to_bytes(&req(b"plain.txt"), 4, DEFAULT_MAX_FRAME).unwrap());
    link.0.send_raw(&both);
    for (seq, name) in [(3, gbk), (4, &b"plain.txt"[..])] {
        let (rsp, got) = link.0.recv_msg::<ImFileTransferRsp>();
        assert_eq!((rsp.result_code, got), (0, seq));
        assert_eq!(rsp.file_name.as_deref(), Some(name), "echoed as sent");
        assert_eq!(rsp.task_id.map(|t| t.len()), Some(36));
    }
    assert_eq!(relay.stats().tasks, 2);
    relay.shutdown();
}

/// The relay keeps the link alive from its side: after `link_heartbeat`
/// without sending, it sends a heartbeat (seq 0), as TeamTalk's servers do.
#[test]
fn an_idle_link_gets_heartbeats_from_the_relay() {
    assert_eq!(
        Config::local(1).link_heartbeat,
        std::time::Duration::from_secs(5),
        "TeamTalk's interval by default"
    );
    let mut config = Config::local(1);
    config.link_heartbeat = std::time::Duration::from_millis(200);
    let relay = start(config);
    let mut link = MsgLink::connect(&relay);
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let beat = link.0.recv();
        assert_eq!(
            (
                beat.header.command.command_id,
                beat.header.seq_num,
                beat.pdu.len()
            ),
            (0x0701, 0, 16)
        );
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    // Still a working link (past any heartbeat already on its way).
    link.0.send(&ImFileServerIpReq {}, 8);
    loop {
        let f = link.0.recv();
        if f.header.command.command_id == 0x0734 {
            assert_eq!(f.header.seq_num, 8);
            break;
        }
        assert_eq!(f.header.command.command_id, 0x0701);
    }
    relay.shutdown();
}
