//! Reading a store's directory back: which tasks exist, what their records
//! say, and everything that is not as it should be. Read only: what to do
//! about each [`Issue`] is the caller's (open marks bad blocks, sweep
//! removes orphans, repair fixes all).

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::layout::{self, Layout, TaskId};
use crate::manifest;
use crate::record::{Record, State};

/// How much to check at open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Records and data file sizes only: fast, for every start.
    Quick,
    /// Also read every committed block and check its CRC32C.
    Full,
}

/// Something found at open or check that is not as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    /// One manifest slot holds neither zeros nor a valid record (a torn
    /// commit or a flipped byte); the other slot was used.
    BadSlot {
        /// The task.
        task: TaskId,
        /// 0 or 1.
        slot: usize,
        /// Why the slot was not believed.
        reason: String,
    },
    /// A committed block failed its CRC32C (or lies past the data file's end).
    BadBlock {
        /// The task.
        task: TaskId,
        /// Block index.
        block: u32,
        /// What the check found.
        reason: String,
    },
    /// A task whose record says damaged: its download is refused.
    Damaged {
        /// The task.
        task: TaskId,
    },
    /// A task directory without a usable record (a create cut short by a
    /// crash, or both slots corrupt): nothing in it can be trusted.
    Orphan {
        /// Where it is.
        path: PathBuf,
        /// Why it has no usable record.
        reason: String,
    },
    /// A file or directory that is not part of the layout.
    Garbage {
        /// Where it is.
        path: PathBuf,
    },
    /// A blob no task links to any more.
    OrphanBlob {
        /// Where it is.
        path: PathBuf,
    },
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Issue::BadSlot { task, slot, reason } => {
                write!(f, "task {task}: manifest slot {slot} is bad ({reason})")
            }
            Issue::BadBlock {
                task,
                block,
                reason,
            } => write!(f, "task {task}: block {block} is bad ({reason})"),
            Issue::Damaged { task } => write!(f, "task {task} is damaged"),
            Issue::Orphan { path, reason } => {
                write!(
                    f,
                    "{}: task directory without a record ({reason})",
                    path.display()
                )
            }
            Issue::Garbage { path } => write!(f, "{}: not part of the store", path.display()),
            Issue::OrphanBlob { path } => write!(f, "{}: blob no task uses", path.display()),
        }
    }
}

/// What open or check found.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// Tasks loaded.
    pub tasks: usize,
    /// Committed blocks loaded (all tasks).
    pub blocks: u64,
    /// Everything that was not as it should be, to log and count.
    pub issues: Vec<Issue>,
}

impl RecoveryReport {
    /// True when nothing was found wrong.
    pub fn is_sound(&self) -> bool {
        self.issues.is_empty()
    }
}

/// One task as found on disk.
#[derive(Debug, Clone)]
pub struct Found {
    /// The record believed (highest valid seq).
    pub record: Record,
    /// Committed blocks that failed their check (Full mode, or past the
    /// data file's end in either mode).
    pub bad_blocks: Vec<u32>,
    /// A slot to rewrite from the good one, if any was bad.
    pub bad_slot: Option<usize>,
}

