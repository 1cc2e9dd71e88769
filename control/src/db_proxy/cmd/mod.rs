//! The commands db_proxy answers: TeamTalk's whole handler map, one file per
//! group. Each handler takes the decoded request and returns the response
//! message (or `None` where TeamTalk sends none); beside it a function gives
//! the answer on failure (result 1 where the response has a result code).
//! This file decodes, encodes with the request's seq, and turns errors into
//! each command's error result, once; the same failure answers go out at
//! once for requests refused past the in-flight bound.
//!
//! A body that fails proto2 validation is dropped with a log line, as the
//! original drops what it cannot parse.

mod department;
mod device_token;
mod group;
mod group_member;
mod group_shield;
mod msg_data;
mod msg_list;
mod offline_file;
mod push_shield;
mod session;
mod sign_info;
mod unread;
mod user;
mod validate;

use bytes::Bytes;
use ferry_proto::registry::*;
use ferry_proto::{Frame, Pdu, frame};

use crate::Error;
use crate::store::Store;

/// Answers one request frame; `None` when nothing is to be sent back.
pub(super) async fn apply(store: &Store, f: &Frame, max_frame: u32) -> Option<Bytes> {
    let seq = f.header.seq_num;
    // `run!`: the handler answers `Option<Rsp>` (None: nothing to send);
    // `answer!`: it always answers `Rsp`. The second path gives the answer
    // on an error (`silent`: none).
    macro_rules! run {
        ($module:ident) => {
            run!($module::apply, $module::error_result)
        };
        ($apply:path, $failed:path) => {{
            let req = decode(f)?;
            let answer = $apply(store, &req).await;
            finish(f, answer, || $failed(&req), seq, max_frame)
        }};
    }
    macro_rules! answer {
        ($apply:path, $failed:path) => {{
            let req = decode(f)?;
            let answer = $apply(store, &req).await.map(Some);
            finish(f, answer, || $failed(&req), seq, max_frame)
        }};
    }
    match f.header.command {
        CID_OTHER_VALIDATE_REQ => run!(validate),
        CID_MSG_DATA => run!(msg_data),
        CID_MSG_UNREAD_CNT_REQUEST => run!(unread),
        CID_MSG_READ_ACK => {
            let req = decode(f)?;
            let answer = unread::read_ack(store, &req).await;
            finish(f, answer.map(|()| None::<ImNone>), || None, seq, max_frame)
        }
        CID_MSG_LIST_REQUEST => run!(msg_list),
        CID_MSG_GET_LATEST_MSG_ID_REQ => {
            let req = decode(f)?;
            let answer = msg_list::latest(store, &req).await.map(Some);
            finish(f, answer, || None, seq, max_frame)
        }
        CID_MSG_GET_BY_MSG_ID_REQ => {
            let req = decode(f)?;
            let answer = msg_list::by_id(store, &req).await.map(Some);
            finish(f, answer, || None, seq, max_frame)
        }
        CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST => run!(session),
        CID_BUDDY_LIST_USER_INFO_REQUEST => run!(user),
        CID_BUDDY_LIST_ALL_USER_REQUEST => {
            let req = decode(f)?;
            let answer = user::all_users(store, &req).await.map(Some);
            finish(f, answer, || None, seq, max_frame)
        }
        CID_FILE_HAS_OFFLINE_REQ => run!(offline_file),
        CID_FILE_ADD_OFFLINE_REQ => {
            let req = decode(f)?;
            let answer = offline_file::add(store, &req).await;
            finish(f, answer.map(|()| None::<ImNone>), || None, seq, max_frame)
        }
        CID_FILE_DEL_OFFLINE_REQ => {
            let req = decode(f)?;
            let answer = offline_file::delete(store, &req).await;
            finish(f, answer.map(|()| None::<ImNone>), || None, seq, max_frame)
        }
        CID_LOGIN_REQ_PUSH_SHIELD => answer!(push_shield::set, push_shield::set_failed),
        CID_LOGIN_REQ_QUERY_PUSH_SHIELD => answer!(push_shield::query, push_shield::query_failed),
        CID_BUDDY_LIST_REMOVE_SESSION_REQ => run!(session::remove, session::remove_failed),
        CID_BUDDY_LIST_DEPARTMENT_REQUEST => answer!(department::apply, silent),
        CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST => answer!(sign_info::apply, sign_info::failed),
        CID_LOGIN_REQ_DEVICETOKEN => answer!(device_token::set, device_token::set_answer),
        CID_OTHER_GET_DEVICE_TOKEN_REQ => answer!(device_token::get, device_token::get_failed),
        CID_GROUP_NORMAL_LIST_REQUEST => answer!(group::list, silent),
        CID_GROUP_INFO_REQUEST => answer!(group::info, silent),
        CID_GROUP_CREATE_REQUEST => run!(group::create, group::create_failed),
        CID_GROUP_CHANGE_MEMBER_REQUEST => run!(group_member::apply, group_member::failed),
        CID_GROUP_SHIELD_GROUP_REQUEST => answer!(group_shield::set, group_shield::set_failed),
        CID_OTHER_GET_SHIELD_REQ => answer!(group_shield::get, group_shield::get_failed),
        other => {
            tracing::warn!(command = %other, "no handler for this command; ignored");
            None
        }
    }
}

