//! Flipped bytes in blocks and records: detected at open or at read, never
//! served; `check` reports the store unsound, `repair` drops what cannot be
//! trusted and the store then checks sound.

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::*;
use ferry_storage::check::{check, repair};
use ferry_storage::{Error, Issue, RecoveryMode, State, StdFs, Store, TaskId};

const BLOCK: u32 = 4096;

fn flip(path: &Path, offset: u64) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, offset).unwrap();
    f.write_all_at(&[b[0] ^ 0x20], offset).unwrap();
}

fn tid(n: u32) -> TaskId {
    TaskId::parse(&id(n)).unwrap()
}

/// A store with task 1 complete (3 blocks) and task 2 uploading with
/// blocks 0 and 2 committed.
fn setup(root: &Path) -> (Vec<u8>, Vec<u8>) {
    let cfg = config(root.to_str().unwrap(), BLOCK);
    let (mut s, _) = Store::open(StdFs, &cfg, RecoveryMode::Full, 0).unwrap();
    let a = content(3 * BLOCK as usize - 100, 11);
    s.create(new_task(1, a.len() as u64), 0).unwrap();
    upload_all(&mut s, 1, &a, BLOCK, 1).unwrap();
    let b = content(3 * BLOCK as usize, 12);
    s.create(new_task(2, b.len() as u64), 0).unwrap();
    for blk in [0usize, 2] {
        let off = blk * BLOCK as usize;
        s.put(&id(2), off as u64, &b[off..off + BLOCK as usize])
            .unwrap();
        s.flush(&id(2), 0).unwrap();
    }
    (a, b)
}

#[test]
fn a_flipped_byte_in_a_complete_file_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (a, _) = setup(root);
    let cfg = config(root.to_str().unwrap(), BLOCK);
    let data = ferry_storage::Layout::new(root).data(&tid(1));
    flip(&data, u64::from(BLOCK) + 17);

    // Quick open does not read blocks; the read does, and refuses.
    let (mut s, r) = Store::open(StdFs, &cfg, RecoveryMode::Quick, 0).unwrap();
    assert!(r.is_sound());
    assert_eq!(
        s.read(&id(1), 0, 100).unwrap(),
        &a[..100],
        "block 0 is fine"
    );
    let e = s.read(&id(1), 0, a.len() as u64).unwrap_err();
    assert!(e.is_corruption(), "{e}");
    assert_eq!(s.stat(&id(1)).unwrap().state, State::Damaged);
    assert!(
        s.read(&id(1), 0, 100).unwrap_err().is_corruption(),
        "damaged: refused"
    );
    drop(s);

    // The damage was committed: a later open knows it too.
    let (s, r) = Store::open(StdFs, &cfg, RecoveryMode::Full, 0).unwrap();
    assert!(
        r.issues.contains(&Issue::Damaged { task: tid(1) }),
        "{:?}",
        r.issues
    );
    assert!(s.task(&id(1)).unwrap().read_plan(0, 1).is_err());
    drop(s);

    let c = check(root).unwrap();
    assert!(!c.is_sound());
    let plan = repair(root, true).unwrap();
    assert!(!plan.is_empty());
    assert!(!check(root).unwrap().is_sound(), "dry run changes nothing");
    repair(root, false).unwrap();
    let c = check(root).unwrap();
    assert!(c.is_sound(), "{:?}", c.report.issues);
    assert_eq!(c.tasks.len(), 1, "the damaged task was dropped");
}

#[test]
fn full_open_finds_bad_blocks_and_an_upload_asks_for_them_again() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (a, b) = setup(root);
    let layout = ferry_storage::Layout::new(root);
    flip(&layout.data(&tid(1)), 5);
    flip(&layout.data(&tid(2)), 2 * u64::from(BLOCK) + 9);
    let cfg = config(root.to_str().unwrap(), BLOCK);
    let (mut s, r) = Store::open(StdFs, &cfg, RecoveryMode::Full, 0).unwrap();
    let bad: Vec<_> = r
        .issues
        .iter()
        .filter_map(|i| match i {
            Issue::BadBlock { task, block, .. } => Some((*task, *block)),
            _ => None,
        })
        .collect();
    assert_eq!(bad, [(tid(1), 0), (tid(2), 2)]);
    assert!(matches!(s.read(&id(1), 0, 1), Err(Error::Corruption(_))));
    assert_eq!(s.task(&id(2)).unwrap().missing(), [1, 2]);
    assert_eq!(upload_all(&mut s, 2, &b, BLOCK, 1).unwrap(), sha(&b));
    drop(s);
    let _ = a;
    repair(root, false).unwrap();
    let c = check(root).unwrap();
    assert!(c.is_sound(), "{:?}", c.report.issues);
    assert_eq!(c.tasks.len(), 1);
    assert_eq!(c.tasks[0].state, State::Complete);
}

#[test]
fn a_flipped_byte_in_a_record_is_detected_and_not_believed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (_, b) = setup(root);
    let layout = ferry_storage::Layout::new(root);
    let cfg = config(root.to_str().unwrap(), BLOCK);
    // Task 2's newest record (seq 3: blocks 0 and 2) is in slot 1.
    let m = layout.manifest(&tid(2));
    let slot = std::fs::metadata(&m).unwrap().len() / 2;
    flip(&m, slot + 40);
    let (s, r) = Store::open(StdFs, &cfg, RecoveryMode::Full, 0).unwrap();
    assert!(
        r.issues
            .iter()
            .any(|i| matches!(i, Issue::BadSlot { task, slot: 1, .. } if *task == tid(2))),
        "{:?}",
        r.issues
    );
    // The older record (block 0 only) is believed; nothing is claimed wrongly.
    assert_eq!(s.task(&id(2)).unwrap().missing(), [1, 2]);
    drop(s);
    assert!(!check(root).unwrap().is_sound());
    repair(root, false).unwrap();
    assert!(check(root).unwrap().is_sound());
    let (mut s, r) = Store::open(StdFs, &cfg, RecoveryMode::Full, 0).unwrap();
    assert!(r.is_sound());
    assert_eq!(upload_all(&mut s, 2, &b, BLOCK, 3).unwrap(), sha(&b));

    // Both slots of task 1 flipped: an orphan, never loaded, removed by repair.
    drop(s);
    let m = layout.manifest(&tid(1));
    flip(&m, 40);
    flip(&m, slot + 40);
    let (s, r) = Store::open(StdFs, &cfg, RecoveryMode::Full, 0).unwrap();
    assert!(s.task(&id(1)).is_err());
    assert!(r.issues.iter().any(|i| matches!(i, Issue::Orphan { .. })));
    drop(s);
    repair(root, false).unwrap();
    assert!(check(root).unwrap().is_sound());
}

#[test]
fn garbage_is_reported_and_repair_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    setup(root);
    std::fs::write(root.join("tasks/stray.txt"), b"x").unwrap();
    std::fs::create_dir_all(root.join("tasks/00/00/not-a-uuid")).unwrap();
    std::fs::write(root.join("tasks/00/00").join(id(1)).join("extra"), b"x").unwrap();
    let c = check(root).unwrap();
    let garbage = c
        .report
        .issues
        .iter()
        .filter(|i| matches!(i, Issue::Garbage { .. }))
        .count();
    assert_eq!(garbage, 3, "{:?}", c.report.issues);
    assert_eq!(c.tasks.len(), 2);
    repair(root, false).unwrap();
    assert!(check(root).unwrap().is_sound());
    assert!(check(&root.join("nowhere")).is_err());
}
