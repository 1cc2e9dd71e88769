//! One task's upload and download logic as a sans-I/O state machine. The
//! relay (monoio, io_uring) does the reads, writes and syncs; this code
//! decides what may be written where, and what a record may claim.
//!
//! ## Durability order
//!
//! ```text
//! begin_write(offset, payload) -> Write   piece lies in one block, block not committed
//!   relay: data.write_at(payload, w.offset)
//! end_write(w, ok)                         block Written once its pieces cover it
//! begin_data_sync() -> DataSync            takes every Written block
//!   relay: data.sync_data()
//! end_data_sync(s, ok)                     those blocks are Synced (data durable)
//! begin_commit(now) -> Commit              record = last + Synced blocks, seq + 1
//!   relay: manifest.write_at(c.bytes, c.offset); manifest.sync_data()
//! end_commit(c, ok)                        now acknowledged as committed
//! ```
//!
//! A record never names a block whose data sync has not completed, so a
//! crash at any instant loses only unacknowledged blocks. A failed sync
//! poisons the whole store ([`Health`]).
//!
//! ## The file's SHA-256
//!
//! ```text
//! end_write(w, true); digest_written(w, payload)   the running digest takes the piece
//!   (in file order, or held ahead of it up to offline.digest_hold_bytes)
//! every block committed: needs_digest()
//!   take_digest() -> Digest       running digest so far (or an empty one)
//!   relay: read back blocks next_block().. in order; Digest::update checks each CRC32C
//! set_digest(d); one more commit -> Complete
//! ```
//!
//! An upload written in order over one connection needs no read-back; one
//! resumed after a restart reads back from its first block (see
//! [`crate::digest`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::digest::{Digest, Fed, Running};
use crate::error::{Error, Result};
use crate::geometry::Geometry;
use crate::health::Health;
use crate::layout::TaskId;
use crate::manifest;
use crate::record::{Record, State};

/// A piece the relay must write at `offset` (bytes, in the data file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Write {
    /// The block the piece belongs to.
    pub block: u32,
    /// File offset in bytes.
    pub offset: u64,
    /// Length in bytes.
    pub len: u32,
}

/// A data sync the relay must perform (`sync_data` on the data file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSync {
    id: u64,
    /// Blocks it makes durable.
    pub blocks: u32,
}

/// A record the relay must write at `offset` (bytes, in the manifest file)
/// and then make durable with `sync_data` on the manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// File offset in bytes of the manifest slot to write.
    pub offset: u64,
    /// The framed record to write there.
    pub bytes: Vec<u8>,
    /// The record's sequence number.
    pub seq: u64,
    /// Blocks this commit makes committed.
    pub blocks: u32,
}

/// What [`Task::mark_bad`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadBlock {
    /// The upload is still going: the block is missing again; ask the
    /// uploader for it.
    Reask,
    /// The file was complete: the task is damaged and downloads are refused.
    Damaged,
}

/// The whole blocks to read for a range of a complete file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadPlan {
    geometry: Geometry,
    /// First requested byte.
    pub offset: u64,
    /// Requested length in bytes (clamped to the end of the file).
    pub len: u64,
}

impl ReadPlan {
    /// Blocks to read, in order: `(block, file offset, length)` in bytes.
    /// Read each whole, [`Task::verify`] it, then serve [`ReadPlan::slice`].
    pub fn blocks(&self) -> impl Iterator<Item = (u32, u64, u32)> + use<> {
        let g = self.geometry;
        let first = g.block_of(self.offset);
        let last = g.block_of(self.offset + self.len - 1);
        (first..=last).map(move |b| (b, g.block_offset(b), g.block_len(b)))
    }

    /// The requested part of `block`'s bytes (`bytes` is the whole block).
    pub fn slice<'a>(&self, block: u32, bytes: &'a [u8]) -> &'a [u8] {
        let start = self.geometry.block_offset(block);
        let from = self.offset.max(start) - start;
        let to = (self.offset + self.len).min(start + bytes.len() as u64) - start;
        &bytes[from as usize..to as usize]
    }
}

#[derive(Debug, Clone, Copy)]
struct Piece {
    /// Offset within the block.
    off: u32,
    len: u32,
    crc: u32,
    done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Filling,
    Written,
    Syncing(u64),
    Synced,
    Committing(u64),
}