/// The error result sent at once when too many requests are in flight, for
/// the commands whose answer can say "failed"; the others get no answer.
pub(super) fn refusal(f: &Frame, max_frame: u32) -> Option<Bytes> {
    let seq = f.header.seq_num;
    match f.header.command {
        CID_OTHER_VALIDATE_REQ => encode(&validate::error_result(&decode(f)?)?, seq, max_frame),
        CID_MSG_DATA => encode(&msg_data::error_result(&decode(f)?)?, seq, max_frame),
        CID_LOGIN_REQ_PUSH_SHIELD => refuse(f, push_shield::set_failed, max_frame),
        CID_LOGIN_REQ_QUERY_PUSH_SHIELD => refuse(f, push_shield::query_failed, max_frame),
        CID_BUDDY_LIST_REMOVE_SESSION_REQ => refuse(f, session::remove_failed, max_frame),
        CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST => refuse(f, sign_info::failed, max_frame),
        CID_LOGIN_REQ_DEVICETOKEN => refuse(f, device_token::set_answer, max_frame),
        CID_OTHER_GET_DEVICE_TOKEN_REQ => refuse(f, device_token::get_failed, max_frame),
        CID_GROUP_CREATE_REQUEST => refuse(f, group::create_failed, max_frame),
        CID_GROUP_CHANGE_MEMBER_REQUEST => refuse(f, group_member::failed, max_frame),
        CID_GROUP_SHIELD_GROUP_REQUEST => refuse(f, group_shield::set_failed, max_frame),
        CID_OTHER_GET_SHIELD_REQ => refuse(f, group_shield::get_failed, max_frame),
        _ => None,
    }
}

/// The error answer of a command whose failure TeamTalk leaves unanswered.
fn silent<Req, Rsp>(_: &Req) -> Option<Rsp> {
    None
}

/// Encodes a command's error answer for a request refused unprocessed.
fn refuse<Req: Pdu, Rsp: Pdu>(
    f: &Frame,
    failed: impl FnOnce(&Req) -> Option<Rsp>,
    max_frame: u32,
) -> Option<Bytes> {
    encode(&failed(&decode(f)?)?, f.header.seq_num, max_frame)
}

/// A stand-in type for commands TeamTalk does not answer.
type ImNone = ferry_proto::pb::im::other::ImHeartBeat;

fn decode<T: Pdu>(f: &Frame) -> Option<T> {
    f.decode::<T>()
        .map_err(|e| tracing::warn!(command = %f.header.command, error = %e, "request dropped"))
        .ok()
}

fn encode<T: Pdu>(msg: &T, seq: u16, max_frame: u32) -> Option<Bytes> {
    frame::encode_to_bytes(msg, seq, max_frame)
        .map_err(|e| tracing::error!(command = %T::COMMAND, error = %e, "answer not sent"))
        .ok()
}

fn finish<T: Pdu>(
    f: &Frame,
    answer: Result<Option<T>, Error>,
    on_error: impl FnOnce() -> Option<T>,
    seq: u16,
    max_frame: u32,
) -> Option<Bytes> {
    let msg = match answer {
        Ok(msg) => msg?,
        Err(e) => {
            tracing::warn!(command = %f.header.command, error = %e, "request failed");
            on_error()?
        }
    };
    encode(&msg, seq, max_frame)
}
