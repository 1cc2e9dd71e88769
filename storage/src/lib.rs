//! # ferry-storage
//!
//! The offline block store (DESIGN.md "Storage", docs/ARCHITECTURE.md):
//! a file an offline receiver has not fetched yet is kept as checksummed
//! blocks with a crash-safe commit record, so an upload or a download
//! resumes exactly where it stopped, after a disconnect or a crash of
//! either side. Format and recovery logic are runtime-free (no tokio, no
//! monoio): the relay drives each [`Task`]'s state machine and does the
//! data-path I/O (write_at, read_at, sync_data) through io_uring; the rare
//! synchronous steps (open, create, delete, sweep, check) use std::fs
//! through [`FileSystem`].
//!
//! # Layout
//!
//! - [`error`]: [`Error`], with `Corruption` apart from `Io` and
//!   `InvalidArgument`, and `Poisoned` after a failed sync.
//! - [`geometry`]: blocks of a file and pulls of a block (u64 offsets).
//! - [`bitmap`]: the committed-block set.
//! - [`record`]: the commit record's on-disk format (brace diagram there).
//! - [`manifest`]: two record slots written in place alternately, and why.
//! - [`layout`]: where tasks and blobs live; [`TaskId`] (validated UUID text).
//! - [`task`]: the sans-I/O upload/download state machine and its
//!   durability order (write → data sync → commit).
//! - [`digest`]: the whole-file SHA-256, read back block by block.
//! - [`health`]: the poison flag shared by a store and its tasks.
//! - [`quota`]: bytes held in total and per user, shared by shards.
//! - [`blob`]: content-addressed hard links for instant upload.
//! - [`recovery`]: reading a store back; [`Issue`]s and [`RecoveryMode`].
//! - [`store`]: [`Store`]: open (whole or one core's shard), create,
//!   delete, stat, list, expiry, and a synchronous driver of the data path.
//! - [`check`]: `ferry store check|repair`.
//! - [`teamtalk_import`]: import of TeamTalk file_server's `offline_file/`.
//! - [`config`]: the `[storage]` section.
//! - [`fs`]: the [`FileSystem`] trait and [`StdFs`]; [`fault`]: a file
//!   system that models crashes and injects errors, for tests.

pub mod bitmap;
pub mod blob;
pub mod check;
pub mod config;
pub mod digest;
pub mod error;
pub mod fault;
pub mod fs;
pub mod geometry;
pub mod health;
pub mod layout;
pub mod manifest;
pub mod quota;
pub mod record;
pub mod recovery;
pub mod store;
pub mod task;
pub mod teamtalk_import;

pub use config::Config;
pub use digest::Digest;
pub use error::{Error, Result};
pub use fs::{FileSystem, StdFs};
pub use geometry::Geometry;
pub use layout::{Layout, TaskId};
pub use record::State;
pub use recovery::{Issue, RecoveryMode, RecoveryReport};
pub use store::{Created, NewTask, Shard, Store, TaskInfo};
pub use task::{BadBlock, Commit, DataSync, ReadPlan, Task, Write};
