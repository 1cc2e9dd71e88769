//! Store behaviour through its public API, on the real file system and on
//! the fault-injecting one.

mod common;

use std::sync::Arc;

use common::*;
use ferry_storage::fault::{CrashMode, Fault, FaultFs};
use ferry_storage::{
    Created, Error, FileSystem, InstantUpload, Issue, RecoveryMode, Shard, State, StdFs, Store,
};

#[test]
fn upload_resume_after_reopen_then_download() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path().join("store").to_str().unwrap(), 64 * 1024);
    let file = content(300_000, 1);
    let (mut s, report) = Store::open(StdFs, &cfg, RecoveryMode::Full, 1000).unwrap();
    assert!(report.is_sound());
    assert_eq!(
        s.create(new_task(1, file.len() as u64), 1000).unwrap(),
        Created::Upload
    );
    assert!(matches!(
        s.create(new_task(1, 5), 1000),
        Err(Error::AlreadyExists(_))
    ));
    let g = s.task(&id(1)).unwrap().geometry();
    assert_eq!(g.block_count(), 5);
    // Blocks 0 and 3 committed, block 1 written but never flushed.
    for b in [0u32, 3, 1] {
        for (off, len) in g.pulls(b, 32 * 1024) {
            s.put(&id(1), off, &file[off as usize..][..len as usize])
                .unwrap();
        }
        if b == 3 {
            assert_eq!(s.flush(&id(1), 1000).unwrap(), 2);
        }
    }
    drop(s);
    let (mut s, report) = Store::open(StdFs, &cfg, RecoveryMode::Full, 1000).unwrap();
    assert!(report.is_sound(), "{:?}", report.issues);
    assert_eq!((report.tasks, report.blocks), (1, 2));
    assert_eq!(s.task(&id(1)).unwrap().missing(), [1, 2, 4]);
    let digest = upload_all(&mut s, 1, &file, 32 * 1024, 2).unwrap();
    assert_eq!(digest, sha(&file));
    assert_eq!(s.read(&id(1), 0, 1 << 30).unwrap(), file);
    assert_eq!(s.read(&id(1), 70_000, 10).unwrap(), &file[70_000..70_010]);
    drop(s);
    let (mut s, _) = Store::open(StdFs, &cfg, RecoveryMode::Quick, 1000).unwrap();
    let info = s.stat(&id(1)).unwrap();
    assert_eq!(
        (info.state, info.sha256),
        (State::Complete, Some(sha(&file)))
    );
    assert_eq!(s.read(&id(1), 299_999, 5).unwrap(), &file[299_999..]);
}

#[test]
fn zero_and_one_byte_files_and_names_that_are_not_paths() {
    let fs = Arc::new(FaultFs::new());
    let cfg = config("/store", 4096);
    let (mut s, _) = Store::open(fs.clone(), &cfg, RecoveryMode::Full, 0).unwrap();
    let empty = sha(b"");
    assert_eq!(
        s.create(new_task(1, 0), 0).unwrap(),
        Created::Instant { sha256: empty }
    );
    let mut t = new_task(2, 1);
    t.name = [b"../../etc/passwd/\0".to_vec(), vec![b'x'; 4096 - 18]].concat();
    assert_eq!(s.create(t.clone(), 0).unwrap(), Created::Upload);
    upload_all(&mut s, 2, b"z", 1, 1).unwrap();
    let mut long = new_task(3, 1);
    long.name = vec![b'y'; 4097];
    assert!(matches!(s.create(long, 0), Err(Error::InvalidArgument(_))));
    let mut bad = new_task(4, 1);
    bad.task_id = b"../../../../tmp/x".to_vec();
    assert!(matches!(s.create(bad, 0), Err(Error::InvalidArgument(_))));
    drop(s);
    fs.crash(CrashMode::LoseUnsynced);
    let (s, r) = Store::open(fs.clone(), &cfg, RecoveryMode::Full, 0).unwrap();
    assert!(r.is_sound(), "{:?}", r.issues);
    assert_eq!(s.stat(&id(1)).unwrap().state, State::Complete);
    let listed = s.list(200).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].name == t.name, "name kept byte for byte");
    assert_eq!(listed[0].sha256, Some(sha(b"z")));
    assert_eq!(s.list(201).unwrap()[0].sha256, Some(empty));
}

