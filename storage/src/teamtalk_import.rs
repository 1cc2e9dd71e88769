//! Import of TeamTalk file_server's offline files (PROTOCOL.md §d,
//! "Offline file on-disk layout"), so a deployment switches to ferry
//! without losing files nobody has fetched yet.
//!
//! TeamTalk keeps `offline_file/<task_id[0..2]>/<task_id>`: a 960-byte
//! header of six NUL-padded ASCII fields, then the file's raw bytes:
//!
//! ```text
//! teamtalk_offline_file {
//!   task_id      [u8; 128]   offset   0  UUID text, equal to the file name
//!   from_user_id [u8;  64]   offset 128  decimal
//!   to_user_id   [u8;  64]   offset 192  decimal
//!   create_time  [u8; 128]   offset 256  unix seconds, decimal (last activity)
//!   file_name    [u8; 512]   offset 384  always empty in practice
//!   file_size    [u8;  64]   offset 896  decimal (u32 in TeamTalk)
//!   data         [u8; file_size]  offset 960
//! }
//! ```
//!
//! Nothing in it is checksummed and partial uploads stay on disk forever,
//! so every file is checked and refused with a reason if it is not what a
//! completed upload leaves: short header, zero-filled header, fields that
//! are not numbers, a task id that is not UUID text or differs from the
//! file name (`../` included), a size that disagrees with the bytes that
//! follow. An imported task counts its age from the import (TeamTalk's
//! create_time is its last activity, often long ago: the expiry would
//! otherwise delete pending files at once).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs::FileSystem;
use crate::layout::TaskId;
use crate::store::{NewTask, Store};

/// Length of TeamTalk's header in bytes.
pub const HEADER_LEN: usize = 960;

/// A file that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The TeamTalk file.
    pub path: PathBuf,
    /// Why it was refused.
    pub reason: String,
}

/// What [`import_teamtalk`] did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Tasks now complete in the store.
    pub imported: Vec<TaskId>,
    /// Files left alone, each with its reason.
    pub refused: Vec<Refused>,
}

/// A parsed TeamTalk header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The task id (header and file name agree).
    pub task_id: TaskId,
    /// The uploader's user id.
    pub from_user: u32,
    /// The receiver's user id.
    pub to_user: u32,
    /// Unix seconds.
    pub create_time: u64,
    /// The file name field, bytes up to the first NUL (usually empty).
    pub file_name: Vec<u8>,
    /// Bytes.
    pub file_size: u64,
}

fn field(header: &[u8], start: usize, len: usize) -> &[u8] {
    let f = &header[start..start + len];
    let end = f.iter().position(|&b| b == 0).unwrap_or(len);
    &f[..end]
}

fn number<T: std::str::FromStr>(
    header: &[u8],
    start: usize,
    len: usize,
    name: &str,
) -> Result<T, String> {
    let f = field(header, start, len);
    std::str::from_utf8(f)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{name} is not a number ({:?})", String::from_utf8_lossy(f)))
}

/// Parses a 960-byte header. Errors: the reason it is not one.
pub fn parse_header(header: &[u8]) -> Result<Header, String> {
    if header.len() < HEADER_LEN {
        return Err(format!(
            "short header ({} of {HEADER_LEN} bytes)",
            header.len()
        ));
    }
    let header = &header[..HEADER_LEN];
    if header.iter().all(|&b| b == 0) {
        return Err("header is all zeros".into());
    }
    let raw_id = field(header, 0, 128);
    let task_id = TaskId::parse(raw_id).map_err(|_| {
        format!(
            "task id {:?} in the header is not UUID text",
            String::from_utf8_lossy(raw_id)
        )
    })?;
    Ok(Header {
        task_id,
        from_user: number(header, 128, 64, "from_user_id")?,
        to_user: number(header, 192, 64, "to_user_id")?,
        create_time: number(header, 256, 128, "create_time")?,
        file_name: field(header, 384, 512).to_vec(),
        file_size: number(header, 896, 64, "file_size")?,
    })
}