#[derive(Debug, Clone)]
struct Open {
    pieces: Vec<Piece>,
    inflight: u32,
    phase: Phase,
    crc: u32,
}

/// One task: its last durable record and the blocks on their way into the
/// next one.
#[derive(Debug)]
pub struct Task {
    /// The last record made durable (what recovery would find).
    durable: Record,
    /// `durable` plus every change not yet durable (blocks being
    /// committed, blocks found bad, digest, damage).
    next: Record,
    open: BTreeMap<u32, Open>,
    sync_id: u64,
    syncing: bool,
    in_flight: Option<Record>,
    health: Arc<Health>,
    /// The SHA-256 of the pieces written so far, while it can go on
    /// (boxed: most loaded tasks are complete and have none).
    running: Option<Box<Running>>,
}

impl Task {
    /// A task whose durable record is `record`.
    ///
    /// An upload with no block committed starts a running digest holding
    /// nothing ahead of it; [`Task::set_digest_hold`] sets the bound.
    pub fn new(record: Record, health: Arc<Health>) -> Task {
        let fresh = record.state == State::Uploading && record.committed.count() == 0;
        Task {
            running: fresh.then(|| Box::new(Running::new(0))),
            next: record.clone(),
            durable: record,
            open: BTreeMap::new(),
            sync_id: 0,
            syncing: false,
            in_flight: None,
            health,
        }
    }

    /// Bytes of pieces the running digest may hold when they arrive ahead
    /// of it (`offline.digest_hold_bytes`).
    pub fn set_digest_hold(&mut self, bytes: u64) {
        if let Some(r) = &mut self.running {
            r.set_hold(bytes);
        }
    }

    /// The task id.
    pub fn id(&self) -> TaskId {
        self.durable.task_id
    }

    /// The last durable record.
    pub fn record(&self) -> &Record {
        &self.durable
    }

    /// The block grid.
    pub fn geometry(&self) -> Geometry {
        self.durable.geometry
    }

    /// The durable state.
    pub fn state(&self) -> State {
        self.durable.state
    }

    /// Blocks acknowledged as committed.
    pub fn committed(&self) -> u32 {
        self.durable.committed.count()
    }

    /// The committed bytes as `(offset, length)` ranges in bytes, adjacent
    /// blocks merged, ascending: the answer to a breakpoint query.
    pub fn committed_ranges(&self) -> Vec<(u64, u64)> {
        let g = self.geometry();
        let mut out: Vec<(u64, u64)> = Vec::new();
        for b in self.durable.committed.ones() {
            let (off, len) = (g.block_offset(b), u64::from(g.block_len(b)));
            match out.last_mut() {
                Some((start, l)) if *start + *l == off => *l += len,
                _ => out.push((off, len)),
            }
        }
        out
    }

    /// Blocks nobody is writing that are not committed: what to pull. A
    /// block partly written by a dropped connection is listed too; ask only
    /// the pulls [`Task::needs`] accepts.
    pub fn missing(&self) -> Vec<u32> {
        if self.next.state != State::Uploading {
            return Vec::new();
        }
        self.next
            .committed
            .zeros()
            .filter(|b| {
                self.open
                    .get(b)
                    .is_none_or(|o| o.phase == Phase::Filling && o.inflight == 0)
            })
            .collect()
    }

    /// Whether bytes `offset..offset+len` still need writing (no piece
    /// covers any of them and their block is not committed).
    pub fn needs(&self, offset: u64, len: u32) -> bool {
        let g = self.geometry();
        let b = g.block_of(offset);
        if self.next.state != State::Uploading || self.next.committed.get(b) {
            return false;
        }
        let off = (offset - g.block_offset(b)) as u32;
        self.open.get(&b).is_none_or(|o| {
            o.phase == Phase::Filling
                && !o
                    .pieces
                    .iter()
                    .any(|p| p.off < off + len && off < p.off + p.len)
        })
    }

