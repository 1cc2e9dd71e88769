//! Offline transfers through the block store, on real sockets and real
//! files under a temporary directory: TeamTalk-shaped uploaders (answer
//! each pull as it comes) and downloaders (32 KiB, one in flight), resume
//! after a dropped uploader and after a relay restart, refused answers,
//! an empty file, a block corrupted on disk; the breakpoint query and the
//! SHA-256 on DONE (extensions). Each scenario runs on io_uring and on the
//! epoll driver.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::FileExt as _;
use std::path::Path;

use bytes::Bytes;
use common::*;
use ferry_proto::Frame;
use ferry_proto::extension::{BreakpointResult, FileServerError, OfflineState};
use ferry_proto::pb::ferry::file::{BreakpointReq, BreakpointRsp};
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFilePullDataRsp, ImFileState};
use ferry_proto::pb::im::server::{ImFileTransferReq, ImFileTransferRsp};
use ferry_relay::{Config, Driver, Relay};
use sha2::{Digest as _, Sha256};

const UPLOAD: i32 = 3;
const DOWNLOAD: i32 = 4;
const OFFLINE: i32 = 2;
/// The store's block in these tests: 2 stock pulls of 32 KiB.
const BLOCK: u32 = 64 << 10;
const PULL: u32 = 32 << 10;

fn relay(root: &Path, driver: Driver) -> Relay {
    let mut config = Config::local(2);
    config.driver = driver;
    config.offline_commit_bytes = u64::from(BLOCK);
    config.offline = Some(ferry_storage::Config {
        root: root.to_path_buf(),
        block_size: BLOCK,
        min_free_bytes: 0,
        ..ferry_storage::Config::default()
    });
    start(config)
}

/// An offline TRANSFER_REQ as msg_server sends it; the task id.
fn create(relay: &Relay, from: u32, to: u32, size: u32) -> String {
    create_known(relay, from, to, size, None).expect("task created")
}

/// [`create`] with the file's SHA-256 (instant upload); `None` when the
/// relay answers result 1.
fn create_known(
    relay: &Relay,
    from: u32,
    to: u32,
    size: u32,
    sha256: Option<Vec<u8>>,
) -> Option<String> {
    MsgLink::connect(relay).create_offline(from, to, size, sha256)
}

/// A stock uploader: answers each pull as it comes with the file's bytes,
/// `stop_after` answers at most (then the socket is dropped). Returns the
/// (offset, size) answered, and the state the relay ended with, if any.
fn upload(
    addr: std::net::SocketAddr,
    task: &str,
    user: u32,
    salt: u8,
    stop_after: Option<usize>,
) -> (Vec<(u32, u32)>, Option<i32>) {
    let (answered, end) = upload_to_the_end(addr, task, user, salt, stop_after);
    (
        answered,
        end.map(|f| f.decode::<ImFileState>().unwrap().state),
    )
}

/// [`upload`], returning the final state's whole PDU.
fn upload_to_the_end(
    addr: std::net::SocketAddr,
    task: &str,
    user: u32,
    salt: u8,
    stop_after: Option<usize>,
) -> (Vec<(u32, u32)>, Option<Frame>) {
    let (mut c, rsp) = login(addr, task, user, UPLOAD);
    assert_eq!(rsp.result_code, 0, "upload login accepted");
    let mut answered = Vec::new();
    loop {
        if stop_after == Some(answered.len()) {
            // Leave: the relay reads every answer sent, then the end.
            c.stream.shutdown(std::net::Shutdown::Write).unwrap();
            c.until_closed();
            return (answered, None);
        }
        let Some(frame) = c.try_recv() else {
            return (answered, None);
        };
        if frame.decode::<ImFileState>().is_ok() {
            assert!(c.until_closed().is_empty(), "closed after the state");
            return (answered, Some(frame));
        }
        let req = frame.decode::<ImFilePullDataReq>().expect("a pull");
        assert_eq!(
            (text(&req.task_id), req.user_id, req.trans_mode),
            (task, user, OFFLINE)
        );
        assert!(req.data_size <= PULL, "pulls of at most 32 KiB");
        let first = req.offset / BLOCK;
        let last = (req.offset + req.data_size - 1) / BLOCK;
        assert_eq!(first, last, "a pull never crosses a block");
        let rsp = ImFilePullDataRsp {
            offset_u64: None,
            result_code: 0,
            task_id: task.to_owned().into(),
            user_id: user,
            offset: req.offset,
            file_data: fill(u64::from(req.offset), req.data_size as usize, salt).into(),
        };
        c.send(&rsp, frame.header.seq_num);
        answered.push((req.offset, req.data_size));
    }
}

/// A stock downloader: 32 KiB pulls, one in flight, every byte checked.
/// `Ok` after the last answer, DONE (in the sender's name) and the close;
/// `Err(offset)` if the relay closed the connection at that pull.
fn download(
    addr: std::net::SocketAddr,
    task: &str,
    user: u32,
    from: u32,
    size: u32,
    salt: u8,
) -> Result<(), u32> {
    download_to_the_end(addr, task, user, from, size, salt).map(drop)
}

/// [`download`], returning the DONE PDU.
fn download_to_the_end(
    addr: std::net::SocketAddr,
    task: &str,
    user: u32,
    from: u32,
    size: u32,
    salt: u8,
) -> Result<Frame, u32> {
    let (mut c, rsp) = login(addr, task, user, DOWNLOAD);
    assert_eq!(rsp.result_code, 0, "download login accepted");
    let mut offset = 0;
    let mut seq = 200u16;
    while offset < size {
        seq += 1;
        let req = ImFilePullDataReq {
            offset_u64: None,
            task_id: task.to_owned().into(),
            user_id: user,
            trans_mode: OFFLINE,
            offset,
            data_size: PULL,
        };
        c.send(&req, seq);
        let Some(frame) = c.try_recv() else {
            return Err(offset);
        };
        let rsp = frame.decode::<ImFilePullDataRsp>().expect("a pull answer");
        let len = PULL.min(size - offset);
        assert_eq!(
            (
                rsp.result_code,
                rsp.offset,
                rsp.file_data.len() as u32,
                frame.header.seq_num
            ),
            (0, offset, len, seq)
        );
        assert!(
            rsp.file_data == file_slice(u64::from(offset), len as usize, salt),
            "bytes differ at {offset}"
        );
        offset += len;
    }
    let frame = c.recv();
    let done = frame.decode::<ImFileState>().expect("DONE");
    assert_eq!(
        (done.state, done.user_id, text(&done.task_id)),
        (DONE, from, task)
    );
    assert!(c.until_closed().is_empty(), "closed after DONE");
    Ok(frame)
}