#[test]
fn a_five_gib_file_is_sparse_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path().to_str().unwrap(), 1 << 20);
    cfg.preallocate = false;
    let size = 5u64 << 30;
    let (mut s, _) = Store::open(StdFs, &cfg, RecoveryMode::Quick, 0).unwrap();
    s.create(new_task(1, size), 0).unwrap();
    let g = s.task(&id(1)).unwrap().geometry();
    assert_eq!(g.block_count(), 5120);
    let last = g.block_count() - 1;
    let tail = content(1 << 20, 9);
    for (off, len) in g.pulls(last, 0) {
        let at = (off - g.block_offset(last)) as usize;
        s.put(&id(1), off, &tail[at..at + len as usize]).unwrap();
    }
    s.flush(&id(1), 0).unwrap();
    drop(s);
    let (s, r) = Store::open(StdFs, &cfg, RecoveryMode::Full, 0).unwrap();
    assert!(r.is_sound());
    let t = s.task(&id(1)).unwrap();
    assert_eq!(t.committed(), 1);
    assert_eq!(t.missing().len(), 5119);
    assert!(t.plan(size - 10, 10).is_ok());
    let data = s
        .layout()
        .data(&ferry_storage::TaskId::parse(&id(1)).unwrap());
    assert_eq!(std::fs::metadata(&data).unwrap().len(), size);
}

#[test]
fn quotas_and_free_space_are_refused_before_any_write() {
    let fs = Arc::new(FaultFs::new());
    let mut cfg = config("/store", 4096);
    cfg.quota_bytes = 10_000;
    cfg.user_quota_bytes = 6_000;
    cfg.min_free_bytes = 1_000;
    let (mut s, _) = Store::open(fs.clone(), &cfg, RecoveryMode::Quick, 0).unwrap();
    s.create(new_task(3, 5_000), 0).unwrap(); // user 100
    assert!(matches!(
        s.create(new_task(6, 2_000), 0),
        Err(Error::UserQuotaExceeded(_))
    )); // user 100
    s.create(new_task(4, 4_000), 0).unwrap(); // user 101
    assert!(matches!(
        s.create(new_task(5, 2_000), 0),
        Err(Error::QuotaExceeded(_))
    )); // total
    s.delete(&id(4)).unwrap();
    fs.set_free_space(2_500);
    let ops = fs.ops();
    assert!(matches!(
        s.create(new_task(5, 2_000), 0),
        Err(Error::NoSpace(_))
    ));
    assert_eq!(fs.ops(), ops, "nothing touched");
    fs.set_free_space(3_000);
    s.create(new_task(5, 2_000), 0).unwrap();
    assert_eq!(s.ledger().total(), 7_000);
    let st = s.stats();
    assert_eq!((st.uploading, st.bytes, st.quota_bytes), (2, 7_000, 10_000));
    assert!(matches!(
        s.create(new_task(7, (64 << 30) + 1), 0),
        Err(Error::TooLarge(_))
    ));
}

