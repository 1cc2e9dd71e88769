//! Golden PDUs: each message encoded by ferry is compared with bytes worked
//! out by hand from the field numbers of proto/proto/*.proto (header included), then
//! decoded back. If prost ever stopped writing a required field that holds
//! its default value (result_code 0, msg_id 0), a stock C++ peer would drop
//! the PDU; these bytes would catch it.
//!
//! Varints used below (7 bits a byte, low group first, high bit = more):
//! 1001 = e9 07, 1002 = ea 07, 8600 = 98 43, 8610 = a2 43,
//! 34816 = 80 90 02, 65536 = 80 80 04, field 20 key (20<<3|2 = 162) = a2 01.

use bytes::{Bytes, BytesMut};
use ferry_proto::frame::{DEFAULT_MAX_FRAME, Frame, encode_to_bytes};
use ferry_proto::pb::im::base_define::IpAddr;
use ferry_proto::pb::im::file::{ImFileLoginReq, ImFilePullDataReq, ImFilePullDataRsp};
use ferry_proto::pb::im::login::ImLoginReq;
use ferry_proto::pb::im::message::ImMsgData;
use ferry_proto::pb::im::server::{ImFileServerIpRsp, ImFileTransferReq};
use ferry_proto::registry::Pdu;

const TASK: &str = "6f9619ff-8b86-4d11-b42d-00c04fc964ff";

/// Header: length, version 1, flag 0, service, command, seq, reserved 0.
fn header(length: u32, sid: u16, cid: u16, seq: u16) -> Vec<u8> {
    let mut h = length.to_be_bytes().to_vec();
    for v in [1u16, 0, sid, cid, seq, 0] {
        h.extend_from_slice(&v.to_be_bytes());
    }
    h
}

/// Encodes `msg`, compares with `expected`, decodes it back through the
/// frame layer (header check, required fields) and compares the message.
fn golden<T: Pdu + PartialEq + std::fmt::Debug>(msg: T, seq: u16, expected: Vec<u8>) {
    let pdu = encode_to_bytes(&msg, seq, DEFAULT_MAX_FRAME).unwrap();
    assert_eq!(
        pdu.as_ref(),
        expected.as_slice(),
        "{} encodes differently",
        T::SCHEMA.name
    );
    let mut buf = BytesMut::from(&expected[..]);
    let frame = Frame::take(&mut buf, DEFAULT_MAX_FRAME)
        .unwrap()
        .expect("whole frame");
    assert!(buf.is_empty());
    assert_eq!(frame.header.seq_num, seq);
    assert_eq!(frame.decode::<T>().unwrap(), msg);
}

#[test]
fn file_login_req() {
    let msg = ImFileLoginReq {
        file_size_u64: None,
        user_id: 1001,
        task_id: TASK.into(),
        file_role: 1,
    };
    let body = [
        &[0x08, 0xe9, 0x07, 0x12, 36][..],
        TASK.as_bytes(),
        &[0x18, 0x01],
    ]
    .concat();
    assert_eq!(body.len(), 43);
    golden(msg, 3, [header(59, 0x0005, 0x0501, 3), body].concat());
}

#[test]
fn file_pull_data_req() {
    let msg = ImFilePullDataReq {
        offset_u64: None,
        task_id: TASK.into(),
        user_id: 1002,
        trans_mode: 1,
        offset: 34816,
        data_size: 34816,
    };
    let body = [
        &[0x0a, 36][..],
        TASK.as_bytes(),
        &[
            0x10, 0xea, 0x07, 0x18, 0x01, 0x20, 0x80, 0x90, 0x02, 0x28, 0x80, 0x90, 0x02,
        ],
    ]
    .concat();
    assert_eq!(body.len(), 51);
    golden(msg, 7, [header(67, 0x0005, 0x0504, 7), body].concat());
}

#[test]
fn file_pull_data_rsp() {
    let msg = ImFilePullDataRsp {
        offset_u64: None,
        result_code: 0,
        task_id: TASK.into(),
        user_id: 1001,
        offset: 34816,
        file_data: Bytes::from_static(b"hello"),
    };
    let body = [
        &[0x08, 0x00, 0x12, 36][..],
        TASK.as_bytes(),
        &[0x18, 0xe9, 0x07, 0x20, 0x80, 0x90, 0x02, 0x2a, 0x05],
        b"hello",
    ]
    .concat();
    assert_eq!(body.len(), 54);
    golden(msg, 7, [header(70, 0x0005, 0x0505, 7), body].concat());
}