fn bytes(ranges: &[(u32, u32)]) -> u64 {
    ranges.iter().map(|r| u64::from(r.1)).sum()
}

fn no_connections(relay: &Relay) {
    wait_for(relay, "connections closed", |s| s.connections == 0);
}

fn round_trip(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), driver);
    let addr = relay.addresses().client;
    let size = 16 * BLOCK + 1234;
    let task = create(&relay, 11, 12, size);
    let (answered, end) = upload_to_the_end(addr, &task, 11, 5, None);
    let end = end.expect("the uploader is told DONE");
    assert_eq!(end.decode::<ImFileState>().unwrap().state, DONE);
    assert_eq!(
        done_digest(&end, &task, 11),
        sha256_of(size, 5),
        "the SHA-256 of the pieces as they were written"
    );
    assert_eq!(
        relay.stats().digest_blocks_read,
        0,
        "answers in order: nothing read back for the digest"
    );
    let offsets: BTreeSet<u32> = answered.iter().map(|r| r.0).collect();
    assert_eq!(offsets.len(), answered.len(), "no pull asked twice");
    assert_eq!(bytes(&answered), u64::from(size), "every byte pulled once");
    download(addr, &task, 12, 11, size, 5).expect("served to the end");
    let cores = relay.addresses().cores.clone();
    let wrong = cores[(ferry_proto::core_for_task(&task, 2) + 1) % 2];
    let handoffs = relay.stats().handoffs_in;
    download(wrong, &task, 11, 11, size, 5).expect("the sender may fetch its upload again");
    assert_eq!(
        relay.stats().handoffs_in,
        handoffs + 1,
        "handed to the task's core"
    );
    let (_, rsp) = login(addr, &task, 13, DOWNLOAD);
    assert_eq!(rsp.result_code, 1, "anyone else is refused");
    assert_eq!(
        rsp.file_server_error,
        Some(FileServerError::InvalidUserForTask.code()),
        "with the reason (a ferry extension)"
    );
    let (_, rsp) = login(addr, "00000000-0000-4000-8000-000000000000", 12, DOWNLOAD);
    assert_eq!(
        (rsp.result_code, rsp.file_server_error),
        (1, Some(FileServerError::InvalidTaskId.code())),
        "an unknown task"
    );
    let s = relay.stats();
    assert_eq!(s.bytes_stored, u64::from(size));
    assert_eq!(s.bytes_served, 2 * u64::from(size));
    assert_eq!(s.blocks_committed, 17);
    no_connections(&relay);
    let s = relay.stats();
    assert_eq!(
        (s.offline_uploading, s.offline_complete, s.offline_damaged),
        (0, 1, 0)
    );
    assert_eq!(s.store_bytes, u64::from(size));
    assert!(
        relay
            .metrics_text()
            .contains("ferry_relay_offline_tasks_complete{core=")
    );
    relay.shutdown();
}

crate::on_both_drivers!(round_trip: stock_upload_then_download, stock_upload_then_download_on_epoll);

/// TeamTalk-shaped peers move 64 MiB through the store with its default
/// 1 MiB blocks (32 stock pulls each, one cached block serving 32 pulls);
/// the download works again after a restart of the relay.
#[test]
fn stock_64mib_with_1mib_blocks_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let start_relay = || {
        let mut config = Config::local(2);
        config.offline = Some(ferry_storage::Config {
            root: dir.path().to_path_buf(),
            min_free_bytes: 0,
            ..ferry_storage::Config::default()
        });
        start(config)
    };
    let size = (64 << 20) + 12_345;
    let relay = start_relay();
    let task = create(&relay, 91, 92, size);
    let (answered, end) = upload(relay.addresses().client, &task, 91, 10, None);
    assert_eq!((end, bytes(&answered)), (Some(DONE), u64::from(size)));
    let s = relay.stats();
    assert_eq!(s.blocks_committed, 65);
    assert!(
        s.store_syncs <= 2 * 17 + 4,
        "a sync per 4 MiB: {}",
        s.store_syncs
    );
    download(relay.addresses().client, &task, 92, 91, size, 10).expect("served");
    relay.shutdown();
    let relay = start_relay();
    download(relay.addresses().client, &task, 92, 91, size, 10).expect("served after a restart");
    relay.shutdown();
}

/// The uploader drops after 5 blocks; its return is asked only for the rest.
fn dropped_uploader(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), driver);
    let addr = relay.addresses().client;
    let size = 12 * BLOCK + 77;
    let task = create(&relay, 21, 22, size);
    let (first, end) = upload(addr, &task, 21, 6, Some(11)); // 5.5 blocks
    assert_eq!(end, None);
    no_connections(&relay);
    let (second, end) = upload_to_the_end(addr, &task, 21, 6, None);
    assert_eq!(
        done_digest(&end.expect("DONE"), &task, 21),
        sha256_of(size, 6)
    );
    assert_eq!(
        relay.stats().digest_blocks_read,
        0,
        "the return went on where the digest was: nothing read back"
    );
    let before: BTreeSet<u32> = first.iter().map(|r| r.0).collect();
    assert!(
        second.iter().all(|r| !before.contains(&r.0)),
        "nothing answered is asked again"
    );
    assert_eq!(
        bytes(&first) + bytes(&second),
        u64::from(size),
        "every byte pulled once in all"
    );
    download(addr, &task, 22, 21, size, 6).expect("served to the end");
    relay.shutdown();
}

crate::on_both_drivers!(dropped_uploader: dropped_uploader_resumes, dropped_uploader_resumes_on_epoll);