#[test]
fn instant_upload_shares_bytes_and_delete_keeps_them_for_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path().to_str().unwrap(), 4096);
    let file = content(10_000, 3);
    let (mut s, _) = Store::open(StdFs, &cfg, RecoveryMode::Full, 0).unwrap();
    s.create(new_task(1, 10_000), 0).unwrap();
    upload_all(&mut s, 1, &file, 4096, 1).unwrap();
    // Another sender naming the digest uploads (instant_upload = "sender").
    let mut t = new_task(5, 10_000);
    t.sha256 = Some(sha(&file));
    assert_ne!(t.from_user, new_task(1, 0).from_user);
    assert_eq!(s.create(t, 0).unwrap(), Created::Upload);
    // The same sender's does not.
    let mut t = new_task(2, 10_000);
    t.from_user = new_task(1, 0).from_user;
    t.sha256 = Some(sha(&file));
    assert_eq!(
        s.create(t, 0).unwrap(),
        Created::Instant { sha256: sha(&file) }
    );
    let mut t = new_task(3, 10_000);
    t.sha256 = Some(sha(b"other"));
    assert_eq!(s.create(t, 0).unwrap(), Created::Upload);
    s.delete(&id(1)).unwrap();
    assert!(matches!(s.delete(&id(1)), Err(Error::NotFound(_))));
    assert_eq!(s.read(&id(2), 0, 10_000).unwrap(), file);
    let blob = s.layout().blob(&sha(&file), 10_000);
    assert!(blob.exists());
    drop(s);
    let (mut s, r) = Store::open(StdFs, &cfg, RecoveryMode::Full, 0).unwrap();
    assert!(r.is_sound(), "{:?}", r.issues);
    assert_eq!(s.read(&id(2), 0, 10_000).unwrap(), file);
    s.delete(&id(2)).unwrap();
    assert!(!blob.exists(), "last user gone, blob gone");
}

#[test]
fn instant_upload_off_uploads_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path().to_str().unwrap(), 4096);
    cfg.instant_upload = InstantUpload::Off;
    let file = content(10_000, 5);
    let (mut s, _) = Store::open(StdFs, &cfg, RecoveryMode::Full, 0).unwrap();
    s.create(new_task(1, 10_000), 0).unwrap();
    upload_all(&mut s, 1, &file, 4096, 1).unwrap();
    let mut t = new_task(2, 10_000);
    t.from_user = new_task(1, 0).from_user;
    t.sha256 = Some(sha(&file));
    assert_eq!(s.create(t, 0).unwrap(), Created::Upload);
}

#[test]
fn shards_load_their_own_tasks_and_share_the_quota() {
    let fs = Arc::new(FaultFs::new());
    let mut cfg = config("/store", 4096);
    let (mut s, _) = Store::open(fs.clone(), &cfg, RecoveryMode::Quick, 0).unwrap();
    for n in 0..20 {
        s.create(new_task(n, 100), 0).unwrap();
    }
    drop(s);
    cfg.quota_bytes = 2_100;
    let shards = Shard::all(3);
    let mut total = 0;
    let mut stores = Vec::new();
    for sh in shards {
        let index = sh.index;
        let (s, r) = Store::open_shard(fs.clone(), &cfg, RecoveryMode::Quick, 0, sh).unwrap();
        for info in s.list_all() {
            assert_eq!(
                ferry_proto::core_for_task(info.task_id.as_bytes(), 3),
                index
            );
        }
        total += r.tasks;
        stores.push(s);
    }
    assert_eq!(total, 20);
    assert_eq!(stores[0].ledger().total(), 2_000);
    let n = (20..)
        .find(|n| ferry_proto::core_for_task(&id(*n), 3) == 1)
        .unwrap();
    stores[1].create(new_task(n, 100), 0).unwrap();
    let m = (n + 1..)
        .find(|n| ferry_proto::core_for_task(&id(*n), 3) == 2)
        .unwrap();
    assert!(matches!(
        stores[2].create(new_task(m, 100), 0),
        Err(Error::QuotaExceeded(_))
    ));
}

