//! Property tests: any message survives encode -> frame -> decode unchanged,
//! however the stream is cut; and no byte string makes the header check or
//! any decoder panic.

use bytes::{Bytes, BytesMut};
use ferry_proto::frame::{Check, DEFAULT_MAX_FRAME, Frame, HEADER_LEN, check, encode_to_bytes};
use ferry_proto::pb::im::base_define::{IpAddr, UserInfo};
use ferry_proto::pb::im::file::{ImFileLoginReq, ImFilePullDataReq, ImFilePullDataRsp};
use ferry_proto::pb::im::group::ImGroupCreateReq;
use ferry_proto::pb::im::message::ImMsgData;
use ferry_proto::pb::im::server::{ImFileServerIpRsp, ImFileTransferReq, ImValidateRsp};
use ferry_proto::registry::{COMMANDS, Pdu};
use ferry_proto::schema::ALL_SCHEMAS;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn text() -> impl Strategy<Value = String> {
    ".{0,40}"
}

fn user_info() -> impl Strategy<Value = UserInfo> {
    (
        any::<u32>(),
        0u32..3,
        text(),
        text(),
        any::<u32>(),
        text(),
        prop::option::of(text()),
    )
        .prop_map(
            |(user_id, user_gender, nick, avatar, department_id, email, sign_info)| UserInfo {
                user_id,
                user_gender,
                user_nick_name: nick.clone().into(),
                avatar_url: avatar.into(),
                department_id,
                email: email.into(),
                user_real_name: nick.clone().into(),
                user_tel: "1".into(),
                user_domain: nick.into(),
                status: 0,
                sign_info: sign_info.map(Into::into),
            },
        )
}

/// Encodes, feeds the PDU to a receive buffer in two pieces cut at `cut`,
/// and checks the frame layer waits, then yields exactly `msg`.
fn round_trip<T: Pdu + PartialEq + std::fmt::Debug>(
    msg: &T,
    seq: u16,
    cut: usize,
) -> Result<(), TestCaseError> {
    let pdu = encode_to_bytes(msg, seq, DEFAULT_MAX_FRAME).unwrap();
    let cut = cut % pdu.len();
    let mut buf = BytesMut::from(&pdu[..cut]);
    prop_assert!(Frame::take(&mut buf, DEFAULT_MAX_FRAME).unwrap().is_none());
    buf.extend_from_slice(&pdu[cut..]);
    buf.extend_from_slice(&[0, 0]); // the start of the next frame
    let frame = Frame::take(&mut buf, DEFAULT_MAX_FRAME)
        .unwrap()
        .expect("whole frame");
    prop_assert_eq!(buf.len(), 2);
    prop_assert_eq!(frame.header.command, T::COMMAND);
    prop_assert_eq!(frame.header.seq_num, seq);
    prop_assert_eq!(&frame.decode::<T>().unwrap(), msg);
    Ok(())
}

proptest! {
    #[test]
    fn file_login_req(user_id: u32, task_id in text(), role in 1i32..=4, seq: u16, cut: usize) {
        round_trip(&ImFileLoginReq { file_size_u64: None, user_id, task_id: task_id.into(), file_role: role }, seq, cut)?;
    }

    #[test]
    fn pull_data(task_id in text(), user_id: u32, mode in 1i32..=2, offset: u32, size: u32, data in bytes(70_000),
                 seq: u16, cut: usize) {
        round_trip(&ImFilePullDataReq { offset_u64: None, task_id: task_id.clone().into(), user_id, trans_mode: mode, offset, data_size: size }, seq, cut)?;
        round_trip(&ImFilePullDataRsp { offset_u64: None, result_code: size % 2, task_id: task_id.into(), user_id, offset, file_data: data }, seq, cut)?;
    }

    #[test]
    fn transfer_req(from: u32, to: u32, name in text(), size: u32, mode in 1i32..=2, attach in prop::option::of(bytes(64)),
                    seq: u16, cut: usize) {
        let msg = ImFileTransferReq { file_size_u64: None, sha256: None, from_user_id: from, to_user_id: to, file_name: name.into(), file_size: size, trans_mode: mode, attach_data: attach };
        round_trip(&msg, seq, cut)?;
    }

    #[test]
    fn msg_data(from: u32, to: u32, id: u32, time: u32, ty in prop::sample::select(vec![1, 2, 0x11, 0x12]),
                data in bytes(4096), seq: u16, cut: usize) {
        let msg = ImMsgData { from_user_id: from, to_session_id: to, msg_id: id, create_time: time, msg_type: ty, msg_data: data, attach_data: None };
        round_trip(&msg, seq, cut)?;
    }

    #[test]
    fn nested_and_repeated(addrs in prop::collection::vec((text(), any::<u32>()), 0..8), info in prop::option::of(user_info()),
                           members in prop::collection::vec(any::<u32>(), 0..50), seq: u16, cut: usize) {
        let list = addrs.into_iter().map(|(ip, port)| IpAddr { ip: ip.into(), port }).collect();
        round_trip(&ImFileServerIpRsp { ip_addr_list: list }, seq, cut)?;
        let rsp = ImValidateRsp { user_name: "u".into(), result_code: 0, result_string: None, user_info: info, attach_data: None };
        round_trip(&rsp, seq, cut)?;
        let create = ImGroupCreateReq { user_id: 1, group_type: 2, group_name: "g".into(), group_avatar: String::new().into(), member_id_list: members, attach_data: None };
        round_trip(&create, seq, cut)?;
    }

    #[test]
    fn header_check_obeys_its_contract(data in prop::collection::vec(any::<u8>(), 0..64), max in 16u32..64) {
        match check(&data, max) {
            Check::Complete(n) => prop_assert!(n >= HEADER_LEN && n <= data.len() && n <= max as usize),
            Check::Invalid(_) => {
                let length = u32::from_be_bytes(data[..4].try_into().unwrap());
                prop_assert!(length < 16 || length > max);
            }
            Check::Incomplete => {
                if data.len() >= 4 {
                    let length = u32::from_be_bytes(data[..4].try_into().unwrap());
                    prop_assert!((16..=max).contains(&length) && data.len() < length as usize);
                }
            }
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic_a_decoder(body in bytes(256)) {
        for command in COMMANDS {
            let _ = (command.decode_debug)(body.clone());
        }
        for schema in ALL_SCHEMAS {
            let _ = schema.validate(&body);
        }
    }
}
