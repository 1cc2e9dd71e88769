//! Where a transfer's bytes come from and go: a local file, or a
//! generated [`Pattern`] that is never stored (a load generator measures
//! the relay, not its own disk). A pattern sender answers each pull with
//! the pattern's bytes at the asked offset; a pattern receiver compares
//! every answer with the pattern and keeps nothing, so a changed byte is
//! still caught (`is_mismatch`), and offline the relay's SHA-256 is
//! compared with the pattern's.

use std::path::Path;

use sha2::{Digest as _, Sha256};

/// A generated file: the 8 bytes of word `i` (offset `8i..8i+8`) are a
/// hash of `(seed, i)`, so any range can be produced or checked on its own
/// without storing the file, and nothing along the way can compress or
/// deduplicate it. The same seed gives the same bytes on every machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    /// Picks the bytes; two seeds give unrelated files.
    pub seed: u64,
}

impl Pattern {
    /// The pattern of `seed`.
    pub fn new(seed: u64) -> Pattern {
        Pattern { seed }
    }

    fn word(&self, index: u64) -> [u8; 8] {
        // splitmix64 of the seed stepped `index + 1` times.
        let mut z = self
            .seed
            .wrapping_add(index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)).to_le_bytes()
    }

    /// Fills `buf` with the pattern's bytes from `offset` (bytes) on.
    pub fn fill(&self, offset: u64, buf: &mut [u8]) {
        let mut at = offset;
        let mut rest = buf;
        while !rest.is_empty() {
            let skip = (at % 8) as usize;
            let n = (8 - skip).min(rest.len());
            let word = self.word(at / 8);
            rest[..n].copy_from_slice(&word[skip..skip + n]);
            rest = &mut rest[n..];
            at += n as u64;
        }
    }

    /// The first offset in `data` (bytes from `offset`) that differs from
    /// the pattern, if any.
    pub fn first_difference(&self, offset: u64, data: &[u8]) -> Option<u64> {
        let mut expected = [0u8; 4096];
        for (i, chunk) in data.chunks(expected.len()).enumerate() {
            let at = offset + (i * expected.len()) as u64;
            let want = &mut expected[..chunk.len()];
            self.fill(at, want);
            if want != chunk {
                let j = want.iter().zip(chunk).position(|(a, b)| a != b);
                return Some(at + j.unwrap_or(0) as u64);
            }
        }
        None
    }

    /// The SHA-256 of the pattern's first `size` bytes.
    pub fn sha256(&self, size: u64) -> [u8; 32] {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut at = 0;
        while at < size {
            let n = (size - at).min(buf.len() as u64) as usize;
            self.fill(at, &mut buf[..n]);
            hasher.update(&buf[..n]);
            at += n as u64;
        }
        hasher.finalize().into()
    }
}

/// Where a sender's bytes come from, or where a receiver's go.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// A local file: read by a sender (it must have the task's size),
    /// appended to by a receiver (a partial file is resumed).
    File(&'a Path),
    /// A generated pattern: answered from by a sender, checked and
    /// discarded by a receiver.
    Pattern(Pattern),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_range_is_the_same_bytes_as_the_whole() {
        let p = Pattern::new(7);
        let mut whole = vec![0u8; 1000];
        p.fill(0, &mut whole);
        for (offset, len) in [(0, 1), (3, 17), (8, 8), (13, 900), (999, 1)] {
            let mut part = vec![0u8; len];
            p.fill(offset as u64, &mut part);
            assert_eq!(part, whole[offset..offset + len], "{offset}+{len}");
        }
        assert_eq!(p.first_difference(5, &whole[5..]), None);
        let mut bad = whole[100..].to_vec();
        bad[600] ^= 1;
        assert_eq!(p.first_difference(100, &bad), Some(700));
        let mut other = vec![0u8; 1000];
        Pattern::new(8).fill(0, &mut other);
        assert_ne!(other, whole, "another seed, other bytes");
        let digest: [u8; 32] = Sha256::digest(&whole).into();
        assert_eq!(p.sha256(1000), digest);
    }
}
