//! The store's owner lock: `root/LOCK`, held with flock(2) (exclusive,
//! never waited for) by the one process that may write the store: a relay
//! serving it, or `ferry store repair` / `import-teamtalk` on it. Two
//! relays on one root, or a repair under a running relay, would each
//! trust records the other is rewriting; with the lock the second is
//! refused at start with [`Error::Locked`]. `ferry store check` only reads,
//! and says when a relay holds the store.
//!
//! The kernel drops a flock when its holder's file is closed, and so when
//! the process exits or is killed: a crashed relay leaves nothing to clean
//! up, and the file itself is never removed. Advisory only: it binds the
//! processes that ask for it (every ferry command that writes a store).

use std::fs::{File, OpenOptions};
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

use crate::error::{Error, Result};
use crate::layout::Layout;

/// Held while alive: the store under its root is this process's to write.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    /// Takes the lock of the store at `root` (created if missing, with
    /// `root`). Errors: [`Error::Locked`] if another holder has it (another
    /// relay, a repair); `Io` if the file cannot be made or locked.
    pub fn acquire(root: &Path) -> Result<StoreLock> {
        let path = Layout::new(root).lock();
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(StoreLock { _file: file }),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(Error::Locked(format!(
                "{} is held by another process (a relay serving this store, or a repair)",
                path.display()
            ))),
            Err(e) => Err(Error::io(&path, e.into())),
        }
    }

    /// Whether another process holds the lock of the store at `root` now
    /// (a relay serving it); false when there is no lock file. Errors:
    /// `Io` if the file exists but cannot be opened or tested.
    pub fn held_elsewhere(root: &Path) -> Result<bool> {
        let path = Layout::new(root).lock();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io(&path, e)),
        };
        match flock(&file, FlockOperation::NonBlockingLockShared) {
            // Taken for a moment and let go when `file` closes.
            Ok(()) => Ok(false),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(true),
            Err(e) => Err(Error::io(&path, e.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        assert!(
            !StoreLock::held_elsewhere(&root).unwrap(),
            "no lock file yet"
        );
        let first = StoreLock::acquire(&root).unwrap();
        // A second open file description conflicts even in one process,
        // as another process's would.
        let second = StoreLock::acquire(&root);
        assert!(matches!(second, Err(Error::Locked(_))), "{second:?}");
        assert!(StoreLock::held_elsewhere(&root).unwrap());
        drop(first);
        assert!(!StoreLock::held_elsewhere(&root).unwrap());
        let _again = StoreLock::acquire(&root).unwrap();
    }
}
