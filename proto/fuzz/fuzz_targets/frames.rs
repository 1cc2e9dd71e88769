//! Fuzzes ferry-proto's receive path: the input is whatever a peer put in
//! our receive buffer. Nothing here may panic, abort or allocate in
//! proportion to a declared length rather than to the bytes received.
//!
//! Run from proto/fuzz (see README for the exact command):
//!   RUSTC_BOOTSTRAP=1 cargo fuzz run frames -- -rss_limit_mb=512 -max_len=4096

#![no_main]

use bytes::{Bytes, BytesMut};
use ferry_proto::frame::{self, Check, Frame, HEADER_LEN};
use ferry_proto::extension;
use ferry_proto::registry::{self, COMMANDS};
use ferry_proto::schema::ALL_SCHEMAS;
use libfuzzer_sys::fuzz_target;

/// The default bound, and a small one so that "too long" is reachable with
/// short inputs too.
const MAXES: [u32; 2] = [frame::DEFAULT_MAX_FRAME, 64];

fuzz_target!(|data: &[u8]| {
    for max in MAXES {
        check_is_exact(data, max);
        take_every_frame(data, max);
    }
    // Any byte string may arrive as the body of any command, whatever its
    // header says: every decoder and every schema must refuse it cleanly.
    let body = Bytes::copy_from_slice(data);
    for info in COMMANDS.iter().chain(extension::COMMANDS) {
        let _ = (info.decode_debug)(body.clone());
    }
    for schema in ALL_SCHEMAS {
        let _ = schema.validate(data);
    }
});

/// `frame::check` judges the buffer from the 4-byte length alone: Invalid
/// exactly when that length is below the header size or above `max`,
/// Complete(n) only for a length that is valid and fully buffered.
fn check_is_exact(data: &[u8], max: u32) {
    let declared = data.first_chunk::<4>().map(|p| u32::from_be_bytes(*p));
    let valid = |len: u32| len >= HEADER_LEN as u32 && len <= max;
    match frame::check(data, max) {
        Check::Complete(n) => {
            assert!(HEADER_LEN <= n && n <= data.len() && n as u64 <= u64::from(max), "Complete({n})");
            assert_eq!(declared, Some(n as u32));
        }
        Check::Invalid(e) => assert!(declared.is_some_and(|l| !valid(l)), "Invalid({e:?}) for {declared:?}"),
        Check::Incomplete => match declared {
            None => {}
            Some(l) => assert!(valid(l) && data.len() < l as usize, "Incomplete for {l} with {}", data.len()),
        },
    }
}

/// The receive loop: split off whole frames until the buffer needs more
/// bytes or holds an invalid length, dispatching each by its header.
fn take_every_frame(data: &[u8], max: u32) {
    let mut buf = BytesMut::from(data);
    loop {
        let before = buf.len();
        let Ok(Some(frame)) = Frame::take(&mut buf, max) else { break };
        // Exactly one PDU was consumed, and it is the length the header declared.
        assert_eq!(before - buf.len(), frame.pdu.len());
        assert_eq!(frame.pdu.len(), frame.header.length as usize);
        if let Some(info) = registry::lookup_any(frame.header.command) {
            let _ = (info.decode_debug)(frame.body());
        }
    }
}
