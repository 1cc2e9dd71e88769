//! Crash and resume with real processes: a relay child process (this test
//! binary re-run as `child_relay`) is killed with SIGKILL at random moments
//! of a 256 MiB offline upload, twelve times, and restarted on the same
//! store each time; the uploader comes back to each new relay. Checked: the
//! committed-block count (read from the store while no relay runs) never
//! goes down, the bytes pulled again after each kill stay within what a
//! kill can lose (the window in flight and the uncommitted blocks; one
//! window with `offline_window_covers_uncommitted`), and the file
//! downloaded at the end is the file uploaded. The store lives on /dev/shm
//! when there is one: a SIGKILL loses the process, not the page cache, so
//! the disk adds nothing to what is tested but minutes of syncs.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use ferry_proto::pb::im::file::{
    ImFileLoginReq, ImFileLoginRsp, ImFilePullDataReq, ImFilePullDataRsp, ImFileState,
};
use ferry_proto::pb::im::server::{ImFileTransferReq, ImFileTransferRsp};
use ferry_relay::Config;

const BLOCK: u32 = 64 << 10;
const PULL: u32 = 32 << 10;
const WINDOW: u32 = 8;
const KILLS: usize = 12;
const ROOT_VAR: &str = "FERRY_TEST_CHILD_STORE";
/// Set (to anything) for a child relay whose window covers uncommitted
/// bytes, with store blocks of one pull.
const COVERS_VAR: &str = "FERRY_TEST_CHILD_COVERS";

/// The relay's settings under test: the defaults' shape (64 KiB blocks, a
/// commit per block), or the window covering uncommitted bytes.
#[derive(Debug, Clone, Copy)]
struct Mode {
    covers: bool,
}

impl Mode {
    const DEFAULTS: Mode = Mode { covers: false };
    const COVERS: Mode = Mode { covers: true };

    fn block(self) -> u32 {
        if self.covers { PULL } else { BLOCK }
    }
}

fn relay_config(root: &Path, mode: Mode) -> Config {
    let mut config = Config::local(2);
    config.offline_window = WINDOW;
    config.offline_commit_bytes = u64::from(mode.block());
    config.offline_window_covers_uncommitted = mode.covers;
    config.offline = Some(store_config(root, mode));
    config
}

fn store_config(root: &Path, mode: Mode) -> ferry_storage::Config {
    ferry_storage::Config {
        root: root.to_path_buf(),
        block_size: mode.block(),
        min_free_bytes: 0,
        ..ferry_storage::Config::default()
    }
}

