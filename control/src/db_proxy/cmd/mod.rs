//! The commands db_proxy answers, one file per group, each with an `apply`
//! that takes the decoded request and returns the response message (or
//! `None` where TeamTalk sends none). This file decodes, encodes with the
//! request's seq, and turns errors into each command's error result, once.
//!
//! A body that fails proto2 validation is dropped with a log line, as the
//! original drops what it cannot parse.

mod msg_data;
mod msg_list;
mod offline_file;
mod session;
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
    macro_rules! run {
        ($module:ident) => {{
            let req = decode(f)?;
            let answer = $module::apply(store, &req).await;
            finish(f, answer, || $module::error_result(&req), seq, max_frame)
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
        _ => None,
    }
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
