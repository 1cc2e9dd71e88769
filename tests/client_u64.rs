//! ferry-client moves an offline file past 4 GiB through ferry's relay
//! (the u64 fields of PROTOCOL-EXTENSIONS.md): a task of 4 GiB + 8 MiB
//! whose zero blocks are committed straight into the store beforehand (the
//! data file stays sparse), so the client uploads only the blocks around
//! the 4 GiB line and at the end, answering pulls whose offsets ride in
//! `offset_u64`; the relay's SHA-256 of the whole file matches the
//! client's. A download resumed from a sparse partial file just below the
//! line then pulls across it to the end, and the whole file checks out.

use std::os::unix::fs::FileExt as _;
use std::path::Path;

use ferry_client::FileTask;
use ferry_client::transfer::{self, Mode, Options, Payload};
use ferry_relay::{Config, Relay};
use ferry_storage::{NewTask, RecoveryMode, StdFs, Store};

const MIB: u64 = 1 << 20;
const BLOCK: u64 = MIB;
const FOUR_GIB: u64 = 1 << 32;
const SIZE: u64 = FOUR_GIB + 8 * MIB;
/// The blocks the client uploads: from 4 MiB below the line to the end.
const FIRST_SENT: u64 = FOUR_GIB - 4 * MIB;
const SENDER: u32 = 31;
const RECEIVER: u32 = 32;
const TASK: &str = "6a1c0b7e-3d2f-4e8a-9b1c-2d3e4f5a6b7c";

/// A store of 4 GiB + declared on tmpfs when there is one: the store
/// counts the declared size against the free space even while the file is
/// sparse; tmpfs keeps only the pages written.
fn scratch() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap())
}

fn store_config(root: &Path) -> ferry_storage::Config {
    ferry_storage::Config {
        root: root.to_path_buf(),
        block_size: BLOCK as u32,
        min_free_bytes: 0,
        preallocate: false,
        ..ferry_storage::Config::default()
    }
}

/// The task with every block below `FIRST_SENT` committed as zeros
/// without a byte written.
fn seed(root: &Path) {
    let (mut store, _) = Store::open(StdFs, &store_config(root), RecoveryMode::Quick, 0).unwrap();
    let new = NewTask {
        task_id: TASK.into(),
        from_user: SENDER,
        to_user: RECEIVER,
        name: b"disk.img".to_vec(),
        size: SIZE,
        sha256: None,
    };
    store.create(new, 0).unwrap();
    let zeros = vec![0u8; BLOCK as usize];
    let task = store.task_mut(TASK).unwrap();
    for b in 0..(FIRST_SENT / BLOCK) as u32 {
        let w = task.begin_write(u64::from(b) * BLOCK, &zeros).unwrap();
        task.end_write(w, true); // nothing written: the hole reads as zeros
    }
    store.flush(TASK, 0).unwrap();
}

/// The file: zeros (a hole) below `FIRST_SENT`, then bytes that differ
/// from MiB to MiB up to the end.
fn source(path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(SIZE).unwrap();
    let mut at = FIRST_SENT;
    while at < SIZE {
        let chunk: Vec<u8> = (0..MIB).map(|i| ((at + i) * 7 / 3) as u8).collect();
        f.write_all_at(&chunk, at).unwrap();
        at += MIB;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_file_past_4_gib_uploads_and_downloads_across_the_line() {
    let store = scratch();
    seed(store.path());
    let mut config = Config::local(2);
    config.offline_pull = 256 << 10;
    config.offline = Some(store_config(store.path()));
    let relay = Relay::start(config).unwrap();
    let task = FileTask {
        task_id: TASK.into(),
        from_user_id: SENDER,
        to_user_id: RECEIVER,
        file_name: "disk.img".into(),
        size: SIZE,
        relays: vec![relay.addresses().client],
        mode: Mode::Offline,
        offline_ready: false,
    };
    let files = scratch();
    let src = files.path().join("disk.img");
    source(&src);

    let mut opts = Options::default();
    let progress = opts.watch_progress();
    transfer::send_payload(&task, SENDER, Payload::File(&src), &opts)
        .await
        .expect("uploaded, the relay's SHA-256 equal to the file's");
    assert_eq!(
        progress.borrow().moved,
        SIZE - FIRST_SENT,
        "only the blocks the store missed, past 4 GiB included"
    );
    assert_eq!(relay.stats().offline_complete, 1);

    // A download resumed just below the line: the partial file holds the
    // zeros before it (a hole).
    let out = files.path().join("out.img");
    std::fs::File::create(&out)
        .unwrap()
        .set_len(FOUR_GIB - 8 * MIB)
        .unwrap();
    let mut opts = Options::default().with_chunk(1 << 20).with_window(4);
    let progress = opts.watch_progress();
    let task = FileTask {
        offline_ready: true,
        ..task
    };
    transfer::receive(&task, RECEIVER, &out, &opts)
        .await
        .expect("downloaded across 4 GiB, the SHA-256 checked");
    assert_eq!(
        progress.borrow().moved,
        16 * MIB,
        "from the partial file on"
    );
    let got = std::fs::File::open(&out).unwrap();
    assert_eq!(got.metadata().unwrap().len(), SIZE);
    let mut tail = vec![0u8; MIB as usize];
    got.read_exact_at(&mut tail, SIZE - MIB).unwrap();
    let want: Vec<u8> = (0..MIB).map(|i| ((SIZE - MIB + i) * 7 / 3) as u8).collect();
    assert!(tail == want, "the last MiB is the source's");
    relay.shutdown();
}
