//! The store: the tasks of one root directory (or of one relay core's
//! shard of it), and the rare synchronous steps around them: open with
//! recovery, create (with instant upload), delete, stat, list, expiry.
//! The data path of each task is [`Task`]'s state machine, driven by the
//! relay through io_uring; [`Store::put`], [`Store::flush`],
//! [`Store::finish`] and [`Store::read`] (in `store/driver.rs`) drive the
//! same machine through the [`FileSystem`] for tools, imports and tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::blob;
use crate::config::{Config, InstantUpload};
use crate::digest::empty_sha256;
use crate::error::{Error, Result};
use crate::fs::{self, FileSystem, StdFs};
use crate::geometry::Geometry;
use crate::health::Health;
use crate::layout::{Layout, TaskId};
use crate::manifest;
use crate::quota::Ledger;
use crate::record::{MAX_NAME, Record, State};
use crate::recovery::{self, Issue, RecoveryMode, RecoveryReport};
use crate::task::Task;

mod driver;

/// What every shard of one store shares: the poison flag, the quota
/// ledger, and which complete files exist (for instant upload across
/// shards). Only rare steps lock it.
#[derive(Debug, Default)]
pub struct Shared {
    /// Poisoned once any sync failed, on any shard.
    pub health: Arc<Health>,
    /// Bytes held, in total and per sending user.
    pub ledger: Ledger,
    /// (SHA-256, size in bytes, block size in bytes) of complete files → a
    /// task holding them.
    complete: Mutex<HashMap<BlobKey, TaskId>>,
}

/// What makes two files' stored blocks interchangeable.
type BlobKey = ([u8; 32], u64, u32);

fn blob_key(r: &Record) -> Option<BlobKey> {
    match (r.state, r.sha256) {
        (State::Complete, Some(sha)) if r.geometry.file_size > 0 => {
            Some((sha, r.geometry.file_size, r.geometry.block_size))
        }
        _ => None,
    }
}

impl Shared {
    fn register(&self, r: &Record) {
        if let Some(key) = blob_key(r) {
            self.complete
                .lock()
                .expect("shared lock")
                .insert(key, r.task_id);
        }
    }

    fn unregister(&self, r: &Record) {
        if let Some(key) = blob_key(r) {
            let mut map = self.complete.lock().expect("shared lock");
            if map.get(&key) == Some(&r.task_id) {
                map.remove(&key);
            }
        }
    }

    fn lookup(&self, key: &BlobKey) -> Option<TaskId> {
        self.complete.lock().expect("shared lock").get(key).copied()
    }
}

/// Which part of the store a relay core loads: the tasks with
/// `ferry_proto::core_for_task(task_id, count) == index` (the placement
/// hash the relay and the control plane use).
#[derive(Debug, Clone)]
pub struct Shard {
    /// This shard's core, in `0..count`.
    pub index: usize,
    /// Number of cores (shards).
    pub count: usize,
    /// Poison flag and quota ledger, shared by all shards.
    pub shared: Arc<Shared>,
}

impl Shard {
    /// `count` shards over one shared ledger.
    pub fn all(count: usize) -> Vec<Shard> {
        let shared = Arc::new(Shared::default());
        (0..count.max(1))
            .map(|index| Shard {
                index,
                count: count.max(1),
                shared: shared.clone(),
            })
            .collect()
    }
}

/// A task to create.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// UUID text; validated before it touches a path.
    pub task_id: Vec<u8>,
    /// The uploader's user id (the quota is charged to it).
    pub from_user: u32,
    /// The receiver's user id.
    pub to_user: u32,
    /// The peer's file name, bytes as sent (≤ 4096 bytes; never a path).
    pub name: Vec<u8>,
    /// File size in bytes.
    pub size: u64,
    /// The whole file's SHA-256 if the uploader declared it (instant upload).
    pub sha256: Option<[u8; 32]>,
}

