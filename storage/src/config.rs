//! The offline store's settings: the `[offline]` section of ferry's TOML
//! file (beside the relay's `enabled`), keys named `offline.<key>` in
//! config check and `--set`.
//!
//! ```toml
//! [offline]
//! root = "data/offline"     # the store's directory
//! block_size = "1MiB"       # unit of checksums, commits and resume
//! max_file_size = "64GiB"   # largest file accepted
//! quota_bytes = "0B"        # all stored files together; 0 = no limit
//! user_quota_bytes = "0B"   # one sending user's files; 0 = no limit
//! offline_ttl = "7days"     # a complete file is deleted this long after its upload began
//! incomplete_ttl = "1day"   # an upload nobody finishes is deleted after this
//! min_free_bytes = "1GiB"   # a task that would leave less free is refused
//! preallocate = true        # reserve a file's space at create (fallocate)
//! instant_upload = "sender" # reuse stored bytes by SHA-256: "sender", "any" or "off"
//! digest_hold_bytes = "8MiB" # pieces held ahead of an upload's running SHA-256
//! ```

use std::path::PathBuf;
use std::time::Duration;

use ferry_config::value::{duration, size};
use ferry_config::{Problems, Validate};
use serde::{Deserialize, Serialize};

/// Smallest block size accepted (bytes).
pub const MIN_BLOCK: u32 = 4 * 1024;
/// Largest block size accepted (bytes): one block is read whole to serve
/// any part of it, so it bounds a download's buffer.
pub const MAX_BLOCK: u32 = 64 * 1024 * 1024;

/// Largest `digest_hold_bytes` accepted: what one upload may pin in memory.
pub const MAX_DIGEST_HOLD: u64 = 256 << 20;

/// Whose stored files a new task with a known SHA-256 may reuse, so its
/// upload completes at once (instant upload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstantUpload {
    /// Never: every file is uploaded.
    Off,
    /// Only the same sender's complete files (the default). Knowing a
    /// digest is not owning the file: with "any", whoever learns the
    /// SHA-256 of someone else's file could have it sent to themselves
    /// without ever holding it.
    Sender,
    /// Any user's complete file with that digest and size.
    Any,
}

/// Storage settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The store's root directory.
    pub root: PathBuf,
    /// Block size in bytes: the unit of CRC32C, commit and resume. A power
    /// of two in 4 KiB..=64 MiB; changing it affects new tasks only.
    #[serde(with = "size")]
    pub block_size: u32,
    /// Largest file accepted, bytes.
    #[serde(with = "size")]
    pub max_file_size: u64,
    /// Bytes all stored files may take together (declared sizes); 0 = no limit.
    #[serde(with = "size")]
    pub quota_bytes: u64,
    /// Bytes one sending user's files may take; 0 = no limit.
    #[serde(with = "size")]
    pub user_quota_bytes: u64,
    /// A task is deleted this long after it was created, complete or not
    /// downloaded: offline files do not live forever (TeamTalk's did).
    #[serde(with = "duration")]
    pub offline_ttl: Duration,
    /// An upload that is still incomplete this long after it was created is
    /// deleted.
    #[serde(with = "duration")]
    pub incomplete_ttl: Duration,
    /// A new task is refused (NoSpace) if it would leave fewer free bytes.
    #[serde(with = "size")]
    pub min_free_bytes: u64,
    /// Reserve each data file's space at create (fallocate) so a full disk
    /// is found before the upload, not in the middle of it.
    pub preallocate: bool,
    /// Instant upload: which stored files a task whose request carries the
    /// file's SHA-256 may share bytes with (`"sender"`, `"any"`, `"off"`).
    pub instant_upload: InstantUpload,
    /// Bytes of pieces one upload may hold when they arrive ahead of the
    /// running SHA-256 (several connections answer out of order), so the
    /// digest goes on as they come instead of reading the file back at the
    /// end; past it the running digest stops and the rest is read back.
    /// 0 = hold nothing. At most [`MAX_DIGEST_HOLD`].
    #[serde(with = "size")]
    pub digest_hold_bytes: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            root: PathBuf::from("data/offline"),
            block_size: 1024 * 1024,
            max_file_size: 64 << 30,
            quota_bytes: 0,
            user_quota_bytes: 0,
            offline_ttl: Duration::from_secs(7 * 24 * 3600),
            incomplete_ttl: Duration::from_secs(24 * 3600),
            min_free_bytes: 1 << 30,
            preallocate: true,
            instant_upload: InstantUpload::Sender,
            digest_hold_bytes: 8 << 20,
        }
    }
}

impl Validate for Config {
    fn validate(&self, p: &mut Problems) {
        if self.root.as_os_str().is_empty() {
            p.fail("root", "must name a directory");
        }
        if !self.block_size.is_power_of_two() {
            p.fail(
                "block_size",
                format!("{} is not a power of two", self.block_size),
            );
        }
        p.range("block_size", self.block_size, MIN_BLOCK..=MAX_BLOCK);
        if self.max_file_size == 0 {
            p.fail("max_file_size", "must be at least 1 byte");
        } else if self
            .max_file_size
            .div_ceil(u64::from(self.block_size.max(1)))
            > u64::from(u32::MAX)
        {
            p.fail("max_file_size", "needs more than 2^32 blocks of block_size");
        }
        if self.quota_bytes != 0 && self.user_quota_bytes > self.quota_bytes {
            p.fail("user_quota_bytes", "is larger than quota_bytes");
        }
        if self.digest_hold_bytes > MAX_DIGEST_HOLD {
            p.fail(
                "digest_hold_bytes",
                format!("{} is more than 256 MiB", self.digest_hold_bytes),
            );
        }
        if self.offline_ttl.is_zero() {
            p.fail("offline_ttl", "must be longer than 0s");
        }
        if self.incomplete_ttl.is_zero() {
            p.fail("incomplete_ttl", "must be longer than 0s");
        } else if self.incomplete_ttl > self.offline_ttl {
            p.fail("incomplete_ttl", "is longer than offline_ttl");
        }
    }
}

impl Config {
    /// Every problem of this section, each named `storage.<key>`.
    pub fn problems(&self) -> Vec<ferry_config::Problem> {
        let mut p = Problems::new("storage");
        self.validate(&mut p);
        p.into_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let c = Config::default();
        assert!(c.problems().is_empty(), "{:?}", c.problems());
        let text = toml::to_string(&c).unwrap();
        let back: Config = toml::from_str(&text).unwrap();
        assert_eq!(back, c);
        let c: Config = toml::from_str("block_size = \"64KiB\"\noffline_ttl = \"2days\"").unwrap();
        assert_eq!(c.block_size, 65536);
        assert!(toml::from_str::<Config>("blocksize = 1").is_err());
    }

    #[test]
    fn problems_name_their_key() {
        let c = Config {
            block_size: 3000,
            quota_bytes: 10,
            user_quota_bytes: 20,
            offline_ttl: Duration::ZERO,
            ..Config::default()
        };
        let keys: Vec<String> = c.problems().into_iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "storage.block_size",
                "storage.block_size",
                "storage.user_quota_bytes",
                "storage.offline_ttl",
                "storage.incomplete_ttl"
            ]
        );
    }
}
