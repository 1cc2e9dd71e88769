//! Reading an `IMFilePullDataRsp` without touching its payload.
//!
//! A relay must check a pull response (user, task, offset, payload length)
//! and then forward the very bytes it received, with only the header's seq
//! patched. Decoding the whole message would need the frame frozen into
//! `Bytes` first (after which the header can no longer be patched) or would
//! copy `file_data`. [`PullDataRspHead::parse`] validates the body like
//! [`crate::schema::decode`] does and reads fields 1-4, ferry's
//! `offset_u64` (field 100) and the length of field 5 straight from a
//! `&[u8]`: nothing is copied but the task id.
//!
//! The other direction, [`rsp_prefix`], writes a pull response up to its
//! payload, so a sender can write the payload from where it lies. It puts
//! `offset_u64` before `file_data`: protobuf allows any field order, and a
//! payload that ends the body is what lets a relay forward it without
//! reading it ([`PullDataRspHead::scan_prefix`]). prost's own encoding puts
//! field 100 after field 5.
//!
//! ```text
//! header (16 bytes, length counts the payload) {
//!   1: result_code (varint)   2: task_id (bytes)   3: user_id (varint)
//!   4: offset (varint; WIDE_SENTINEL past u32::MAX)
//!   100: offset_u64 (varint; only past u32::MAX)
//!   5: key and length of file_data
//! } payload (len bytes, written by the caller)
//! ```

use bytes::{BufMut as _, BytesMut};
use prost::Message as _;
use prost::encoding::{
    self, DecodeContext, WireType, decode_key, decode_varint, encode_key, encode_varint, skip_field,
};

use crate::error::DecodeError;
use crate::extension::{FIELD_OFFSET_U64, WideMismatch, join_u64, split_u64};
use crate::frame::{HEADER_LEN, Header};
use crate::pb::im::file::ImFilePullDataRsp;
use crate::registry::CID_FILE_PULL_DATA_RSP;
use crate::schema::Message as _;

/// Fields 1-4 and 100 of `IM.File.IMFilePullDataRsp`; field 5 (file_data)
/// is skipped as unknown by prost, without a copy.
#[derive(Clone, PartialEq, prost::Message)]
struct Head {
    #[prost(uint32, required, tag = "1")]
    result_code: u32,
    #[prost(bytes = "vec", required, tag = "2")]
    task_id: Vec<u8>,
    #[prost(uint32, required, tag = "3")]
    user_id: u32,
    #[prost(uint32, required, tag = "4")]
    offset: u32,
    #[prost(uint64, optional, tag = "100")]
    offset_u64: Option<u64>,
}

/// What a relay checks in a pull response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullDataRspHead {
    pub result_code: u32,
    /// As sent (text fields are bytes, see [`crate::text`]).
    pub task_id: Vec<u8>,
    pub user_id: u32,
    /// The stock field ([`crate::extension::WIDE_SENTINEL`] past
    /// `u32::MAX`); [`PullDataRspHead::wide_offset`] joins it with
    /// `offset_u64`.
    pub offset: u32,
    /// ferry's u64 twin of `offset` (field 100), present past `u32::MAX`.
    pub offset_u64: Option<u64>,
    /// Length of file_data (its last occurrence, as protobuf decoding keeps).
    pub data_len: usize,
}

impl PullDataRspHead {
    /// The answer's offset in bytes, from the stock field and its u64 twin.
    ///
    /// Errors: [`WideMismatch`] when the two disagree.
    pub fn wide_offset(&self) -> Result<u64, WideMismatch> {
        join_u64(self.offset, self.offset_u64)
    }

    /// Validates `body` as an `IMFilePullDataRsp` (required fields present)
    /// and reads its head.
    pub fn parse(body: &[u8]) -> Result<PullDataRspHead, DecodeError> {
        let schema = ImFilePullDataRsp::SCHEMA;
        schema.validate(body)?;
        let malformed = |source| DecodeError::Malformed {
            message: schema.name,
            source,
        };
        let head = Head::decode(body).map_err(malformed)?;
        let mut data_len = 0;
        let mut buf = body;
        while !buf.is_empty() {
            let (number, wire_type) = decode_key(&mut buf).map_err(malformed)?;
            if number == 5 && wire_type == WireType::LengthDelimited {
                let len = decode_varint(&mut buf).map_err(malformed)? as usize;
                buf = &buf[len..]; // validate() checked the length fits
                data_len = len;
            } else {
                skip_field(wire_type, number, &mut buf, DecodeContext::default())
                    .map_err(malformed)?;
            }
        }
        Ok(PullDataRspHead {
            result_code: head.result_code,
            task_id: head.task_id,
            user_id: head.user_id,
            offset: head.offset,
            offset_u64: head.offset_u64,
            data_len,
        })
    }
}

