//! How a file of `file_size` bytes is cut into blocks of `block_size`
//! bytes, and how a block is cut into pulls. Pure arithmetic, u64 offsets
//! throughout (files past 4 GiB are first-class).

use crate::error::{Error, Result};

/// Largest pull a stock TeamTalk peer makes: its offline segment is 32768
/// bytes (PROTOCOL.md §d, "Block/segment size").
pub const STOCK_PULL: u32 = 32 * 1024;

/// The block grid of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// File size in bytes.
    pub file_size: u64,
    /// Block size in bytes (> 0); the last block may be shorter.
    pub block_size: u32,
}

impl Geometry {
    /// A grid for `file_size` bytes in blocks of `block_size` bytes.
    /// Errors: `InvalidArgument` if `block_size` is 0 or the block count
    /// does not fit a u32.
    pub fn new(file_size: u64, block_size: u32) -> Result<Geometry> {
        if block_size == 0 {
            return Err(Error::InvalidArgument("block size 0".into()));
        }
        let g = Geometry {
            file_size,
            block_size,
        };
        if file_size.div_ceil(u64::from(block_size)) > u64::from(u32::MAX) {
            return Err(Error::InvalidArgument(format!(
                "{file_size} bytes need more than 2^32 blocks of {block_size}"
            )));
        }
        Ok(g)
    }

    /// Number of blocks (0 for an empty file).
    pub fn block_count(&self) -> u32 {
        // Checked in `new`.
        self.file_size.div_ceil(u64::from(self.block_size)) as u32
    }

    /// File offset (bytes) where `block` starts.
    pub fn block_offset(&self, block: u32) -> u64 {
        u64::from(block) * u64::from(self.block_size)
    }

    /// Length in bytes of `block` (the last one may be short; 0 past the end).
    pub fn block_len(&self, block: u32) -> u32 {
        let start = self.block_offset(block);
        if start >= self.file_size {
            return 0;
        }
        (self.file_size - start).min(u64::from(self.block_size)) as u32
    }

    /// The block holding byte `offset`.
    pub fn block_of(&self, offset: u64) -> u32 {
        (offset / u64::from(self.block_size)) as u32
    }

    /// Splits `block` into pulls of at most `max_pull` bytes (`max_pull` 0
    /// is taken as [`STOCK_PULL`]): `(file offset, length in bytes)` pairs
    /// in order that cover the block exactly and never cross into the next.
    pub fn pulls(&self, block: u32, max_pull: u32) -> impl Iterator<Item = (u64, u32)> + use<> {
        let max_pull = if max_pull == 0 { STOCK_PULL } else { max_pull };
        let start = self.block_offset(block);
        let len = self.block_len(block);
        (0..len.div_ceil(max_pull)).map(move |i| {
            let off = i * max_pull;
            (start + u64::from(off), (len - off).min(max_pull))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_the_file_and_the_tail_is_short() {
        let g = Geometry::new(10, 4).unwrap();
        assert_eq!(g.block_count(), 3);
        assert_eq!(
            (0..3).map(|b| g.block_len(b)).collect::<Vec<_>>(),
            [4, 4, 2]
        );
        assert_eq!(g.block_of(9), 2);
        assert_eq!(Geometry::new(0, 4).unwrap().block_count(), 0);
        assert_eq!(Geometry::new(8, 4).unwrap().block_count(), 2);
    }

    #[test]
    fn pulls_never_cross_a_block() {
        let g = Geometry::new(5 << 30, 1 << 20).unwrap();
        assert_eq!(g.block_count(), 5120);
        let last = g.block_count() - 1;
        let pulls: Vec<_> = g.pulls(last, 0).collect();
        assert_eq!(pulls.len(), 32);
        assert_eq!(pulls[0], ((5 << 30) - (1 << 20), STOCK_PULL));
        let g = Geometry::new(100_000, 65_536).unwrap();
        let p: Vec<_> = g.pulls(1, 32_768).collect();
        assert_eq!(p, [(65_536, 32_768), (98_304, 1_696)]);
        assert!(Geometry::new(u64::MAX, 1).is_err());
        assert!(Geometry::new(1, 0).is_err());
    }
}
