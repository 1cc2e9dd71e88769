//! Reading an `IMFilePullDataRsp` without touching its payload.
//!
//! A relay must check a pull response (user, task, offset, payload length)
//! and then forward the very bytes it received, with only the header's seq
//! patched. Decoding the whole message would need the frame frozen into
//! `Bytes` first (after which the header can no longer be patched) or would
//! copy `file_data`. [`PullDataRspHead::parse`] validates the body like
//! [`crate::schema::decode`] does and reads fields 1-4 and the length of
//! field 5 straight from a `&[u8]`: nothing is copied but the task id.

use prost::Message as _;
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};

use crate::error::DecodeError;
use crate::pb::im::file::ImFilePullDataRsp;
use crate::schema::Message as _;

/// Fields 1-4 of `IM.File.IMFilePullDataRsp`; field 5 (file_data) is
/// skipped as unknown by prost, without a copy.
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
}

/// What a relay checks in a pull response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullDataRspHead {
    pub result_code: u32,
    /// As sent (text fields are bytes, see [`crate::text`]).
    pub task_id: Vec<u8>,
    pub user_id: u32,
    pub offset: u32,
    /// Length of file_data (its last occurrence, as protobuf decoding keeps).
    pub data_len: usize,
}

impl PullDataRspHead {
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
            data_len,
        })
    }
}

/// What the first bytes of a pull response's body say about its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prefix {
    /// Not enough of the body buffered yet to reach file_data.
    NeedMore,
    /// Fields 1-4 present, then file_data running to the end of the body:
    /// the payload starts `payload_start` bytes into the body. This is how
    /// every protobuf encoder lays the message out (fields in tag order).
    Payload {
        head: PullDataRspHead,
        payload_start: usize,
    },
    /// Any other layout (a field after file_data, an unknown field, a bad
    /// length): read the whole frame and let [`PullDataRspHead::parse`] judge.
    Other,
}

impl PullDataRspHead {
    /// Reads fields 1-4 and file_data's length from `prefix`, the first
    /// bytes of a body of `body_len` bytes, so a relay can forward the
    /// payload without reading it. Allocates only the task id.
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
    fn missing_payload_is_refused() {
        let msg = Head {
            result_code: 0,
            task_id: "t".into(),
            user_id: 1,
            offset: 0,
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
