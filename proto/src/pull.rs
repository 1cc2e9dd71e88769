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
    #[prost(string, required, tag = "2")]
    task_id: String,
    #[prost(uint32, required, tag = "3")]
    user_id: u32,
    #[prost(uint32, required, tag = "4")]
    offset: u32,
}

/// What a relay checks in a pull response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullDataRspHead {
    pub result_code: u32,
    pub task_id: String,
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

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn head_matches_a_full_decode() {
        let msg = ImFilePullDataRsp {
            result_code: 0,
            task_id: "6f9619ff-8b86-4d11-b42d-00c04fc964ff".into(),
            user_id: 7,
            offset: 1 << 20,
            file_data: Bytes::from(vec![1u8; 3000]),
        };
        let body = msg.encode_to_vec();
        let head = PullDataRspHead::parse(&body).unwrap();
        assert_eq!(
            (
                head.user_id,
                head.offset,
                head.data_len,
                head.task_id.as_str()
            ),
            (7, 1 << 20, 3000, msg.task_id.as_str())
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
