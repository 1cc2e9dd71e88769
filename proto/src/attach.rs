//! `attach_data`: the routing cookie TeamTalk's servers put in field 20 of
//! the requests msg_server forwards (to db_proxy, route_server, the file
//! server) and that every answer echoes, so msg_server knows which client
//! connection, or which pending work, an answer belongs to. Clients never
//! set it and must never see it.
//!
//! Layout (TeamTalk's `CDbAttachData` / `CPduAttachData`, all big-endian):
//!
//! ```text
//! {
//!   kind:         u32   1 HANDLE, 2 PDU, 3 HANDLE_AND_PDU, 4 PDU_FOR_PUSH,
//!                       5 HANDLE_AND_PDU_FOR_FILE
//!   handle:       u32   the client connection (TeamTalk: its socket fd)
//!   service_type: u32   0 in TeamTalk; ferry's msg_server puts a call id
//!                       here to match an answer to the request it awaits
//!   [pdu_len:     u32   kinds 2..=5, and the 16-byte form of HANDLE
//!    pdu:         [u8]  pdu_len bytes: a message body carried along]
//! }
//! ```
//!
//! Besides the cookie, this module reads and rewrites single fields of a
//! protobuf body without knowing its message type: the cookie is field 20
//! of every message that has one, and the user id is field 1 of every
//! answer db_proxy sends.

use bytes::{BufMut, Bytes, BytesMut};
use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};

/// The field number of `attach_data` in every message that carries it.
pub const ATTACH_FIELD: u32 = 20;

/// What an attach cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attach {
    pub kind: AttachKind,
    pub handle: u32,
    /// 0 in TeamTalk; a call id in ferry's msg_server.
    pub service_type: u32,
    /// A message body carried along (kinds other than HANDLE).
    pub pdu: Bytes,
}

/// TeamTalk's `ATTACH_TYPE_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum AttachKind {
    Handle = 1,
    Pdu = 2,
    HandleAndPdu = 3,
    PduForPush = 4,
    HandleAndPduForFile = 5,
}

impl AttachKind {
    fn from_u32(v: u32) -> Option<AttachKind> {
        Some(match v {
            1 => AttachKind::Handle,
            2 => AttachKind::Pdu,
            3 => AttachKind::HandleAndPdu,
            4 => AttachKind::PduForPush,
            5 => AttachKind::HandleAndPduForFile,
            _ => return None,
        })
    }
}

impl Attach {
    /// A HANDLE cookie (12 bytes, as TeamTalk's `CDbAttachData`).
    pub fn handle(handle: u32, service_type: u32) -> Attach {
        Attach {
            kind: AttachKind::Handle,
            handle,
            service_type,
            pdu: Bytes::new(),
        }
    }

    /// A cookie of `kind` carrying `pdu`.
    pub fn with_pdu(kind: AttachKind, handle: u32, service_type: u32, pdu: Bytes) -> Attach {
        Attach {
            kind,
            handle,
            service_type,
            pdu,
        }
    }

    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(16 + self.pdu.len());
        b.put_u32(self.kind as u32);
        b.put_u32(self.handle);
        b.put_u32(self.service_type);
        if self.kind != AttachKind::Handle {
            b.put_u32(self.pdu.len() as u32);
            b.put_slice(&self.pdu);
        }
        b.freeze()
    }

    /// Reads a cookie; `None` if it is not one (a peer's garbage is not
    /// routed anywhere).
    pub fn parse(bytes: &Bytes) -> Option<Attach> {
        let word = |i: usize| -> Option<u32> {
            Some(u32::from_be_bytes(bytes.get(i..i + 4)?.try_into().ok()?))
        };
        let kind = AttachKind::from_u32(word(0)?)?;
        let (handle, service_type) = (word(4)?, word(8)?);
        let pdu = match word(12) {
            Some(len) => bytes.get(16..16 + len as usize)?.to_vec().into(),
            None if kind == AttachKind::Handle => Bytes::new(),
            None => return None,
        };
        Some(Attach {
            kind,
            handle,
            service_type,
            pdu,
        })
    }
}

/// The last length-delimited occurrence of field `number` in `body` (as
/// protobuf decoding keeps the last), or `None`; `None` too for a body that
/// is not well-formed.
pub fn bytes_field(body: &[u8], number: u32) -> Option<&[u8]> {
    let mut found = None;
    walk(body, |n, wire, value| {
        if n == number && wire == WireType::LengthDelimited {
            found = Some(value);
        }
    })?;
    found
}