/// The child: a relay on the store named by the environment, its client
/// and msg-link addresses on stdout, then nothing until it is killed.
#[test]
#[ignore = "run by offline_crash as a child process"]
fn child_relay() {
    let Ok(root) = std::env::var(ROOT_VAR) else {
        return;
    };
    let mode = Mode {
        covers: std::env::var_os(COVERS_VAR).is_some(),
    };
    let relay = start(relay_config(Path::new(&root), mode));
    println!(
        "READY {} {}",
        relay.addresses().client,
        relay.addresses().msg
    );
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

struct ChildRelay {
    child: Child,
    client: SocketAddr,
    msg: SocketAddr,
}

impl Drop for ChildRelay {
    /// A failing test leaves no relay behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_relay(root: &Path, mode: Mode) -> ChildRelay {
    let mut command = Command::new(std::env::current_exe().unwrap());
    if mode.covers {
        command.env(COVERS_VAR, "1");
    }
    let child = command
        .args([
            "--exact",
            "child_relay",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROOT_VAR, root)
        .stdout(Stdio::piped())
        .spawn()
        .expect("child relay starts");
    let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
    let mut relay = ChildRelay {
        child,
        client: unknown,
        msg: unknown,
    };
    let mut lines = BufReader::new(relay.child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("child output").unwrap();
        // libtest may put the test's name on the same line.
        if let Some((_, rest)) = line.split_once("READY ") {
            let mut addrs = rest.split(' ').map(|a| a.parse().unwrap());
            (relay.client, relay.msg) = (addrs.next().unwrap(), addrs.next().unwrap());
            return relay;
        }
    }
}

fn create(msg: SocketAddr, size: u32) -> String {
    let mut link = Conn::connect(msg);
    let req = ImFileTransferReq {
        file_size_u64: None,
        sha256: None,
        from_user_id: 1,
        to_user_id: 2,
        file_name: "big.bin".into(),
        file_size: size,
        trans_mode: 2,
        attach_data: None,
    };
    link.send(&req, 1);
    let (rsp, _) = link.recv_msg::<ImFileTransferRsp>();
    assert_eq!(rsp.result_code, 0);
    text(&rsp.task_id.unwrap()).to_string()
}

/// A stock uploader that says on `reached` when it has answered `target`
/// pulls and goes on answering until the relay ends it (DONE) or dies.
fn upload(
    addr: SocketAddr,
    task: &str,
    target: usize,
    reached: mpsc::Sender<()>,
) -> (Vec<u32>, bool) {
    // Logged in by hand: with several connections, a relay killed for
    // another's sake may die before it answers this one.
    let mut c = Conn::connect(addr);
    let login = ImFileLoginReq {
        file_size_u64: None,
        user_id: 1,
        task_id: task.to_owned().into(),
        file_role: 3,
    };
    if c.try_send(&login, 5).is_err() {
        return (Vec::new(), false);
    }
    let Some(frame) = c.try_recv() else {
        return (Vec::new(), false);
    };
    assert_eq!(frame.decode::<ImFileLoginRsp>().unwrap().result_code, 0);
    let mut answered = Vec::new();
    loop {
        let Some(frame) = c.try_recv() else {
            return (answered, false);
        };
        if let Ok(state) = frame.decode::<ImFileState>() {
            assert_eq!(state.state, DONE);
            return (answered, true);
        }
        let req = frame.decode::<ImFilePullDataReq>().expect("a pull");
        let rsp = ImFilePullDataRsp {
            offset_u64: None,
            result_code: 0,
            task_id: task.to_owned().into(),
            user_id: 1,
            offset: req.offset,
            file_data: fill(u64::from(req.offset), req.data_size as usize, 3).into(),
        };
        if c.try_send(&rsp, frame.header.seq_num).is_err() {
            return (answered, false);
        }
        answered.push(req.offset);
        if answered.len() == target {
            let _ = reached.send(());
        }
    }
}

/// The blocks committed, as a relay starting now would find them (every
/// block's CRC checked). A torn record slot is allowed: a record of a
/// 256 MiB task spans several pages, so a kill in the middle of writing it
/// leaves a slot that recovery does not believe, and it uses the other
/// (what the two slots are for); anything else is a failure.
fn committed(root: &Path, task: &str, mode: Mode) -> BTreeSet<u32> {
    let (store, report) = ferry_storage::Store::open(
        ferry_storage::StdFs,
        &store_config(root, mode),
        ferry_storage::RecoveryMode::Full,
        0,
    )
    .unwrap();
    let unsound: Vec<_> = report
        .issues
        .iter()
        .filter(|i| !matches!(i, ferry_storage::Issue::BadSlot { .. }))
        .collect();
    assert!(unsound.is_empty(), "{unsound:?}");
    let ranges = store.task(task).unwrap().committed_ranges();
    let block = u64::from(mode.block());
    ranges
        .into_iter()
        .flat_map(|(at, len)| (at / block) as u32..(at + len).div_ceil(block) as u32)
        .collect()
}

#[test]
fn sigkill_during_upload_resumes_from_what_was_committed() {
    sigkill_during_upload(Mode::DEFAULTS);
}

/// With `offline_window_covers_uncommitted` (and blocks of one pull) each
/// kill costs the uploader at most one window: issue 10's bound.
#[test]
fn sigkill_during_upload_with_the_window_covering_uncommitted_bytes_costs_one_window() {
    sigkill_during_upload(Mode::COVERS);
}

fn sigkill_during_upload(mode: Mode) {
    // Both 256 MiB runs may go at once, each file reserved whole.
    let dir = shm_dir(1 << 30);
    let root = dir.path();
    let block = mode.block();
    let block_of = |offset: u32| offset / block;
    let size: u32 = (256 << 20) + 4321;
    // Kills spread over the whole upload: a kill lands after a random
    // number of pulls, twice the share of one kill at most.
    let spread = 2 * size.div_ceil(PULL) as u64 / (KILLS as u64 + 1);
    let mut rng = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut relay = spawn_relay(root, mode);
    let task = create(relay.msg, size);
    let mut committed_before = BTreeSet::new();
    let mut again = 0;
    for kill in 0..=KILLS {
        let target = if kill == KILLS {
            usize::MAX
        } else {
            // Within the first half of what is left, so the kill lands
            // before the upload ends.
            let left =
                (size.div_ceil(block) as usize - committed_before.len()) * (block / PULL) as usize;
            1 + (next() % spread.min(left as u64 / 2).max(1)) as usize
        };
        let (tx, rx) = mpsc::channel();
        let (addr, t) = (relay.client, task.clone());
        let uploading = std::thread::spawn(move || upload(addr, &t, target, tx));
        if kill < KILLS {
            let reached = rx.recv_timeout(Duration::from_secs(30)).is_ok();
            assert!(reached, "kill {kill}: {target} pulls asked");
            // Kill at once, or a moment later (the answers in flight land).
            if next() % 2 == 0 {
                std::thread::sleep(Duration::from_millis(next() % 5));
            }
            relay.child.kill().unwrap();
            relay.child.wait().unwrap();
        }
        let (answered, done) = uploading.join().unwrap();
        assert_eq!(done, kill == KILLS, "DONE only at the end (kill {kill})");
        // Asked only for what the store did not hold.
        for offset in &answered {
            assert!(
                !committed_before.contains(&block_of(*offset)),
                "kill {kill}: block {} was committed and asked again",
                block_of(*offset)
            );
        }
        if kill == KILLS {
            break;
        }
        let now = committed(root, &task, mode);
        assert!(
            now.is_superset(&committed_before),
            "kill {kill}: committed blocks were lost"
        );
        // What this kill lost: answered but not committed. By default at
        // most the window in flight, the blocks under the commit running
        // beside the answers and those written since it began (a block
        // each here), and the written part of a block; one window when
        // the window covers uncommitted bytes.
        let lost = answered
            .iter()
            .filter(|o| !now.contains(&block_of(**o)))
            .count() as u32;
        let bound = if mode.covers {
            WINDOW
        } else {
            WINDOW + 3 * BLOCK / PULL
        };
        assert!(
            lost <= bound,
            "kill {kill}: {lost} answers lost (at most {bound})"
        );
        again += lost;
        committed_before = now;
        relay = spawn_relay(root, mode);
    }
    assert!(
        again > 0 || KILLS == 0,
        "some kill landed between an answer and its commit"
    );

    download_and_check(relay, &task, size);
}

/// The same with three uploader connections at once (issue 10's parallel
/// upload): a kill loses at most, per connection, its window, the blocks
/// that window lies in and its writes since its last commit, never a
/// committed block; committed
/// blocks are never asked again, of any connection; every connection of
/// the last round gets DONE and the file downloads intact.
#[test]
fn sigkill_during_a_parallel_upload_loses_only_the_uncommitted() {
    const CONNS: usize = 3;
    const PARALLEL_KILLS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let size = 96 * BLOCK + 99;
    let mode = Mode::DEFAULTS;
    let block_of = |offset: u32| offset / BLOCK;
    let mut relay = spawn_relay(root, mode);
    let task = create(relay.msg, size);
    let mut committed_before = BTreeSet::new();
    for kill in 0..=PARALLEL_KILLS {
        let target = if kill == PARALLEL_KILLS {
            usize::MAX
        } else {
            8 + 5 * kill
        };
        let (tx, rx) = mpsc::channel();
        let uploading: Vec<_> = (0..CONNS)
            .map(|_| {
                let (addr, t, tx) = (relay.client, task.clone(), tx.clone());
                std::thread::spawn(move || upload(addr, &t, target, tx))
            })
            .collect();
        if kill < PARALLEL_KILLS {
            let reached = rx.recv_timeout(Duration::from_secs(30)).is_ok();
            assert!(reached, "kill {kill}: {target} pulls asked of one");
            relay.child.kill().unwrap();
            relay.child.wait().unwrap();
        }
        let ends: Vec<(Vec<u32>, bool)> =
            uploading.into_iter().map(|t| t.join().unwrap()).collect();
        for (answered, done) in &ends {
            assert_eq!(
                *done,
                kill == PARALLEL_KILLS,
                "DONE to each only at the end"
            );
            for offset in answered {
                assert!(
                    !committed_before.contains(&block_of(*offset)),
                    "kill {kill}: block {} was committed and asked again",
                    block_of(*offset)
                );
            }
        }
        if kill == PARALLEL_KILLS {
            break;
        }
        let now = committed(root, &task, mode);
        assert!(
            now.is_superset(&committed_before),
            "kill {kill}: committed blocks were lost"
        );
        let lost = ends
            .iter()
            .flat_map(|(answered, _)| answered)
            .filter(|o| !now.contains(&block_of(**o)))
            .count() as u32;
        // Per connection: its window in flight, the other pieces of the
        // blocks those pulls lie in (the connections share the pulls, so
        // the blocks in flight hold pieces answered by others), and its
        // writes under its commit and since that commit began; plus the
        // blocks at both ends of the region in flight.
        let per_conn = WINDOW + WINDOW * (BLOCK / PULL - 1) + 3 * BLOCK / PULL;
        assert!(
            lost <= CONNS as u32 * per_conn + 2 * BLOCK / PULL,
            "kill {kill}: {lost} answers lost"
        );
        committed_before = now;
        relay = spawn_relay(root, mode);
    }
    download_and_check(relay, &task, size);
}

/// The receiver (user 2) downloads the whole file, stock-shaped (one pull
/// in flight); every byte is the uploader's; DONE ends it. Then the relay
/// child is stopped.
fn download_and_check(mut relay: ChildRelay, task: &str, size: u32) {
    let (mut c, rsp) = login(relay.client, task, 2, 4);
    assert_eq!(rsp.result_code, 0);
    let mut offset = 0;
    while offset < size {
        c.send(
            &ImFilePullDataReq {
                offset_u64: None,
                task_id: task.to_owned().into(),
                user_id: 2,
                trans_mode: 2,
                offset,
                data_size: PULL,
            },
            0,
        );
        let (rsp, _) = c.recv_msg::<ImFilePullDataRsp>();
        let len = PULL.min(size - offset);
        assert!(
            rsp.file_data == file_slice(u64::from(offset), len as usize, 3),
            "bytes differ at {offset}"
        );
        offset += len;
    }
    assert_eq!(c.recv_msg::<ImFileState>().0.state, DONE);
    relay.child.kill().unwrap();
    relay.child.wait().unwrap();
}
