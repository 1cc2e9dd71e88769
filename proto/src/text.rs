//! Text fields are bytes.
//!
//! TeamTalk's `.proto` files declare names, task ids, tokens and the like as
//! proto2 `string`, but its C++ servers never check that they are UTF-8, and
//! Windows clients send file and user names in the system code page (GBK on
//! Chinese Windows). ferry therefore generates every `string` field as
//! [`bytes::Bytes`] (see `build.rs`): a request is never refused, dropped or
//! allowed to close a link over its encoding, and what a peer sent is stored
//! and sent back byte for byte.
//!
//! Two helpers cover what callers need on top:
//!
//! - [`show`] formats text for logs: valid UTF-8 as itself, every byte that
//!   is not as `\xNN`, control characters escaped (a name cannot forge a log
//!   line), cut after [`SHOWN_BYTES`] bytes with the full length given.
//! - [`utf8`] is the `str` view of text that is valid UTF-8, for a caller
//!   whose use needs one (a SQL text column, a number in a string).

use std::fmt;

/// Bytes of a text field that [`show`] prints before it cuts.
pub const SHOWN_BYTES: usize = 96;

/// `text` as `str` if it is valid UTF-8.
pub fn utf8(text: &[u8]) -> Option<&str> {
    std::str::from_utf8(text).ok()
}

/// A text field, ready for a log line; see the module docs.
pub fn show(text: &[u8]) -> Shown<'_> {
    Shown(text)
}

/// What [`show`] returns; its `Display` writes the escaped text.
#[derive(Clone, Copy)]
pub struct Shown<'a>(&'a [u8]);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cut = self.0.len() > SHOWN_BYTES;
        let head = &self.0[..self.0.len().min(SHOWN_BYTES)];
        for chunk in head.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() || c == '\\' {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    f.write_fmt(format_args!("{c}"))?;
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        if cut {
            write!(f, "…({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_text_is_shown_as_itself() {
        assert_eq!(show("报告.pdf".as_bytes()).to_string(), "报告.pdf");
        assert_eq!(utf8("报告.pdf".as_bytes()), Some("报告.pdf"));
    }

    #[test]
    fn gbk_bytes_are_escaped_not_lost() {
        // "报告.pdf" in GBK: not UTF-8.
        let gbk = [0xb1, 0xa8, 0xb8, 0xe6, b'.', b'p', b'd', b'f'];
        assert_eq!(utf8(&gbk), None);
        assert_eq!(show(&gbk).to_string(), "\\xb1\\xa8\\xb8\\xe6.pdf");
    }

    #[test]
    fn control_characters_cannot_forge_a_log_line() {
        assert_eq!(
            show(b"a\nlevel=ERROR\\x").to_string(),
            "a\\nlevel=ERROR\\\\x"
        );
        assert_eq!(format!("{:?}", show(b"x\0")), "\"x\\u{0}\"");
    }

    #[test]
    fn long_text_is_cut_with_its_length() {
        let long = vec![b'a'; 4096];
        let shown = show(&long).to_string();
        assert_eq!(shown, format!("{}…(4096 bytes)", "a".repeat(SHOWN_BYTES)));
    }
}
