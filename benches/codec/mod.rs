//! The codec bench body, shared by `codec_mimalloc.rs` and `codec_system.rs`
//! (identical work under two global allocators, compared in one run).
//!
//! What is measured is what every ferry receive loop does per PDU: the
//! header check on the receive buffer, then required-field validation and
//! prost decode of the body (zero-copy for `bytes` fields).

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use ferry_proto::frame::{Check, DEFAULT_MAX_FRAME, HEADER_LEN, Header, check, encode_to_bytes};
use ferry_proto::pb::im::base_define::UserInfo;
use ferry_proto::pb::im::buddy::ImAllUserRsp;
use ferry_proto::pb::im::file::ImFilePullDataRsp;
use ferry_proto::pb::im::message::ImMsgData;
use ferry_proto::registry::Pdu;
use ferry_proto::schema::decode;

/// Header check + header parse + validated decode of one received PDU.
fn receive<T: Pdu>(pdu: &Bytes) -> T {
    let Check::Complete(len) = check(pdu, DEFAULT_MAX_FRAME) else {
        panic!("whole frame")
    };
    let header = Header::parse(pdu.first_chunk().unwrap());
    assert_eq!(header.command, T::COMMAND);
    decode::<T>(pdu.slice(HEADER_LEN..len)).unwrap()
}

fn pull_rsp_1mib() -> Bytes {
    let msg = ImFilePullDataRsp {
        offset_u64: None,
        result_code: 0,
        task_id: "6f9619ff-8b86-4d11-b42d-00c04fc964ff".into(),
        user_id: 1001,
        offset: 1 << 20,
        file_data: vec![0x5a; 1 << 20].into(),
    };
    encode_to_bytes(&msg, 1, DEFAULT_MAX_FRAME).unwrap()
}

fn msg_data() -> ImMsgData {
    ImMsgData {
        from_user_id: 1001,
        to_session_id: 1002,
        msg_id: 0,
        create_time: 0,
        msg_type: 1,
        msg_data: Bytes::from_static(
            "see you at the 3pm review, I'll bring the numbers".as_bytes(),
        ),
        attach_data: None,
    }
}

/// The buddy list a PC client fetches after login: 200 users, many strings.
fn all_users() -> Bytes {
    let user = |i: u32| UserInfo {
        user_id: i,
        user_gender: 1,
        user_nick_name: format!("nick{i}").into(),
        avatar_url: format!("https://avatars.example/{i}.png").into(),
        department_id: i % 7,
        email: format!("user{i}@example.com").into(),
        user_real_name: format!("user{i}").into(),
        user_tel: "13800000000".into(),
        user_domain: format!("user{i}").into(),
        status: 0,
        sign_info: Some("busy".into()),
    };
    let msg = ImAllUserRsp {
        user_id: 1,
        latest_update_time: 0,
        user_list: (0..200).map(user).collect(),
        attach_data: None,
    };
    encode_to_bytes(&msg, 1, DEFAULT_MAX_FRAME).unwrap()
}

/// Runs the codec benches in a group named after the allocator in use.
pub(crate) fn benches(c: &mut Criterion, allocator: &str) {
    let mut g = c.benchmark_group(format!("codec_{allocator}"));

    let pdu = pull_rsp_1mib();
    g.throughput(Throughput::Bytes(pdu.len() as u64));
    g.bench_function("receive_pull_data_rsp_1mib", |b| {
        b.iter(|| receive::<ImFilePullDataRsp>(black_box(&pdu)))
    });

    let pdu = encode_to_bytes(&msg_data(), 1, DEFAULT_MAX_FRAME).unwrap();
    g.throughput(Throughput::Elements(1));
    g.bench_function("receive_msg_data", |b| {
        b.iter(|| receive::<ImMsgData>(black_box(&pdu)))
    });

    let msg = msg_data();
    g.bench_function("encode_msg_data", |b| {
        b.iter(|| encode_to_bytes(black_box(&msg), 1, DEFAULT_MAX_FRAME).unwrap())
    });

    let pdu = all_users();
    g.bench_function("receive_all_user_rsp_200", |b| {
        b.iter(|| receive::<ImAllUserRsp>(black_box(&pdu)))
    });
    g.finish();
}
