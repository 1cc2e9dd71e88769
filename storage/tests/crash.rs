//! Crash and fault injection: a scenario of creates, puts, commits, a
//! digest, an instant upload and a delete runs on [`FaultFs`] with a fault
//! injected at each file-system operation in turn (a crash that loses or
//! tears unsynced writes, an I/O error, a short write, a failed sync). The
//! store is then reopened with Full verification and must hold exactly
//! what was acknowledged: every committed block kept with its bytes,
//! nothing unsynced claimed, no damage reported falsely, every call
//! refused after a failed sync, and every upload able to finish with the
//! right SHA-256.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use common::*;
use ferry_storage::fault::{CrashMode, Fault, FaultFs};
use ferry_storage::{Created, Error, FileSystem, Issue, RecoveryMode, State, Store, TaskId};

const BLOCK: u32 = 4096;
const ROOT: &str = "/store";

/// What the scenario was told succeeded.
#[derive(Debug, Default)]
struct Acked {
    created: BTreeSet<u32>,
    deleted: BTreeSet<u32>,
    /// Blocks a flush reported committed, per task.
    committed: BTreeMap<u32, BTreeSet<u32>>,
    complete: BTreeSet<u32>,
    /// Tasks a create was attempted for (they may exist after a crash).
    attempted: BTreeSet<u32>,
    /// Tasks a delete was attempted for (a delete that failed after its
    /// durable point may have happened).
    deleting: BTreeSet<u32>,
}

/// The bytes of each task of the scenario.
fn files() -> BTreeMap<u32, Vec<u8>> {
    let mut f = BTreeMap::new();
    f.insert(1, content(5 * BLOCK as usize + 1234, 1));
    f.insert(2, content(1, 2));
    f.insert(3, Vec::new());
    f.insert(4, content(3 * BLOCK as usize, 4));
    f.insert(5, f[&1].clone()); // instant upload of task 1's bytes
    f.insert(6, content(2 * BLOCK as usize - 7, 6));
    f
}

type S = Store<Arc<FaultFs>>;

fn put_block(s: &mut S, n: u32, file: &[u8], b: u32) -> ferry_storage::Result<()> {
    let g = s.task(&id(n))?.geometry();
    for (off, len) in g.pulls(b, 1024) {
        s.put(&id(n), off, &file[off as usize..][..len as usize])?;
    }
    Ok(())
}

fn flush(s: &mut S, acked: &mut Acked, n: u32) -> ferry_storage::Result<()> {
    s.flush(&id(n), 0)?;
    let committed = s.task(&id(n))?.record().committed.ones().collect();
    acked.committed.insert(n, committed);
    Ok(())
}

/// The store under test: task 5 shares task 1's bytes though their
/// senders differ (`new_task`), so instant upload is open to any sender.
fn crash_config() -> ferry_storage::Config {
    ferry_storage::Config {
        instant_upload: ferry_storage::InstantUpload::Any,
        ..config(ROOT, BLOCK)
    }
}

fn create(
    s: &mut S,
    acked: &mut Acked,
    n: u32,
    size: usize,
    sha: Option<[u8; 32]>,
) -> ferry_storage::Result<Created> {
    acked.attempted.insert(n);
    let mut t = new_task(n, size as u64);
    t.sha256 = sha;
    let c = s.create(t, 0)?;
    acked.created.insert(n);
    if c != Created::Upload {
        acked.complete.insert(n);
    }
    Ok(c)
}

/// Opens the store and runs the scenario up to its first error. Returns
/// the store (if it opened) and how the scenario ended.
fn scenario(fs: &Arc<FaultFs>, acked: &mut Acked) -> (Option<S>, ferry_storage::Result<()>) {
    let (mut s, _) = match Store::open(fs.clone(), &crash_config(), RecoveryMode::Full, 0) {
        Ok(x) => x,
        Err(e) => return (None, Err(e)),
    };
    let r = run(&mut s, acked, &files());
    (Some(s), r)
}

