//! ferry-client's file transfers against the whole stack in process (a
//! relay with the offline store): online with a window of pulls, offline
//! upload and download with the msg_server records, a download resumed
//! after its future was dropped, and uploads and downloads that survive a
//! connection cut part way (through a TCP proxy in this test) having sent
//! again at most one window; a file the relay holds uploads at once; an
//! offline upload over four connections at once, one of them cut.

mod stack;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ferry_client::transfer::{self, FileTask, Mode, Options, Pattern, Payload, SendOptions};
use ferry_client::{Event, Session};
use stack::Stack;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A stack with the offline store, alice and bob (their ids) logged in,
/// a scratch directory.
async fn pair() -> (Stack, Vec<u32>, Session, Session, tempfile::TempDir) {
    let stack = Stack::start_offline().await;
    let ids = stack.users(&["alice", "bob"], 1).await;
    let alice = Session::login(&stack.login_as("alice")).await.unwrap();
    let bob = Session::login(&stack.login_as("bob")).await.unwrap();
    (stack, ids, alice, bob, tempfile::tempdir().unwrap())
}

/// `size` bytes that differ from block to block (a misplaced chunk shows).
fn content(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn write_file(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

/// The offline files waiting for `session`'s user once there are `n`
/// (ADD has no answer: its record lands a moment after it was sent).
async fn pending(session: &Session, n: usize) -> Vec<FileTask> {
    for _ in 0..200 {
        let files = session.offline_files().await.unwrap();
        if files.len() >= n {
            return files;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} offline files listed after 2 s");
}

async fn next_file(session: &mut Session) -> FileTask {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), session.next_event())
            .await
            .expect("a file notify within 10 s")
            .expect("the session is open");
        if let Event::File(n) = event {
            return FileTask::from_notify(&n).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_transfer_with_a_window_of_pulls() {
    let (stack, ids, alice, mut bob, dir) = pair().await;
    let data = content((3 << 20) + 12_345);
    let src = write_file(dir.path(), "online.bin", &data);

    let mut send = SendOptions::default();
    let sent_progress = send.transfer.watch_progress();
    let sending = {
        let (src, to) = (src.clone(), ids[1]);
        tokio::spawn(async move {
            let r = alice.send_file(to, &src, &send).await;
            (alice, r)
        })
    };
    let task = next_file(&mut bob).await;
    assert_eq!(
        (task.mode, task.from_user_id, task.size, &task.file_name[..]),
        (Mode::Online, ids[0], data.len() as u64, &b"online.bin"[..])
    );
    let mut opts = Options::default().with_window(8).with_chunk(100_000);
    let progress = opts.watch_progress();
    let dst = dir.path().join("got.bin");
    bob.receive_file(&task, &dst, &opts).await.unwrap();
    let (alice, sent) = sending.await.unwrap();
    let sent = sent.unwrap();
    assert_eq!(sent.task_id, task.task_id);
    assert!(
        std::fs::read(&dst).unwrap() == data,
        "the file arrives intact"
    );
    let p = *progress.borrow();
    assert_eq!((p.done, p.total), (data.len() as u64, data.len() as u64));
    assert_eq!(sent_progress.borrow().done, data.len() as u64);

    // More pulls in flight than the relay's window (16): the relay closes
    // the receiver, the task ends, and the reconnect is refused.
    let send = SendOptions::default();
    let to = ids[1];
    let sending = tokio::spawn(async move { alice.send_file(to, &src, &send).await });
    let task = next_file(&mut bob).await;
    let greedy = Options::default().with_window(32).with_chunk(16 << 10);
    let e = bob
        .receive_file(&task, &dir.path().join("greedy.bin"), &greedy)
        .await
        .unwrap_err();
    assert!(e.is_refused() || e.is_closed(), "{e}");
    // The sender is told CANCEL, or finds its connection gone first and
    // its reconnect refused (the task has ended): either way it fails.
    let e = sending.await.unwrap().unwrap_err();
    assert!(e.is_cancelled() || e.is_closed() || e.is_refused(), "{e}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_upload_then_download_and_the_records() {
    let (stack, ids, alice, bob, dir) = pair().await;
    let data = content((2 << 20) + 777);
    let src = write_file(dir.path(), "later.bin", &data);
    let empty = write_file(dir.path(), "empty.bin", b"");
    let send = SendOptions {
        mode: Mode::Offline,
        ..SendOptions::default()
    };
    let task = alice.send_file(ids[1], &src, &send).await.unwrap();
    assert_eq!(task.mode, Mode::Offline);
    alice.send_file(ids[1], &empty, &send).await.unwrap();

    // The breakpoint query (a ferry extension): the whole file, complete,
    // for the sender and the receiver; refused to anyone else.
    let opts = Options::default();
    for user in [ids[0], ids[1]] {
        let b = transfer::breakpoint(&task, user, &opts).await.unwrap();
        assert_eq!(b.committed, vec![0..data.len() as u64], "user {user}");
        assert_eq!((b.size, b.is_complete()), (data.len() as u64, true));
    }
    let stranger = ids[0] + ids[1] + 1000;
    let e = transfer::breakpoint(&task, stranger, &opts)
        .await
        .unwrap_err();
    assert_eq!(e.result_code(), Some(3), "not a participant: {e}");

    let mut pending = pending(&bob, 2).await;
    pending.sort_by_key(|t| t.size);
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert_eq!(
        (
            &pending[1].task_id,
            pending[1].size,
            &pending[1].file_name[..]
        ),
        (&task.task_id, data.len() as u64, &b"later.bin"[..])
    );
    assert!(!pending[1].relays.is_empty());
    let opts = Options::default().with_window(4).with_chunk(64 << 10);
    for (t, name) in pending.iter().zip(["empty.out", "later.out"]) {
        bob.receive_file(t, &dir.path().join(name), &opts)
            .await
            .unwrap();
    }
    assert!(std::fs::read(dir.path().join("later.out")).unwrap() == data);
    assert_eq!(std::fs::read(dir.path().join("empty.out")).unwrap(), b"");
    // The records are gone once downloaded (DEL has no answer: poll).
    let mut left = usize::MAX;
    for _ in 0..100 {
        left = bob.offline_files().await.unwrap().len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left, 0, "downloaded files are no longer listed");
    stack.stop().await;
}

/// Instant upload: the same file sent offline a second time (its SHA-256
/// on the request) is complete at once, no byte moved, a task of its own
/// that the receiver downloads whole; with `instant_upload` off, or another
/// file, every byte is uploaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_relay_holds_uploads_at_once() {
    let (stack, ids, alice, bob, dir) = pair().await;
    let data = content((3 << 20) + 5);
    let src = write_file(dir.path(), "again.bin", &data);
    let other = write_file(dir.path(), "other.bin", &content(1 << 20)[..]);
    let mut moved = Vec::new();
    let mut tasks = Vec::new();
    for (path, instant) in [(&src, true), (&src, true), (&src, false), (&other, true)] {
        let mut send = SendOptions {
            mode: Mode::Offline,
            instant_upload: instant,
            ..SendOptions::default()
        };
        let progress = send.transfer.watch_progress();
        tasks.push(alice.send_file(ids[1], path, &send).await.unwrap());
        moved.push(progress.borrow().moved);
    }
    let size = data.len() as u64;
    assert_eq!(moved, [size, 0, size, 1 << 20], "bytes uploaded per send");
    assert_ne!(tasks[0].task_id, tasks[1].task_id, "a task of its own");
    let second = (pending(&bob, 4).await.into_iter())
        .find(|t| t.task_id == tasks[1].task_id)
        .expect("the instant upload is listed for bob");
    let out = dir.path().join("again.out");
    bob.receive_file(&second, &out, &Options::default())
        .await
        .unwrap();
    assert!(
        std::fs::read(&out).unwrap() == data,
        "every byte downloaded"
    );
    stack.stop().await;
}

/// A pattern uploaded from memory (nothing on disk): downloaded into a
/// pattern of the same seed it passes (every byte and the relay's SHA-256
/// checked), into a file it is the pattern's bytes, and into another
/// seed's pattern it fails at its first byte (is_mismatch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_upload_is_checked_byte_by_byte_on_download() {
    let (stack, ids, alice, _bob, dir) = pair().await;
    let size = (1 << 20) + 99;
    let task = alice
        .request_file(ids[1], "pattern.bin", size, Mode::Offline)
        .await
        .unwrap();
    let sent = Pattern::new(42);
    let opts = Options::default().with_chunk(64 << 10);
    transfer::send_payload(&task, ids[0], Payload::Pattern(sent), &opts)
        .await
        .unwrap();
    transfer::receive_payload(&task, ids[1], Payload::Pattern(sent), &opts)
        .await
        .unwrap();
    let out = dir.path().join("pattern.out");
    transfer::receive(&task, ids[1], &out, &opts).await.unwrap();
    let mut want = vec![0u8; size as usize];
    sent.fill(0, &mut want);
    assert!(std::fs::read(&out).unwrap() == want);
    let e = transfer::receive_payload(&task, ids[1], Payload::Pattern(Pattern::new(43)), &opts)
        .await
        .unwrap_err();
    assert!(e.is_mismatch(), "{e}");
    assert!(e.to_string().contains("at offset 0 "), "{e}");
    stack.stop().await;
}

/// A download resumed from a partial file whose bytes are not the file's:
/// the SHA-256 on the relay's DONE exposes it (is_mismatch), the record
/// stays, and a download from good bytes then passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_partial_file_fails_the_sha256_check() {
    let (stack, ids, alice, bob, dir) = pair().await;
    let data = content((1 << 20) + 4321);
    let src = write_file(dir.path(), "checked.bin", &data);
    let send = SendOptions {
        mode: Mode::Offline,
        ..SendOptions::default()
    };
    let task = alice.send_file(ids[1], &src, &send).await.unwrap();
    let pending = pending(&bob, 1).await;
    assert_eq!(pending[0].task_id, task.task_id);

    let mut partial = data[..300_000].to_vec();
    partial[1234] ^= 0x5a; // one byte the download will not fetch again
    let out = write_file(dir.path(), "checked.out", &partial);
    let e = bob
        .receive_file(&pending[0], &out, &Options::default())
        .await
        .unwrap_err();
    assert!(e.is_mismatch(), "{e}");
    assert_eq!(
        std::fs::read(&out).unwrap().len(),
        data.len(),
        "the file is left in place"
    );
    std::fs::write(&out, &data[..300_000]).unwrap();
    bob.receive_file(&pending[0], &out, &Options::default())
        .await
        .unwrap();
    assert!(std::fs::read(&out).unwrap() == data);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_download_resumes_from_the_partial_file() {
    let (stack, ids, alice, bob, dir) = pair().await;
    let data = content(6 << 20);
    let src = write_file(dir.path(), "big.bin", &data);
    let send = SendOptions {
        mode: Mode::Offline,
        ..SendOptions::default()
    };
    alice.send_file(ids[1], &src, &send).await.unwrap();
    let task = pending(&bob, 1).await.remove(0);
    let mut opts = Options::default().with_window(2).with_chunk(32 << 10);
    let mut progress = opts.watch_progress();
    let dst = dir.path().join("big.part");
    let half = data.len() as u64 / 2;
    // The download's future is dropped once half has arrived.
    tokio::select! {
        r = transfer::receive(&task, ids[1], &dst, &opts) => panic!("finished early: {r:?}"),
        _ = progress.wait_for(|p| p.done >= half) => {}
    }
    let had = std::fs::metadata(&dst).unwrap().len();
    assert!(had >= half && had < data.len() as u64, "{had}");
    let got = std::fs::read(&dst).unwrap();
    let first_bad = got.iter().zip(&data).position(|(a, b)| a != b);
    assert_eq!(
        first_bad,
        None,
        "the partial file is a prefix ({had} bytes, read {})",
        got.len()
    );
    let mut opts = opts.clone();
    let progress = opts.watch_progress();
    transfer::receive(&task, ids[1], &dst, &opts).await.unwrap();
    assert!(std::fs::read(&dst).unwrap() == data);
    assert_eq!(progress.borrow().done, data.len() as u64);
    stack.stop().await;
}

/// A TCP proxy to `target`: counts the bytes of each direction and cuts
/// the first connection once `cut_after` bytes went the watched way
/// (`upstream`: client to relay).
struct Proxy {
    addr: SocketAddr,
    to_relay: Arc<AtomicU64>,
    /// Bytes client to relay of each connection, in the order accepted.
    conns: Arc<std::sync::Mutex<Vec<Arc<AtomicU64>>>>,
    to_client: Arc<AtomicU64>,
    cut: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(target: SocketAddr, cut_after: u64, upstream: bool) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (to_relay, to_client) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let cut = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (up, down, c) = (to_relay.clone(), to_client.clone(), cut.clone());
        let each = conns.clone();
        tokio::spawn(async move {
            let mut first = true;
            while let Ok((client, _)) = listener.accept().await {
                let relay = TcpStream::connect(target).await.unwrap();
                let limit = first.then_some(cut_after);
                first = false;
                let (client_rd, client_wr) = client.into_split();
                let (relay_rd, relay_wr) = relay.into_split();
                let (up_limit, down_limit) = if upstream {
                    (limit, None)
                } else {
                    (None, limit)
                };
                let kill = Arc::new(tokio::sync::watch::channel(false).0);
                let mine = Arc::new(AtomicU64::new(0));
                each.lock().unwrap().push(mine.clone());
                let ends = (kill.clone(), c.clone());
                let counts = vec![up.clone(), mine];
                tokio::spawn(pipe(client_rd, relay_wr, counts, up_limit, ends));
                let ends = (kill, c.clone());
                let counts = vec![down.clone()];
                tokio::spawn(pipe(relay_rd, client_wr, counts, down_limit, ends));
            }
        });
        Proxy {
            addr,
            to_relay,
            conns,
            to_client,
            cut,
        }
    }
}

/// Copies `from` to `to`, counting; past `limit` bytes the connection is
/// cut: `kill` stops the other direction too, so both sockets are dropped
/// with whatever they hold, and `cut` is set.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counts: Vec<Arc<AtomicU64>>,
    limit: Option<u64>,
    (kill, cut): (Arc<tokio::sync::watch::Sender<bool>>, Arc<AtomicBool>),
) {
    let mut killed = kill.subscribe();
    let mut buf = vec![0u8; 64 << 10];
    let mut moved = 0u64;
    loop {
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            },
            _ = killed.wait_for(|k| *k) => return,
        };
        if let Some(limit) = limit
            && moved + n as u64 > limit
        {
            cut.store(true, Ordering::SeqCst);
            kill.send_replace(true);
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        moved += n as u64;
        for count in &counts {
            count.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
    let _ = to.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_resume_having_sent_again_at_most_a_window() {
    let (stack, ids, alice, bob, dir) = pair().await;
    let size = 8usize << 20;
    let data = content(size);
    let src = write_file(dir.path(), "cut.bin", &data);

    // Upload through a proxy that cuts the first connection after 3 MiB
    // from the client: the reconnect answers only what the relay misses.
    let mut task = alice
        .request_file(ids[1], "cut.bin", size as u64, Mode::Offline)
        .await
        .unwrap();
    let up = Proxy::start(task.relays[0], 3 << 20, true).await;
    task.relays = vec![up.addr];
    transfer::send(&task, ids[0], &src, &Options::default())
        .await
        .unwrap();
    alice.add_offline(&task).await.unwrap();
    assert!(up.cut.load(Ordering::SeqCst), "the upload was cut");
    // The relay's window: 8 pulls of 32 KiB; per answer ~80 bytes of PDU.
    let window = 8 * (32 << 10);
    let overhead = (size as u64 / (32 << 10) + 64) * 128;
    let sent = up.to_relay.load(Ordering::Relaxed);
    assert!(
        sent <= size as u64 + window + overhead,
        "{sent} bytes sent for {size}: more than a window again"
    );

    // Download through a proxy that cuts after 5 MiB to the client.
    let mut task = pending(&bob, 1).await.remove(0);
    let down = Proxy::start(task.relays[0], 5 << 20, false).await;
    task.relays = vec![down.addr];
    let opts = Options::default().with_window(4).with_chunk(128 << 10);
    let dst = dir.path().join("cut.out");
    transfer::receive(&task, ids[1], &dst, &opts).await.unwrap();
    assert!(down.cut.load(Ordering::SeqCst), "the download was cut");
    assert!(std::fs::read(&dst).unwrap() == data, "intact after the cut");
    let received = down.to_client.load(Ordering::Relaxed);
    let window = u64::from(opts.window * opts.chunk);
    let overhead = (size as u64 / u64::from(opts.chunk) + 64) * 128;
    assert!(
        received <= size as u64 + window + overhead,
        "{received} bytes received for {size}: more than a window again"
    );
    stack.stop().await;
}

/// An offline upload over four connections at once
/// (`Options::upload_connections`): the relay spreads the file over them
/// (each carries a part of it); the first is cut part way and comes back
/// (joining the others again); the bytes sent again stay within the
/// windows in flight, the relay's SHA-256 matches, and the file downloaded
/// is the file sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_upload_over_four_connections_one_cut() {
    let (stack, ids, alice, bob, dir) = pair().await;
    let size = 24usize << 20;
    let data = content(size);
    let src = write_file(dir.path(), "wide.bin", &data);
    let mut task = alice
        .request_file(ids[1], "wide.bin", size as u64, Mode::Offline)
        .await
        .unwrap();
    let up = Proxy::start(task.relays[0], 2 << 20, true).await;
    task.relays = vec![up.addr];
    let opts = Options::default().with_upload_connections(4);
    transfer::send(&task, ids[0], &src, &opts).await.unwrap();
    alice.add_offline(&task).await.unwrap();
    assert!(
        up.cut.load(Ordering::SeqCst),
        "the first connection was cut"
    );
    let conns: Vec<u64> = up
        .conns
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    assert!(
        conns.len() >= 5,
        "four connections and a reconnect: {conns:?}"
    );
    assert!(
        conns[..4].iter().all(|&n| n > 256 << 10),
        "each connection carried a part of the file: {conns:?}"
    );
    // Each connection's window of 8 pulls of 32 KiB may be sent again.
    let windows = 4 * 8 * (32 << 10);
    let overhead = (size as u64 / (32 << 10) + 256) * 128;
    let sent = up.to_relay.load(Ordering::Relaxed);
    assert!(
        sent <= size as u64 + windows + overhead,
        "{sent} bytes sent for {size}: {conns:?}"
    );

    let task = pending(&bob, 1).await.remove(0);
    let dst = dir.path().join("wide.out");
    bob.receive_file(&task, &dst, &Options::default())
        .await
        .unwrap();
    assert!(std::fs::read(&dst).unwrap() == data, "the file sent");
    stack.stop().await;
}
