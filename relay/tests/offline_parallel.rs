//! One offline task uploaded over several connections of its sender at
//! once (issue 10, test 5), on real sockets and a real store: the relay
//! spreads the missing blocks over the connections, asks the others what
//! a dropped one held, and every connection still there gets DONE with
//! the file's SHA-256. The bound on connections per task, and a different
//! user's upload refused with nothing of it stored. Each scenario also
//! runs on the epoll driver.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use common::*;
use ferry_proto::pb::im::file::{ImFilePullDataReq, ImFilePullDataRsp, ImFileState};
use ferry_relay::{Config, Driver, Relay};
use sha2::{Digest as _, Sha256};

const UPLOAD: i32 = 3;
const DOWNLOAD: i32 = 4;
const OFFLINE: i32 = 2;
const BLOCK: u32 = 1 << 20;
const PULL: u32 = 32 << 10;
const WINDOW: usize = 8;
const SALT: u8 = 17;

fn relay(root: &Path, driver: Driver) -> Relay {
    let mut config = Config::local(2);
    config.driver = driver;
    config.offline_window = WINDOW as u32;
    config.offline_uploaders_per_task = 4;
    config.offline = Some(ferry_storage::Config {
        root: root.to_path_buf(),
        block_size: BLOCK,
        min_free_bytes: 0,
        ..ferry_storage::Config::default()
    });
    start(config)
}

fn create(relay: &Relay, from: u32, to: u32, size: u32) -> String {
    (MsgLink::connect(relay).create_offline(from, to, size, None)).expect("task created")
}

/// What one stock-shaped uploader connection saw.
#[derive(Debug, Default)]
struct Seen {
    /// Pulls answered: offset -> bytes.
    answered: BTreeMap<u32, u32>,
    /// Pulls received and never answered (the dropped connection's).
    held: BTreeSet<u32>,
    /// The SHA-256 its DONE carried.
    done: Option<Vec<u8>>,
}

/// Bytes answered by all of a test's uploader connections, and from how
/// many on one of them drops.
struct HalfWay {
    answered: Arc<AtomicU64>,
    drop_at: Option<u64>,
}

impl HalfWay {
    fn never() -> HalfWay {
        HalfWay {
            answered: Arc::default(),
            drop_at: None,
        }
    }
}

/// A stock uploader on `c`: answers each pull as it comes. With
/// `half.drop_at`, once it has answered some and all the connections
/// together that many bytes, it stops answering, reads the pulls the relay
/// still has out toward it (a full window), and drops the connection.
///
/// A pull that comes after 100 ms of quiet is answered 40 ms late (a disk
/// read after an idle spell): the relay must not take that for silence.
fn uploader(mut c: Conn, task: &str, user: u32, half: &HalfWay) -> Seen {
    let mut seen = Seen::default();
    let mut last_frame = Instant::now();
    loop {
        let dropping = half
            .drop_at
            .is_some_and(|at| half.answered.load(Relaxed) >= at && !seen.answered.is_empty());
        if dropping {
            // The relay keeps a window of pulls asked of this connection.
            while seen.held.len() < WINDOW {
                let req = c.recv_msg::<ImFilePullDataReq>().0;
                seen.held.insert(req.offset);
            }
            drop(c);
            return seen;
        }
        let Some(frame) = c.try_recv() else {
            return seen;
        };
        if let Ok(state) = frame.decode::<ImFileState>() {
            assert_eq!((state.state, text(&state.task_id)), (DONE, task));
            seen.done = state.sha256.map(|d| d.to_vec());
            assert!(c.until_closed().is_empty(), "closed after DONE");
            return seen;
        }
        let req = frame.decode::<ImFilePullDataReq>().expect("a pull");
        if last_frame.elapsed() > Duration::from_millis(100) {
            std::thread::sleep(Duration::from_millis(40));
        }
        last_frame = Instant::now();
        assert_eq!((text(&req.task_id), req.user_id), (task, user));
        assert!(req.data_size <= PULL);
        assert_eq!(
            req.offset / BLOCK,
            (req.offset + req.data_size - 1) / BLOCK,
            "a pull never crosses a block"
        );
        let rsp = ImFilePullDataRsp {
            offset_u64: None,
            result_code: 0,
            task_id: task.to_owned().into(),
            user_id: user,
            offset: req.offset,
            file_data: file_slice(u64::from(req.offset), req.data_size as usize, SALT)
                .to_vec()
                .into(),
        };
        c.send(&rsp, frame.header.seq_num);
        half.answered.fetch_add(u64::from(req.data_size), Relaxed);
        let again = seen.answered.insert(req.offset, req.data_size);
        assert!(again.is_none(), "pull at {} asked twice", req.offset);
    }
}