/// What [`Store::create`] made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// An empty upload: pull [`Task::missing`] blocks.
    Upload,
    /// Complete already, without a byte sent: the same bytes were stored
    /// (shared, not copied), or the file is empty. Carries the SHA-256.
    Instant {
        /// SHA-256 of the whole file.
        sha256: [u8; 32],
    },
}

/// A task as listed (`ferry store check`, HAS_OFFLINE answers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task id.
    pub task_id: TaskId,
    /// The uploader's user id.
    pub from_user: u32,
    /// The receiver's user id.
    pub to_user: u32,
    /// The peer's file name, bytes as sent.
    pub name: Vec<u8>,
    /// Bytes.
    pub size: u64,
    /// Block size in bytes.
    pub block_size: u32,
    /// Number of blocks.
    pub blocks: u32,
    /// Blocks committed (durable).
    pub committed: u32,
    /// Upload state.
    pub state: State,
    /// Unix seconds.
    pub created: u64,
    /// SHA-256 of the whole file, once complete.
    pub sha256: Option<[u8; 32]>,
}

impl TaskInfo {
    pub(crate) fn of(r: &Record) -> TaskInfo {
        TaskInfo {
            task_id: r.task_id,
            from_user: r.from_user,
            to_user: r.to_user,
            name: r.name.clone(),
            size: r.geometry.file_size,
            block_size: r.geometry.block_size,
            blocks: r.geometry.block_count(),
            committed: r.committed.count(),
            state: r.state,
            created: r.created,
            sha256: r.sha256,
        }
    }
}

/// Gauges for metrics: tasks by state and bytes held (declared sizes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Tasks still uploading.
    pub uploading: usize,
    /// Complete tasks (downloadable).
    pub complete: usize,
    /// Damaged tasks (downloads refused).
    pub damaged: usize,
    /// Bytes of this store's (shard's) tasks.
    pub bytes: u64,
    /// Bytes of all shards' tasks (the quota ledger).
    pub bytes_all_shards: u64,
    /// `quota_bytes` (0 = no limit).
    pub quota_bytes: u64,
}

/// What [`Store::sweep`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    /// Expired tasks deleted.
    pub expired: Vec<TaskId>,
    /// Orphan directories and blobs found at open, removed.
    pub orphans: usize,
}

/// The tasks of one store root, or of one shard of it.
#[derive(Debug)]
pub struct Store<F: FileSystem = StdFs> {
    fs: F,
    config: Config,
    layout: Layout,
    shard: Option<(usize, usize)>,
    shared: Arc<Shared>,
    tasks: HashMap<TaskId, Task>,
    /// Orphans found at open, removed by the next sweep.
    orphans: Vec<PathBuf>,
}

impl<F: FileSystem> Store<F> {
    /// Opens (creating it if missing) the store at `config.root` with all
    /// its tasks. `now` is unix seconds. Blocks found bad are marked
    /// (missing again, or the task damaged) and that is committed at once.
    /// Errors: `Io` if the root cannot be created or listed; `Poisoned` or
    /// `Io` if persisting a bad block's mark fails.
    pub fn open(
        fs: F,
        config: &Config,
        mode: RecoveryMode,
        now: u64,
    ) -> Result<(Store<F>, RecoveryReport)> {
        Self::open_inner(fs, config, mode, now, None, Arc::new(Shared::default()))
    }

    /// Opens only the tasks of `shard` (see [`Shard`]). Orphan blobs are
    /// left to an unsharded open or to repair.
    pub fn open_shard(
        fs: F,
        config: &Config,
        mode: RecoveryMode,
        now: u64,
        shard: Shard,
    ) -> Result<(Store<F>, RecoveryReport)> {
        Self::open_inner(
            fs,
            config,
            mode,
            now,
            Some((shard.index, shard.count.max(1))),
            shard.shared,
        )
    }

