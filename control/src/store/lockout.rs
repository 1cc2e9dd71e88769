//! Login failure limiting, as TeamTalk's db_proxy does it: per user name, the
//! times of failed attempts in the last 30 minutes; with more than 10 of them
//! the name is refused (result 6) whatever the password, until they age out.
//! A successful login clears the name's list. Names are keyed as the bytes
//! the client sent (any encoding, see `ferry_proto::text`).
//!
//! The map lives behind a `std::sync::Mutex` that is only ever held for a few
//! map operations, never across an `.await`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The window failures are counted in (TeamTalk: 30 minutes).
pub const WINDOW_SECS: u64 = 30 * 60;
/// More failures than this inside the window lock the name (TeamTalk: 10).
pub const MAX_FAILURES: usize = 10;
/// Names tracked at most; past this, names with no recent failure are swept.
const MAX_NAMES: usize = 100_000;

#[derive(Debug, Default)]
pub struct Lockout {
    failures: Mutex<HashMap<Vec<u8>, VecDeque<u64>>>,
}

impl Lockout {
    /// True when `name` has more than [`MAX_FAILURES`] failures in the window
    /// ending at `now` (unix seconds).
    pub fn is_locked(&self, name: &[u8], now: u64) -> bool {
        let mut map = self.failures.lock().expect("lockout map poisoned");
        let Some(times) = map.get_mut(name) else {
            return false;
        };
        expire(times, now);
        times.len() > MAX_FAILURES
    }

    pub fn record_failure(&self, name: &[u8], now: u64) {
        let mut map = self.failures.lock().expect("lockout map poisoned");
        if map.len() >= MAX_NAMES && !map.contains_key(name) {
            map.retain(|_, times| {
                expire(times, now);
                !times.is_empty()
            });
        }
        let times = map.entry(name.to_owned()).or_default();
        expire(times, now);
        times.push_back(now);
    }

    pub fn clear(&self, name: &[u8]) {
        self.failures
            .lock()
            .expect("lockout map poisoned")
            .remove(name);
    }
}

/// Drops failures older than the window (oldest first in the deque).
fn expire(times: &mut VecDeque<u64>, now: u64) {
    while times
        .front()
        .is_some_and(|&t| now.saturating_sub(t) > WINDOW_SECS)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_ten_failures_in_thirty_minutes_lock_the_name() {
        let l = Lockout::default();
        for i in 0..10 {
            l.record_failure(b"alice", 1000 + i);
        }
        assert!(!l.is_locked(b"alice", 1010), "10 failures are allowed");
        l.record_failure(b"alice", 1011);
        assert!(l.is_locked(b"alice", 1011));
        assert!(!l.is_locked(b"bob", 1011), "keyed on the name");
        // The oldest failure (t=1000) ages out after 30 minutes: 10 remain.
        assert!(l.is_locked(b"alice", 1000 + WINDOW_SECS));
        assert!(!l.is_locked(b"alice", 1001 + WINDOW_SECS));
        l.record_failure(b"alice", 1001 + WINDOW_SECS);
        assert!(l.is_locked(b"alice", 1001 + WINDOW_SECS));
        l.clear(b"alice");
        assert!(!l.is_locked(b"alice", 1001 + WINDOW_SECS));
    }
}