/// The SHA-256 of the test file's first `size` bytes, as the uploaders
/// answer them (pull by pull: the test pattern is defined per slice).
fn source_sha(size: u32) -> Vec<u8> {
    let mut sha = Sha256::new();
    let mut offset = 0;
    while offset < size {
        let len = (size - offset).min(PULL);
        sha.update(file_slice(u64::from(offset), len as usize, SALT));
        offset += len;
    }
    sha.finalize().to_vec()
}

/// A stock downloader (32 KiB, one in flight): the file's SHA-256 and DONE's.
fn download_digest(addr: SocketAddr, task: &str, user: u32, size: u32) -> (Vec<u8>, Vec<u8>) {
    let (mut c, rsp) = login(addr, task, user, DOWNLOAD);
    assert_eq!(rsp.result_code, 0);
    let mut sha = Sha256::new();
    let mut offset = 0;
    while offset < size {
        let req = ImFilePullDataReq {
            offset_u64: None,
            task_id: task.to_owned().into(),
            user_id: user,
            trans_mode: OFFLINE,
            offset,
            data_size: PULL,
        };
        c.send(&req, 1);
        let rsp = c.recv_msg::<ImFilePullDataRsp>().0;
        assert_eq!(rsp.offset, offset);
        sha.update(&rsp.file_data);
        offset += rsp.file_data.len() as u32;
    }
    let done = c.recv_msg::<ImFileState>().0;
    assert_eq!(done.state, DONE);
    (
        sha.finalize().to_vec(),
        done.sha256.expect("sha256").to_vec(),
    )
}

