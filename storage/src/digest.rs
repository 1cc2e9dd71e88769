//! The whole-file SHA-256 of an upload, fed two ways:
//!
//! - **Running**, as pieces are written: each piece the relay wrote goes
//!   into the digest if it is the next byte of the file; a piece that
//!   arrives ahead (several connections answer out of order) is held,
//!   up to `offline.digest_hold_bytes`, until the gap before it is
//!   written. A single connection answers in order, so its upload is
//!   digested by the time its last piece is written.
//! - **Read back**, once every block is committed: the relay reads the
//!   blocks the running digest did not reach and feeds them in order,
//!   each one's CRC32C checked on the way. This covers what the running
//!   digest cannot: an upload resumed after a restart (the blocks
//!   committed before it are not in memory), a piece held past the bound,
//!   a block asked again after it was fed.
//!
//! The running digest hashes the bytes that were written (the same bytes
//! each block's CRC32C was computed from); the read-back hashes what the
//! disk returns. Either way, every later read of a block is checked
//! against its CRC32C before it is served.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::geometry::Geometry;
use crate::task::Task;

/// SHA-256 of an empty file.
pub fn empty_sha256() -> [u8; 32] {
    Sha256::digest([]).into()
}

/// A SHA-256 being fed a task's bytes in file order.
#[derive(Debug, Clone, Default)]
pub struct Digest {
    sha: Sha256,
    /// Bytes of the file fed (the next byte's offset).
    fed: u64,
    /// The first block not wholly fed.
    next: u32,
}

impl Digest {
    /// An empty digest; feed it block 0 first.
    pub fn new() -> Digest {
        Digest::default()
    }

    /// The block to feed next (its bytes before [`Digest::fed`] are in
    /// already, when the running digest stopped inside it).
    pub fn next_block(&self) -> u32 {
        self.next
    }

    /// Bytes of the file fed so far.
    pub fn fed(&self) -> u64 {
        self.fed
    }

    /// Feeds `block`'s whole bytes, read back, after checking them with
    /// [`Task::verify`]; only the part past [`Digest::fed`] goes into the
    /// SHA-256. Errors: `InvalidArgument` if `block` is not the next one;
    /// `Corruption` if the bytes fail their CRC (call [`Task::mark_bad`]).
    pub fn update(&mut self, task: &Task, block: u32, bytes: &[u8]) -> Result<()> {
        if block != self.next {
            return Err(Error::InvalidArgument(format!(
                "digest wants block {}, got {block}",
                self.next
            )));
        }
        task.verify(block, bytes)?;
        let start = task.geometry().block_offset(block);
        let skip = (self.fed - start) as usize;
        self.sha.update(&bytes[skip..]);
        self.fed = start + bytes.len() as u64;
        self.next += 1;
        Ok(())
    }

    /// Feeds `bytes`, the file's bytes at [`Digest::fed`], which lie in
    /// block [`Digest::next_block`] (pieces never cross a block).
    fn feed(&mut self, g: &Geometry, bytes: &[u8]) {
        self.sha.update(bytes);
        self.fed += bytes.len() as u64;
        let end = g.block_offset(self.next) + u64::from(g.block_len(self.next));
        if self.fed == end {
            self.next += 1;
        }
    }

    /// The SHA-256 once `block_count` blocks were fed. Errors:
    /// `InvalidArgument` if some were not.
    pub fn finish(self, block_count: u32) -> Result<[u8; 32]> {
        if self.next != block_count {
            return Err(Error::InvalidArgument(format!(
                "digest fed {} of {block_count} blocks",
                self.next
            )));
        }
        Ok(self.sha.finalize().into())
    }
}

/// The running digest of an upload: the [`Digest`] of the pieces written
/// so far in file order, and copies of the pieces written ahead of it,
/// held until the gap before them is filled. Copied, so what is held is
/// what is counted (a piece's frame may share its buffer with others).
#[derive(Debug)]
pub(crate) struct Running {
    digest: Digest,
    /// Pieces past `digest.fed`, by file offset.
    held: BTreeMap<u64, Box<[u8]>>,
    held_bytes: u64,
    /// Most bytes `held` may take.
    hold: u64,
    /// A piece came past the hold: the digest keeps what it has and takes
    /// nothing more (the digest pass reads back the rest).
    frozen: bool,
}

/// What [`Running::piece`] and [`Running::forget`] made of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fed {
    /// The digest is still good (it may have stopped taking pieces).
    Kept,
    /// Bytes the digest has fed are being written again: drop it; the
    /// digest pass reads the whole file back.
    Invalid,
}

impl Running {
    /// A running digest from the file's first byte, holding at most `hold`
    /// bytes of pieces that arrive ahead.
    pub(crate) fn new(hold: u64) -> Running {
        Running {
            digest: Digest::new(),
            held: BTreeMap::new(),
            held_bytes: 0,
            hold,
            frozen: false,
        }
    }