fn is_fanout(name: &str) -> bool {
    name.len() == 2
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Walks `root/tasks`, loading every task for which `mine` is true, and
/// (when `blobs`) looks for blobs nobody links. Errors: `Io` if a
/// directory cannot be listed.
pub fn scan(
    fs: &dyn FileSystem,
    layout: &Layout,
    mode: RecoveryMode,
    mine: &dyn Fn(&TaskId) -> bool,
    blobs: bool,
) -> Result<(Vec<Found>, RecoveryReport)> {
    let mut found = Vec::new();
    let mut report = RecoveryReport::default();
    let tasks = layout.tasks_dir();
    for l1 in list(fs, &tasks)? {
        let p1 = tasks.join(&l1.name);
        let Some(n1) = l1.name.to_str().filter(|n| l1.is_dir && is_fanout(n)) else {
            report.issues.push(Issue::Garbage { path: p1 });
            continue;
        };
        for l2 in list(fs, &p1)? {
            let p2 = p1.join(&l2.name);
            let Some(n2) = l2.name.to_str().filter(|n| l2.is_dir && is_fanout(n)) else {
                report.issues.push(Issue::Garbage { path: p2 });
                continue;
            };
            for t in list(fs, &p2)? {
                let path = p2.join(&t.name);
                let id = t
                    .name
                    .to_str()
                    .and_then(|n| TaskId::parse(n).ok())
                    .filter(|id| t.is_dir && id.as_str()[0..2] == *n1 && id.as_str()[2..4] == *n2);
                let Some(id) = id else {
                    report.issues.push(Issue::Garbage { path });
                    continue;
                };
                if !mine(&id) {
                    continue;
                }
                match load(fs, layout, &id, mode, &mut report.issues) {
                    Ok(f) => {
                        report.tasks += 1;
                        report.blocks += u64::from(f.record.committed.count());
                        found.push(f);
                    }
                    Err(e) => report.issues.push(Issue::Orphan {
                        path,
                        reason: e.to_string(),
                    }),
                }
            }
        }
    }
    if blobs {
        scan_blobs(fs, layout, &mut report)?;
    }
    Ok((found, report))
}

fn list(fs: &dyn FileSystem, dir: &std::path::Path) -> Result<Vec<crate::fs::Entry>> {
    match fs.list(dir) {
        Ok(mut v) => {
            v.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// Loads one task directory. Errors: `Corruption`/`Io`/`NotFound` when it
/// has no usable record (the caller reports an orphan).
pub fn load(
    fs: &dyn FileSystem,
    layout: &Layout,
    id: &TaskId,
    mode: RecoveryMode,
    issues: &mut Vec<Issue>,
) -> Result<Found> {
    let dir = layout.task_dir(id);
    for e in list(fs, &dir)? {
        if e.is_dir || (e.name != layout::DATA && e.name != layout::MANIFEST) {
            issues.push(Issue::Garbage {
                path: dir.join(&e.name),
            });
        }
    }
    let mpath = layout.manifest(id);
    let bytes = fs.read(&mpath).map_err(|e| Error::io(&mpath, e))?;
    let loaded = manifest::load(&bytes)?;
    let record = loaded.record.clone();
    if record.task_id != *id {
        return Err(Error::Corruption(format!(
            "record names task {}",
            record.task_id
        )));
    }
    let bad_slot = loaded.bad_slot();
    if let Some(slot) = bad_slot {
        let manifest::Slot::Bad(reason) = &loaded.slots[slot] else {
            unreachable!("bad_slot")
        };
        issues.push(Issue::BadSlot {
            task: *id,
            slot,
            reason: reason.clone(),
        });
    }
    let dpath = layout.data(id);
    let len = fs.len(&dpath).map_err(|e| Error::io(&dpath, e))?;
    let g = record.geometry;
    let mut bad_blocks = Vec::new();
    let mut buf = Vec::new();
    for b in record.committed.ones() {
        let end = g.block_offset(b) + u64::from(g.block_len(b));
        let reason = if end > len {
            Some(format!("data file is {len} bytes, block ends at {end}"))
        } else if mode == RecoveryMode::Full {
            buf.resize(g.block_len(b) as usize, 0);
            let n = fs
                .read_at(&dpath, g.block_offset(b), &mut buf)
                .map_err(|e| Error::io(&dpath, e))?;
            let crc = crate::crc::crc32c(&buf[..n]);
            (n != buf.len() || crc != record.block_crc[b as usize]).then(|| {
                format!(
                    "CRC32C {crc:08x}, recorded {:08x}",
                    record.block_crc[b as usize]
                )
            })
        } else {
            None
        };
        if let Some(reason) = reason {
            issues.push(Issue::BadBlock {
                task: *id,
                block: b,
                reason,
            });
            bad_blocks.push(b);
        }
    }
    if record.state == State::Damaged {
        issues.push(Issue::Damaged { task: *id });
    }
    Ok(Found {
        record,
        bad_blocks,
        bad_slot,
    })
}

fn scan_blobs(fs: &dyn FileSystem, layout: &Layout, report: &mut RecoveryReport) -> Result<()> {
    let blobs = layout.blobs_dir();
    for l1 in list(fs, &blobs)? {
        let p1 = blobs.join(&l1.name);
        if !l1.is_dir || !l1.name.to_str().is_some_and(is_fanout) {
            report.issues.push(Issue::Garbage { path: p1 });
            continue;
        }
        for b in list(fs, &p1)? {
            let path = p1.join(&b.name);
            let ok = !b.is_dir
                && b.name.to_str().is_some_and(|n| {
                    n.len() > 65 && n.starts_with(&*l1.name.to_string_lossy()) && &n[64..65] == "-"
                });
            if !ok {
                report.issues.push(Issue::Garbage { path });
            } else if fs.links(&path).map_err(|e| Error::io(&path, e))? <= 1 {
                report.issues.push(Issue::OrphanBlob { path });
            }
        }
    }
    Ok(())
}