    /// Accepts a piece of the file: `payload` goes at file offset `offset`.
    /// Returns where the relay must write it. Errors: `Poisoned`;
    /// `InvalidArgument` if the task is not uploading, the piece is empty,
    /// past the end, or crosses a block; `AlreadyExists` if the block is
    /// committed or a piece overlapping it was written (ask another).
    pub fn begin_write(&mut self, offset: u64, payload: &[u8]) -> Result<Write> {
        self.health.check()?;
        if self.next.state != State::Uploading {
            return Err(Error::InvalidArgument(format!(
                "task {} is {}",
                self.id(),
                self.next.state.as_str()
            )));
        }
        let g = self.geometry();
        let len = payload.len() as u64;
        if len == 0 || offset.checked_add(len).is_none_or(|end| end > g.file_size) {
            return Err(Error::InvalidArgument(format!(
                "piece of {len} bytes at {offset} outside a file of {}",
                g.file_size
            )));
        }
        let block = g.block_of(offset);
        let start = g.block_offset(block);
        if offset + len > start + u64::from(g.block_len(block)) {
            return Err(Error::InvalidArgument(format!(
                "piece of {len} bytes at {offset} crosses block {block}"
            )));
        }
        if self.next.committed.get(block) {
            return Err(Error::AlreadyExists(format!("block {block} is committed")));
        }
        let off = (offset - start) as u32;
        let len = len as u32;
        let open = self.open.entry(block).or_insert(Open {
            pieces: Vec::new(),
            inflight: 0,
            phase: Phase::Filling,
            crc: 0,
        });
        if open.phase != Phase::Filling
            || open
                .pieces
                .iter()
                .any(|p| p.off < off + len && off < p.off + p.len)
        {
            return Err(Error::AlreadyExists(format!(
                "bytes {offset}..+{len} of block {block} were written"
            )));
        }
        open.pieces.push(Piece {
            off,
            len,
            crc: crate::crc::crc32c(payload),
            done: false,
        });
        open.inflight += 1;
        Ok(Write { block, offset, len })
    }

    /// The relay's write of `w` finished (`ok`) or failed (the piece is
    /// dropped and may be asked again; a failed write alone is not fatal).
    pub fn end_write(&mut self, w: Write, ok: bool) {
        let g = self.geometry();
        let Some(open) = self.open.get_mut(&w.block) else {
            return;
        };
        let off = (w.offset - g.block_offset(w.block)) as u32;
        let Some(i) = open
            .pieces
            .iter()
            .position(|p| p.off == off && p.len == w.len && !p.done)
        else {
            return;
        };
        open.inflight -= 1;
        if ok {
            open.pieces[i].done = true;
        } else {
            open.pieces.remove(i);
        }
        let covered: u64 = open.pieces.iter().map(|p| u64::from(p.len)).sum();
        if open.inflight == 0 && covered == u64::from(g.block_len(w.block)) {
            open.pieces.sort_by_key(|p| p.off);
            open.crc = open
                .pieces
                .iter()
                .fold(0, |crc, p| crate::crc::combine(crc, p.crc, p.len as usize));
            open.phase = Phase::Written;
        } else if open.pieces.is_empty() {
            self.open.remove(&w.block);
        }
    }

    /// Gives the running digest the bytes of `w`, a piece written with
    /// `end_write(w, true)` (`payload` is what was written; a copy is held
    /// if it arrived ahead of the digest). Ignored for a piece that
    /// is not written or bytes of another length. Past the hold the digest
    /// keeps what it fed and takes no more; bytes it fed written again
    /// drop it (the digest pass reads back, see [`Task::take_digest`]).
    pub fn digest_written(&mut self, w: Write, payload: &[u8]) {
        let g = self.geometry();
        let off = (w.offset - g.block_offset(w.block)) as u32;
        let written = payload.len() == w.len as usize
            && self.open.get(&w.block).is_some_and(|o| {
                o.pieces
                    .iter()
                    .any(|p| p.off == off && p.len == w.len && p.done)
            });
        let Some(r) = &mut self.running else {
            return;
        };
        if written && r.piece(&g, w.offset, payload) == Fed::Invalid {
            tracing::debug!(task = %self.durable.task_id, offset = w.offset, "fed bytes written again: the file is read back whole");
            self.running = None;
        }
    }

    /// Nobody is uploading the task now: the pieces its running digest
    /// holds ahead are let go rather than kept until someone comes back
    /// (or the task expires); the digest keeps what it fed and stops, and
    /// the rest is read back when the upload completes.
    pub fn park_digest(&mut self) {
        if let Some(r) = &mut self.running
            && r.held_bytes() > 0
        {
            r.freeze();
        }
    }