/// The relay stops mid-upload; a new relay on the same store asks only for
/// the blocks that were not committed.
fn restarted_relay(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let size = 10 * BLOCK + 5;
    let first_relay = relay(dir.path(), driver);
    let task = create(&first_relay, 31, 32, size);
    let (first, _) = upload(first_relay.addresses().client, &task, 31, 7, Some(9)); // 4.5 blocks
    no_connections(&first_relay);
    assert_eq!(first_relay.stats().blocks_committed, 4);
    first_relay.shutdown();

    let relay = relay(dir.path(), driver);
    let addr = relay.addresses().client;
    let (second, end) = upload_to_the_end(addr, &task, 31, 7, None);
    assert_eq!(
        done_digest(&end.expect("DONE"), &task, 31),
        sha256_of(size, 7),
        "DONE carries the whole file's SHA-256"
    );
    assert_eq!(
        relay.stats().digest_blocks_read,
        11,
        "blocks committed before the restart are not in memory: every block read back"
    );
    assert!(
        second.iter().all(|r| r.0 >= 4 * BLOCK),
        "committed blocks are not asked again: {second:?}"
    );
    assert_eq!(
        bytes(&second),
        u64::from(size - 4 * BLOCK),
        "the uncommitted half block is asked again"
    );
    assert_eq!(bytes(&first), u64::from(4 * BLOCK + PULL));
    download(addr, &task, 32, 31, size, 7).expect("served to the end");
    relay.shutdown();
}

crate::on_both_drivers!(restarted_relay: restarted_relay_resumes_upload, restarted_relay_resumes_upload_on_epoll);

/// Answers one byte short, one byte long, or to a pull never asked: the
/// uploader is closed and nothing it sent is stored.
#[test]
fn wrong_answers_are_refused_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), Driver::Auto);
    let addr = relay.addresses().client;
    let size = 3 * BLOCK;
    let task = create(&relay, 41, 42, size);
    for (delta, shift) in [(-1i64, 0u32), (1, 0), (0, 1000)] {
        let (mut c, rsp) = login(addr, &task, 41, UPLOAD);
        assert_eq!(rsp.result_code, 0);
        let (req, seq) = c.recv_msg::<ImFilePullDataReq>();
        let len = (i64::from(req.data_size) + delta) as usize;
        let offset = req.offset + shift;
        let rsp = ImFilePullDataRsp {
            offset_u64: None,
            result_code: 0,
            task_id: task.clone().into(),
            user_id: 41,
            offset,
            file_data: Bytes::from(fill(u64::from(offset), len, 8)),
        };
        c.send(&rsp, seq);
        let rest = c.until_closed();
        assert!(
            rest.iter().all(|f| f.decode::<ImFileState>().is_err()),
            "no DONE"
        );
        no_connections(&relay);
    }
    let s = relay.stats();
    assert_eq!(
        (s.bytes_stored, s.blocks_committed),
        (0, 0),
        "nothing stored"
    );
    assert!(s.rejected >= 3, "each closed as bad input: {s:?}");
    let (answered, end) = upload(addr, &task, 41, 8, None);
    assert_eq!((end, bytes(&answered)), (Some(DONE), u64::from(size)));
    download(addr, &task, 42, 41, size, 8).expect("served to the end");
    relay.shutdown();
}

/// An empty file is complete at once: DONE to the uploader without a pull,
/// DONE to the downloader without a pull.
#[test]
fn zero_size_file() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), Driver::Auto);
    let addr = relay.addresses().client;
    let task = create(&relay, 51, 52, 0);
    let (answered, end) = upload(addr, &task, 51, 1, None);
    assert_eq!((answered.len(), end), (0, Some(DONE)));
    download(addr, &task, 52, 51, 0, 1).expect("DONE at once");
    relay.shutdown();
}

/// A byte flipped in a stored block after the upload: the blocks before it
/// are served, it never is, and the task is refused from then on (the mark
/// is durable: a restarted relay refuses it too).
fn corrupted_block(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let size = 6 * BLOCK;
    let task = {
        let relay = relay(dir.path(), driver);
        let addr = relay.addresses().client;
        let task = create(&relay, 61, 62, size);
        assert_eq!(upload(addr, &task, 61, 9, None).1, Some(DONE));
        let id = ferry_storage::TaskId::parse(&task).unwrap();
        let data = ferry_storage::Layout::new(dir.path()).data(&id);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&data)
            .unwrap();
        let mut byte = [0u8];
        let at = u64::from(3 * BLOCK + 100);
        file.read_exact_at(&mut byte, at).unwrap();
        file.write_all_at(&[byte[0] ^ 0x40], at).unwrap();
        assert_eq!(
            download(addr, &task, 62, 61, size, 9),
            Err(3 * BLOCK),
            "served up to the bad block"
        );
        assert_eq!(relay.stats().crc_failures, 1);
        assert_eq!(relay.stats().bytes_served, u64::from(3 * BLOCK));
        let (_, rsp) = login(addr, &task, 62, DOWNLOAD);
        assert_eq!(rsp.result_code, 1, "a damaged task is refused");
        let query = breakpoint(addr, &task, 62);
        assert_eq!(query.state, Some(OfflineState::Damaged.code()));
        no_connections(&relay);
        assert_eq!(relay.stats().offline_damaged, 1);
        relay.shutdown();
        task
    };
    let relay = relay(dir.path(), driver);
    let (_, rsp) = login(relay.addresses().client, &task, 62, DOWNLOAD);
    assert_eq!(rsp.result_code, 1, "still refused after a restart");
    relay.shutdown();
}

crate::on_both_drivers!(corrupted_block: corrupted_block_is_never_served, corrupted_block_is_never_served_on_epoll);