#[test]
fn expiry_deletes_data_and_record() {
    let fs = Arc::new(FaultFs::new());
    let cfg = config("/store", 4096);
    let day = 24 * 3600;
    let (mut s, _) = Store::open(fs.clone(), &cfg, RecoveryMode::Quick, 0).unwrap();
    s.create(new_task(1, 0), 0).unwrap(); // complete at 0
    s.create(new_task(2, 10), 0).unwrap(); // never uploaded
    s.create(new_task(3, 0), 3 * day).unwrap();
    assert_eq!(s.expired(day - 1), []);
    assert_eq!(
        s.expired(day)
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>(),
        [id(2)]
    );
    let swept = s.sweep(7 * day).unwrap();
    assert_eq!(swept.expired.len(), 2);
    assert_eq!(s.len(), 1);
    assert!(!fs.exists(std::path::Path::new(&format!(
        "/store/tasks/00/00/{}",
        id(1)
    ))));
    drop(s);
    let (s, _) = Store::open(fs, &cfg, RecoveryMode::Quick, 0).unwrap();
    assert_eq!(s.len(), 1);
}

#[test]
fn a_failed_sync_poisons_every_call() {
    let fs = Arc::new(FaultFs::new());
    let cfg = config("/store", 4096);
    let (mut s, _) = Store::open(fs.clone(), &cfg, RecoveryMode::Quick, 0).unwrap();
    s.create(new_task(1, 8192), 0).unwrap();
    s.put(&id(1), 0, &[1; 4096]).unwrap();
    // Next operations: sync_data of data (1).
    fs.fail_at(fs.ops() + 1, Fault::SyncFail);
    assert!(matches!(s.flush(&id(1), 0), Err(Error::Io { .. })));
    assert!(s.is_poisoned());
    assert!(matches!(
        s.put(&id(1), 4096, &[1; 4096]),
        Err(Error::Poisoned)
    ));
    assert!(matches!(s.create(new_task(2, 1), 0), Err(Error::Poisoned)));
    assert!(matches!(s.flush(&id(1), 0), Err(Error::Poisoned)));
    assert!(matches!(s.stat(&id(1)), Err(Error::Poisoned)));
    assert!(matches!(s.delete(&id(1)), Err(Error::Poisoned)));
    drop(s);
    fs.crash(CrashMode::LoseUnsynced);
    let (s, r) = Store::open(fs, &cfg, RecoveryMode::Full, 0).unwrap();
    assert!(r.is_sound());
    assert_eq!(s.task(&id(1)).unwrap().committed(), 0);
}

#[test]
fn an_interrupted_create_is_an_orphan_that_sweep_removes() {
    let fs = Arc::new(FaultFs::new());
    let cfg = config("/store", 4096);
    let (mut s, _) = Store::open(fs.clone(), &cfg, RecoveryMode::Quick, 0).unwrap();
    s.create(new_task(1, 10), 0).unwrap();
    // Crash at the manifest's sync of the second create (its operations:
    // mkdir, create data, sync data, create manifest, write, sync, ...).
    let base = fs.ops();
    fs.fail_at(base + 6, Fault::Crash);
    assert!(s.create(new_task(2, 10), 0).is_err());
    drop(s);
    fs.crash(CrashMode::Tear { seed: 1 });
    let (mut s, r) = Store::open(fs.clone(), &cfg, RecoveryMode::Full, 0).unwrap();
    assert_eq!(s.len(), 1);
    let orphans = r
        .issues
        .iter()
        .filter(|i| matches!(i, Issue::Orphan { .. }))
        .count();
    assert!(orphans <= 1, "{:?}", r.issues);
    assert_eq!(s.sweep(0).unwrap().orphans, orphans);
    drop(s);
    let (_, r) = Store::open(fs, &cfg, RecoveryMode::Full, 0).unwrap();
    assert!(r.is_sound(), "{:?}", r.issues);
}

