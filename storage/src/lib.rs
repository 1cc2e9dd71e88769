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
//! - [`lock`]: [`StoreLock`], the one process that may write a store.
//! - [`task`]: the sans-I/O upload/download state machine and its
//!   durability order (write → data sync → commit).
//! - [`digest`]: the whole-file SHA-256, running as pieces are written,
//!   read back block by block where it could not run.
//! - `crc`: CRC-32C of blocks, pieces and records (crc-fast).
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

//! # How the relay drives an upload and a download
//!
//! The relay owns one [`Store`] per core ([`Store::open_shard`]), opens
//! each task's files at [`Layout::data`] and [`Layout::manifest`] itself,
//! and does their I/O through io_uring; this example does it through the
//! test file system.
//!
//! ```
//! use std::sync::Arc;
//! use ferry_storage::fault::FaultFs;
//! use ferry_storage::{Config, Created, Digest, FileSystem, NewTask, RecoveryMode, State, Store};
//!
//! # fn main() -> ferry_storage::Result<()> {
//! let fs = Arc::new(FaultFs::new());
//! let config = Config { root: "/store".into(), block_size: 4096, ..Config::default() };
//! let (mut store, report) = Store::open(fs.clone(), &config, RecoveryMode::Quick, 0)?;
//! assert!(report.is_sound());
//! let id = "6f9619ff-8b86-4d11-b42d-00c04fc964ff";
//! let file = vec![7u8; 10_000];
//! let new = NewTask { task_id: id.into(), from_user: 1, to_user: 2,
//!                     name: b"a.bin".to_vec(), size: 10_000, sha256: None };
//! assert_eq!(store.create(new, 0)?, Created::Upload);
//! let tid = ferry_storage::TaskId::parse(id)?;
//! let (data, manifest) = (store.layout().data(&tid), store.layout().manifest(&tid));
//!
//! // Upload: pull the missing blocks, piece by piece.
//! let blocks = store.task(id)?.missing();
//! for block in blocks {
//!     let pulls: Vec<_> = store.task(id)?.geometry().pulls(block, 0).collect();
//!     for (offset, len) in pulls {
//!         let payload = &file[offset as usize..][..len as usize];
//!         let w = store.task_mut(id)?.begin_write(offset, payload)?;
//!         let ok = fs.write_at(&data, w.offset, payload).is_ok();   // io_uring write_at
//!         store.task_mut(id)?.end_write(w, ok);
//!         if ok {
//!             store.task_mut(id)?.digest_written(w, payload);          // the running SHA-256
//!         }
//!     }
//! }
//! // Data first, then the record that names it.
//! if let Some(s) = store.task_mut(id)?.begin_data_sync()? {
//!     let ok = fs.sync_data(&data).is_ok();                        // io_uring fdatasync
//!     store.task_mut(id)?.end_data_sync(s, ok)?;                   // !ok: poisoned
//! }
//! if let Some(c) = store.task_mut(id)?.begin_commit(0)? {
//!     let ok = fs.write_at(&manifest, c.offset, &c.bytes).is_ok()
//!         && fs.sync_data(&manifest).is_ok();
//!     store.task_mut(id)?.end_commit(c, ok)?;
//! }
//! // Every block committed: read back what the running digest did not
//! // reach (nothing here: the pieces came in order), commit again.
//! assert!(store.task(id)?.needs_digest());
//! let mut digest: Digest = store.task_mut(id)?.take_digest();
//! let g = store.task(id)?.geometry();
//! assert_eq!(digest.next_block(), g.block_count());
//! for b in digest.next_block()..g.block_count() {
//!     let mut buf = vec![0; g.block_len(b) as usize];
//!     fs.read_at(&data, g.block_offset(b), &mut buf).unwrap();     // io_uring read_at
//!     digest.update(store.task(id)?, b, &buf)?;                   // Corruption: mark_bad
//! }
//! store.task_mut(id)?.set_digest(digest)?;
//! let c = store.task_mut(id)?.begin_commit(0)?.unwrap();
//! fs.write_at(&manifest, c.offset, &c.bytes).unwrap();
//! fs.sync_data(&manifest).unwrap();
//! store.task_mut(id)?.end_commit(c, true)?;
//! store.note_complete(id)?;
//! assert_eq!(store.stat(id)?.state, State::Complete);
//!
//! // Download from any offset: whole blocks, verified before a byte is sent.
//! let plan = store.task(id)?.read_plan(5_000, 100)?;
//! let mut sent = Vec::new();
//! for (b, offset, len) in plan.blocks() {
//!     let mut buf = vec![0; len as usize];
//!     fs.read_at(&data, offset, &mut buf).unwrap();
//!     store.task(id)?.verify(b, &buf)?;                            // else mark_bad, refuse
//!     sent.extend_from_slice(plan.slice(b, &buf));
//! }
//! assert_eq!(sent, &file[5_000..5_100]);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod bitmap;
pub mod blob;
pub mod check;
pub mod config;
mod crc;
pub mod digest;
pub mod error;
pub mod fault;
pub mod fs;
pub mod geometry;
pub mod health;
pub mod layout;
pub mod lock;
pub mod manifest;
pub mod quota;
pub mod record;
pub mod recovery;
pub mod store;
pub mod task;
pub mod teamtalk_import;

pub use config::{Config, InstantUpload};
pub use digest::Digest;
pub use error::{Error, Result};
pub use fs::{FileSystem, StdFs};
pub use geometry::Geometry;
pub use layout::{Layout, TaskId};
pub use lock::StoreLock;
pub use record::State;
pub use recovery::{Issue, RecoveryMode, RecoveryReport};
pub use store::{Created, NewTask, Shard, Shared, Store, StoreStats, Swept, TaskInfo};
pub use task::{BadBlock, Commit, DataSync, ReadPlan, Task, Write};
