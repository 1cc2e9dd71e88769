//! The quota ledger: bytes held by all tasks and by each sending user,
//! shared by every shard of a store (one per relay core). Only create and
//! delete touch it, so a mutex for the per-user map costs nothing on the
//! data path.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Declared bytes of the stored tasks, in total and per sending user.
#[derive(Debug, Default)]
pub struct Ledger {
    total: AtomicU64,
    users: Mutex<HashMap<u32, u64>>,
}

impl Ledger {
    /// Bytes held by all tasks.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::SeqCst)
    }

    /// Bytes held by `user`'s tasks.
    pub fn user(&self, user: u32) -> u64 {
        self.users
            .lock()
            .expect("ledger lock")
            .get(&user)
            .copied()
            .unwrap_or(0)
    }

    /// Takes `bytes` for `user` unless that passes `total_limit` or
    /// `user_limit` (0 = no limit). Errors: `UserQuotaExceeded` or
    /// `QuotaExceeded`.
    pub fn reserve(&self, user: u32, bytes: u64, total_limit: u64, user_limit: u64) -> Result<()> {
        let mut users = self.users.lock().expect("ledger lock");
        let held = users.get(&user).copied().unwrap_or(0);
        if user_limit != 0 && held.saturating_add(bytes) > user_limit {
            return Err(Error::UserQuotaExceeded(format!(
                "user {user} holds {held} of {user_limit} bytes; {bytes} more refused"
            )));
        }
        let total = self.total();
        if total_limit != 0 && total.saturating_add(bytes) > total_limit {
            return Err(Error::QuotaExceeded(format!(
                "store holds {total} of {total_limit} bytes; {bytes} more refused"
            )));
        }
        *users.entry(user).or_default() += bytes;
        self.total.fetch_add(bytes, Ordering::SeqCst);
        Ok(())
    }

    /// Gives back what [`Ledger::reserve`] took.
    pub fn release(&self, user: u32, bytes: u64) {
        let mut users = self.users.lock().expect("ledger lock");
        if let Some(held) = users.get_mut(&user) {
            *held = held.saturating_sub(bytes);
            if *held == 0 {
                users.remove(&user);
            }
        }
        self.total
            .fetch_sub(bytes.min(self.total()), Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_checked_before_anything_is_taken() {
        let l = Ledger::default();
        l.reserve(1, 60, 100, 80).unwrap();
        assert!(matches!(
            l.reserve(1, 30, 100, 80),
            Err(Error::UserQuotaExceeded(_))
        ));
        assert!(matches!(
            l.reserve(2, 50, 100, 80),
            Err(Error::QuotaExceeded(_))
        ));
        l.reserve(2, 40, 100, 80).unwrap();
        assert_eq!((l.total(), l.user(1), l.user(2)), (100, 60, 40));
        l.release(1, 60);
        assert_eq!((l.total(), l.user(1)), (40, 0));
        l.reserve(3, 1 << 40, 0, 0).unwrap();
    }
}
