//! Content-addressed sharing for instant upload. A complete file's data is
//! given a second name `blobs/<sha[0..2]>/<sha hex>-<size>` (a hard link)
//! the first time another task wants the same bytes, and the new task's
//! `data` becomes a third name of the same inode: nothing is copied.
//!
//! The reference count is the inode's link count: deleting a task removes
//! its `data` name, and the blob's own name goes when it is the last one
//! (link count 1). Recovery reports a blob with link count 1 as an orphan
//! (a delete cut short), and sweep or repair removes it. Hard links keep
//! this correct across shards: no shard needs to know who else links.
//! The relay never writes to a complete task's data (the task state
//! machine refuses), so a shared inode never changes.

use std::path::Path;

use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::health::Health;
use crate::layout::Layout;

/// Makes sure the blob of (`sha256`, `size`) exists, linking it to
/// `source` (a complete task's data file) if not, with its directory
/// entries synced. Returns the blob's path. Errors: `Io` (a failed sync
/// also poisons `health`).
pub fn ensure(
    fs: &dyn FileSystem,
    layout: &Layout,
    health: &Health,
    sha256: &[u8; 32],
    size: u64,
    source: &Path,
) -> Result<std::path::PathBuf> {
    let path = layout.blob(sha256, size);
    if fs.exists(&path) {
        return Ok(path);
    }
    let blobs = layout.blobs_dir();
    let dir = layout.blob_dir(sha256);
    if !fs.exists(&blobs) {
        fs.create_dir(&blobs).map_err(|e| Error::io(&blobs, e))?;
        health.synced(layout.root(), fs.sync_dir(layout.root()))?;
    }
    if !fs.exists(&dir) {
        fs.create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        health.synced(&blobs, fs.sync_dir(&blobs))?;
    }
    fs.hard_link(source, &path)
        .map_err(|e| Error::io(&path, e))?;
    health.synced(&dir, fs.sync_dir(&dir))?;
    Ok(path)
}

/// Removes the blob of (`sha256`, `size`) if no task links to it any more.
/// Returns whether it was removed.
pub fn release(
    fs: &dyn FileSystem,
    layout: &Layout,
    health: &Health,
    sha256: &[u8; 32],
    size: u64,
) -> Result<bool> {
    let path = layout.blob(sha256, size);
    match fs.links(&path) {
        Ok(1) => {
            fs.remove_file(&path).map_err(|e| Error::io(&path, e))?;
            let dir = layout.blob_dir(sha256);
            health.synced(&dir, fs.sync_dir(&dir))?;
            Ok(true)
        }
        Ok(_) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(&path, e)),
    }
}
