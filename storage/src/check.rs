//! `ferry store check|repair`: the operator's face of recovery.
//!
//! [`check`] lists every task and verifies every committed block's CRC32C
//! (a Full scan), changing nothing; the store is sound when it finds no
//! [`Issue`]. [`repair`] drops what cannot be trusted so that the store
//! checks sound afterwards:
//!
//! | issue | repair |
//! |---|---|
//! | bad manifest slot | rewrite it with the good record (seq + 1) |
//! | bad block of an upload | forget the block (it is asked again) |
//! | bad block of a complete file, damaged task | delete the task |
//! | task directory without a record | remove it |
//! | file not part of the layout | remove it |
//! | blob no task links | remove it |
//!
//! With `dry_run` it says what it would do and changes nothing.

use std::collections::BTreeMap;
use std::path::Path;

use crate::blob;
use crate::error::{Error, Result};
use crate::fs::{self, FileSystem, StdFs};
use crate::health::Health;
use crate::layout::{Layout, TaskId};
use crate::manifest;
use crate::record::State;
use crate::recovery::{self, Found, Issue, RecoveryMode, RecoveryReport};
use crate::store::TaskInfo;

/// What [`check`] found.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// Every task with a usable record, in task id order.
    pub tasks: Vec<TaskInfo>,
    /// Counts and issues of the Full scan.
    pub report: RecoveryReport,
}

impl CheckReport {
    /// True when no issue was found (the exit status of `ferry store check`).
    pub fn is_sound(&self) -> bool {
        self.report.is_sound()
    }
}

/// One repair, done or (dry run) to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    /// The issue found.
    pub issue: Issue,
    /// What was (or would be) done, for the operator.
    pub action: String,
}

/// Checks the store under `root` on the real file system.
pub fn check(root: &Path) -> Result<CheckReport> {
    check_with(&StdFs, root)
}

/// Repairs the store under `root` on the real file system.
pub fn repair(root: &Path, dry_run: bool) -> Result<Vec<Repair>> {
    repair_with(&StdFs, root, dry_run)
}

fn scan_all(fs: &dyn FileSystem, root: &Path) -> Result<(Vec<Found>, RecoveryReport)> {
    if !fs.exists(root) {
        return Err(Error::NotFound(format!("no store at {}", root.display())));
    }
    recovery::scan(fs, &Layout::new(root), RecoveryMode::Full, &|_| true, true)
}

/// [`check`] through any file system. Errors: `NotFound` if `root` does
/// not exist; `Io` if a directory cannot be listed.
pub fn check_with(fs: &dyn FileSystem, root: &Path) -> Result<CheckReport> {
    let (found, report) = scan_all(fs, root)?;
    let mut tasks: Vec<TaskInfo> = found.iter().map(|f| TaskInfo::of(&f.record)).collect();
    tasks.sort_by_key(|t| t.task_id);
    Ok(CheckReport { tasks, report })
}

/// [`repair`] through any file system. Errors: `NotFound`, `Io`; a failed
/// sync stops the repair with `Io` (run it again).
pub fn repair_with(fs: &dyn FileSystem, root: &Path, dry_run: bool) -> Result<Vec<Repair>> {
    let layout = Layout::new(root);
    let health = Health::default();
    let (found, report) = scan_all(fs, root)?;
    let found: BTreeMap<TaskId, Found> = found.into_iter().map(|f| (f.record.task_id, f)).collect();
    let mut done = Vec::new();
    let mut dropped = Vec::new();
    let mut rewritten = Vec::new();
    for issue in report.issues {
        let action = match &issue {
            Issue::BadSlot { task, .. }
            | Issue::BadBlock { task, .. }
            | Issue::Damaged { task } => {
                let f = &found[task];
                if f.record.state != State::Uploading && !f.bad_blocks.is_empty()
                    || f.record.state == State::Damaged
                {
                    if dropped.contains(task) {
                        continue;
                    }
                    dropped.push(*task);
                    if !dry_run {
                        drop_task(fs, &layout, &health, f)?;
                    }
                    format!("delete task {task}: its stored bytes cannot be trusted")
                } else {
                    if rewritten.contains(task) {
                        continue;
                    }
                    rewritten.push(*task);
                    if !dry_run {
                        rewrite(fs, &layout, &health, f)?;
                    }
                    match f.bad_blocks.len() {
                        0 => format!("rewrite the manifest of task {task}"),
                        n => format!(
                            "forget {n} bad block(s) of task {task}; they will be asked again"
                        ),
                    }
                }
            }
            Issue::Orphan { path, .. } | Issue::Garbage { path } => {
                if !dry_run {
                    remove(fs, path)?;
                }
                format!("remove {}", path.display())
            }
            Issue::OrphanBlob { path } => {
                if !dry_run {
                    fs.remove_file(path).map_err(|e| Error::io(path, e))?;
                }
                format!("remove {}", path.display())
            }
        };
        done.push(Repair { issue, action });
    }
    Ok(done)
}

fn remove(fs: &dyn FileSystem, path: &Path) -> Result<()> {
    let r = match fs.remove_file(path) {
        Ok(()) => Ok(()),
        Err(_) => fs::remove_all(fs, path),
    };
    r.map_err(|e| Error::io(path, e))?;
    if let Some(parent) = path.parent() {
        fs.sync_dir(parent).map_err(|e| Error::io(parent, e))?;
    }
    Ok(())
}

/// Writes the task's record without its bad blocks, with seq + 1, into the
/// other slot (the bad one, if a slot was bad).
fn rewrite(fs: &dyn FileSystem, layout: &Layout, health: &Health, f: &Found) -> Result<()> {
    let mut r = f.record.clone();
    for &b in &f.bad_blocks {
        r.committed.set(b, false);
        r.block_crc[b as usize] = 0;
    }
    r.seq += 1;
    let bytes = r.encode();
    let path = layout.manifest(&r.task_id);
    fs.write_at(&path, manifest::slot_offset(r.seq, bytes.len()), &bytes)
        .map_err(|e| Error::io(&path, e))?;
    health.synced(&path, fs.sync_data(&path))
}

fn drop_task(fs: &dyn FileSystem, layout: &Layout, health: &Health, f: &Found) -> Result<()> {
    let r = &f.record;
    let dir = layout.task_dir(&r.task_id);
    fs::remove_all(fs, &dir).map_err(|e| Error::io(&dir, e))?;
    let [_, cd] = layout.fanout(&r.task_id);
    health.synced(&cd, fs.sync_dir(&cd))?;
    if let Some(sha) = r.sha256 {
        blob::release(fs, layout, health, &sha, r.geometry.file_size)?;
    }
    Ok(())
}
