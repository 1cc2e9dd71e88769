//! The 16-byte TeamTalk PDU header, the cheap "is a whole frame buffered?"
//! check, and framing of outgoing messages.
//!
//! Every TeamTalk link (client, file server, server to server) carries PDUs:
//!
//! ```text
//! 0          4          6        8            10           12         14         16
//! +----------+----------+--------+------------+------------+----------+----------+----------------+
//! |  length  | version  |  flag  | service_id | command_id | seq_num  | reserved | protobuf body  |
//! |  u32 BE  |  u16 BE  | u16 BE |   u16 BE   |   u16 BE   |  u16 BE  |  u16 BE  | (length - 16)  |
//! +----------+----------+--------+------------+------------+----------+----------+----------------+
//! length  = header + body, so 16 for an empty message
//! version = 1 when written, never checked when read; flag and reserved = 0
//! seq_num = chosen by the requester, echoed in the response
//! ```
//!
//! [`check`] looks only at the first four bytes to judge the length: a frame
//! shorter than its own header or longer than the configured maximum is
//! refused before a byte is allocated for it. TeamTalk does neither (a length
//! of 5 aborts it; a length of 4 GiB makes it grow its buffer to match).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError, FrameError};
use crate::registry::{CommandId, Pdu};
use crate::schema;

pub const HEADER_LEN: usize = 16;

/// Default bound on one PDU (header included). A 1 MiB pull response and
/// its header fit with room to spare; a peer cannot make us buffer more.
pub const DEFAULT_MAX_FRAME: u32 = 4 << 20;

/// Version written in every header (TeamTalk writes 1, checks nothing).
pub const VERSION: u16 = 1;

/// What the front of a receive buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Not yet a whole frame; read more. Not an error.
    Incomplete,
    /// A whole frame of this many bytes (header included) is buffered.
    Complete(usize),
    /// The declared length can never be valid: close the connection.
    Invalid(FrameError),
}

/// Judges the front of `buf` without allocating or decoding. The length is
/// validated as soon as its four bytes are in, before the rest arrives.
#[inline]
pub fn check(buf: &[u8], max_frame: u32) -> Check {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Check::Incomplete;
    };
    let length = u32::from_be_bytes(*prefix);
    if length < HEADER_LEN as u32 {
        return Check::Invalid(FrameError::TooShort { length });
    }
    if length > max_frame {
        return Check::Invalid(FrameError::TooLong {
            length,
            max: max_frame,
        });
    }
    if buf.len() < length as usize {
        Check::Incomplete
    } else {
        Check::Complete(length as usize)
    }
}

/// The decoded 16-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub length: u32,
    pub version: u16,
    pub flag: u16,
    pub command: CommandId,
    pub seq_num: u16,
    pub reserved: u16,
}

impl Header {
    /// A header as TeamTalk writes one: version 1, flag and reserved 0.
    pub fn new(command: CommandId, seq_num: u16, body_len: u32) -> Header {
        Header {
            length: HEADER_LEN as u32 + body_len,
            version: VERSION,
            flag: 0,
            command,
            seq_num,
            reserved: 0,
        }
    }

    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Header {
        let u16_at = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
        Header {
            length: u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            version: u16_at(4),
            flag: u16_at(6),
            command: CommandId::new(u16_at(8), u16_at(10)),
            seq_num: u16_at(12),
            reserved: u16_at(14),
        }
    }

    pub fn write(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.length);
        dst.put_u16(self.version);
        dst.put_u16(self.flag);
        dst.put_u16(self.command.service_id);
        dst.put_u16(self.command.command_id);
        dst.put_u16(self.seq_num);
        dst.put_u16(self.reserved);
    }

    pub fn body_len(&self) -> usize {
        self.length as usize - HEADER_LEN
    }
}

/// Rewrites the seq_num of an encoded PDU in place (the relay forwards a
/// response under the seq of the request it answers, as TeamTalk does).
pub fn set_seq(pdu: &mut [u8], seq_num: u16) {
    pdu[12..14].copy_from_slice(&seq_num.to_be_bytes());
}

/// One whole PDU, header included, sharing the receive buffer's memory.
#[derive(Debug, Clone)]
pub struct Frame {
    pub header: Header,
    /// The PDU exactly as received: forward it without re-encoding.
    pub pdu: Bytes,
}

impl Frame {
    /// Splits one whole frame off the front of `buf`, if one is buffered.
    /// `Ok(None)` means read more; an error means close the connection.
    pub fn take(buf: &mut BytesMut, max_frame: u32) -> Result<Option<Frame>, FrameError> {
        match check(buf, max_frame) {
            Check::Incomplete => Ok(None),
            Check::Invalid(e) => Err(e),
            Check::Complete(len) => {
                let pdu = buf.split_to(len).freeze();
                let header =
                    Header::parse(pdu.first_chunk().expect("a complete frame holds a header"));
                Ok(Some(Frame { header, pdu }))
            }
        }
    }