/// Issue 10, test 5: 4 uploader connections for one 256 MiB task, one of
/// them dropped half-way with pulls outstanding; the others finish.
fn four_connections_one_dropped(driver: Driver) {
    let dir = shm_dir(512 << 20);
    let relay = relay(dir.path(), driver);
    let addr = relay.addresses().client;
    let size: u32 = 256 << 20;
    let (from, to) = (501, 502);
    let task = create(&relay, from, to, size);
    // All four log in before any answers, so each is asked from the start.
    let conns: Vec<Conn> = (0..4)
        .map(|_| {
            let (c, rsp) = login(addr, &task, from, UPLOAD);
            assert_eq!(rsp.result_code, 0, "the sender's connections all join");
            c
        })
        .collect();
    let answered = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let task = task.clone();
            // The first one drops once half the file is uploaded.
            let half = HalfWay {
                answered: answered.clone(),
                drop_at: (i == 0).then_some(u64::from(size / 2)),
            };
            std::thread::spawn(move || uploader(c, &task, from, &half))
        })
        .collect();
    let seen: Vec<Seen> = threads.into_iter().map(|t| t.join().unwrap()).collect();

    let want = source_sha(size);
    let dropped = &seen[0];
    assert!(!dropped.answered.is_empty() && dropped.done.is_none());
    assert_eq!(dropped.held.len(), WINDOW, "pulls outstanding at the drop");
    let mut all = BTreeMap::new();
    for (i, s) in seen.iter().enumerate() {
        let carried: u64 = s.answered.values().map(|&n| u64::from(n)).sum();
        eprintln!("connection {i}: {carried} bytes, {} held", s.held.len());
        // Each carried data: the dropped one some, the others a fair part
        // (about a quarter each before the drop; a sixteenth leaves room
        // for a busy machine's scheduling).
        let least = if i == 0 { 1 } else { u64::from(size) / 16 };
        assert!(
            carried >= least,
            "connection {i} carried a part of the file: {carried} bytes"
        );
        if i > 0 {
            assert_eq!(
                s.done.as_ref(),
                Some(&want),
                "connection {i}: DONE with the SHA-256"
            );
        }
        for (&o, &n) in &s.answered {
            assert!(
                all.insert(o, n).is_none(),
                "{o} answered by two connections"
            );
        }
    }
    let others: BTreeSet<u32> = seen[1..]
        .iter()
        .flat_map(|s| s.answered.keys().copied())
        .collect();
    assert!(
        dropped.held.is_subset(&others),
        "what the dropped connection held was asked of the others"
    );
    let total: u64 = all.values().map(|&n| u64::from(n)).sum();
    assert_eq!(total, u64::from(size), "every byte pulled once in all");
    let s = relay.stats();
    assert!(s.offline_pulls_reasked >= WINDOW as u64, "{s:?}");
    assert_eq!(s.offline_uploaders_cut, 0);

    let (got, done) = download_digest(addr, &task, to, size);
    assert_eq!(got, want, "the downloaded file is the source");
    assert_eq!(done, want);
    relay.shutdown();
}

crate::on_both_drivers!(four_connections_one_dropped: four_uploader_connections_one_dropped_half_way, four_uploader_connections_one_dropped_half_way_on_epoll);

/// At most `offline_uploaders_per_task` connections: the one over the
/// bound is refused, and a place freed is taken again. A different user's
/// upload login is refused and nothing it sends is stored. The sender's
/// last connection finishes the file.
fn bound_and_strangers(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), driver);
    let addr = relay.addresses().client;
    let size = 6 * BLOCK + 1;
    let (from, to) = (601, 602);
    let task = create(&relay, from, to, size);
    let mut conns: Vec<Conn> = (0..4)
        .map(|_| {
            let (c, rsp) = login(addr, &task, from, UPLOAD);
            assert_eq!(rsp.result_code, 0);
            c
        })
        .collect();
    let rejected = relay.stats().rejected;
    let (mut fifth, rsp) = login(addr, &task, from, UPLOAD);
    assert_eq!(rsp.result_code, 1, "a fifth connection is refused");
    assert_eq!(
        rsp.file_server_error,
        Some(ferry_proto::extension::FileServerError::TooManyUploaders.code()),
        "saying why"
    );
    assert!(fifth.until_closed().is_empty());
    wait_for(&relay, "the refusal counted", |s| s.rejected > rejected);

    // A stranger: refused even with a place free, and what it sends goes nowhere.
    drop(conns.pop());
    let (mut stranger, rsp) = login(addr, &task, 999, UPLOAD);
    assert_eq!(rsp.result_code, 1, "another user's upload is refused");
    let forged = ImFilePullDataRsp {
        offset_u64: None,
        result_code: 0,
        task_id: task.clone().into(),
        user_id: 999,
        offset: 0,
        file_data: vec![0xEE; PULL as usize].into(),
    };
    let _ = stranger.try_send(&forged, 1);
    stranger.until_closed();

    // The freed place is the sender's again.
    wait_for(
        &relay,
        "the dropped, refused and stranger's connections closed",
        |s| s.connections == 3,
    );
    let (c, rsp) = login(addr, &task, from, UPLOAD);
    assert_eq!(rsp.result_code, 0, "a place freed is taken again");
    conns.push(c);
    assert_eq!(relay.stats().bytes_stored, 0, "nothing stored yet");

    // Three leave without answering; the last one is asked everything.
    let last = conns.pop().unwrap();
    drop(conns);
    let seen = uploader(last, &task, from, &HalfWay::never());
    let carried: u64 = seen.answered.values().map(|&n| u64::from(n)).sum();
    assert_eq!(
        carried,
        u64::from(size),
        "the last connection carried it all"
    );
    let want = source_sha(size);
    assert_eq!(seen.done, Some(want.clone()));
    assert_eq!(relay.stats().bytes_stored, u64::from(size));
    let (got, _) = download_digest(addr, &task, to, size);
    assert_eq!(got, want, "the stranger's bytes are nowhere in the file");
    relay.shutdown();
}