/// The last varint occurrence of field `number` in `body`.
pub fn varint_field(body: &[u8], number: u32) -> Option<u64> {
    let mut found = None;
    walk(body, |n, wire, mut value| {
        if n == number && wire == WireType::Varint {
            found = decode_varint(&mut value).ok();
        }
    })?;
    found
}

/// `body` without any occurrence of field `number`.
pub fn without_field(body: &[u8], number: u32) -> Option<Bytes> {
    let mut out = BytesMut::with_capacity(body.len());
    let mut rest = body;
    while !rest.is_empty() {
        let start = rest;
        let (n, wire) = decode_key(&mut rest).ok()?;
        skip(&mut rest, wire)?;
        if n != number {
            out.put_slice(&start[..start.len() - rest.len()]);
        }
    }
    Some(out.freeze())
}

/// `body` with field `number` set to the varint `value` (every earlier
/// occurrence removed, the new one appended: protobuf keeps the last).
pub fn with_varint_field(body: &[u8], number: u32, value: u64) -> Option<Bytes> {
    let kept = without_field(body, number)?;
    let mut out = BytesMut::with_capacity(kept.len() + 11);
    out.put_slice(&kept);
    encode_key(number, WireType::Varint, &mut out);
    encode_varint(value, &mut out);
    Some(out.freeze())
}

/// Calls `each(number, wire type, value bytes)` for every field; the value
/// of a varint is its encoded bytes, of a length-delimited field its
/// payload. `None` for a malformed body.
fn walk<'a>(body: &'a [u8], mut each: impl FnMut(u32, WireType, &'a [u8])) -> Option<()> {
    let mut rest = body;
    while !rest.is_empty() {
        let (n, wire) = decode_key(&mut rest).ok()?;
        let before = rest;
        let value = match wire {
            WireType::LengthDelimited => {
                let len = decode_varint(&mut rest).ok()? as usize;
                let payload = rest.get(..len)?;
                rest = &rest[len..];
                payload
            }
            _ => {
                skip(&mut rest, wire)?;
                &before[..before.len() - rest.len()]
            }
        };
        each(n, wire, value);
    }
    Some(())
}

fn skip(rest: &mut &[u8], wire: WireType) -> Option<()> {
    match wire {
        WireType::Varint => {
            decode_varint(rest).ok()?;
        }
        WireType::SixtyFourBit => *rest = rest.get(8..)?,
        WireType::ThirtyTwoBit => *rest = rest.get(4..)?,
        WireType::LengthDelimited => {
            let len = decode_varint(rest).ok()? as usize;
            *rest = rest.get(len..)?;
        }
        WireType::StartGroup | WireType::EndGroup => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::im::buddy::ImUsersInfoRsp;
    use prost::Message as _;

    #[test]
    fn cookies_round_trip_in_teamtalks_layouts() {
        let h = Attach::handle(9, 77);
        assert_eq!(&h.encode()[..], &[0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 77]);
        assert_eq!(Attach::parse(&h.encode()), Some(h));
        let p = Attach::with_pdu(AttachKind::HandleAndPdu, 3, 0, Bytes::from_static(b"xy"));
        assert_eq!(
            &p.encode()[..],
            &[0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 2, b'x', b'y']
        );
        assert_eq!(Attach::parse(&p.encode()), Some(p));
        // TeamTalk's 16-byte HANDLE form (pdu_len 0) reads the same.
        let sixteen = Bytes::from_static(&[0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Attach::parse(&sixteen), Some(Attach::handle(9, 0)));
        for garbage in [
            &b""[..],
            b"\x00\x00\x00\x09abcdefgh",
            b"\x00\x00\x00\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01\x00",
        ] {
            assert_eq!(Attach::parse(&Bytes::copy_from_slice(garbage)), None);
        }
    }

    #[test]
    fn fields_are_read_and_rewritten_without_the_message_type() {
        let msg = ImUsersInfoRsp {
            user_id: 300,
            user_info_list: Vec::new(),
            attach_data: Some(Attach::handle(5, 0).encode()),
        };
        let body = msg.encode_to_vec();
        assert_eq!(varint_field(&body, 1), Some(300));
        let attach = Bytes::copy_from_slice(bytes_field(&body, ATTACH_FIELD).unwrap());
        assert_eq!(Attach::parse(&attach).unwrap().handle, 5);
        let stripped = without_field(&body, ATTACH_FIELD).unwrap();
        let back = ImUsersInfoRsp::decode(stripped).unwrap();
        assert_eq!((back.user_id, back.attach_data), (300, None));
        let forced = with_varint_field(&body, 1, 7).unwrap();
        assert_eq!(ImUsersInfoRsp::decode(forced).unwrap().user_id, 7);
        assert_eq!(varint_field(&[0xff], 1), None, "malformed");
    }
}
