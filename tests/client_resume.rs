//! ferry-client surviving the relay's death, with the relay a real `ferry
//! relay` process killed with SIGKILL (db_proxy, route_server,
//! login_server and msg_server run in this test process):
//!
//! - an offline upload caught in the middle: the relay is killed and
//!   started again on the same store and ports after the systemd unit's
//!   `RestartSec`; the same `send` call (default options) finishes,
//!   having sent again no more than the relay had not committed: by
//!   default its pulls in flight, twice `offline_commit_bytes` (the commit
//!   running beside the answers and the bytes since it began) and a block; one
//!   window with `relay.offline_window_covers_uncommitted`;
//! - a download caught in the middle: the same, the `receive` call goes on
//!   from its partial file;
//! - failover: a standby relay serves a copy of the first relay's store
//!   (the backup of single-node.md, step 7); msg_server lists both; the
//!   first is killed mid-download and the client finishes on the second
//!   after its retries at the first relay's addresses.
//!
//! "Sent again" is [`Progress::moved`] (payload bytes the client answered
//! or received) beyond the bytes the transfer had to move: a client that
//! started over would show the whole prefix before the kill again.

mod stack;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferry_client::Session;
use ferry_client::transfer::{self, FileTask, Mode, Options, Progress};
use stack::Stack;
use stack::process::{Service, at, port, spawn, wait_listening};
use tokio::sync::watch;

/// The relay's upload window: `offline_window` (8) pulls of
/// `offline_pull` (32 KiB), its defaults.
const UPLOAD_WINDOW: u64 = 8 * (32 << 10);
/// The store's block by default (`offline.block_size`).
const BLOCK: u64 = 1 << 20;
/// The relay's `offline_commit_bytes` by default.
const COMMIT: u64 = 4 << 20;

/// A `ferry relay` process of one core keeping offline files under
/// `root`, on fixed ports (a restart comes back at the same addresses).
struct RelayProcess {
    name: &'static str,
    root: PathBuf,
    core: u16,
    client: u16,
    link: u16,
    metrics: u16,
    /// `--set KEY=VALUE` settings beyond the store's place.
    settings: Vec<&'static str>,
    process: Option<Service>,
}

impl RelayProcess {
    fn new(name: &'static str, root: PathBuf) -> RelayProcess {
        RelayProcess::with(name, root, &[])
    }

    fn with(name: &'static str, root: PathBuf, settings: &[&'static str]) -> RelayProcess {
        RelayProcess {
            name,
            root,
            settings: settings.to_vec(),
            core: port(),
            client: port(),
            link: port(),
            metrics: port(),
            process: None,
        }
    }

    /// Starts the process (again); returns once both client ports accept.
    async fn start(&mut self) {
        assert!(self.process.is_none(), "{} runs already", self.name);
        let root = format!("offline.root={}", self.root.display());
        let core = self.core.to_string();
        let (client, link, metrics) = (at(self.client), at(self.link), at(self.metrics));
        let mut args = vec![
            "relay",
            "--cores",
            "1",
            "--client-listen",
            &client,
            "--msg-listen",
            &link,
            "--core-port-base",
            &core,
            "--advertise",
            "127.0.0.1",
            "--metrics-listen",
            &metrics,
            "--set",
            "offline.enabled=true",
            "--set",
            &root,
            "--set",
            "offline.min_free_bytes=0B",
            "--set",
            "offline.preallocate=false",
        ];
        for setting in &self.settings {
            args.extend(["--set", setting]);
        }
        self.process = Some(spawn(self.name, &args));
        for addr in self.addresses() {
            wait_listening(addr).await;
        }
    }

    /// SIGKILL, and the exit reaped: nothing of the process runs on.
    fn kill(&mut self) {
        let mut service = self.process.take().expect("the relay runs");
        service.child.kill().unwrap(); // SIGKILL
        let status = service.child.wait().unwrap();
        assert_eq!(status.code(), None, "{} was killed by a signal", self.name);
    }

    /// SIGTERM: drains and exits 0.
    fn stop(&mut self) {
        let service = self.process.take().expect("the relay runs");
        assert_eq!(service.terminate().code(), Some(0));
    }

    /// The addresses it hands out: its core's port, then the shared port.
    fn addresses(&self) -> Vec<SocketAddr> {
        [self.core, self.client]
            .into_iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .collect()
    }

    /// The sum over cores of a counter on the metrics endpoint (this
    /// process's: a restart starts at 0).
    fn metric(&self, name: &str) -> u64 {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.metrics)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let values: Vec<u64> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{name}{{")))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(!values.is_empty(), "{name} in\n{text}");
        values.iter().sum()
    }

    fn link(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.link))
    }
}

