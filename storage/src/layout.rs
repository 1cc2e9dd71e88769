//! Where things live under the store's root directory. Only validated task
//! ids ([`TaskId`]) and hex digests ever become path components; a peer's
//! file name never does.
//!
//! ```text
//! root/
//!   LOCK                                held (flock) by the process that owns the store (lock.rs)
//!   tasks/<id[0..2]>/<id[2..4]>/<id>/   one directory per task (fan-out 256×256)
//!     data                              the file's bytes, preallocated to its size
//!     manifest                          two record slots (manifest.rs)
//!   blobs/<sha[0..2]>/<sha hex>-<size>  hard link to a complete file's data,
//!                                       shared by instant uploads (blob.rs)
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A task id that passed `ferry_proto::validate_task_id`: 36 bytes of
/// lowercase hex and hyphens, safe as a path component.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId([u8; 36]);

impl TaskId {
    /// Validates `text` (bytes as a peer sent them). Errors:
    /// `InvalidArgument` for anything but a lowercase hyphenated UUID.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(text: &T) -> Result<TaskId> {
        let s = ferry_proto::validate_task_id(text)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let mut id = [0u8; 36];
        id.copy_from_slice(s.as_bytes());
        Ok(TaskId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII was accepted in `parse`.
        std::str::from_utf8(&self.0).expect("ASCII task id")
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8; 36] {
        &self.0
    }
}

impl AsRef<[u8]> for TaskId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.as_str())
    }
}

/// Name of a task's data file.
pub const DATA: &str = "data";
/// Name of a task's manifest file.
pub const MANIFEST: &str = "manifest";

/// Paths under one store root.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/LOCK`: the owner lock's file (`lock.rs`).
    pub fn lock(&self) -> PathBuf {
        self.root.join("LOCK")
    }

    /// `root/tasks`.
    pub fn tasks_dir(&self) -> PathBuf {
        self.root.join("tasks")
    }

    /// `root/blobs`.
    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    /// The fan-out directories of a task, outermost first:
    /// `tasks/ab`, `tasks/ab/cd`.
    pub fn fanout(&self, id: &TaskId) -> [PathBuf; 2] {
        let s = id.as_str();
        let first = self.tasks_dir().join(&s[0..2]);
        let second = first.join(&s[2..4]);
        [first, second]
    }

    /// `tasks/ab/cd/<id>`.
    pub fn task_dir(&self, id: &TaskId) -> PathBuf {
        let [_, second] = self.fanout(id);
        second.join(id.as_str())
    }

    /// The task's data file.
    pub fn data(&self, id: &TaskId) -> PathBuf {
        self.task_dir(id).join(DATA)
    }

    /// The task's manifest file.
    pub fn manifest(&self, id: &TaskId) -> PathBuf {
        self.task_dir(id).join(MANIFEST)
    }

    /// The directory holding the blob of (`sha256`, `size`).
    pub fn blob_dir(&self, sha256: &[u8; 32]) -> PathBuf {
        self.blobs_dir().join(&hex(sha256)[0..2])
    }

    /// The blob of (`sha256`, `size` bytes).
    pub fn blob(&self, sha256: &[u8; 32], size: u64) -> PathBuf {
        self.blob_dir(sha256)
            .join(format!("{}-{size}", hex(sha256)))
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uuid_text_becomes_a_path() {
        let id = TaskId::parse("6f9619ff-8b86-4d11-b42d-00c04fc964ff").unwrap();
        let l = Layout::new("/srv/ferry");
        assert_eq!(
            l.data(&id),
            Path::new("/srv/ferry/tasks/6f/96/6f9619ff-8b86-4d11-b42d-00c04fc964ff/data")
        );
        for bad in [
            "../../../../../../etc/passwd",
            "6F9619FF-8B86-4D11-B42D-00C04FC964FF",
            "6f9619ff-8b86-4d11-b42d-00c04fc964f/",
            "6f9619ff/8b86-4d11-b42d-00c04fc964ff",
            "",
        ] {
            assert!(TaskId::parse(bad).is_err(), "{bad}");
        }
        assert!(TaskId::parse(b"6f9619ff-8b86-4d11-b42d-00c04fc964\xff\xff").is_err());
    }
}
