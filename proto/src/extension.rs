//! Ids reserved for ferry's wire extensions (docs/ARCHITECTURE.md, "The wire"), and
//! the extensions defined in them.
//!
//! New commands take ids from these ranges, which no stock TeamTalk command
//! uses; new fields of existing messages are `optional` with numbers from
//! [`FIRST_EXTENSION_FIELD`] up, so stock peers skip them as unknown fields.
//! Every extension defined is listed in `PROTOCOL-EXTENSIONS.md` at the root.
//!
//! Defined: the msg-server link handshake (`Ferry.Link.proto`). With a
//! shared secret configured the relay opens a link with
//! [`CID_OTHER_LINK_CHALLENGE`] (32 random bytes) and the msg server must
//! answer, as its first PDU, [`CID_OTHER_LINK_AUTH`] carrying
//! [`link_mac`]`(secret, nonce)`; anything else closes the link. A fresh
//! nonce per link means a recorded answer is worth nothing on another.
//!
//! Defined: where an offline file lives (`Ferry.Link.proto`). A msg server
//! asks each relay with [`CID_OTHER_OFFLINE_LOCATE_REQ`] which of a list of
//! task ids its offline store holds; the relay answers
//! [`CID_OTHER_OFFLINE_LOCATE_RSP`] with those it holds. An empty request
//! is a probe (a stock file_server ignores the command and never answers).

use std::ops::RangeInclusive;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::pb::ferry::link::{LinkAuth, LinkChallenge, OfflineLocateReq, OfflineLocateRsp};
use crate::registry::{CommandId, Pdu, SID_OTHER};

/// New file-service commands (SID_FILE).
pub const FILE_EXTENSION_COMMANDS: RangeInclusive<u16> = 0x0580..=0x05ff;
/// New other-service commands (SID_OTHER).
pub const OTHER_EXTENSION_COMMANDS: RangeInclusive<u16> = 0x0780..=0x07ff;
/// First field number an extension field may use.
pub const FIRST_EXTENSION_FIELD: u32 = 100;

/// Relay -> msg server, first PDU of an authenticated link.
pub const CID_OTHER_LINK_CHALLENGE: CommandId = CommandId::new(SID_OTHER, 0x0780);
/// Msg server -> relay, the answer to the challenge.
pub const CID_OTHER_LINK_AUTH: CommandId = CommandId::new(SID_OTHER, 0x0781);

/// Msg server -> relay: which of these offline tasks do you hold?
pub const CID_OTHER_OFFLINE_LOCATE_REQ: CommandId = CommandId::new(SID_OTHER, 0x0782);
/// Relay -> msg server: the ones it holds.
pub const CID_OTHER_OFFLINE_LOCATE_RSP: CommandId = CommandId::new(SID_OTHER, 0x0783);
/// Task ids one locate request names at most (a relay ignores the rest):
/// 36-byte ids, so a request stays near 40 KiB.
pub const OFFLINE_LOCATE_MAX_TASKS: usize = 1000;

impl Pdu for OfflineLocateReq {
    const COMMAND: CommandId = CID_OTHER_OFFLINE_LOCATE_REQ;
}

impl Pdu for OfflineLocateRsp {
    const COMMAND: CommandId = CID_OTHER_OFFLINE_LOCATE_RSP;
}

impl Pdu for LinkChallenge {
    const COMMAND: CommandId = CID_OTHER_LINK_CHALLENGE;
}

impl Pdu for LinkAuth {
    const COMMAND: CommandId = CID_OTHER_LINK_AUTH;
}

/// Bytes of a challenge's nonce.
pub const LINK_NONCE_LEN: usize = 32;
/// What the MAC binds besides the nonce: the purpose and its version.
const LINK_CONTEXT: &[u8] = b"ferry-link-v1\0";

fn link_hmac(secret: &[u8], nonce: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(LINK_CONTEXT);
    mac.update(nonce);
    mac
}

/// HMAC-SHA256(secret, "ferry-link-v1" 0x00 nonce): the msg server's answer.
pub fn link_mac(secret: &[u8], nonce: &[u8]) -> [u8; 32] {
    link_hmac(secret, nonce).finalize().into_bytes().into()
}

/// Whether `mac` answers `nonce` under `secret`, compared in constant time.
pub fn verify_link_mac(secret: &[u8], nonce: &[u8], mac: &[u8]) -> bool {
    link_hmac(secret, nonce).verify_slice(mac).is_ok()
}

/// Whether `command_id` lies in a range reserved for ferry's extensions.
pub fn is_extension_command(command_id: u16) -> bool {
    FILE_EXTENSION_COMMANDS.contains(&command_id) || OTHER_EXTENSION_COMMANDS.contains(&command_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::COMMANDS;
    use crate::schema::ALL_SCHEMAS;

    #[test]
    fn link_mac_matches_an_independent_hmac() {
        // python3: hmac.new(secret, b"ferry-link-v1\x00" + bytes(range(32)), sha256)
        let secret = b"correct horse battery staple";
        let nonce: Vec<u8> = (0..32).collect();
        let want = "568d715ef55580bbd0407fc9e1d4fffbd7e72c47977d312ab8515a6b18606f68";
        let got: String = link_mac(secret, &nonce)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, want);
        assert!(verify_link_mac(secret, &nonce, &link_mac(secret, &nonce)));
        assert!(!verify_link_mac(
            b"another secret!!",
            &nonce,
            &link_mac(secret, &nonce)
        ));
        let mut flipped = link_mac(secret, &nonce);
        flipped[31] ^= 1;
        assert!(!verify_link_mac(secret, &nonce, &flipped));
        assert!(!verify_link_mac(secret, &nonce, &flipped[..31]));
    }

    #[test]
    fn link_commands_lie_in_the_reserved_space() {
        for c in [
            CID_OTHER_LINK_CHALLENGE,
            CID_OTHER_LINK_AUTH,
            CID_OTHER_OFFLINE_LOCATE_REQ,
            CID_OTHER_OFFLINE_LOCATE_RSP,
        ] {
            assert!(is_extension_command(c.command_id));
            assert!(crate::registry::lookup(c).is_none(), "not a stock command");
        }
    }

    #[test]
    fn no_stock_command_or_field_lies_in_the_reserved_space() {
        assert!(
            COMMANDS
                .iter()
                .all(|c| !is_extension_command(c.id.command_id))
        );
        for schema in ALL_SCHEMAS {
            assert!(
                schema
                    .fields
                    .iter()
                    .all(|f| f.number < FIRST_EXTENSION_FIELD),
                "{}",
                schema.name
            );
        }
    }
}