/// The control plane in this process, its msg_server linked to `relays`;
/// alice and bob logged in (their ids).
async fn stack(relays: &[&RelayProcess]) -> (Stack, Vec<u32>, Session, Session) {
    let links: Vec<SocketAddr> = relays.iter().map(|r| r.link()).collect();
    let stack = Stack::start_with(false, |c| c.file_server = links).await;
    assert!(
        stack.msg_stats.links_up(),
        "msg_server linked to the relays"
    );
    let ids = stack.users(&["alice", "bob"], 1).await;
    let alice = Session::login(&stack.login_as("alice")).await.unwrap();
    let bob = Session::login(&stack.login_as("bob")).await.unwrap();
    (stack, ids, alice, bob)
}

/// `size` bytes that differ from block to block (a misplaced piece shows).
fn content(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// The offline files waiting for `session`'s user once there are `n`.
async fn pending(session: &Session, n: usize) -> Vec<FileTask> {
    for _ in 0..500 {
        let files = session.offline_files().await.unwrap();
        if files.len() >= n {
            return files;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} offline files listed after 5 s");
}

/// Uploads `path` offline from alice to bob and records it; bob's task.
async fn upload(alice: &Session, bob: &Session, ids: &[u32], path: &Path) -> FileTask {
    let size = std::fs::metadata(path).unwrap().len();
    let task = alice
        .request_file(ids[1], "file.bin", size, Mode::Offline)
        .await
        .unwrap();
    transfer::send(&task, ids[0], path, &Options::default())
        .await
        .unwrap();
    alice.add_offline(&task).await.unwrap();
    pending(bob, 1).await.remove(0)
}

/// Waits until the transfer watched by `progress` has `at` bytes (10 s
/// at most); the progress then.
async fn reached(progress: &mut watch::Receiver<Progress>, at: u64) -> Progress {
    tokio::time::timeout(Duration::from_secs(10), progress.wait_for(|p| p.done >= at))
        .await
        .expect("the transfer reached the mark within 10 s")
        .map(|p| *p)
        .unwrap()
}

/// How long systemd waits before starting a relay that died again:
/// `RestartSec` of deploy/systemd/ferry-relay.service, the unit this
/// test plays.
fn restart_sec() -> Duration {
    let unit = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/systemd/ferry-relay.service"
    );
    let text = std::fs::read_to_string(unit).unwrap();
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("RestartSec="))
        .expect("RestartSec in the relay's unit");
    let secs = value.strip_suffix('s').unwrap_or(value);
    Duration::from_secs_f64(secs.parse().unwrap())
}

/// The relay's death as systemd handles it: SIGKILL, `RestartSec`, start.
async fn crash_and_restart(relay: &mut RelayProcess) {
    relay.kill();
    tokio::time::sleep(restart_sec()).await;
    relay.start().await;
}