/// A commit that fails for real (the task's record file swapped for
/// /dev/full: its write gets ENOSPC) poisons the store: the uploader is
/// closed without DONE, the relay says so (a gauge, its log), and every
/// offline request is refused with StoreFailed from then on, another
/// complete task's download and a new task alike; nothing stored is
/// touched: a restarted relay serves the complete task again.
fn failed_commit(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let size = 16 * BLOCK + 10;
    let (good, bad) = {
        let relay = relay(dir.path(), driver);
        let addr = relay.addresses().client;
        let good = create(&relay, 71, 72, size);
        assert_eq!(upload(addr, &good, 71, 4, None).1, Some(DONE));
        let bad = create(&relay, 71, 72, size);
        let id = ferry_storage::TaskId::parse(&bad).unwrap();
        let manifest = ferry_storage::Layout::new(dir.path()).manifest(&id);
        std::fs::remove_file(&manifest).unwrap();
        std::os::unix::fs::symlink("/dev/full", &manifest).unwrap();
        assert_eq!(relay.stats().store_poisoned, 0);

        let (answered, end) = upload(addr, &bad, 71, 4, None);
        assert_eq!(end, None, "closed without DONE");
        assert!(bytes(&answered) < u64::from(size), "ended at the failure");
        no_connections(&relay);
        assert_eq!(relay.stats().store_poisoned, 1, "the relay says so");
        assert!(
            relay
                .metrics_text()
                .lines()
                .any(|l| l.starts_with("ferry_relay_store_poisoned{") && l.ends_with(" 1"))
        );
        let (_, rsp) = login(addr, &good, 72, DOWNLOAD);
        assert_eq!(
            (rsp.result_code, rsp.file_server_error),
            (1, Some(FileServerError::StoreFailed.code())),
            "a complete task is not served by a poisoned store"
        );
        assert_eq!(
            MsgLink::connect(&relay).create_offline(71, 72, 10, None),
            None,
            "no new task"
        );
        relay.shutdown();
        (good, bad)
    };
    let relay = relay(dir.path(), driver);
    let addr = relay.addresses().client;
    assert_eq!(relay.stats().store_poisoned, 0, "a restart starts sound");
    download(addr, &good, 72, 71, size, 4).expect("the complete task is served again");
    let (_, rsp) = login(addr, &bad, 71, UPLOAD);
    assert_eq!(
        rsp.result_code, 1,
        "the task whose record is unreadable is not loaded"
    );
    relay.shutdown();
}

crate::on_both_drivers!(failed_commit: a_failed_commit_poisons_the_store, a_failed_commit_poisons_the_store_on_epoll);

/// A second upload login of the sender joins the first (it no longer
/// supersedes it): the new connection is asked for the rest, and the old
/// one, silent with pulls held (a dead network path), is closed once the
/// new one has nothing else to ask (`offline_uploader_stall`); its pulls
/// are asked of the new one, which gets DONE.
fn a_new_upload_login_joins(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::local(2);
    config.driver = driver;
    config.offline_commit_bytes = u64::from(BLOCK);
    config.offline_uploader_stall = std::time::Duration::from_millis(500);
    config.offline = Some(ferry_storage::Config {
        root: dir.path().to_path_buf(),
        block_size: BLOCK,
        min_free_bytes: 0,
        ..ferry_storage::Config::default()
    });
    let relay = start(config);
    let addr = relay.addresses().client;
    let size = 8 * BLOCK;
    let task = create(&relay, 71, 72, size);
    let (mut old, rsp) = login(addr, &task, 71, UPLOAD);
    assert_eq!(rsp.result_code, 0);
    // The relay asks a window (8 pulls) of the old connection at once.
    let pulls: Vec<(ImFilePullDataReq, u16)> = (0..8)
        .map(|_| old.recv_msg::<ImFilePullDataReq>())
        .collect();
    for (req, seq) in &pulls[..4] {
        let rsp = ImFilePullDataRsp {
            offset_u64: None,
            result_code: 0,
            task_id: task.clone().into(),
            user_id: 71,
            offset: req.offset,
            file_data: fill(u64::from(req.offset), req.data_size as usize, 4).into(),
        };
        old.send(&rsp, *seq);
    }
    wait_for(&relay, "four answers stored", |s| {
        s.bytes_stored == u64::from(4 * PULL)
    });
    let (new, end) = upload(addr, &task, 71, 4, None);
    assert_eq!(end, Some(DONE));
    assert_eq!(
        bytes(&new),
        u64::from(size - 4 * PULL),
        "the new connection is asked for the rest, the old one's held pulls too"
    );
    let held: BTreeSet<u32> = pulls[4..].iter().map(|p| p.0.offset).collect();
    let got: BTreeSet<u32> = new.iter().map(|r| r.0).collect();
    assert!(
        held.is_subset(&got),
        "the old connection's pulls asked again"
    );
    let rest = old.until_closed(); // closed for its silence (a read timeout panics)
    assert!(
        rest.iter().all(|f| f.decode::<ImFileState>().is_err()),
        "no DONE to the connection cut"
    );
    let s = relay.stats();
    // The relay refilled the old connection's window after each answer: 8 held.
    assert_eq!((s.offline_uploaders_cut, s.offline_pulls_reasked), (1, 8));
    download(addr, &task, 72, 71, size, 4).expect("served to the end");
    relay.shutdown();
}

crate::on_both_drivers!(a_new_upload_login_joins: a_new_upload_login_joins_and_the_silent_one_is_cut, a_new_upload_login_joins_and_the_silent_one_is_cut_on_epoll);

/// Offline files expire: past incomplete_ttl an unfinished upload's task
/// and files are deleted, and its uploader is refused.
#[test]
fn unfinished_uploads_expire() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::local(1);
    config.offline = Some(ferry_storage::Config {
        root: dir.path().to_path_buf(),
        block_size: BLOCK,
        min_free_bytes: 0,
        offline_ttl: std::time::Duration::from_secs(1),
        incomplete_ttl: std::time::Duration::from_secs(1),
        ..ferry_storage::Config::default()
    });
    let relay = start(config);
    let addr = relay.addresses().client;
    let task = create(&relay, 81, 82, 4 * BLOCK);
    let (answered, _) = upload(addr, &task, 81, 2, Some(2));
    assert_eq!(bytes(&answered), u64::from(BLOCK));
    let id = ferry_storage::TaskId::parse(&task).unwrap();
    let task_dir = ferry_storage::Layout::new(dir.path()).task_dir(&id);
    assert!(task_dir.exists());
    for _ in 0..50 {
        if !task_dir.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!task_dir.exists(), "the task's directory is deleted");
    let (_, rsp) = login(addr, &task, 81, UPLOAD);
    assert_eq!(rsp.result_code, 1, "an expired task is unknown");
    relay.shutdown();
}