// The scenario's body, separate so the caller keeps the store on error.
fn run(s: &mut S, acked: &mut Acked, f: &BTreeMap<u32, Vec<u8>>) -> ferry_storage::Result<()> {
    create(s, acked, 1, f[&1].len(), None)?;
    create(s, acked, 2, 1, None)?;
    assert_eq!(
        create(s, acked, 3, 0, None)?,
        Created::Instant { sha256: sha(b"") }
    );
    create(s, acked, 4, f[&4].len(), None)?;
    put_block(s, 1, &f[&1], 0)?;
    put_block(s, 1, &f[&1], 1)?;
    flush(s, acked, 1)?;
    put_block(s, 1, &f[&1], 3)?;
    flush(s, acked, 1)?;
    put_block(s, 1, &f[&1], 2)?;
    put_block(s, 1, &f[&1], 5)?;
    put_block(s, 1, &f[&1], 4)?;
    flush(s, acked, 1)?;
    assert_eq!(s.finish(&id(1), 0)?, sha(&f[&1]));
    acked.complete.insert(1);
    s.put(&id(2), 0, &f[&2])?;
    flush(s, acked, 2)?;
    s.finish(&id(2), 0)?;
    acked.complete.insert(2);
    let c = create(s, acked, 5, f[&5].len(), Some(sha(&f[&5])))?;
    assert_eq!(
        c,
        Created::Instant {
            sha256: sha(&f[&5])
        }
    );
    put_block(s, 4, &f[&4], 0)?;
    put_block(s, 4, &f[&4], 2)?;
    flush(s, acked, 4)?;
    put_block(s, 4, &f[&4], 1)?; // never flushed
    acked.deleting.insert(2);
    s.delete(&id(2))?;
    acked.deleted.insert(2);
    acked.deleting.insert(1);
    s.delete(&id(1))?; // task 5 still shares its bytes
    acked.deleted.insert(1);
    create(s, acked, 6, f[&6].len(), None)?;
    put_block(s, 6, &f[&6], 1)?;
    flush(s, acked, 6)?;
    Ok(())
}

fn number(id: &TaskId) -> u32 {
    u32::from_str_radix(&id.as_str()[24..], 16).unwrap()
}

/// After a failed sync every call is refused.
fn assert_refuses(s: &mut S, ctx: &str) {
    let poisoned = |r: Result<(), Error>, what: &str| {
        assert!(
            matches!(r, Err(Error::Poisoned)),
            "{ctx}: {what} not refused: {r:?}"
        );
    };
    poisoned(s.put(&id(4), 0, &[0; 10]).map(drop), "put");
    poisoned(s.flush(&id(4), 0).map(drop), "flush");
    poisoned(s.finish(&id(4), 0).map(drop), "finish");
    poisoned(s.create(new_task(9, 10), 0).map(drop), "create");
    poisoned(s.delete(&id(3)), "delete");
    poisoned(s.stat(&id(3)).map(drop), "stat");
    poisoned(s.task_mut(&id(3)).map(drop), "task");
    poisoned(s.read(&id(3), 0, 1).map(drop), "read");
    poisoned(s.list(200).map(drop), "list");
    poisoned(s.sweep(0).map(drop), "sweep");
    if let Ok(t) = s.task_mut(&id(4)) {
        poisoned(t.begin_write(0, &[0; 10]).map(drop), "begin_write");
    }
}