/// How long the client tries one address with `opts` before the next:
/// `backoff` doubling, `reconnects` times.
fn per_address(opts: &Options) -> Duration {
    (0..opts.reconnects)
        .map(|i| opts.backoff * 2u32.pow(i))
        .sum()
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

/// An offline upload of 40 MiB, the relay (`settings`) killed a third of
/// the way and restarted after `RestartSec`: the same `send` finishes
/// with the defaults, having sent again at most `bound` bytes (the
/// client's [`Progress::moved`] and the restarted relay's own count);
/// bob then downloads the very bytes.
async fn upload_resumes(settings: &[&'static str], bound: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::with("relay", dir.path().join("offline"), settings);
    relay.start().await;
    let (stack, ids, alice, bob) = stack(&[&relay]).await;
    let size = 40usize << 20;
    let data = content(size);
    let src = write(dir.path(), "up.bin", &data);

    let task = alice
        .request_file(ids[1], "up.bin", size as u64, Mode::Offline)
        .await
        .unwrap();
    assert_eq!(
        task.relays,
        relay.addresses(),
        "core port, then shared port"
    );
    // The defaults: their retries outlast systemd's restart.
    let mut opts = Options::default();
    assert!(per_address(&opts) > restart_sec());
    let mut progress = opts.watch_progress();
    let sending = {
        let (task, me, src, opts) = (task.clone(), ids[0], src.clone(), opts.clone());
        tokio::spawn(async move { transfer::send(&task, me, &src, &opts).await })
    };
    let at_kill = reached(&mut progress, size as u64 / 3).await;
    assert!(
        at_kill.done < size as u64,
        "the kill landed mid-upload ({} of {size})",
        at_kill.done
    );
    crash_and_restart(&mut relay).await;
    tokio::time::timeout(Duration::from_secs(30), sending)
        .await
        .expect("the upload finished within 30 s of the restart")
        .unwrap()
        .unwrap();
    let moved = progress.borrow().moved;
    assert_eq!(progress.borrow().done, size as u64);
    alice.add_offline(&task).await.unwrap();

    // What the relay had not committed at the kill is asked again.
    let again = moved - size as u64;
    println!(
        "upload {settings:?}: killed at {} of {size} bytes; sent again {again} bytes (bound {bound})",
        at_kill.done
    );
    assert!(
        again <= bound,
        "{again} bytes sent again after one kill (at most {bound}; killed at {})",
        at_kill.done
    );

    // The restarted relay's own count: what it stored after the restart.
    let stored = relay.metric("ferry_relay_store_bytes_stored_total");
    assert!(
        stored <= size as u64 - at_kill.done + bound,
        "the restarted relay stored {stored} bytes; {} had been answered before the kill",
        at_kill.done
    );

    let got = pending(&bob, 1).await.remove(0);
    let dst = dir.path().join("up.out");
    bob.receive_file(&got, &dst, &Options::default())
        .await
        .unwrap();
    assert!(
        std::fs::read(&dst).unwrap() == data,
        "the bytes arrived intact"
    );
    relay.stop();
    stack.stop().await;
}

/// The relay's defaults: what it had not committed at the kill is asked
/// again: the pulls in flight, the commit running and the bytes since it
/// began (`offline_commit_bytes` each) and the written part of an
/// incomplete block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_upload_survives_the_relay_killed_and_restarted() {
    upload_resumes(&[], UPLOAD_WINDOW + 2 * COMMIT + BLOCK).await;
}

/// `relay.offline_window_covers_uncommitted`, with blocks of one pull:
/// at most one window is sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_upload_sends_again_at_most_one_window_when_the_window_covers_uncommitted_bytes()
{
    upload_resumes(
        &[
            "relay.offline_window_covers_uncommitted=true",
            "offline.block_size=32KiB",
        ],
        UPLOAD_WINDOW,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_survives_the_relay_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = RelayProcess::new("relay", dir.path().join("offline"));
    relay.start().await;
    let (stack, ids, alice, bob) = stack(&[&relay]).await;
    let size = 40usize << 20;
    let data = content(size);
    let src = write(dir.path(), "down.bin", &data);
    let task = upload(&alice, &bob, &ids, &src).await;
    assert_eq!(task.relays, relay.addresses());

    let mut opts = Options::default().with_window(4).with_chunk(128 << 10);
    let window = u64::from(opts.window * opts.chunk);
    let mut progress = opts.watch_progress();
    let dst = dir.path().join("down.out");
    let receiving = {
        let (task, me, dst, opts) = (task.clone(), ids[1], dst.clone(), opts.clone());
        tokio::spawn(async move { transfer::receive(&task, me, &dst, &opts).await })
    };
    let at_kill = reached(&mut progress, size as u64 / 3).await;
    assert!(at_kill.done < size as u64, "the kill landed mid-download");
    crash_and_restart(&mut relay).await;
    tokio::time::timeout(Duration::from_secs(30), receiving)
        .await
        .expect("the download finished within 30 s of the restart")
        .unwrap()
        .unwrap();
    assert!(
        std::fs::read(&dst).unwrap() == data,
        "the bytes arrived intact"
    );
    // The restarted relay's own count: it served the rest alone.
    let served = relay.metric("ferry_relay_store_bytes_served_total");
    assert!(
        served <= size as u64 - at_kill.done,
        "the restarted relay served {served} bytes; {} had arrived before the kill",
        at_kill.done
    );
    let moved = progress.borrow().moved;
    let again = moved - size as u64;
    println!(
        "download: killed at {} of {size} bytes; received again {again} bytes (window {window})",
        at_kill.done
    );
    assert!(
        again <= window,
        "{again} bytes received again after one kill (a window is {window})"
    );
    bob.del_offline(&task).await.unwrap();
    relay.stop();
    stack.stop().await;
}

/// Copies directory `from` to `to` as `cp -a` (hard links kept).
fn copy_store(from: &Path, to: &Path) {
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "cp -a {} {}",
        from.display(),
        to.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_fails_over_to_a_standby_relay_with_a_copy_of_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = RelayProcess::new("relay-a", dir.path().join("offline-a"));
    let mut standby = RelayProcess::new("relay-b", dir.path().join("offline-b"));
    first.start().await;
    // msg_server lists both relays; the standby is not up yet, so the
    // upload is placed on the first.
    let (stack, ids, alice, bob) = stack(&[&first, &standby]).await;
    let size = 24usize << 20;
    let data = content(size);
    let src = write(dir.path(), "fail.bin", &data);
    let task = upload(&alice, &bob, &ids, &src).await;
    assert_eq!(task.relays, first.addresses(), "only the first holds it");

    // The standby starts on a copy of the first's store, taken while the
    // first was stopped (single-node.md, step 7): msg_server now names
    // both holders, the first's addresses first.
    first.stop();
    copy_store(&first.root, &standby.root);
    first.start().await;
    standby.start().await;
    let both: Vec<SocketAddr> = [first.addresses(), standby.addresses()].concat();
    let deadline = Instant::now() + Duration::from_secs(15);
    let task = loop {
        let task = pending(&bob, 1).await.remove(0);
        if task.relays == both {
            break task;
        }
        assert!(
            Instant::now() < deadline,
            "msg_server lists {:?}, not both relays {both:?}",
            task.relays
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The default options: three reconnects per address, then the next.
    let mut opts = Options::default().with_window(4).with_chunk(128 << 10);
    assert_eq!(opts.reconnects, 3);
    let window = u64::from(opts.window * opts.chunk);
    let mut progress = opts.watch_progress();
    let dst = dir.path().join("fail.out");
    let receiving = {
        let (task, me, dst, opts) = (task.clone(), ids[1], dst.clone(), opts.clone());
        tokio::spawn(async move { transfer::receive(&task, me, &dst, &opts).await })
    };
    let at_kill = reached(&mut progress, size as u64 / 3).await;
    first.kill();
    let killed = Instant::now();
    assert!(at_kill.done < size as u64, "the kill landed mid-download");
    tokio::time::timeout(Duration::from_secs(30), receiving)
        .await
        .expect("the download finished within 30 s of the kill")
        .unwrap()
        .unwrap();
    let took = killed.elapsed();
    assert!(
        std::fs::read(&dst).unwrap() == data,
        "the bytes arrived intact"
    );
    let again = progress.borrow().moved - size as u64;
    let served = standby.metric("ferry_relay_store_bytes_served_total");
    println!(
        "failover: killed at {} of {size} bytes; the standby served {served}; \
         received again {again} bytes (window {window}); {took:?} from the kill to the end",
        at_kill.done
    );
    assert!(again <= window, "{again} bytes received again");
    assert!(
        served > 0 && served <= size as u64 - at_kill.done,
        "the standby served the rest after {} bytes, not {served}",
        at_kill.done
    );
    // Both of the first relay's addresses were tried 1 + 3 times, 0.5, 1
    // and 2 s apart, before the standby's.
    assert!(
        took >= 2 * per_address(&opts),
        "moved on after {took:?}: fewer retries than three per address"
    );
    // A fourth retry at either address would wait 4 s more.
    assert!(
        took < 2 * per_address(&opts) + opts.backoff * 7,
        "moved on only after {took:?}: more retries than three per address"
    );
    standby.stop();
    stack.stop().await;
}