    /// The protobuf body: a slice of the same memory, no copy.
    pub fn body(&self) -> Bytes {
        self.pdu.slice(HEADER_LEN..)
    }

    /// Decodes the body as `T` after checking the header names `T`'s command
    /// and the body carries every required field.
    pub fn decode<T: Pdu>(&self) -> Result<T, DecodeError> {
        if self.header.command != T::COMMAND {
            return Err(DecodeError::UnexpectedCommand {
                expected: T::COMMAND,
                got: self.header.command,
            });
        }
        schema::decode(self.body())
    }
}

/// Appends `msg` as one PDU (header + body) to `dst`.
pub fn encode<T: Pdu>(
    msg: &T,
    seq_num: u16,
    max_frame: u32,
    dst: &mut BytesMut,
) -> Result<(), EncodeError> {
    let body_len = msg.encoded_len();
    let length = (HEADER_LEN + body_len) as u64;
    if length > u64::from(max_frame) {
        return Err(EncodeError::TooLong {
            length,
            max: max_frame,
        });
    }
    dst.reserve(length as usize);
    Header::new(T::COMMAND, seq_num, body_len as u32).write(dst);
    msg.encode_raw(dst);
    Ok(())
}

/// `msg` as one PDU in a buffer of its own.
pub fn encode_to_bytes<T: Pdu>(
    msg: &T,
    seq_num: u16,
    max_frame: u32,
) -> Result<Bytes, EncodeError> {
    let mut dst = BytesMut::new();
    encode(msg, seq_num, max_frame, &mut dst)?;
    Ok(dst.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: u32 = DEFAULT_MAX_FRAME;

    #[test]
    fn check_waits_for_the_length_then_the_whole_frame() {
        assert_eq!(check(&[], MAX), Check::Incomplete);
        assert_eq!(check(&[0, 0, 0], MAX), Check::Incomplete);
        assert_eq!(check(&[0, 0, 0, 20], MAX), Check::Incomplete);
        assert_eq!(
            check(&[0, 0, 0, 16, 0, 1, 0, 0, 0, 7, 7, 1, 0, 0, 0, 0], MAX),
            Check::Complete(16)
        );
        let mut buf = vec![0u8; 40];
        buf[3] = 20;
        assert_eq!(check(&buf[..19], MAX), Check::Incomplete);
        assert_eq!(check(&buf, MAX), Check::Complete(20));
    }

    #[test]
    fn short_and_long_lengths_are_invalid_from_the_first_four_bytes() {
        for length in [0u32, 1, 5, 15] {
            assert_eq!(
                check(&length.to_be_bytes(), MAX),
                Check::Invalid(FrameError::TooShort { length })
            );
        }
        let huge = 0xFFFF_FFF0u32;
        assert_eq!(
            check(&huge.to_be_bytes(), MAX),
            Check::Invalid(FrameError::TooLong {
                length: huge,
                max: MAX
            })
        );
        assert_eq!(
            check(&(MAX + 1).to_be_bytes(), MAX),
            Check::Invalid(FrameError::TooLong {
                length: MAX + 1,
                max: MAX
            })
        );
        assert_eq!(check(&MAX.to_be_bytes(), MAX), Check::Incomplete);
    }

    #[test]
    fn take_splits_frames_and_leaves_the_rest() {
        let mut buf = BytesMut::new();
        let hb = CommandId::new(7, 0x0701);
        Header::new(hb, 9, 0).write(&mut buf);
        Header::new(hb, 10, 0).write(&mut buf);
        buf.put_slice(&[0, 0]);
        let a = Frame::take(&mut buf, MAX).unwrap().unwrap();
        let b = Frame::take(&mut buf, MAX).unwrap().unwrap();
        assert_eq!((a.header.seq_num, b.header.seq_num), (9, 10));
        assert!(Frame::take(&mut buf, MAX).unwrap().is_none());
        assert_eq!(buf.len(), 2);
    }

    #[test]
    fn set_seq_rewrites_only_the_seq() {
        let mut pdu = [0u8; 16];
        Header::new(CommandId::new(5, 0x0505), 1, 0).write(&mut &mut pdu[..]);
        set_seq(&mut pdu, 0xBEEF);
        let h = Header::parse(&pdu);
        assert_eq!(
            (h.seq_num, h.command, h.length),
            (0xBEEF, CommandId::new(5, 0x0505), 16)
        );
    }
}
