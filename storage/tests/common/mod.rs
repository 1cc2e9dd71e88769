//! Helpers shared by the storage test binaries.
#![allow(dead_code, unreachable_pub)]

use ferry_storage::fault::Rng;
use ferry_storage::{Config, FileSystem, NewTask, Store};
use sha2::Digest as _;

/// A task id from a number.
pub fn id(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// Deterministic file contents.
pub fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0; len];
    Rng::new(seed).fill(&mut v);
    v
}

pub fn sha(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

pub fn config(root: &str, block: u32) -> Config {
    Config {
        root: root.into(),
        block_size: block,
        min_free_bytes: 0,
        ..Config::default()
    }
}

pub fn new_task(n: u32, size: u64) -> NewTask {
    NewTask {
        task_id: id(n).into_bytes(),
        from_user: 100 + n % 3,
        to_user: 200 + n % 2,
        name: format!("file-{n}.bin").into_bytes(),
        size,
        sha256: None,
    }
}

/// Puts every missing block of `file` (pulls of `pull` bytes) and flushes
/// every `per_commit` blocks, then finishes. Returns the SHA-256.
pub fn upload_all<F: FileSystem>(
    store: &mut Store<F>,
    n: u32,
    file: &[u8],
    pull: u32,
    per_commit: usize,
) -> ferry_storage::Result<[u8; 32]> {
    let id = id(n);
    let task = store.task(&id)?;
    let g = task.geometry();
    let missing = task.missing();
    for (i, b) in missing.iter().enumerate() {
        for (off, len) in g.pulls(*b, pull) {
            if store.task(&id)?.needs(off, len) {
                store.put(&id, off, &file[off as usize..][..len as usize])?;
            }
        }
        if (i + 1) % per_commit == 0 {
            store.flush(&id, 0)?;
        }
    }
    store.flush(&id, 0)?;
    store.finish(&id, 0)
}