    /// `block` will be written again: the running digest lets go of it.
    fn rewrite(&mut self, block: u32) {
        let g = self.geometry();
        let start = g.block_offset(block);
        let end = start + u64::from(g.block_len(block));
        if let Some(r) = &mut self.running
            && r.forget(start, end) == Fed::Invalid
        {
            self.running = None;
        }
    }

    /// Drops the pieces of a block left half written (by a connection that
    /// went away), so all of it is asked again. No effect while a write of
    /// it is in flight or once it is fully written.
    pub fn reset_block(&mut self, block: u32) {
        if self
            .open
            .get(&block)
            .is_some_and(|o| o.phase == Phase::Filling && o.inflight == 0)
        {
            self.open.remove(&block);
            self.rewrite(block);
        }
    }

    /// Starts a data sync covering every fully written block, or `None` if
    /// there is none or a sync is already running. Errors: `Poisoned`.
    pub fn begin_data_sync(&mut self) -> Result<Option<DataSync>> {
        self.health.check()?;
        if self.syncing {
            return Ok(None);
        }
        self.sync_id += 1;
        let id = self.sync_id;
        let mut blocks = 0;
        for o in self.open.values_mut().filter(|o| o.phase == Phase::Written) {
            o.phase = Phase::Syncing(id);
            blocks += 1;
        }
        if blocks == 0 {
            return Ok(None);
        }
        self.syncing = true;
        Ok(Some(DataSync { id, blocks }))
    }

    /// The data sync `s` finished. `ok == false` poisons the store and
    /// returns `Poisoned`: the data it covered may be lost.
    pub fn end_data_sync(&mut self, s: DataSync, ok: bool) -> Result<()> {
        self.syncing = false;
        if !ok {
            self.health.poison();
            return Err(Error::Poisoned);
        }
        for o in self.open.values_mut() {
            if o.phase == Phase::Syncing(s.id) {
                o.phase = Phase::Synced;
            }
        }
        Ok(())
    }

    /// Builds the next record: the last one plus every block whose data
    /// sync completed, plus any digest or damage not yet durable. `None` if
    /// there is nothing to commit or a commit is in flight. `_now` (unix
    /// seconds) is reserved for activity times. Errors: `Poisoned`.
    pub fn begin_commit(&mut self, _now: u64) -> Result<Option<Commit>> {
        self.health.check()?;
        if self.in_flight.is_some() {
            return Ok(None);
        }
        let seq = self.durable.seq + 1;
        let mut blocks = 0;
        for (&b, o) in self
            .open
            .iter_mut()
            .filter(|(_, o)| o.phase == Phase::Synced)
        {
            o.phase = Phase::Committing(seq);
            self.next.committed.set(b, true);
            self.next.block_crc[b as usize] = o.crc;
            blocks += 1;
        }
        self.next.seq = self.durable.seq;
        if self.next == self.durable {
            return Ok(None);
        }
        let mut record = self.next.clone();
        record.seq = seq;
        let bytes = record.encode();
        let offset = manifest::slot_offset(seq, bytes.len());
        self.in_flight = Some(record);
        Ok(Some(Commit {
            offset,
            bytes,
            seq,
            blocks,
        }))
    }

    /// The commit `c` was written and synced (`ok`), or failed: a failure
    /// poisons the store and returns `Poisoned`.
    pub fn end_commit(&mut self, c: Commit, ok: bool) -> Result<()> {
        let Some(record) = self.in_flight.take() else {
            return Err(Error::InvalidArgument("no commit in flight".into()));
        };
        if !ok {
            self.health.poison();
            return Err(Error::Poisoned);
        }
        debug_assert_eq!(record.seq, c.seq);
        self.durable = record;
        self.next.seq = self.durable.seq;
        self.open.retain(|_, o| o.phase != Phase::Committing(c.seq));
        Ok(())
    }

    /// True when every block is committed and the SHA-256 must be computed:
    /// [`Task::take_digest`], feed it the blocks from its
    /// [`Digest::next_block`] on, then [`Task::set_digest`].
    pub fn needs_digest(&self) -> bool {
        self.durable.state == State::Uploading
            && self.durable.committed.is_full()
            && self.next.committed.is_full()
            && self.next.sha256.is_none()
    }