#[test]
fn instant_upload_finds_the_bytes_on_another_shard() {
    let fs = Arc::new(FaultFs::new());
    let mut cfg = config("/store", 4096);
    // Tasks a, b and c have different senders (new_task): "any" shares.
    cfg.instant_upload = InstantUpload::Any;
    let file = content(9_000, 8);
    let owner = |n: u32| ferry_proto::core_for_task(&id(n), 2);
    let a = (0..).find(|n| owner(*n) == 0).unwrap();
    let b = (0..).find(|n| owner(*n) == 1).unwrap();
    let c = (b + 1..).find(|n| owner(*n) == 1).unwrap();
    let mut shards = Shard::all(2).into_iter();
    let (mut s0, _) = Store::open_shard(
        fs.clone(),
        &cfg,
        RecoveryMode::Full,
        0,
        shards.next().unwrap(),
    )
    .unwrap();
    let (mut s1, _) = Store::open_shard(
        fs.clone(),
        &cfg,
        RecoveryMode::Full,
        0,
        shards.next().unwrap(),
    )
    .unwrap();
    s0.create(new_task(a, 9_000), 0).unwrap();
    upload_all(&mut s0, a, &file, 4096, 1).unwrap();
    let mut t = new_task(b, 9_000);
    t.sha256 = Some(sha(&file));
    assert_eq!(
        s1.create(t, 0).unwrap(),
        Created::Instant { sha256: sha(&file) }
    );
    assert!(s1.read(&id(b), 0, 9_000).unwrap() == file);
    s0.delete(&id(a)).unwrap();
    assert!(
        s1.read(&id(b), 0, 9_000).unwrap() == file,
        "shared bytes kept"
    );
    // After a restart the index is rebuilt from the records.
    drop((s0, s1));
    let mut shards = Shard::all(2).into_iter();
    let _s0 = Store::open_shard(
        fs.clone(),
        &cfg,
        RecoveryMode::Full,
        0,
        shards.next().unwrap(),
    )
    .unwrap();
    let (mut s1, r) = Store::open_shard(
        fs.clone(),
        &cfg,
        RecoveryMode::Full,
        0,
        shards.next().unwrap(),
    )
    .unwrap();
    assert!(r.is_sound(), "{:?}", r.issues);
    let mut t = new_task(c, 9_000);
    t.sha256 = Some(sha(&file));
    assert_eq!(
        s1.create(t, 0).unwrap(),
        Created::Instant { sha256: sha(&file) }
    );
    s1.delete(&id(b)).unwrap();
    s1.delete(&id(c)).unwrap();
    let blob = s1.layout().blob(&sha(&file), 9_000);
    assert!(!s1.fs().exists(&blob), "last link gone, blob gone");
}

#[test]
fn sizes_at_the_block_edges_upload_and_read_back() {
    let fs = Arc::new(FaultFs::new());
    let cfg = config("/store", 4096);
    let (mut s, _) = Store::open(fs.clone(), &cfg, RecoveryMode::Quick, 0).unwrap();
    for (n, size) in [
        (1u32, 1usize),
        (2, 4095),
        (3, 4096),
        (4, 4097),
        (5, 3 * 4096),
    ] {
        let file = content(size, u64::from(n));
        s.create(new_task(n, size as u64), 0).unwrap();
        let blocks = s.task(&id(n)).unwrap().geometry().block_count();
        assert_eq!(blocks as usize, size.div_ceil(4096));
        assert_eq!(
            upload_all(&mut s, n, &file, 1000, 1).unwrap(),
            sha(&file),
            "{size}"
        );
        assert!(s.read(&id(n), 0, size as u64).unwrap() == file, "{size}");
        let tail = s.read(&id(n), size as u64 - 1, 100).unwrap();
        assert_eq!(tail, &file[size - 1..]);
        assert!(matches!(
            s.read(&id(n), size as u64, 1),
            Err(Error::InvalidArgument(_))
        ));
    }
    drop(s);
    fs.crash(CrashMode::LoseUnsynced);
    let (s, r) = Store::open(fs, &cfg, RecoveryMode::Full, 0).unwrap();
    assert!(r.is_sound() && r.tasks == 5, "{:?}", r.issues);
    assert!(s.list_all().iter().all(|t| t.state == State::Complete));
}
