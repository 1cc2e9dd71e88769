//! The data path of [`Store`] driven synchronously through its
//! [`FileSystem`]: the same [`crate::Task`] state machine the relay drives
//! through io_uring, in the same order (write, data sync, commit), for
//! tools (`ferry store`, the TeamTalk import) and tests. Not for a relay
//! core's event loop: every call blocks.

use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::layout::TaskId;
use crate::task::BadBlock;

use super::Store;

impl<F: FileSystem> Store<F> {
    /// Writes `bytes` at `offset` of an uploading task (one piece, within
    /// one block). Errors: as [`crate::Task::begin_write`]; `Io` if the write
    /// fails (the piece is dropped).
    pub fn put<T: AsRef<[u8]> + ?Sized>(
        &mut self,
        id: &T,
        offset: u64,
        bytes: &[u8],
    ) -> Result<()> {
        let path = self.layout.data(&TaskId::parse(id)?);
        let task = self.task_mut(id)?;
        let w = task.begin_write(offset, bytes)?;
        let r = self.fs.write_at(&path, w.offset, bytes);
        let task = self.task_mut(id)?;
        task.end_write(w, r.is_ok());
        r.map_err(|e| Error::io(&path, e))
    }

    /// Syncs the written blocks' data, then commits them. Returns the
    /// blocks committed. Errors: `Poisoned`; `Io` (and poisoned) if a sync
    /// or the record's write fails.
    pub fn flush<T: AsRef<[u8]> + ?Sized>(&mut self, id: &T, now: u64) -> Result<u32> {
        self.shared.health.check()?;
        let tid = TaskId::parse(id)?;
        let data = self.layout.data(&tid);
        let mpath = self.layout.manifest(&tid);
        let fsys = &self.fs;
        let health = &self.shared.health;
        let task = self
            .tasks
            .get_mut(&tid)
            .ok_or_else(|| Error::NotFound(format!("task {tid}")))?;
        if let Some(s) = task.begin_data_sync()? {
            let r = fsys.sync_data(&data);
            let ok = r.is_ok();
            health.synced(&data, r)?;
            task.end_data_sync(s, ok)?;
        }
        let Some(c) = task.begin_commit(now)? else {
            return Ok(0);
        };
        let blocks = c.blocks;
        let r = fsys
            .write_at(&mpath, c.offset, &c.bytes)
            .and_then(|()| fsys.sync_data(&mpath));
        let ok = r.is_ok();
        task.end_commit(c, ok).map_err(|e| match r {
            Err(io) => Error::io(&mpath, io),
            Ok(()) => e,
        })?;
        Ok(blocks)
    }

    /// Computes the SHA-256 of a fully committed upload by reading its
    /// blocks back and commits it: the task is complete. Returns the
    /// digest. Errors: `InvalidArgument` if blocks are missing;
    /// `Corruption` if a block fails its CRC (it is marked bad and must be
    /// uploaded again); `Io`; `Poisoned`.
    pub fn finish<T: AsRef<[u8]> + ?Sized>(&mut self, id: &T, now: u64) -> Result<[u8; 32]> {
        let tid = TaskId::parse(id)?;
        let task = self.task(&tid)?;
        if let Some(sha) = task.record().sha256 {
            return Ok(sha);
        }
        if !task.needs_digest() {
            return Err(Error::InvalidArgument(format!(
                "task {tid}: {} of {} blocks committed",
                task.committed(),
                task.geometry().block_count()
            )));
        }
        let g = task.geometry();
        let data = self.layout.data(&tid);
        let mut d = self.task_mut(&tid)?.take_digest();
        let mut buf = Vec::new();
        for b in d.next_block()..g.block_count() {
            buf.resize(g.block_len(b) as usize, 0);
            let n = self
                .fs
                .read_at(&data, g.block_offset(b), &mut buf)
                .map_err(|e| Error::io(&data, e))?;
            let task = self.task_mut(&tid)?;
            if let Err(e) = d.update(task, b, &buf[..n]) {
                if e.is_corruption() {
                    task.mark_bad(b);
                    self.flush(&tid, now)?;
                }
                return Err(e);
            }
        }
        self.task_mut(&tid)?.set_digest(d)?;
        self.flush(&tid, now)?;
        self.note_complete(&tid)?;
        Ok(self.task(&tid)?.record().sha256.expect("complete"))
    }

    /// Reads `len` bytes at `offset` of a complete file, every block
    /// verified first. A block failing its CRC damages the task (the mark
    /// is committed) and returns `Corruption`; nothing of it is returned.
    pub fn read<T: AsRef<[u8]> + ?Sized>(
        &mut self,
        id: &T,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>> {
        let tid = TaskId::parse(id)?;
        let plan = self.task(&tid)?.read_plan(offset, len)?;
        let data = self.layout.data(&tid);
        let mut out = Vec::with_capacity(plan.len as usize);
        let mut buf = Vec::new();
        for (b, off, blen) in plan.blocks() {
            buf.resize(blen as usize, 0);
            let n = self
                .fs
                .read_at(&data, off, &mut buf)
                .map_err(|e| Error::io(&data, e))?;
            let task = self.task_mut(&tid)?;
            if let Err(e) = task.verify(b, &buf[..n]) {
                if task.mark_bad(b) == BadBlock::Damaged {
                    self.flush(&tid, 0)?;
                }
                return Err(e);
            }
            out.extend_from_slice(plan.slice(b, &buf));
        }
        Ok(out)
    }
}