/// A ferry downloader with 4 pulls in flight stops half way and comes
/// back for the rest, starting at the offset it had reached (pulls of any
/// size, not aligned to blocks).
#[test]
fn a_download_resumes_at_any_offset() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), Driver::Auto);
    let addr = relay.addresses().client;
    let size = 9 * BLOCK + 999;
    let task = create(&relay, 95, 96, size);
    assert_eq!(upload(addr, &task, 95, 12, None).1, Some(DONE));
    let chunk = 50_000u32;
    let half = 5 * chunk;
    let fetch = |from: u32, to: u32| {
        let (mut c, rsp) = login(addr, &task, 96, DOWNLOAD);
        assert_eq!(rsp.result_code, 0);
        let offsets: Vec<u32> = (from..to).step_by(chunk as usize).collect();
        for window in offsets.chunks(4) {
            for (i, &offset) in window.iter().enumerate() {
                let req = ImFilePullDataReq {
                    offset_u64: None,
                    task_id: task.clone().into(),
                    user_id: 96,
                    trans_mode: OFFLINE,
                    offset,
                    data_size: chunk,
                };
                c.send(&req, 300 + i as u16);
            }
            for (i, &offset) in window.iter().enumerate() {
                let (rsp, seq) = c.recv_msg::<ImFilePullDataRsp>();
                let len = chunk.min(size - offset) as usize;
                assert_eq!(
                    (rsp.offset, seq, rsp.file_data.len()),
                    (offset, 300 + i as u16, len)
                );
                assert!(rsp.file_data == file_slice(u64::from(offset), len, 12));
            }
        }
        c
    };
    drop(fetch(0, half));
    let mut rest = fetch(half, size);
    let (done, _) = rest.recv_msg::<ImFileState>();
    assert_eq!((done.state, done.user_id), (DONE, 95));
    assert!(rest.until_closed().is_empty(), "closed after DONE");
    assert_eq!(relay.stats().bytes_served, u64::from(size));
    relay.shutdown();
}

/// A downloader that asks for the whole file at once (one block a pull,
/// every pull sent before it reads a byte) and then reads slowly: more
/// than the connection's budget is asked, the sockets fill, so answers
/// queue behind the budget and the writer's vectored writes (answer head
/// and block slice) stop and resume at arbitrary bytes. Every byte checked.
fn queued_download(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), driver);
    let addr = relay.addresses().client;
    let size = 160 * BLOCK + 999; // 10 MiB: past the 8 MiB budget
    let task = create(&relay, 97, 98, size);
    assert_eq!(upload(addr, &task, 97, 14, None).1, Some(DONE));
    let (mut c, rsp) = login(addr, &task, 98, DOWNLOAD);
    assert_eq!(rsp.result_code, 0);
    let offsets: Vec<u32> = (0..size).step_by(BLOCK as usize).collect();
    for (i, &offset) in offsets.iter().enumerate() {
        let req = ImFilePullDataReq {
            offset_u64: None,
            task_id: task.clone().into(),
            user_id: 98,
            trans_mode: OFFLINE,
            offset,
            data_size: BLOCK,
        };
        c.send(&req, i as u16);
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    for (i, &offset) in offsets.iter().enumerate() {
        let (rsp, seq) = c.recv_msg::<ImFilePullDataRsp>();
        let len = BLOCK.min(size - offset) as usize;
        assert_eq!(
            (rsp.offset, seq, rsp.file_data.len()),
            (offset, i as u16, len)
        );
        assert!(
            rsp.file_data == file_slice(u64::from(offset), len, 14),
            "bytes differ at {offset}"
        );
    }
    let (done, _) = c.recv_msg::<ImFileState>();
    assert_eq!((done.state, done.user_id), (DONE, 97));
    assert_eq!(relay.stats().bytes_served, u64::from(size));
    relay.shutdown();
}

crate::on_both_drivers!(queued_download: a_queued_download_arrives_whole, a_queued_download_arrives_whole_on_epoll);

/// Quotas refuse a task up front, before any byte moves: result 1 on the
/// msg link, no task id.
#[test]
fn quotas_refuse_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::local(2);
    config.offline = Some(ferry_storage::Config {
        root: dir.path().to_path_buf(),
        block_size: BLOCK,
        min_free_bytes: 0,
        quota_bytes: 1 << 20,
        user_quota_bytes: 700 << 10,
        max_file_size: 1 << 30,
        ..ferry_storage::Config::default()
    });
    let relay = start(config);
    let mut link = MsgLink::connect(&relay);
    let mut ask = |from: u32, size: u32| {
        let req = ImFileTransferReq {
            file_size_u64: None,
            sha256: None,
            from_user_id: from,
            to_user_id: 9,
            file_name: "q".into(),
            file_size: size,
            trans_mode: OFFLINE,
            attach_data: None,
        };
        link.0.send(&req, 4);
        let (rsp, _) = link.0.recv_msg::<ImFileTransferRsp>();
        let why = rsp
            .file_server_error
            .map(|c| FileServerError::from_code(c).unwrap());
        (rsp.result_code, rsp.task_id.is_some(), why)
    };
    assert_eq!(ask(1, 600 << 10), (0, true, None));
    assert_eq!(
        ask(1, 200 << 10),
        (1, false, Some(FileServerError::UserQuota)),
        "over the sender's quota"
    );
    assert_eq!(ask(2, 300 << 10), (0, true, None));
    assert_eq!(
        ask(3, 200 << 10),
        (1, false, Some(FileServerError::Quota)),
        "over the total quota"
    );
    assert_eq!(ask(3, 100 << 10), (0, true, None));
    assert_eq!(
        ask(4, 2 << 30),
        (1, false, Some(FileServerError::TooLarge)),
        "past storage.max_file_size"
    );
    relay.shutdown();
}