/// What the first bytes of a pull response's body say about its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prefix {
    /// Not enough of the body buffered yet to reach file_data.
    NeedMore,
    /// Fields 1-4 present (and maybe `offset_u64`), then file_data running
    /// to the end of the body: the payload starts `payload_start` bytes
    /// into the body. This is how every protobuf encoder lays the stock
    /// message out (fields in tag order), and how [`rsp_prefix`] lays out
    /// one with `offset_u64`.
    Payload {
        head: PullDataRspHead,
        payload_start: usize,
    },
    /// Any other layout (a field after file_data, such as prost's
    /// `offset_u64`; an unknown field; a bad length): read the whole frame
    /// and let [`PullDataRspHead::parse`] judge.
    Other,
}

impl PullDataRspHead {
    /// Reads fields 1-4, `offset_u64` and file_data's length from
    /// `prefix`, the first bytes of a body of `body_len` bytes, so a relay
    /// can forward the payload without reading it. Allocates only the task
    /// id.
    pub fn scan_prefix(prefix: &[u8], body_len: usize) -> Prefix {
        let whole = prefix.len() >= body_len;
        let short = || {
            if whole {
                Prefix::Other
            } else {
                Prefix::NeedMore
            }
        };
        let mut buf = prefix;
        let (mut result_code, mut task_id, mut user_id, mut offset) = (None, None, None, None);
        let mut offset_u64 = None;
        loop {
            if buf.is_empty() {
                return short();
            }
            let Ok((number, wire_type)) = decode_key(&mut buf) else {
                return short();
            };
            let value = match wire_type {
                WireType::Varint => match decode_varint(&mut buf) {
                    Ok(v) => v,
                    Err(_) => return short(),
                },
                WireType::LengthDelimited => match decode_varint(&mut buf) {
                    Ok(len) => len,
                    Err(_) => return short(),
                },
                _ => return Prefix::Other,
            };
            let as_u32 = || u32::try_from(value).ok();
            match (number, wire_type) {
                (1, WireType::Varint) => result_code = as_u32(),
                (3, WireType::Varint) => user_id = as_u32(),
                (4, WireType::Varint) => offset = as_u32(),
                (FIELD_OFFSET_U64, WireType::Varint) => offset_u64 = Some(value),
                (2, WireType::LengthDelimited) => {
                    let len = value as usize;
                    if buf.len() < len {
                        return short();
                    }
                    task_id = Some(buf[..len].to_vec());
                    buf = &buf[len..];
                }
                (5, WireType::LengthDelimited) => {
                    let payload_start = prefix.len() - buf.len();
                    let ends_the_body = payload_start.checked_add(value as usize) == Some(body_len);
                    return match (ends_the_body, result_code, task_id, user_id, offset) {
                        (true, Some(result_code), Some(task_id), Some(user_id), Some(offset)) => {
                            Prefix::Payload {
                                head: PullDataRspHead {
                                    result_code,
                                    task_id,
                                    user_id,
                                    offset,
                                    offset_u64,
                                    data_len: value as usize,
                                },
                                payload_start,
                            }
                        }
                        _ => Prefix::Other,
                    };
                }
                _ => return Prefix::Other,
            }
        }
    }
}