    /// A piece was written at file offset `offset`.
    pub(crate) fn piece(&mut self, g: &Geometry, offset: u64, bytes: &[u8]) -> Fed {
        let fed = self.digest.fed;
        if offset < fed {
            // Bytes fed already are being written again.
            return Fed::Invalid;
        }
        if self.frozen {
            return Fed::Kept;
        }
        if offset > fed {
            if self.held_bytes + bytes.len() as u64 > self.hold {
                self.freeze();
                return Fed::Kept;
            }
            self.held_bytes += bytes.len() as u64;
            if let Some(old) = self.held.insert(offset, bytes.into()) {
                self.held_bytes -= old.len() as u64;
            }
            return Fed::Kept;
        }
        self.digest.feed(g, bytes);
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() != self.digest.fed {
                break;
            }
            let next = entry.remove();
            self.held_bytes -= next.len() as u64;
            self.digest.feed(g, &next);
        }
        Fed::Kept
    }

    /// Block `block` (bytes `start..end` of the file) will be written
    /// again: its held pieces are dropped; if the digest has fed any of
    /// its bytes it cannot go on.
    pub(crate) fn forget(&mut self, start: u64, end: u64) -> Fed {
        if self.digest.fed > start {
            return Fed::Invalid;
        }
        let dropped: Vec<u64> = self.held.range(start..end).map(|(&k, _)| k).collect();
        for k in dropped {
            if let Some(b) = self.held.remove(&k) {
                self.held_bytes -= b.len() as u64;
            }
        }
        Fed::Kept
    }

    /// Lets go of the pieces held ahead: the digest keeps what it fed and
    /// takes nothing more (the digest pass reads back the rest).
    pub(crate) fn freeze(&mut self) {
        self.frozen = true;
        self.held = BTreeMap::new();
        self.held_bytes = 0;
    }

    /// Sets the most bytes held ahead; pieces held beyond it stay until fed.
    pub(crate) fn set_hold(&mut self, hold: u64) {
        self.hold = hold;
    }

    /// Whether the digest stopped taking pieces (one came past the hold).
    #[cfg(test)]
    pub(crate) fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Bytes of pieces held ahead of the digest.
    pub(crate) fn held_bytes(&self) -> u64 {
        self.held_bytes
    }

    /// The digest so far; the held pieces are dropped.
    pub(crate) fn into_digest(self) -> Digest {
        self.digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> Geometry {
        Geometry::new(10_000, 4096).unwrap()
    }

    fn piece(file: &[u8], at: usize, len: usize) -> &[u8] {
        &file[at..at + len]
    }

    #[test]
    fn in_order_pieces_give_the_file_sha256() {
        let g = geometry();
        let file: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = Running::new(0);
        for at in (0..10_000).step_by(1024) {
            let len = 1024.min(10_000 - at);
            assert_eq!(r.piece(&g, at as u64, piece(&file, at, len)), Fed::Kept);
        }
        let d = r.into_digest();
        assert_eq!((d.fed(), d.next_block()), (10_000, 3));
        assert_eq!(
            d.finish(3).unwrap(),
            <[u8; 32]>::from(Sha256::digest(&file))
        );
    }

    #[test]
    fn pieces_ahead_are_held_within_the_bound() {
        let g = geometry();
        let file = vec![7u8; 10_000];
        let mut r = Running::new(2048);
        assert_eq!(r.piece(&g, 1024, piece(&file, 1024, 1024)), Fed::Kept);
        assert_eq!(r.piece(&g, 2048, piece(&file, 2048, 1024)), Fed::Kept);
        assert_eq!(r.held_bytes(), 2048);
        assert_eq!(r.piece(&g, 0, piece(&file, 0, 1024)), Fed::Kept);
        assert_eq!((r.held_bytes(), r.digest.fed()), (0, 3072));
        // Two ahead fit; a third passes the bound: the digest keeps what it
        // fed and takes nothing more, not even the next piece in order.
        assert_eq!(r.piece(&g, 4096, piece(&file, 4096, 1024)), Fed::Kept);
        assert_eq!(r.piece(&g, 5120, piece(&file, 5120, 1024)), Fed::Kept);
        assert_eq!(r.piece(&g, 6144, piece(&file, 6144, 1024)), Fed::Kept);
        assert!(r.is_frozen());
        assert_eq!(r.held_bytes(), 0, "held pieces let go");
        assert_eq!(r.piece(&g, 3072, piece(&file, 3072, 1024)), Fed::Kept);
        let d = r.into_digest();
        assert_eq!((d.fed(), d.next_block()), (3072, 0));
    }

    #[test]
    fn a_piece_behind_the_digest_or_a_fed_block_again_invalidates_it() {
        let g = geometry();
        let file = vec![1u8; 10_000];
        let mut r = Running::new(1 << 20);
        assert_eq!(r.piece(&g, 0, piece(&file, 0, 1024)), Fed::Kept);
        assert_eq!(r.piece(&g, 0, piece(&file, 0, 1024)), Fed::Invalid);
        let mut r = Running::new(1 << 20);
        assert_eq!(r.piece(&g, 0, piece(&file, 0, 1024)), Fed::Kept);
        // Block 1 held, then asked again: forgotten, the digest goes on.
        assert_eq!(r.piece(&g, 4096, piece(&file, 4096, 4096)), Fed::Kept);
        assert_eq!(r.forget(4096, 8192), Fed::Kept);
        assert_eq!(r.held_bytes(), 0);
        // Block 0 partly fed, then asked again: the digest cannot go on.
        assert_eq!(r.forget(0, 4096), Fed::Invalid);
    }
}