    fn open_inner(
        fs: F,
        config: &Config,
        mode: RecoveryMode,
        now: u64,
        shard: Option<(usize, usize)>,
        shared: Arc<Shared>,
    ) -> Result<(Store<F>, RecoveryReport)> {
        shared.health.check()?;
        let layout = Layout::new(&config.root);
        let mut store = Store {
            fs,
            config: config.clone(),
            layout,
            shard,
            shared,
            tasks: HashMap::new(),
            orphans: Vec::new(),
        };
        store.make_dirs()?;
        let mine = |id: &TaskId| {
            shard.is_none_or(|(index, count)| {
                ferry_proto::core_for_task(id.as_bytes(), count) == index
            })
        };
        let (found, report) =
            recovery::scan(&store.fs, &store.layout, mode, &mine, shard.is_none())?;
        for issue in &report.issues {
            tracing::warn!(%issue, "storage recovery");
            match issue {
                Issue::Orphan { path, .. } | Issue::OrphanBlob { path } => {
                    store.orphans.push(path.clone());
                }
                _ => {}
            }
        }
        for f in found {
            let r = &f.record;
            store
                .shared
                .ledger
                .reserve(r.from_user, r.geometry.file_size, 0, 0)?;
            store.shared.register(r);
            let id = r.task_id;
            let mut task = Task::new(f.record, store.handle());
            task.set_digest_hold(config.digest_hold_bytes);
            for b in &f.bad_blocks {
                task.mark_bad(*b);
            }
            store.tasks.insert(id, task);
            if !f.bad_blocks.is_empty() {
                store.flush(&id, now)?;
            }
        }
        Ok((store, report))
    }

    /// The poison flag tasks share with the store.
    fn handle(&self) -> Arc<Health> {
        self.shared.health.clone()
    }