/// A pull response (result 0) up to its payload: the header, whose length
/// counts the `len` payload bytes the caller writes next, fields 1-4,
/// `offset_u64` past `u32::MAX` and field 5's key and length (layout in
/// the module docs). `offset` is in bytes; `seq` is the pull's.
pub fn rsp_prefix(seq: u16, task_id: &[u8], user_id: u32, offset: u64, len: usize) -> BytesMut {
    let (offset, offset_u64) = split_u64(offset);
    let wide_len = offset_u64.map_or(0, |v| encoding::uint64::encoded_len(FIELD_OFFSET_U64, &v));
    let head_len = encoding::uint32::encoded_len(1, &0)
        + encoding::key_len(2)
        + encoding::encoded_len_varint(task_id.len() as u64)
        + task_id.len()
        + encoding::uint32::encoded_len(3, &user_id)
        + encoding::uint32::encoded_len(4, &offset)
        + wide_len
        + encoding::key_len(5)
        + encoding::encoded_len_varint(len as u64);
    let mut pdu = BytesMut::with_capacity(HEADER_LEN + head_len);
    Header::new(CID_FILE_PULL_DATA_RSP, seq, (head_len + len) as u32).write(&mut pdu);
    encoding::uint32::encode(1, &0, &mut pdu);
    encode_key(2, WireType::LengthDelimited, &mut pdu);
    encode_varint(task_id.len() as u64, &mut pdu);
    pdu.put_slice(task_id);
    encoding::uint32::encode(3, &user_id, &mut pdu);
    encoding::uint32::encode(4, &offset, &mut pdu);
    if let Some(v) = offset_u64 {
        encoding::uint64::encode(FIELD_OFFSET_U64, &v, &mut pdu);
    }
    encode_key(5, WireType::LengthDelimited, &mut pdu);
    encode_varint(len as u64, &mut pdu);
    pdu
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn head_matches_a_full_decode() {
        let msg = ImFilePullDataRsp {
            offset_u64: None,
            result_code: 0,
            task_id: "6f9619ff-8b86-4d11-b42d-00c04fc964ff".into(),
            user_id: 7,
            offset: 1 << 20,
            file_data: Bytes::from(vec![1u8; 3000]),
        };
        let body = msg.encode_to_vec();
        let head = PullDataRspHead::parse(&body).unwrap();
        assert_eq!(
            (head.user_id, head.offset, head.data_len, &head.task_id[..]),
            (7, 1 << 20, 3000, &msg.task_id[..])
        );
    }

    #[test]
    fn prefix_scan_finds_the_payload_or_defers() {
        let msg = ImFilePullDataRsp {
            offset_u64: None,
            result_code: 0,
            task_id: "6f9619ff-8b86-4d11-b42d-00c04fc964ff".into(),
            user_id: 70000,
            offset: 1 << 30,
            file_data: Bytes::from(vec![9u8; 40_000]),
        };
        let body = msg.encode_to_vec();
        let full = PullDataRspHead::parse(&body).unwrap();
        let start = body.len() - 40_000;
        for cut in 0..start {
            assert_eq!(
                PullDataRspHead::scan_prefix(&body[..cut], body.len()),
                Prefix::NeedMore,
                "cut {cut}"
            );
        }
        for cut in [start, start + 1, body.len()] {
            let got = PullDataRspHead::scan_prefix(&body[..cut], body.len());
            assert_eq!(
                got,
                Prefix::Payload {
                    head: full.clone(),
                    payload_start: start
                }
            );
        }
        // A body that ends before its declared payload, or a field after the
        // payload, or a missing field: the whole-frame path decides.
        assert_eq!(
            PullDataRspHead::scan_prefix(&body[..start], start),
            Prefix::Other
        );
        let mut trailing = body.clone();
        trailing.extend_from_slice(&[0x08, 0x01]);
        assert_eq!(
            PullDataRspHead::scan_prefix(&trailing, trailing.len()),
            Prefix::Other
        );
        // result_code, task_id, offset, file_data: user_id (#3) is missing.
        let no_user = [0x08, 0x00, 0x12, 0x01, b't', 0x20, 0x00, 0x2a, 0x01, 0xff];
        assert_eq!(
            PullDataRspHead::scan_prefix(&no_user, no_user.len()),
            Prefix::Other
        );
    }

    #[test]
    fn a_wide_prefix_puts_offset_u64_before_the_payload() {
        let task = b"6f9619ff-8b86-4d11-b42d-00c04fc964ff";
        let payload = vec![7u8; 34 << 10];
        for offset in [0, u64::from(u32::MAX) - 1, 5 << 30] {
            let mut pdu = rsp_prefix(9, task, 42, offset, payload.len());
            let payload_start = pdu.len() - HEADER_LEN;
            pdu.extend_from_slice(&payload);
            let header = Header::parse(pdu[..HEADER_LEN].try_into().unwrap());
            assert_eq!(
                (header.seq_num, header.length as usize),
                (9, pdu.len()),
                "at {offset}"
            );
            let body = &pdu[HEADER_LEN..];
            // prost reads it as the same message it would have encoded.
            let msg = ImFilePullDataRsp::decode(body).unwrap();
            assert_eq!(join_u64(msg.offset, msg.offset_u64), Ok(offset));
            assert_eq!((msg.user_id, &msg.file_data[..]), (42, &payload[..]));
            // The relay's scan finds the payload at the end, offset and all.
            let head = PullDataRspHead::parse(body).unwrap();
            assert_eq!(head.wide_offset(), Ok(offset));
            assert_eq!(
                PullDataRspHead::scan_prefix(&body[..payload_start], body.len()),
                Prefix::Payload {
                    head,
                    payload_start
                },
                "at {offset}"
            );
        }
        // prost's own layout (field 100 after file_data) is judged whole.
        let msg = ImFilePullDataRsp {
            offset_u64: Some(5 << 30),
            result_code: 0,
            task_id: task.to_vec().into(),
            user_id: 42,
            offset: u32::MAX,
            file_data: payload.into(),
        };
        let body = msg.encode_to_vec();
        assert_eq!(
            PullDataRspHead::scan_prefix(&body, body.len()),
            Prefix::Other
        );
        assert_eq!(
            PullDataRspHead::parse(&body).unwrap().wide_offset(),
            Ok(5 << 30)
        );
    }

    #[test]
    fn missing_payload_is_refused() {
        let msg = Head {
            result_code: 0,
            task_id: "t".into(),
            user_id: 1,
            offset: 0,
            offset_u64: None,
        };
        let err = PullDataRspHead::parse(&msg.encode_to_vec()).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::MissingRequired {
                    field: "file_data",
                    ..
                }
            ),
            "{err}"
        );
    }
}