/// Without a store, offline requests are refused as before.
#[test]
fn offline_is_refused_without_a_store() {
    let relay = start(Config::local(1));
    let mut link = MsgLink::connect(&relay);
    let req = ImFileTransferReq {
        file_size_u64: None,
        sha256: None,
        from_user_id: 1,
        to_user_id: 2,
        file_name: "a".into(),
        file_size: 10,
        trans_mode: OFFLINE,
        attach_data: None,
    };
    link.0.send(&req, 3);
    let (rsp, _) = link.0.recv_msg::<ImFileTransferRsp>();
    assert_eq!((rsp.result_code, rsp.task_id), (1, None));
    assert_eq!(
        rsp.file_server_error,
        Some(FileServerError::NoStore.code()),
        "the reason (a ferry extension)"
    );
    relay.shutdown();
}

/// ferry's locate request: the offline tasks the store holds are named
/// (whichever core owns them, after a restart too), others are not; the
/// seq and the cookie come back; an empty request is answered empty.
fn located_tasks(driver: Driver) {
    use ferry_proto::pb::ferry::link::{OfflineLocateReq, OfflineLocateRsp};
    let dir = tempfile::tempdir().unwrap();
    let first = relay(dir.path(), driver);
    let held: BTreeSet<String> = (0..6).map(|i| create(&first, 41, 42 + i, 1_000)).collect();
    first.shutdown();
    let relay = relay(dir.path(), driver);
    let online = MsgLink::connect(&relay).create_task(41, 42, 9);
    let mut ids: Vec<Bytes> = held.iter().map(|t| Bytes::from(t.clone())).collect();
    ids.extend([
        Bytes::from(online),
        Bytes::from_static(b"00000000-0000-4000-8000-000000000000"),
        Bytes::from_static(b"../../etc/passwd"),
    ]);
    let mut link = MsgLink::connect(&relay);
    let cookie = Bytes::from_static(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9]);
    for (task_id, want) in [(ids, held.clone()), (Vec::new(), BTreeSet::new())] {
        link.0.send(
            &OfflineLocateReq {
                task_id,
                attach_data: Some(cookie.clone()),
            },
            77,
        );
        let (rsp, seq) = link.0.recv_msg::<OfflineLocateRsp>();
        let got: BTreeSet<String> = rsp.task_id.iter().map(|t| text(t).to_string()).collect();
        assert_eq!((got, seq), (want, 77));
        assert_eq!(rsp.attach_data, Some(cookie.clone()));
    }
    relay.shutdown();

    let without_store = start(Config::local(2));
    let mut link = MsgLink::connect(&without_store);
    let task_id = held.iter().map(|t| Bytes::from(t.clone())).collect();
    link.0.send(
        &OfflineLocateReq {
            task_id,
            attach_data: None,
        },
        5,
    );
    let (rsp, _) = link.0.recv_msg::<OfflineLocateRsp>();
    assert!(rsp.task_id.is_empty(), "a relay without a store holds none");
    without_store.shutdown();
}

crate::on_both_drivers!(located_tasks: offline_tasks_are_located, offline_tasks_are_located_on_epoll);

/// A breakpoint query on its own connection: the answer (under the query's
/// seq), after which the relay closes the connection.
fn breakpoint(addr: std::net::SocketAddr, task: &str, user: u32) -> BreakpointRsp {
    let mut c = Conn::connect(addr);
    let req = BreakpointReq {
        user_id: user,
        task_id: task.to_owned().into(),
    };
    c.send(&req, 44);
    let (rsp, seq) = c.recv_msg::<BreakpointRsp>();
    assert_eq!(seq, 44, "the answer echoes the query's seq");
    assert_eq!(text(&rsp.task_id), task, "the task id as asked");
    assert!(c.until_closed().is_empty(), "closed after the answer");
    rsp
}

fn ranges(rsp: &BreakpointRsp) -> Vec<(u64, u64)> {
    rsp.committed.iter().map(|r| (r.offset, r.length)).collect()
}

/// A refusal: its code and nothing about the task.
fn assert_refused(rsp: &BreakpointRsp, want: BreakpointResult) {
    assert_eq!(rsp.result_code, want.code(), "{rsp:?}");
    assert!(
        rsp.committed.is_empty()
            && rsp.file_size.is_none()
            && rsp.block_size.is_none()
            && rsp.state.is_none()
            && rsp.truncated.is_none(),
        "a refusal carries nothing about the task: {rsp:?}"
    );
}