/// Reopens with Full verification and checks the store against `acked`,
/// then finishes every upload.
fn verify(fs: &Arc<FaultFs>, acked: &Acked, ctx: &str) {
    let f = files();
    let (mut s, report) = Store::open(fs.clone(), &crash_config(), RecoveryMode::Full, 0)
        .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
    for issue in &report.issues {
        match issue {
            Issue::BadSlot { .. } | Issue::Orphan { .. } | Issue::OrphanBlob { .. } => {}
            _ => panic!("{ctx}: unexpected issue: {issue}"),
        }
    }
    for n in acked.created.difference(&acked.deleting) {
        assert!(s.task(&id(*n)).is_ok(), "{ctx}: acknowledged task {n} lost");
    }
    for n in &acked.deleted {
        assert!(s.task(&id(*n)).is_err(), "{ctx}: deleted task {n} is back");
    }
    for info in s.list_all() {
        let n = number(&info.task_id);
        assert!(
            acked.attempted.contains(&n),
            "{ctx}: task {n} never created"
        );
        let file = &f[&n];
        let t = s.task(&id(n)).unwrap();
        let committed: BTreeSet<u32> = t.record().committed.ones().collect();
        if let Some(want) = acked.committed.get(&n) {
            assert!(
                committed.is_superset(want),
                "{ctx}: task {n} lost committed blocks"
            );
        }
        let g = t.geometry();
        let path = s.layout().data(&info.task_id);
        for b in &committed {
            let mut buf = vec![0; g.block_len(*b) as usize];
            s.fs().read_at(&path, g.block_offset(*b), &mut buf).unwrap();
            let start = g.block_offset(*b) as usize;
            assert!(
                buf == file[start..start + buf.len()],
                "{ctx}: task {n} claims block {b} whose bytes are not on disk"
            );
        }
        assert_ne!(info.state, State::Damaged, "{ctx}: task {n} damaged");
        if acked.complete.contains(&n) {
            assert_eq!(info.state, State::Complete, "{ctx}: task {n} not complete");
        }
        if info.state == State::Complete {
            assert_eq!(info.sha256, Some(sha(file)), "{ctx}: task {n} digest");
        }
    }
    for info in s.list_all() {
        let n = number(&info.task_id);
        let file = &f[&n];
        if info.state == State::Uploading {
            let digest = upload_all(&mut s, n, file, 1024, 2)
                .unwrap_or_else(|e| panic!("{ctx}: finishing task {n}: {e}"));
            assert_eq!(
                digest,
                sha(file),
                "{ctx}: task {n} finished with the wrong digest"
            );
        }
        if !file.is_empty() {
            assert!(
                s.read(&id(n), 0, file.len() as u64).unwrap() == *file,
                "{ctx}: task {n} bytes"
            );
        }
    }
}

#[test]
fn a_fault_at_every_operation_recovers_to_what_was_acknowledged() {
    let fs = Arc::new(FaultFs::new());
    let mut acked = Acked::default();
    let (s, r) = scenario(&fs, &mut acked);
    r.expect("clean run");
    drop(s);
    let total = fs.ops();
    assert!(total >= 80, "scenario has only {total} operations");
    fs.crash(CrashMode::LoseUnsynced);
    verify(&fs, &acked, "clean run");

    let plans = [
        (Fault::Crash, CrashMode::LoseUnsynced),
        (Fault::Crash, CrashMode::Tear { seed: 0 }),
        (Fault::Error, CrashMode::Tear { seed: 0 }),
        (Fault::SyncFail, CrashMode::LoseUnsynced),
        (Fault::ShortWrite, CrashMode::Tear { seed: 0 }),
    ];
    let mut runs = 0;
    for op in 1..=total {
        for (k, (fault, mode)) in plans.iter().enumerate() {
            let fs = Arc::new(FaultFs::new());
            fs.fail_at(op, *fault);
            let mut acked = Acked::default();
            let (s, r) = scenario(&fs, &mut acked);
            let ctx = format!("{fault:?} at operation {op} of {total}, then {mode:?}");
            assert!(fs.fault_hit(), "{ctx}: fault never hit");
            assert!(r.is_err(), "{ctx}: the scenario did not notice the fault");
            if fs.fault_hit_sync() {
                if let Some(mut s) = s {
                    assert!(s.is_poisoned(), "{ctx}: not poisoned after a failed sync");
                    assert_refuses(&mut s, &ctx);
                }
            } else {
                drop(s);
            }
            let mode = match mode {
                CrashMode::Tear { .. } => CrashMode::Tear {
                    seed: op * 8 + k as u64,
                },
                m => *m,
            };
            fs.crash(mode);
            verify(&fs, &acked, &ctx);
            runs += 1;
        }
    }
    eprintln!("{runs} runs over {total} operations");
}

#[test]
fn tears_of_unsynced_writes_never_claim_data() {
    // Crash at every operation with many tear seeds: whatever subset of
    // the unsynced writes survives, recovery believes only synced records.
    let total = {
        let fs = Arc::new(FaultFs::new());
        scenario(&fs, &mut Acked::default()).1.unwrap();
        fs.ops()
    };
    for op in (1..=total).step_by(3) {
        for seed in 0..6 {
            let fs = Arc::new(FaultFs::new());
            fs.fail_at(op, Fault::Crash);
            let mut acked = Acked::default();
            let _ = scenario(&fs, &mut acked);
            fs.crash(CrashMode::Tear {
                seed: seed * 1000 + op,
            });
            verify(&fs, &acked, &format!("crash at {op}, tear seed {seed}"));
        }
    }
}