crate::on_both_drivers!(bound_and_strangers: uploader_connections_are_bounded_and_strangers_refused, uploader_connections_are_bounded_and_strangers_refused_on_epoll);

/// A connection that joins while the others wait for the final settle, or
/// after the task completed, gets DONE as well; late joiners never block
/// the end.
#[test]
fn a_late_joiner_gets_done() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path(), Driver::Auto);
    let addr = relay.addresses().client;
    let size = 3 * BLOCK;
    let task = create(&relay, 701, 702, size);
    let (c, _) = login(addr, &task, 701, UPLOAD);
    let seen = uploader(c, &task, 701, &HalfWay::never());
    assert!(seen.done.is_some());
    let (c, rsp) = login(addr, &task, 701, UPLOAD);
    assert_eq!(rsp.result_code, 0);
    let late = uploader(c, &task, 701, &HalfWay::never());
    assert!(late.answered.is_empty() && late.done == seen.done);
    relay.shutdown();
}

/// A connection that logs in and never answers holds the others up: once
/// the others have asked and answered everything else, it is closed after
/// `offline_uploader_stall` and its pulls asked of them. The one that takes
/// them is not closed in turn for the time it spent waiting (its silence
/// counts from when it was asked), and both get DONE.
fn silent_connection_cut(driver: Driver) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::local(2);
    config.driver = driver;
    config.offline_window = WINDOW as u32;
    config.offline_uploader_stall = Duration::from_millis(300);
    config.offline = Some(ferry_storage::Config {
        root: dir.path().to_path_buf(),
        block_size: BLOCK,
        min_free_bytes: 0,
        ..ferry_storage::Config::default()
    });
    let relay = start(config);
    let addr = relay.addresses().client;
    let size = BLOCK; // 32 pulls: a window for each of three, 8 left
    let task = create(&relay, 801, 802, size);
    let (mut silent, rsp) = login(addr, &task, 801, UPLOAD);
    assert_eq!(rsp.result_code, 0);
    let mut held: BTreeSet<u32> = (0..WINDOW)
        .map(|_| silent.recv_msg::<ImFilePullDataReq>().0.offset)
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (c, rsp) = login(addr, &task, 801, UPLOAD);
            assert_eq!(rsp.result_code, 0);
            let task = task.clone();
            std::thread::spawn(move || uploader(c, &task, 801, &HalfWay::never()))
        })
        .collect();
    // The others have answered the rest and wait; the silent one answers
    // once more, late, then never again: when it is cut, the others have
    // waited longer than the stall themselves.
    wait_for(&relay, "the others answered all they could", |s| {
        s.bytes_stored == u64::from(size - WINDOW as u32 * PULL)
    });
    std::thread::sleep(Duration::from_millis(350));
    let last = held.pop_first().unwrap();
    let rsp = ImFilePullDataRsp {
        offset_u64: None,
        result_code: 0,
        task_id: task.clone().into(),
        user_id: 801,
        offset: last,
        file_data: file_slice(u64::from(last), PULL as usize, SALT)
            .to_vec()
            .into(),
    };
    silent.send(&rsp, 0);
    let seen: Vec<Seen> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let want = source_sha(size);
    for s in &seen {
        assert_eq!(
            s.done.as_ref(),
            Some(&want),
            "both working connections get DONE"
        );
    }
    let answered: BTreeSet<u32> = seen
        .iter()
        .flat_map(|s| s.answered.keys().copied())
        .collect();
    assert!(
        held.is_subset(&answered),
        "the silent one's pulls asked of the others"
    );
    let rest = silent.until_closed();
    assert!(
        rest.iter().all(|f| f.decode::<ImFileState>().is_err()),
        "no DONE to the one cut"
    );
    let s = relay.stats();
    assert_eq!(
        (s.offline_uploaders_cut, s.offline_pulls_reasked),
        (1, WINDOW as u64)
    );
    let (got, _) = download_digest(addr, &task, 802, size);
    assert_eq!(got, want);
    relay.shutdown();
}

