//! The whole-file SHA-256, computed once every block is committed by
//! reading the blocks back in order. Reading back (rather than hashing as
//! pieces arrive) works with blocks uploaded out of order, over several
//! connections and across restarts, and checks every block's CRC32C on the
//! way: the digest is of the bytes on disk, not of the bytes once sent.

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::task::Task;

/// SHA-256 of an empty file.
pub fn empty_sha256() -> [u8; 32] {
    Sha256::digest([]).into()
}

/// A SHA-256 being fed a task's blocks in order.
#[derive(Debug, Clone, Default)]
pub struct Digest {
    sha: Sha256,
    next: u32,
}

impl Digest {
    /// An empty digest; feed it block 0 first.
    pub fn new() -> Digest {
        Digest::default()
    }

    /// The block to feed next.
    pub fn next_block(&self) -> u32 {
        self.next
    }

    /// Feeds `block`'s whole bytes after checking them with
    /// [`Task::verify`]. Errors: `InvalidArgument` if `block` is not the
    /// next one; `Corruption` if the bytes fail their CRC (call
    /// [`Task::mark_bad`]).
    pub fn update(&mut self, task: &Task, block: u32, bytes: &[u8]) -> Result<()> {
        if block != self.next {
            return Err(Error::InvalidArgument(format!(
                "digest wants block {}, got {block}",
                self.next
            )));
        }
        task.verify(block, bytes)?;
        self.sha.update(bytes);
        self.next += 1;
        Ok(())
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