/// Every path under `root`, sorted.
fn tree(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The SHA-256 of the first `size` bytes of test file `salt`.
/// (The pattern repeats every ~1 MB, so it is hashed pull by pull, as the
/// uploader sends it.)
fn sha256_of(size: u32, salt: u8) -> Vec<u8> {
    let mut sha = Sha256::new();
    for at in (0..size).step_by(PULL as usize) {
        sha.update(file_slice(
            u64::from(at),
            PULL.min(size - at) as usize,
            salt,
        ));
    }
    sha.finalize().to_vec()
}

/// TeamTalk's IMFileState as a stock peer compiles it: three fields, no
/// extension. Its decoder must accept the relay's DONE.
#[derive(Clone, PartialEq, prost::Message)]
struct StockFileState {
    #[prost(int32, required, tag = "1")]
    state: i32,
    #[prost(bytes = "vec", required, tag = "2")]
    task_id: Vec<u8>,
    #[prost(uint32, required, tag = "3")]
    user_id: u32,
}

/// The digest a DONE carries, after checking a stock decoder reads the
/// rest of it unchanged.
fn done_digest(frame: &Frame, task: &str, user: u32) -> Vec<u8> {
    let stock = <StockFileState as prost::Message>::decode(frame.body()).expect("stock decode");
    assert_eq!(
        (stock.state, stock.user_id, &stock.task_id[..]),
        (DONE, user, task.as_bytes())
    );
    let done = frame.decode::<ImFileState>().expect("ferry decode");
    done.sha256.expect("DONE carries the SHA-256").to_vec()
}

/// Breakpoint queries during a partial upload and after completion, from
/// both participants, a stranger, through the wrong core, with bad ids.
fn breakpoint_query(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), driver);
    let addr = relay.addresses().client;
    let size = 10 * BLOCK + 77;
    let task = create(&relay, 111, 112, size);

    let rsp = breakpoint(addr, &task, 111);
    assert_eq!(rsp.result_code, BreakpointResult::Ok.code());
    assert_eq!(ranges(&rsp), vec![], "nothing committed yet");
    assert_eq!(rsp.state, Some(OfflineState::Uploading.code()));

    // 4.5 blocks answered, then the uploader drops: 4 blocks committed.
    let (first, end) = upload(addr, &task, 111, 3, Some(9));
    assert_eq!((end, bytes(&first)), (None, u64::from(4 * BLOCK + PULL)));
    no_connections(&relay);
    for user in [111, 112] {
        let rsp = breakpoint(addr, &task, user);
        assert_eq!(rsp.result_code, BreakpointResult::Ok.code());
        assert_eq!(ranges(&rsp), vec![(0, u64::from(4 * BLOCK))], "user {user}");
        assert_eq!(
            (rsp.file_size, rsp.block_size, rsp.state, rsp.truncated),
            (
                Some(u64::from(size)),
                Some(BLOCK),
                Some(OfflineState::Uploading.code()),
                None
            )
        );
    }
    let cores = relay.addresses().cores.clone();
    let wrong = cores[(ferry_proto::core_for_task(&task, 2) + 1) % 2];
    let handoffs = relay.stats().handoffs_in;
    let rsp = breakpoint(wrong, &task, 112);
    assert_eq!(ranges(&rsp), vec![(0, u64::from(4 * BLOCK))]);
    assert_eq!(
        relay.stats().handoffs_in,
        handoffs + 1,
        "answered by the task's core"
    );

    let before = tree(dir.path());
    assert_refused(
        &breakpoint(addr, &task, 113),
        BreakpointResult::NotParticipant,
    );
    assert_refused(&breakpoint(addr, "../x", 111), BreakpointResult::BadTaskId);
    assert_refused(
        &breakpoint(addr, &task.to_uppercase(), 111),
        BreakpointResult::BadTaskId,
    );
    assert_refused(
        &breakpoint(addr, "6f9619ff-8b86-4d11-b42d-00c04fc964ff", 111),
        BreakpointResult::UnknownTask,
    );
    assert_eq!(tree(dir.path()), before, "refused queries touch no path");

    // The rest of the upload; DONE carries the stored file's digest.
    let (second, end) = upload_to_the_end(addr, &task, 111, 3, None);
    assert_eq!(
        bytes(&first) + bytes(&second),
        u64::from(size),
        "every byte pulled once in all"
    );
    let want = sha256_of(size, 3);
    assert_eq!(done_digest(&end.expect("DONE"), &task, 111), want);
    let answered = relay.stats().breakpoint_queries;
    let rsp = breakpoint(addr, &task, 112);
    assert_eq!(relay.stats().breakpoint_queries, answered + 1);
    assert!(
        relay
            .metrics_text()
            .contains("ferry_relay_breakpoint_queries_total{core=")
    );
    assert_eq!(
        ranges(&rsp),
        vec![(0, u64::from(size))],
        "one range, the whole file"
    );
    assert_eq!(rsp.state, Some(OfflineState::Complete.code()));

    // The download's DONE carries the same digest.
    let done = download_to_the_end(addr, &task, 112, 111, size, 3).expect("served");
    assert_eq!(done_digest(&done, &task, 111), want);
    // A stock uploader coming back to a complete task gets it too.
    let (again, end) = upload_to_the_end(addr, &task, 111, 3, None);
    assert!(again.is_empty());
    assert_eq!(done_digest(&end.expect("DONE"), &task, 111), want);
    no_connections(&relay);
    relay.shutdown();
}

crate::on_both_drivers!(breakpoint_query: breakpoint_query_answers_participants_only, breakpoint_query_answers_participants_only_on_epoll);

/// An empty file's DONE carries the SHA-256 of no bytes, both ways.
#[test]
fn an_empty_files_done_carries_the_empty_digest() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), Driver::Auto);
    let addr = relay.addresses().client;
    let task = create(&relay, 121, 122, 0);
    let (_, end) = upload_to_the_end(addr, &task, 121, 1, None);
    let empty = Sha256::digest([]).to_vec();
    assert_eq!(done_digest(&end.expect("DONE"), &task, 121), empty);
    let done = download_to_the_end(addr, &task, 122, 121, 0, 1).expect("DONE at once");
    assert_eq!(done_digest(&done, &task, 121), empty);
    let rsp = breakpoint(addr, &task, 122);
    assert_eq!(
        (ranges(&rsp), rsp.file_size, rsp.state),
        (vec![], Some(0), Some(OfflineState::Complete.code()))
    );
    relay.shutdown();
}

/// Without a store, a query is refused with its own code.
#[test]
fn breakpoint_query_without_a_store() {
    let relay = start(Config::local(1));
    let rsp = breakpoint(
        relay.addresses().client,
        "6f9619ff-8b86-4d11-b42d-00c04fc964ff",
        1,
    );
    assert_refused(&rsp, BreakpointResult::NoStore);
    relay.shutdown();
}

/// Heartbeats before a query are echoed, as before a login; a query
/// missing its required fields is closed without an answer.
#[test]
fn breakpoint_query_after_a_heartbeat_and_a_malformed_one() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), Driver::Auto);
    let addr = relay.addresses().client;
    let task = create(&relay, 131, 132, BLOCK);

    let mut c = Conn::connect(addr);
    c.send(&ferry_proto::pb::im::other::ImHeartBeat {}, 1);
    let req = BreakpointReq {
        user_id: 132,
        task_id: task.clone().into(),
    };
    c.send(&req, 2);
    let heartbeat = c.recv();
    assert_eq!(
        heartbeat.header.command,
        ferry_proto::registry::CID_OTHER_HEARTBEAT
    );
    let (rsp, seq) = c.recv_msg::<BreakpointRsp>();
    assert_eq!((rsp.result_code, seq), (0, 2));
    assert_eq!(
        (ranges(&rsp), rsp.file_size),
        (vec![], Some(u64::from(BLOCK)))
    );
    assert!(c.until_closed().is_empty(), "closed after the answer");

    let rejected = relay.stats().rejected;
    let mut c = Conn::connect(addr);
    let mut pdu = bytes::BytesMut::new();
    ferry_proto::Header::new(ferry_proto::extension::CID_FILE_BREAKPOINT_REQ, 3, 0).write(&mut pdu);
    c.send_raw(&pdu);
    assert!(
        c.until_closed().is_empty(),
        "no answer to a malformed query"
    );
    wait_for(&relay, "the malformed query counted", |s| {
        s.rejected == rejected + 1
    });
    relay.shutdown();
}