    fn make_dirs(&self) -> Result<()> {
        let root = self.layout.root();
        let mut made = Vec::new();
        let mut p = root.to_path_buf();
        while !self.fs.exists(&p) {
            made.push(p.clone());
            if !p.pop() {
                break;
            }
        }
        for d in made.iter().rev() {
            self.fs.create_dir(d).map_err(|e| Error::io(d, e))?;
        }
        for d in [self.layout.tasks_dir(), self.layout.blobs_dir()] {
            if !self.fs.exists(&d) {
                self.fs.create_dir(&d).map_err(|e| Error::io(&d, e))?;
                made.push(d);
            }
        }
        if !made.is_empty() {
            self.sync_dir(root)?;
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.shared.health.synced(dir, self.fs.sync_dir(dir))
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Paths of this store.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// `(index, count)` when this store is one shard.
    pub fn shard(&self) -> Option<(usize, usize)> {
        self.shard
    }

    /// The file system.
    pub fn fs(&self) -> &F {
        &self.fs
    }

    /// Poisons the store (and every shard sharing it): call after any sync
    /// the relay did failed. Every call returns `Poisoned` until restart.
    pub fn poison(&self) {
        self.shared.health.poison();
    }

    /// Whether the store is poisoned.
    pub fn is_poisoned(&self) -> bool {
        self.shared.health.is_poisoned()
    }

    /// The quota ledger (bytes held in total and per user).
    pub fn ledger(&self) -> &Ledger {
        &self.shared.ledger
    }

    /// Tasks by state and bytes held, for metrics.
    pub fn stats(&self) -> StoreStats {
        let mut st = StoreStats {
            bytes_all_shards: self.shared.ledger.total(),
            quota_bytes: self.config.quota_bytes,
            ..StoreStats::default()
        };
        for t in self.tasks.values() {
            match t.state() {
                State::Uploading => st.uploading += 1,
                State::Complete => st.complete += 1,
                State::Damaged => st.damaged += 1,
            }
            st.bytes += t.geometry().file_size;
        }
        st
    }

    /// Number of tasks loaded.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when no task is loaded.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// The task, for the relay to drive. Errors: `Poisoned`,
    /// `InvalidArgument` (bad id), `NotFound`.
    pub fn task_mut<T: AsRef<[u8]> + ?Sized>(&mut self, id: &T) -> Result<&mut Task> {
        self.shared.health.check()?;
        let id = TaskId::parse(id)?;
        self.tasks
            .get_mut(&id)
            .ok_or_else(|| Error::NotFound(format!("task {id}")))
    }

    /// The task, read only. Errors as [`Store::task_mut`].
    pub fn task<T: AsRef<[u8]> + ?Sized>(&self, id: &T) -> Result<&Task> {
        self.shared.health.check()?;
        let id = TaskId::parse(id)?;
        self.tasks
            .get(&id)
            .ok_or_else(|| Error::NotFound(format!("task {id}")))
    }

    /// Creates a task: its directory, data file (preallocated to `size`
    /// bytes unless config says not) and first record, all synced. An
    /// uploader's declared SHA-256 matching a complete stored file of the
    /// same size and block size makes it complete at once, sharing the
    /// bytes; so does size 0. `now` is unix seconds.
    ///
    /// Checked before anything is written: `Poisoned`; `InvalidArgument`
    /// (task id not UUID text, name over 4096 bytes, or owned by another
    /// shard); `TooLarge` (size over `max_file_size`); `AlreadyExists`;
    /// `UserQuotaExceeded` / `QuotaExceeded` (the sender's, the total);
    /// `NoSpace` (would leave less than `min_free_bytes`).
    /// Then `Io` if a step fails (a failed sync also poisons).
    pub fn create(&mut self, new: NewTask, now: u64) -> Result<Created> {
        self.shared.health.check()?;
        let id = TaskId::parse(&new.task_id)?;
        if new.name.len() > MAX_NAME {
            return Err(Error::InvalidArgument(format!(
                "file name of {} bytes (at most {MAX_NAME})",
                new.name.len()
            )));
        }
        if new.size > self.config.max_file_size {
            return Err(Error::TooLarge(format!(
                "file of {} bytes (at most {})",
                new.size, self.config.max_file_size
            )));
        }
        if let Some((index, count)) = self.shard {
            let owner = ferry_proto::core_for_task(id.as_bytes(), count);
            if owner != index {
                return Err(Error::InvalidArgument(format!(
                    "task {id} belongs to shard {owner}, not {index}"
                )));
            }
        }
        if self.tasks.contains_key(&id) || self.fs.exists(&self.layout.task_dir(&id)) {
            return Err(Error::AlreadyExists(format!("task {id}")));
        }
        let geometry = Geometry::new(new.size, self.config.block_size)?;
        let source = new
            .sha256
            .and_then(|sha| self.find_complete(&sha, new.size, new.from_user));
        if new.sha256.is_some() && source.is_none() {
            tracing::debug!(task = %id, "no stored file with that digest: a normal upload");
        }
        if source.is_none() && new.size > 0 {
            let free = self
                .fs
                .free_space(self.layout.root())
                .map_err(|e| Error::io(self.layout.root(), e))?;
            if free < new.size.saturating_add(self.config.min_free_bytes) {
                return Err(Error::NoSpace(format!(
                    "{free} bytes free; {} wanted plus {} kept free",
                    new.size, self.config.min_free_bytes
                )));
            }
        }
        self.shared.ledger.reserve(
            new.from_user,
            new.size,
            self.config.quota_bytes,
            self.config.user_quota_bytes,
        )?;
        let mut record = Record::new(id, geometry, new.from_user, new.to_user, now, new.name);
        record.seq = 1;
        let created = match (&source, new.size) {
            (Some(src), _) => {
                record.committed = src.committed.clone();
                record.block_crc = src.block_crc.clone();
                record.sha256 = src.sha256;
                record.state = State::Complete;
                Created::Instant {
                    sha256: src.sha256.expect("complete"),
                }
            }
            (None, 0) => {
                record.sha256 = Some(empty_sha256());
                record.state = State::Complete;
                Created::Instant {
                    sha256: empty_sha256(),
                }
            }
            (None, _) => Created::Upload,
        };
        match self.write_new(&record, source.map(|r| r.task_id)) {
            Ok(()) => {
                self.shared.register(&record);
                let mut task = Task::new(record, self.handle());
                task.set_digest_hold(self.config.digest_hold_bytes);
                self.tasks.insert(id, task);
                Ok(created)
            }
            Err(e) => {
                self.shared.ledger.release(new.from_user, new.size);
                if !self.is_poisoned() {
                    // Best effort: a crash here leaves an orphan that the
                    // next open reports and sweep removes.
                    let _ = fs::remove_all(&self.fs, &self.layout.task_dir(&id));
                }
                Err(e)
            }
        }
    }

    /// The record of a complete, undamaged task with these bytes and the
    /// configured block size: of this shard, or of another (its record
    /// read from disk: a complete task's record only changes to damaged,
    /// and a torn read of one slot falls back to the other).
    /// A complete task with these bytes that `config.instant_upload` lets
    /// a task of `from_user` share: this shard's first, then the one the
    /// shared index names (another shard's).
    fn find_complete(&self, sha: &[u8; 32], size: u64, from_user: u32) -> Option<Record> {
        let allowed = |r: &Record| match self.config.instant_upload {
            InstantUpload::Off => false,
            InstantUpload::Sender => r.from_user == from_user,
            InstantUpload::Any => true,
        };
        let key = (*sha, size, self.config.block_size);
        let mine = self
            .tasks
            .values()
            .map(Task::record)
            .find(|r| blob_key(r) == Some(key) && allowed(r));
        if let Some(r) = mine {
            return Some(r.clone());
        }
        let id = self.shared.lookup(&key)?;
        let bytes = self.fs.read(&self.layout.manifest(&id)).ok()?;
        let r = manifest::load(&bytes).ok()?.record;
        (r.task_id == id && blob_key(&r) == Some(key) && allowed(&r)).then_some(r)
    }

    /// Tells the store that a commit made `id` complete, so that later
    /// uploads of the same bytes, on any shard, are instant. The relay
    /// calls it after the `end_commit` that completed the task; calling it
    /// for a task that is not complete does nothing. Errors: `Poisoned`,
    /// `InvalidArgument`, `NotFound`.
    pub fn note_complete<T: AsRef<[u8]> + ?Sized>(&mut self, id: &T) -> Result<()> {
        let r = self.task(id)?.record();
        self.shared.register(r);
        Ok(())
    }

    fn write_new(&self, record: &Record, source: Option<TaskId>) -> Result<()> {
        let fsys = &self.fs;
        let health = &self.shared.health;
        let id = &record.task_id;
        let [ab, cd] = self.layout.fanout(id);
        let mut sync = Vec::new();
        for (dir, parent) in [(&ab, self.layout.tasks_dir()), (&cd, ab.clone())] {
            if !fsys.exists(dir) {
                fsys.create_dir(dir).map_err(|e| Error::io(dir, e))?;
                sync.push(parent);
            }
        }
        let dir = self.layout.task_dir(id);
        fsys.create_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let data = self.layout.data(id);
        match source {
            Some(src) => {
                let size = record.geometry.file_size;
                let sha = record.sha256.expect("instant record has a digest");
                let b = blob::ensure(
                    fsys,
                    &self.layout,
                    health,
                    &sha,
                    size,
                    &self.layout.data(&src),
                )?;
                fsys.hard_link(&b, &data).map_err(|e| Error::io(&data, e))?;
            }
            None => {
                fsys.create_file(&data, record.geometry.file_size, self.config.preallocate)
                    .map_err(|e| Error::io(&data, e))?;
                health.synced(&data, fsys.sync_all(&data))?;
            }
        }
        let m = self.layout.manifest(id);
        let bytes = record.encode();
        fsys.create_file(&m, manifest::file_size(bytes.len()), false)
            .map_err(|e| Error::io(&m, e))?;
        fsys.write_at(&m, manifest::slot_offset(record.seq, bytes.len()), &bytes)
            .map_err(|e| Error::io(&m, e))?;
        health.synced(&m, fsys.sync_all(&m))?;
        self.sync_dir(&dir)?;
        self.sync_dir(&cd)?;
        for d in sync.iter().rev() {
            self.sync_dir(d)?;
        }
        Ok(())
    }

    /// Deletes a task: record first (then it is gone for recovery), data,
    /// directory, and the shared blob if no other task links to it.
    /// Errors: `Poisoned`, `InvalidArgument`, `NotFound`, `Io`.
    pub fn delete<T: AsRef<[u8]> + ?Sized>(&mut self, id: &T) -> Result<()> {
        self.shared.health.check()?;
        let id = TaskId::parse(id)?;
        let task = self
            .tasks
            .remove(&id)
            .ok_or_else(|| Error::NotFound(format!("task {id}")))?;
        let r = task.record();
        self.shared.unregister(r);
        if let Some(other) = self
            .tasks
            .values()
            .map(Task::record)
            .find(|o| blob_key(o).is_some() && blob_key(o) == blob_key(r))
        {
            // Another task of this shard holds the same bytes.
            self.shared.register(other);
        }
        self.shared
            .ledger
            .release(r.from_user, r.geometry.file_size);
        let dir = self.layout.task_dir(&id);
        for p in [self.layout.manifest(&id), self.layout.data(&id)] {
            match self.fs.remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
        fs::remove_all(&self.fs, &dir).map_err(|e| Error::io(&dir, e))?;
        let [_, cd] = self.layout.fanout(&id);
        self.sync_dir(&cd)?;
        if let (State::Complete | State::Damaged, Some(sha)) = (r.state, r.sha256) {
            blob::release(
                &self.fs,
                &self.layout,
                &self.shared.health,
                &sha,
                r.geometry.file_size,
            )?;
        }
        Ok(())
    }

    /// A task's listing. Errors: `Poisoned`, `InvalidArgument`, `NotFound`.
    pub fn stat<T: AsRef<[u8]> + ?Sized>(&self, id: &T) -> Result<TaskInfo> {
        Ok(TaskInfo::of(self.task(id)?.record()))
    }

    /// Tasks waiting for receiver `user` (complete or still uploading),
    /// oldest first. Errors: `Poisoned`.
    pub fn list(&self, user: u32) -> Result<Vec<TaskInfo>> {
        self.shared.health.check()?;
        let mut v: Vec<TaskInfo> = self
            .tasks
            .values()
            .map(|t| t.record())
            .filter(|r| r.to_user == user)
            .map(TaskInfo::of)
            .collect();
        v.sort_by_key(|i| (i.created, i.task_id));
        Ok(v)
    }

    /// Every task's listing, in task id order.
    pub fn list_all(&self) -> Vec<TaskInfo> {
        let mut v: Vec<TaskInfo> = self
            .tasks
            .values()
            .map(|t| TaskInfo::of(t.record()))
            .collect();
        v.sort_by_key(|i| i.task_id);
        v
    }

    /// Tasks expired at `now` (unix seconds): created more than
    /// `offline_ttl` ago, or still uploading more than `incomplete_ttl` ago.
    pub fn expired(&self, now: u64) -> Vec<TaskId> {
        let ttl = self.config.offline_ttl.as_secs();
        let incomplete = self.config.incomplete_ttl.as_secs();
        let mut v: Vec<TaskId> = self
            .tasks
            .values()
            .map(|t| t.record())
            .filter(|r| {
                let age = now.saturating_sub(r.created);
                age >= ttl || (r.state == State::Uploading && age >= incomplete)
            })
            .map(|r| r.task_id)
            .collect();
        v.sort();
        v
    }

    /// Deletes expired tasks and the orphans found at open. Errors:
    /// `Poisoned`, `Io` (what was deleted before stays deleted).
    pub fn sweep(&mut self, now: u64) -> Result<Swept> {
        self.shared.health.check()?;
        let mut swept = Swept::default();
        for id in self.expired(now) {
            self.delete(&id)?;
            swept.expired.push(id);
        }
        for path in std::mem::take(&mut self.orphans) {
            let r = if path.starts_with(self.layout.blobs_dir()) {
                self.fs.remove_file(&path)
            } else {
                fs::remove_all(&self.fs, &path)
            };
            match r {
                Ok(()) => swept.orphans += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Ok(swept)
    }
}
