//! The msg-server link as TeamTalk's msg_server uses it.

mod common;

use common::*;
use ferry_proto::frame::Frame;
use ferry_proto::pb::im::other::ImHeartBeat;
use ferry_proto::pb::im::server::{ImFileTransferReq, ImFileTransferRsp};
use ferry_relay::Config;

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
