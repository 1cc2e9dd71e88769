//! proto2 `required` and closed-enum checks, done on the wire bytes.
//!
//! prost decodes a proto2 message with a missing required field as if the
//! field held its default, and keeps an out-of-range enum value as a plain
//! `i32`. A stock TeamTalk peer (C++ protobuf lite) refuses both: the parse
//! fails and the handler drops the PDU. [`MessageSchema::validate`] walks a
//! body once against the table `build.rs` generated from the `.proto` files
//! and refuses it with the message and field named, before prost decodes.
//!
//! The walk allocates nothing and skips payloads by their length, so checking
//! a 1 MiB `IMFilePullDataRsp` costs the same as checking a small one.

use bytes::Bytes;
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};

use crate::error::DecodeError;

/// One message of the `.proto` files, as the validator needs it.
#[derive(Debug)]
pub struct MessageSchema {
    /// Full protobuf name, e.g. `IM.File.IMFileLoginReq`.
    pub name: &'static str,
    pub fields: &'static [FieldSchema],
}

#[derive(Debug)]
pub struct FieldSchema {
    pub number: u32,
    pub name: &'static str,
    pub required: bool,
    pub kind: FieldKind,
}

#[derive(Debug)]
pub enum FieldKind {
    /// Numbers, strings and bytes: present is all that is checked.
    Scalar,
    /// A closed proto2 enum and its declared values: an undeclared value
    /// counts as absent, as in C++ protobuf.
    Enum(&'static [i32]),
    /// A nested message, itself validated wherever it occurs.
    Message(&'static MessageSchema),
}

/// A prost message with its generated schema (implemented by `build.rs` for
/// every message of the nine packages and ferry's extension package).
pub trait Message: prost::Message + Default {
    const SCHEMA: &'static MessageSchema;
}

/// Validates `body` against `T`'s schema, then decodes it. Decoding from a
/// `Bytes` makes every `bytes` field a slice of `body`: no payload copy.
pub fn decode<T: Message>(body: Bytes) -> Result<T, DecodeError> {
    T::SCHEMA.validate(&body)?;
    T::decode(body).map_err(|source| DecodeError::Malformed {
        message: T::SCHEMA.name,
        source,
    })
}

impl MessageSchema {
    /// Checks that `body` is well-formed protobuf, that every required field
    /// is present (with a declared value if it is an enum) and that every
    /// nested message does the same.
    pub fn validate(&'static self, body: &[u8]) -> Result<(), DecodeError> {
        let malformed = |source| DecodeError::Malformed {
            message: self.name,
            source,
        };
        let mut buf = body;
        let mut seen: u64 = 0;
        while !buf.is_empty() {
            let (number, wire_type) = decode_key(&mut buf).map_err(malformed)?;
            let Some(index) = self.fields.iter().position(|f| f.number == number) else {
                skip_field(wire_type, number, &mut buf, DecodeContext::default())
                    .map_err(malformed)?;
                continue;
            };
            let field = &self.fields[index];
            match (&field.kind, wire_type) {
                (FieldKind::Enum(values), WireType::Varint) => {
                    let raw = decode_varint(&mut buf).map_err(malformed)?;
                    // Enums are int32 on the wire: negative values arrive sign-extended to 64 bits.
                    if !values.contains(&(raw as i64 as i32)) {
                        if field.required {
                            return Err(DecodeError::InvalidEnum {
                                message: self.name,
                                field: field.name,
                                value: raw as i64,
                            });
                        }
                        continue;
                    }
                }
                (FieldKind::Message(nested), WireType::LengthDelimited) => {
                    // skip_field checks the length against what is left; the
                    // bytes it skipped are the length prefix and the message.
                    let start = buf;
                    skip_field(wire_type, number, &mut buf, DecodeContext::default())
                        .map_err(malformed)?;
                    let mut inner = &start[..start.len() - buf.len()];
                    decode_varint(&mut inner).map_err(malformed)?;
                    nested.validate(inner)?;
                }
                _ => skip_field(wire_type, number, &mut buf, DecodeContext::default())
                    .map_err(malformed)?,
            }
            seen |= 1 << index;
        }
        for (index, field) in self.fields.iter().enumerate() {
            if field.required && seen & (1 << index) == 0 {
                return Err(DecodeError::MissingRequired {
                    message: self.name,
                    field: field.name,
                    number: field.number,
                });
            }
        }
        Ok(())
    }
}

include!(concat!(env!("OUT_DIR"), "/schema.rs"));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::im::file::{ImFileLoginReq, ImFilePullDataRsp};
    use prost::Message as _;

    #[test]
    fn every_message_has_a_schema_and_an_empty_body_names_its_first_required_field() {
        assert!(ALL_SCHEMAS.len() > 90, "only {} schemas", ALL_SCHEMAS.len());
        for schema in ALL_SCHEMAS {
            match (
                schema.validate(&[]),
                schema.fields.iter().find(|f| f.required),
            ) {
                (Ok(()), None) => {}
                (Err(DecodeError::MissingRequired { message, field, .. }), Some(first)) => {
                    assert_eq!((message, field), (schema.name, first.name));
                }
                (other, _) => panic!("{}: {other:?}", schema.name),
            }
        }
    }

    #[test]
    fn missing_required_field_is_named() {
        // user_id = 7, file_role = 1; task_id (#2) is missing.
        let err =
            decode::<ImFileLoginReq>(Bytes::from_static(&[0x08, 0x07, 0x18, 0x01])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "IM.File.IMFileLoginReq: required field `task_id` (#2) is missing"
        );
    }

    #[test]
    fn undeclared_value_of_required_enum_is_refused() {
        // file_role = 9: ClientFileRole stops at 4.
        let err =
            decode::<ImFileLoginReq>(Bytes::from_static(&[0x08, 0x07, 0x12, 0x00, 0x18, 0x09]))
                .unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::InvalidEnum {
                    field: "file_role",
                    value: 9,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn nested_required_fields_are_checked() {
        use crate::pb::im::base_define::IpAddr;
        use crate::pb::im::server::ImFileServerIpRsp;
        let ok = ImFileServerIpRsp {
            ip_addr_list: vec![IpAddr {
                ip: "10.0.0.1".into(),
                port: 8610,
            }],
        };
        assert!(decode::<ImFileServerIpRsp>(ok.encode_to_vec().into()).is_ok());
        // One IpAddr holding only ip: port (#2) is missing inside the list.
        let body = [0x0a, 0x03, 0x0a, 0x01, b'x'];
        let err = decode::<ImFileServerIpRsp>(Bytes::copy_from_slice(&body)).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::MissingRequired {
                    message: "IM.BaseDefine.IpAddr",
                    field: "port",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn truncated_and_garbage_bodies_are_malformed() {
        for body in [
            &[0x2a, 0xff, 0xff, 0xff, 0x0f][..],
            &[0x0a][..],
            &[0xff; 11][..],
            &[0x00][..],
        ] {
            let err = ImFilePullDataRsp::SCHEMA.validate(body).unwrap_err();
            assert!(
                matches!(err, DecodeError::Malformed { .. }),
                "{body:02x?}: {err}"
            );
        }
    }
}
