//! A task's two files on the core's runtime and the store's durability
//! steps done through them (ferry_storage::task's order: write, data sync,
//! commit). io_uring does the reads, writes and syncs; on the epoll driver
//! monoio makes the same calls inline (a file is never "ready" to epoll).
//!
//! The store is borrowed only between awaits: each step asks the task what
//! to do, does the I/O, and tells the task how it went.

use std::io;

use bytes::Bytes;
use ferry_storage::{BadBlock, TaskId};
use monoio::buf::IoBufMut as _;
use monoio::fs::{File, OpenOptions};

use super::{Offline, unix_now};
use crate::error::ConnError;
use crate::stats::CoreStats;

/// The data and manifest files of one task, open for one connection.
pub(crate) struct Files {
    data: File,
    manifest: File,
}

impl Files {
    /// Opens both files (they exist: `Store::create` made them).
    pub(crate) async fn open(offline: &Offline, id: &TaskId) -> io::Result<Files> {
        let (data, manifest) = {
            let store = offline.store.borrow();
            (store.layout().data(id), store.layout().manifest(id))
        };
        let mut rw = OpenOptions::new();
        rw.read(true).write(true);
        Ok(Files {
            data: rw.open(&data).await?,
            manifest: rw.open(&manifest).await?,
        })
    }

    /// Writes an accepted piece where `begin_write` put it, and tells the
    /// task, whose running SHA-256 takes the piece (a copy held if it came
    /// ahead of the digest). A failed write drops the piece (asked
    /// again later).
    pub(crate) async fn put(
        &self,
        offline: &Offline,
        id: &TaskId,
        offset: u64,
        payload: Bytes,
    ) -> Result<(), ConnError> {
        let w = offline
            .store
            .borrow_mut()
            .task_mut(id)?
            .begin_write(offset, &payload)?;
        let (res, payload) = self.data.write_all_at(payload, w.offset).await;
        let mut store = offline.store.borrow_mut();
        let task = store.task_mut(id)?;
        task.end_write(w, res.is_ok());
        if res.is_ok() {
            task.digest_written(w, &payload);
        }
        Ok(res?)
    }

    /// Makes every fully written block durable: one data sync, then one
    /// record naming them (written in its slot, synced). Returns the
    /// blocks committed. A failed sync poisons the store (every shard):
    /// the kernel may have dropped the pages it could not write.
    pub(crate) async fn flush(
        &self,
        offline: &Offline,
        id: &TaskId,
        stats: &CoreStats,
    ) -> Result<u32, ConnError> {
        let sync = offline.store.borrow_mut().task_mut(id)?.begin_data_sync()?;
        if let Some(s) = sync {
            let res = self.data.sync_data().await;
            CoreStats::add(&stats.store_syncs, 1);
            if let Err(e) = &res {
                tracing::error!(task = %id, error = %e, "data sync failed: the store is poisoned, offline requests are refused until a restart");
            }
            let ended = offline
                .store
                .borrow_mut()
                .task_mut(id)?
                .end_data_sync(s, res.is_ok());
            if ended.is_err() {
                offline.publish(stats);
            }
            ended?;
        }
        let commit = offline
            .store
            .borrow_mut()
            .task_mut(id)?
            .begin_commit(unix_now())?;
        let Some(mut c) = commit else {
            return Ok(0);
        };
        let bytes = std::mem::take(&mut c.bytes);
        let (mut res, bytes) = self.manifest.write_all_at(bytes, c.offset).await;
        if res.is_ok() {
            res = self.manifest.sync_data().await;
            CoreStats::add(&stats.store_syncs, 1);
        }
        if let Err(e) = &res {
            tracing::error!(task = %id, error = %e, "commit failed: the store is poisoned, offline requests are refused until a restart");
        }
        c.bytes = bytes;
        let blocks = c.blocks;
        let ended = offline
            .store
            .borrow_mut()
            .task_mut(id)?
            .end_commit(c, res.is_ok());
        if ended.is_err() {
            offline.publish(stats);
        }
        ended?;
        CoreStats::add(&stats.blocks_committed, u64::from(blocks));
        Ok(blocks)
    }

    /// Reads `block` whole into `buf` (its old contents dropped), unchecked.
    pub(crate) async fn read(
        &self,
        offline: &Offline,
        id: &TaskId,
        block: u32,
        buf: Vec<u8>,
    ) -> (Result<(), ConnError>, Vec<u8>) {
        let (offset, len) = match offline.store.borrow().task(id) {
            Ok(t) => (
                t.geometry().block_offset(block),
                t.geometry().block_len(block),
            ),
            Err(e) => return (Err(e.into()), buf),
        };
        let (res, buf) = read_exact(&self.data, buf, len as usize, offset).await;
        (res.map_err(ConnError::from), buf)
    }

    /// Reads committed `block` whole into `buf` and checks its CRC32C. A
    /// mismatch is [`Files::condemn`]ed: the bytes are never used.
    pub(crate) async fn read_verified(
        &self,
        offline: &Offline,
        id: &TaskId,
        block: u32,
        buf: Vec<u8>,
        stats: &CoreStats,
    ) -> (Result<Checked, ConnError>, Vec<u8>) {
        let (res, buf) = self.read(offline, id, block, buf).await;
        if let Err(e) = res {
            return (Err(e), buf);
        }
        let verified = match offline.store.borrow().task(id) {
            Ok(t) => t.verify(block, &buf),
            Err(e) => return (Err(e.into()), buf),
        };
        match verified {
            Ok(()) => (Ok(Checked::Good), buf),
            Err(e) if e.is_corruption() => {
                let bad = self.condemn(offline, id, block, &e, stats).await;
                (bad.map(Checked::Bad), buf)
            }
            Err(e) => (Err(e.into()), buf),
        }
    }

    /// A committed block failed its check (`why`): marks it bad and commits
    /// the mark, so it is missing again while uploading and the task is
    /// damaged once complete, for good (recovery finds the mark).
    pub(crate) async fn condemn(
        &self,
        offline: &Offline,
        id: &TaskId,
        block: u32,
        why: &ferry_storage::Error,
        stats: &CoreStats,
    ) -> Result<BadBlock, ConnError> {
        CoreStats::add(&stats.crc_failures, 1);
        tracing::error!(task = %id, block, error = %why, "stored block failed its check; never served");
        let bad = offline.store.borrow_mut().task_mut(id)?.mark_bad(block);
        self.flush(offline, id, stats).await?;
        Ok(bad)
    }
}

/// Reads `len` bytes at `offset` into `buf` (its old contents dropped);
/// a file shorter than that is `UnexpectedEof`.
async fn read_exact(
    file: &File,
    mut buf: Vec<u8>,
    len: usize,
    offset: u64,
) -> (io::Result<()>, Vec<u8>) {
    buf.clear();
    buf.reserve(len);
    while buf.len() < len {
        let at = buf.len();
        let (res, slice) = file
            .read_at(buf.slice_mut(at..len), offset + at as u64)
            .await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return (Err(io::ErrorKind::UnexpectedEof.into()), buf),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// What [`Files::read_verified`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    /// The block's bytes are in the buffer, verified.
    Good,
    /// The block failed its CRC; what the store made of it.
    Bad(BadBlock),
}