/// One delete request on the msg link; its answer's result code.
fn delete_offline(link: &mut MsgLink, task: &[u8], user: u32) -> u32 {
    use ferry_proto::pb::ferry::link::{OfflineDeleteReq, OfflineDeleteRsp};
    let cookie = Bytes::from_static(b"cookie");
    link.0.send(
        &OfflineDeleteReq {
            task_id: Bytes::copy_from_slice(task),
            user_id: user,
            attach_data: Some(cookie.clone()),
        },
        91,
    );
    let (rsp, seq) = link.0.recv_msg::<OfflineDeleteRsp>();
    assert_eq!((&rsp.task_id[..], seq), (task, 91));
    assert_eq!(rsp.attach_data, Some(cookie));
    rsp.result_code
}

/// ferry's delete request: only the task's receiver drops the stored file;
/// the sender, a stranger, a bad id and an unknown id change nothing; once
/// deleted the task is gone for downloads, locate and breakpoint queries,
/// and its files are gone from the disk.
fn deleted_by_receiver(driver: Driver) {
    use ferry_proto::extension::OfflineDeleteResult as R;
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), driver);
    let addr = relay.addresses().client;
    let size = 3 * BLOCK + 17;
    let task = create(&relay, 51, 52, size);
    let keep = create(&relay, 51, 52, 1_000);
    let (_, end) = upload(addr, &task, 51, 5, None);
    assert_eq!(end, Some(DONE));
    download(addr, &task, 52, 51, size, 5).expect("downloaded");
    let files_before = tree(dir.path());

    let mut link = MsgLink::connect(&relay);
    let refused = [
        (task.as_bytes(), 51, R::NotReceiver),
        (task.as_bytes(), 53, R::NotReceiver),
        (b"../../etc/passwd".as_slice(), 52, R::BadTaskId),
        (
            b"00000000-0000-4000-8000-000000000000".as_slice(),
            52,
            R::UnknownTask,
        ),
    ];
    for (id, user, want) in refused {
        assert_eq!(delete_offline(&mut link, id, user), want.code());
    }
    assert_eq!(
        tree(dir.path()),
        files_before,
        "a refused delete touches nothing"
    );
    assert_eq!(breakpoint(addr, &task, 52).result_code, 0, "still held");

    assert_eq!(
        delete_offline(&mut link, task.as_bytes(), 52),
        R::Deleted.code()
    );
    assert_eq!(
        delete_offline(&mut link, task.as_bytes(), 52),
        R::UnknownTask.code()
    );
    assert_refused(&breakpoint(addr, &task, 52), BreakpointResult::UnknownTask);
    let (_, rsp) = login(addr, &task, 52, DOWNLOAD);
    assert_ne!(rsp.result_code, 0, "a deleted file cannot be downloaded");
    let left: Vec<_> = tree(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(&task))
        .collect();
    assert!(left.is_empty(), "the task's files are gone: {left:?}");
    assert_eq!(
        breakpoint(addr, &keep, 52).result_code,
        0,
        "the other task stays"
    );
    relay.shutdown();

    let without_store = start(Config::local(2));
    let mut link = MsgLink::connect(&without_store);
    assert_eq!(
        delete_offline(&mut link, task.as_bytes(), 52),
        R::NoStore.code()
    );
    without_store.shutdown();
}

/// Instant upload: a request carrying the SHA-256 of bytes its sender
/// stored already makes a task that is complete at once (its uploader gets
/// DONE with the digest and is asked for nothing; the receiver downloads
/// every byte); the same digest from another sender, or an unknown digest,
/// is an ordinary upload; a digest that is not 32 bytes is refused.
fn instant_upload(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), driver);
    let addr = relay.addresses().client;
    let size = 5 * BLOCK + 99;
    let digest = sha256_of(size, 7);
    let first = create_known(&relay, 61, 62, size, Some(digest.clone())).unwrap();
    let (answered, end) = upload(addr, &first, 61, 7, None);
    assert_eq!((end, bytes(&answered)), (Some(DONE), u64::from(size)));
    let stored = relay.stats().bytes_stored;

    let again = create_known(&relay, 61, 63, size, Some(digest.clone())).unwrap();
    let (answered, end) = upload_to_the_end(addr, &again, 61, 7, None);
    assert!(answered.is_empty(), "nothing asked: {answered:?}");
    assert_eq!(done_digest(&end.expect("DONE"), &again, 61), digest);
    assert_eq!(relay.stats().bytes_stored, stored, "no byte stored again");
    download(addr, &again, 63, 61, size, 7).expect("the receiver gets every byte");

    // Another sender naming the digest must upload the bytes itself.
    let stranger = create_known(&relay, 64, 62, size, Some(digest.clone())).unwrap();
    let (answered, end) = upload(addr, &stranger, 64, 7, None);
    assert_eq!((end, bytes(&answered)), (Some(DONE), u64::from(size)));
    // A digest nobody stored: an ordinary upload.
    let unknown = create_known(&relay, 61, 62, size, Some(vec![9; 32])).unwrap();
    let (answered, _) = upload(addr, &unknown, 61, 7, Some(1));
    assert_eq!(answered.len(), 1, "asked for its bytes");
    for bad in [vec![1; 31], vec![1; 33], Vec::new()] {
        let len = bad.len();
        assert_eq!(
            create_known(&relay, 61, 62, size, Some(bad)),
            None,
            "{len} bytes"
        );
    }
    relay.shutdown();
}

crate::on_both_drivers!(instant_upload: instant_upload_of_a_known_digest, instant_upload_of_a_known_digest_on_epoll);

crate::on_both_drivers!(deleted_by_receiver: offline_file_is_deleted_by_its_receiver_only, offline_file_is_deleted_by_its_receiver_only_on_epoll);