    /// The running digest as far as it got (every byte, for an upload
    /// written in order), or an empty one; the task's running digest ends.
    pub fn take_digest(&mut self) -> Digest {
        self.running
            .take()
            .map_or_else(Digest::new, |r| r.into_digest())
    }

    /// Takes the SHA-256 of a digest fed with every block; the next commit
    /// makes the task complete. Errors: `InvalidArgument` if blocks are
    /// missing from the digest or the task does not need one.
    pub fn set_digest(&mut self, d: Digest) -> Result<()> {
        self.health.check()?;
        if !self.needs_digest() {
            return Err(Error::InvalidArgument("task does not need a digest".into()));
        }
        let sha = d.finish(self.geometry().block_count())?;
        self.next.sha256 = Some(sha);
        self.next.state = State::Complete;
        Ok(())
    }

    /// The blocks to read for `len` bytes at `offset` of a complete file.
    /// Errors: `Poisoned`; `Corruption` if the task is damaged (with the
    /// reason); `InvalidArgument` if it is not complete or the range starts
    /// past the end.
    pub fn read_plan(&self, offset: u64, len: u64) -> Result<ReadPlan> {
        self.health.check()?;
        match self.next.state {
            State::Complete => {}
            State::Damaged => {
                return Err(Error::Corruption(format!(
                    "task {} is damaged: a stored block failed its CRC",
                    self.id()
                )));
            }
            State::Uploading => {
                return Err(Error::InvalidArgument(format!(
                    "task {} is still uploading",
                    self.id()
                )));
            }
        }
        self.plan(offset, len)
    }

    /// Like [`Task::read_plan`] but for committed blocks of an upload (the
    /// digest pass reads them back).
    pub fn plan(&self, offset: u64, len: u64) -> Result<ReadPlan> {
        let g = self.geometry();
        if len == 0 || offset >= g.file_size {
            return Err(Error::InvalidArgument(format!(
                "{len} bytes at {offset} of a file of {}",
                g.file_size
            )));
        }
        let plan = ReadPlan {
            geometry: g,
            offset,
            len: len.min(g.file_size - offset),
        };
        if let Some((b, _, _)) = plan
            .blocks()
            .find(|&(b, _, _)| !self.durable.committed.get(b))
        {
            return Err(Error::InvalidArgument(format!(
                "block {b} is not committed"
            )));
        }
        Ok(plan)
    }

    /// Checks a whole block read from disk against its CRC32C. Errors:
    /// `Corruption` on a mismatch or wrong length (never serve it: call
    /// [`Task::mark_bad`]); `InvalidArgument` if the block is not committed.
    pub fn verify(&self, block: u32, bytes: &[u8]) -> Result<()> {
        if !self.durable.committed.get(block) {
            return Err(Error::InvalidArgument(format!(
                "block {block} is not committed"
            )));
        }
        if bytes.len() != self.geometry().block_len(block) as usize {
            return Err(Error::Corruption(format!(
                "block {block}: read {} bytes of {}",
                bytes.len(),
                self.geometry().block_len(block)
            )));
        }
        let crc = crate::crc::crc32c(bytes);
        if crc != self.durable.block_crc[block as usize] {
            return Err(Error::Corruption(format!(
                "task {} block {block}: CRC32C {crc:08x}, recorded {:08x}",
                self.id(),
                self.durable.block_crc[block as usize]
            )));
        }
        Ok(())
    }

    /// A committed block failed [`Task::verify`]. While uploading it
    /// becomes missing again ([`BadBlock::Reask`]); a complete task becomes
    /// damaged ([`BadBlock::Damaged`]). The next commit makes it durable.
    pub fn mark_bad(&mut self, block: u32) -> BadBlock {
        tracing::warn!(task = %self.id(), block, "stored block failed its CRC");
        if self.next.state == State::Uploading {
            if block < self.next.committed.len() {
                self.next.committed.set(block, false);
                self.next.block_crc[block as usize] = 0;
                self.rewrite(block);
            }
            BadBlock::Reask
        } else {
            self.next.state = State::Damaged;
            BadBlock::Damaged
        }
    }
}

#[cfg(test)]
mod tests;