crate::on_both_drivers!(silent_connection_cut: a_silent_connection_is_cut_and_only_it, a_silent_connection_is_cut_and_only_it_on_epoll);

/// Crash safety is the store's, whichever connection wrote: two connections
/// upload part of a file and drop; the relay stops; a relay on the same
/// store asks one connection only for what was not committed.
fn restart_after_parallel(driver: Driver) {
    let dir = shm_dir(512 << 20);
    let size: u32 = 16 * BLOCK;
    let task;
    let first_round: BTreeMap<u32, u32>;
    {
        let relay = relay(dir.path(), driver);
        let addr = relay.addresses().client;
        task = create(&relay, 901, 902, size);
        let answered = Arc::new(AtomicU64::new(0));
        let conns: Vec<Conn> = (0..2).map(|_| login(addr, &task, 901, UPLOAD).0).collect();
        let threads: Vec<_> = conns
            .into_iter()
            .map(|c| {
                let task = task.clone();
                let half = HalfWay {
                    answered: answered.clone(),
                    drop_at: Some(u64::from(size / 2)),
                };
                std::thread::spawn(move || uploader(c, &task, 901, &half))
            })
            .collect();
        let seen: Vec<Seen> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(
            seen.iter()
                .all(|s| s.done.is_none() && !s.answered.is_empty())
        );
        first_round = seen
            .iter()
            .flat_map(|s| s.answered.iter())
            .map(|(&o, &n)| (o, n))
            .collect();
        wait_for(&relay, "both connections gone", |s| s.connections == 0);
        relay.shutdown();
    }
    let relay = relay(dir.path(), driver);
    let addr = relay.addresses().client;
    let (c, _) = login(addr, &task, 901, UPLOAD);
    let seen = uploader(c, &task, 901, &HalfWay::never());
    // Every block the first round answered whole was committed (the
    // leaving connections made it durable): never asked again. The rest is.
    let whole: BTreeSet<u32> = (0..size / BLOCK)
        .filter(|b| {
            (b * BLOCK..(b + 1) * BLOCK)
                .step_by(PULL as usize)
                .all(|o| first_round.contains_key(&o))
        })
        .collect();
    assert!(
        whole.len() >= 4,
        "the first round answered blocks whole: {whole:?}"
    );
    let asked_again: BTreeSet<u32> = seen.answered.keys().map(|o| o / BLOCK).collect();
    assert!(
        whole.is_disjoint(&asked_again),
        "committed blocks are not asked again: {whole:?} {asked_again:?}"
    );
    let second: u64 = seen.answered.values().map(|&n| u64::from(n)).sum();
    assert_eq!(
        second,
        u64::from(size) - u64::from(BLOCK) * whole.len() as u64
    );
    let want = source_sha(size);
    assert_eq!(seen.done, Some(want.clone()));
    let (got, _) = download_digest(addr, &task, 902, size);
    assert_eq!(got, want);
    relay.shutdown();
}

crate::on_both_drivers!(restart_after_parallel: a_restart_after_a_parallel_upload_asks_only_the_uncommitted, a_restart_after_a_parallel_upload_asks_only_the_uncommitted_on_epoll);