/// Imports every offline file under `src` (TeamTalk's `offline_file/`)
/// into `store`, as complete tasks; `now` (unix seconds) is their created
/// time. Files that are not sound are refused with a reason, never
/// imported in part. Errors: `Io` if `src` cannot be listed; `Poisoned`
/// or `Io` from the store (the import stops: what was imported stays).
pub fn import_teamtalk<F: FileSystem>(
    src: &Path,
    store: &mut Store<F>,
    now: u64,
) -> Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut dirs = read_dir(src)?;
    dirs.sort();
    for (dir, is_dir) in dirs {
        if !is_dir {
            report.refused.push(Refused {
                path: dir,
                reason: "not in a task-id directory".into(),
            });
            continue;
        }
        let mut files = read_dir(&dir)?;
        files.sort();
        for (path, is_dir) in files {
            let r = if is_dir {
                Err("a directory, not a file".to_string())
            } else {
                import_one(&dir, &path, store, now)
            };
            match r {
                Ok(id) => report.imported.push(id),
                Err(reason) => {
                    if store.is_poisoned() {
                        return Err(Error::Poisoned);
                    }
                    tracing::warn!(path = %path.display(), %reason, "teamtalk import refused");
                    report.refused.push(Refused { path, reason });
                }
            }
        }
    }
    Ok(report)
}

fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, bool)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let e = e.map_err(|e| Error::io(dir, e))?;
        let path = e.path();
        let is_dir = e.file_type().map_err(|err| Error::io(&path, err))?.is_dir();
        out.push((path, is_dir));
    }
    Ok(out)
}

fn import_one<F: FileSystem>(
    dir: &Path,
    path: &Path,
    store: &mut Store<F>,
    now: u64,
) -> Result<TaskId, String> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let id = TaskId::parse(name).map_err(|_| format!("file name {name:?} is not a task id"))?;
    if dir.file_name().and_then(|n| n.to_str()) != Some(&id.as_str()[0..2]) {
        return Err("file is not in the directory of its first two characters".into());
    }
    let f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let len = f.metadata().map_err(|e| format!("cannot stat: {e}"))?.len();
    let mut header = vec![0u8; HEADER_LEN.min(len as usize)];
    f.read_exact_at(&mut header, 0)
        .map_err(|e| format!("cannot read the header: {e}"))?;
    let h = parse_header(&header)?;
    if h.task_id != id {
        return Err(format!("header names task {}, file name {id}", h.task_id));
    }
    let data_len = len - HEADER_LEN as u64;
    if data_len != h.file_size {
        return Err(format!(
            "size mismatch: header says {} bytes, {data_len} follow (an unfinished upload?)",
            h.file_size
        ));
    }
    store
        .create(
            NewTask {
                task_id: id.as_bytes().to_vec(),
                from_user: h.from_user,
                to_user: h.to_user,
                name: h.file_name,
                size: h.file_size,
                sha256: None,
            },
            now,
        )
        .map_err(|e| format!("store refused the task: {e}"))?;
    match copy(&f, &id, store, now) {
        Ok(()) => Ok(id),
        Err(e) => {
            let _ = store.delete(&id);
            Err(format!("copy failed: {e}"))
        }
    }
}

fn copy<F: FileSystem>(f: &File, id: &TaskId, store: &mut Store<F>, now: u64) -> Result<()> {
    let g = store.task(id)?.geometry();
    let mut buf = Vec::new();
    for b in 0..g.block_count() {
        buf.resize(g.block_len(b) as usize, 0);
        f.read_exact_at(&mut buf, HEADER_LEN as u64 + g.block_offset(b))
            .map_err(|e| Error::io("teamtalk file", e))?;
        store.put(id, g.block_offset(b), &buf)?;
        if b % 8 == 7 {
            store.flush(id, now)?;
        }
    }
    store.flush(id, now)?;
    store.finish(id, now)?;
    Ok(())
}