#[test]
fn file_transfer_req_with_attach_data() {
    // attach_data as TeamTalk's msg_server writes it: type 1 (HANDLE),
    // connection handle 9, service_type 0, each a BE u32.
    let attach = [0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0];
    let msg = ImFileTransferReq {
        file_size_u64: None,
        sha256: None,
        from_user_id: 1001,
        to_user_id: 1002,
        file_name: "a.txt".into(),
        file_size: 65536,
        trans_mode: 2,
        attach_data: Some(Bytes::copy_from_slice(&attach)),
    };
    let body = [
        &[0x08, 0xe9, 0x07, 0x10, 0xea, 0x07, 0x1a, 0x05][..],
        b"a.txt",
        &[0x20, 0x80, 0x80, 0x04, 0x28, 0x02, 0xa2, 0x01, 0x0c],
        &attach,
    ]
    .concat();
    assert_eq!(body.len(), 34);
    golden(msg, 2, [header(50, 0x0007, 0x0731, 2), body].concat());
}

#[test]
fn file_server_ip_rsp() {
    let addr = |port| IpAddr {
        ip: "10.0.0.5".into(),
        port,
    };
    let msg = ImFileServerIpRsp {
        ip_addr_list: vec![addr(8610), addr(8600)],
    };
    let body = [
        &[0x0a, 0x0d, 0x0a, 0x08][..],
        b"10.0.0.5",
        &[0x10, 0xa2, 0x43],
        &[0x0a, 0x0d, 0x0a, 0x08],
        b"10.0.0.5",
        &[0x10, 0x98, 0x43],
    ]
    .concat();
    assert_eq!(body.len(), 30);
    golden(msg, 0, [header(46, 0x0007, 0x0734, 0), body].concat());
}

#[test]
fn login_req() {
    // The client sends md5hex of the plain password ("secret").
    let md5 = "5ebe2294ecd0e0f08eab7690d2a6ee69";
    let msg = ImLoginReq {
        user_name: "alice".into(),
        password: md5.into(),
        online_status: 1,
        client_type: 1,
        client_version: Some("win_2.0".into()),
    };
    let body = [
        &[0x0a, 0x05][..],
        b"alice",
        &[0x12, 0x20],
        md5.as_bytes(),
        &[0x18, 0x01, 0x20, 0x01, 0x2a, 0x07],
        b"win_2.0",
    ]
    .concat();
    assert_eq!(body.len(), 54);
    golden(msg, 1, [header(70, 0x0001, 0x0103, 1), body].concat());
}

#[test]
fn msg_data_with_zero_ids_and_utf8_text() {
    let text = "hi 你好".as_bytes();
    assert_eq!(text, [0x68, 0x69, 0x20, 0xe4, 0xbd, 0xa0, 0xe5, 0xa5, 0xbd]);
    let msg = ImMsgData {
        from_user_id: 1001,
        to_session_id: 1002,
        msg_id: 0,
        create_time: 0,
        msg_type: 1,
        msg_data: Bytes::copy_from_slice(text),
        attach_data: None,
    };
    let body = [
        &[
            0x08, 0xe9, 0x07, 0x10, 0xea, 0x07, 0x18, 0x00, 0x20, 0x00, 0x28, 0x01, 0x32, 0x09,
        ][..],
        text,
    ]
    .concat();
    assert_eq!(body.len(), 23);
    golden(msg, 5, [header(39, 0x0003, 0x0301, 5), body].concat());
}

#[test]
fn pull_data_rsp_payload_points_into_the_receive_buffer() {
    let payload = vec![0xa5u8; 1 << 20];
    let msg = ImFilePullDataRsp {
        offset_u64: None,
        result_code: 0,
        task_id: TASK.into(),
        user_id: 1001,
        offset: 0,
        file_data: payload.into(),
    };
    let mut recv = BytesMut::from(
        encode_to_bytes(&msg, 1, DEFAULT_MAX_FRAME)
            .unwrap()
            .as_ref(),
    );
    let range = recv.as_ptr() as usize..recv.as_ptr() as usize + recv.len();
    let frame = Frame::take(&mut recv, DEFAULT_MAX_FRAME).unwrap().unwrap();
    let decoded = frame.decode::<ImFilePullDataRsp>().unwrap();
    assert_eq!(decoded.file_data.len(), 1 << 20);
    let start = decoded.file_data.as_ptr() as usize;
    assert!(
        range.contains(&start) && range.contains(&(start + (1 << 20) - 1)),
        "file_data was copied"
    );
    assert_eq!(decoded, msg);
}

#[test]
fn a_frame_decoded_as_the_wrong_command_is_refused() {
    let pdu = encode_to_bytes(
        &ImFileLoginReq {
            file_size_u64: None,
            user_id: 1,
            task_id: TASK.into(),
            file_role: 1,
        },
        1,
        1024,
    )
    .unwrap();
    let frame = Frame::take(&mut BytesMut::from(pdu.as_ref()), 1024)
        .unwrap()
        .unwrap();
    let err = frame.decode::<ImFilePullDataReq>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected CID_FILE_PULL_DATA_REQ (0x0005/0x0504), got CID_FILE_LOGIN_REQ (0x0005/0x0501)"
    );
}
