//! How msg_data bytes are kept in TeamTalk's `content varchar(4096)` column.
//!
//! TeamTalk clients send text (their own AES+base64 output, or plain UTF-8),
//! and TeamTalk's tools read `content` as text, so valid UTF-8 is stored as it
//! is. Any other bytes are stored as a marker and their base64:
//!
//! ```text
//! content = "\u{1}ferry-b64:" + base64(standard, padded)(msg_data)
//! ```
//!
//! A valid UTF-8 message that itself starts with the marker is stored in the
//! marked form too, so reading back is exact for every input. The original
//! acked non-UTF-8 messages it failed to store; ferry stores them all, and
//! refuses (never acks) one whose stored form exceeds the column's 4096
//! characters.
//!
//! Audio messages (MsgType 0x02, 0x12) are not kept in `content`: their
//! bytes go to IMAudio and `content` holds the IMAudio id ([`super::audio`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Store;
use super::audio;
use super::message::Outgoing;
use crate::Error;

/// Prefix of the marked form: U+0001 cannot start a TeamTalk client's text.
pub const MARKER: &str = "\u{1}ferry-b64:";
/// TeamTalk's `content varchar(4096)`: characters, not bytes.
pub const MAX_CHARS: usize = 4096;

impl Store {
    /// The `content` text `msg` is stored with. For audio this stores the
    /// audio first and the text is its IMAudio id.
    pub(super) async fn stored_content(&self, msg: &Outgoing<'_>) -> Result<String, Error> {
        if audio::is_audio(msg.msg_type) {
            return self.store_audio(msg).await;
        }
        encode(msg.data).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "msg_data does not fit TeamTalk's content column ({MAX_CHARS} characters)"
            ))
        })
    }
}

/// The column text for `data`, or `None` if it does not fit the column.
pub(super) fn encode(data: &[u8]) -> Option<String> {
    let text = match std::str::from_utf8(data) {
        Ok(s) if !s.starts_with(MARKER) => s.to_owned(),
        _ => format!("{MARKER}{}", STANDARD.encode(data)),
    };
    (text.chars().count() <= MAX_CHARS).then_some(text)
}

/// The msg_data bytes a column text stands for. A marked text whose base64
/// is damaged is returned as it is (a row some other tool wrote).
pub(super) fn decode(text: String) -> Vec<u8> {
    match text
        .strip_prefix(MARKER)
        .and_then(|b| STANDARD.decode(b).ok())
    {
        Some(bytes) => bytes,
        None => text.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_stored_as_is_and_everything_round_trips() {
        assert_eq!(encode(b"hello").as_deref(), Some("hello"));
        assert_eq!(
            encode("x' or '1'='1 \u{1F600}".as_bytes()).unwrap().len(),
            17
        );
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xff],
            vec![0xff, 0xfe],
            vec![0xc3, 0x28, 0x00, 0x01],
            (0..=255).collect(),
            format!("{MARKER}aGk=").into_bytes(),
            b"plain".to_vec(),
        ];
        for data in cases {
            let stored = encode(&data).unwrap();
            assert_eq!(decode(stored), data);
        }
    }

    #[test]
    fn damaged_marked_text_reads_back_as_it_is() {
        let text = format!("{MARKER}Zg=");
        assert_eq!(decode(text.clone()), text.into_bytes());
    }

    #[test]
    fn too_long_for_the_column_is_refused() {
        assert!(encode(&vec![b'a'; MAX_CHARS]).is_some());
        assert!(encode(&vec![b'a'; MAX_CHARS + 1]).is_none());
        // 3072 non-UTF-8 bytes make exactly 4096 base64 chars, plus the marker.
        assert!(encode(&vec![0xff; 3072]).is_none());
        assert!(encode(&vec![0xff; 3000]).is_some());
    }
}
