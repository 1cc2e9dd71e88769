//! The poison flag shared by a store, its shards and every task it hands
//! out. Once a sync has failed, the kernel may already have dropped the
//! dirty pages it could not write (and report success to the next fsync),
//! so nothing may be claimed durable again: every call returns
//! [`Error::Poisoned`] until the process restarts and recovery reads what
//! really is on disk.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// Shared by everything of one store; cheap to check.
#[derive(Debug, Default)]
pub struct Health {
    poisoned: AtomicBool,
}

impl Health {
    /// Marks the store failed for good (until restart).
    pub fn poison(&self) {
        if !self.poisoned.swap(true, Ordering::SeqCst) {
            tracing::error!("storage poisoned: a sync failed; refusing every call until restart");
        }
    }

    /// True once [`Health::poison`] was called.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::SeqCst)
    }

    /// `Err(Poisoned)` once poisoned.
    pub fn check(&self) -> Result<()> {
        if self.is_poisoned() {
            Err(Error::Poisoned)
        } else {
            Ok(())
        }
    }
}

impl Health {
    /// Passes a sync's result through, poisoning the store if it failed.
    /// The failing call reports the `Io` error; every later call `Poisoned`.
    pub fn synced(&self, path: &std::path::Path, r: std::io::Result<()>) -> Result<()> {
        r.map_err(|e| {
            self.poison();
            Error::io(path, e)
        })
    }
}
