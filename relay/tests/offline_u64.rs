//! Files past 4 GiB (ferry's u64 extension fields, PROTOCOL-EXTENSIONS.md):
//! a 5 GiB offline task, stored sparsely (`preallocate = false`): the test
//! commits the blocks that hold only zeros straight through the store's
//! own state machine (their CRC32C is that of zeros, which a sparse file
//! reads back) and leaves missing the last block below 4 GiB, the first
//! one at 4 GiB and the last one of the file. Over real sockets the relay
//! then pulls exactly those from a ferry uploader, past 4 GiB with the
//! stock offset at 0xFFFFFFFF and the truth in `offset_u64`; the stored
//! file's SHA-256 comes back on DONE; a ferry downloader pulls across the
//! 4 GiB line and at the end. Stock peers (no `file_size_u64` at login)
//! are refused, never served a wrapped offset; so is a size that
//! disagrees, on the login and on the msg link.
//!
//! Online, a 5 GiB task is relayed between ferry peers: the receiver pulls
//! across the 4 GiB line and at the end, the sender answers with
//! `offset_u64` before the payload (forwarded spliced) or after it
//! (prost's layout, forwarded whole); stock peers are refused at login.

mod common;

use std::os::unix::fs::{FileExt as _, MetadataExt as _};
use std::path::Path;

use common::*;
use ferry_proto::extension::{FileServerError, WIDE_SENTINEL, join_u64, split_u64};
use ferry_proto::pb::ferry::file::{BreakpointReq, BreakpointRsp};
use ferry_proto::pb::im::file::{
    ImFileLoginReq, ImFileLoginRsp, ImFilePullDataReq, ImFilePullDataRsp, ImFileState,
};
use ferry_proto::pb::im::server::{ImFileTransferReq, ImFileTransferRsp};
use ferry_proto::pull::rsp_prefix;
use ferry_proto::registry::{CID_FILE_PULL_DATA_REQ, CID_FILE_STATE};
use ferry_relay::{Config, Driver, Relay};
use ferry_storage::{NewTask, RecoveryMode, StdFs, Store};
use sha2::{Digest as _, Sha256};

const UPLOAD: i32 = 3;
const DOWNLOAD: i32 = 4;
const OFFLINE: i32 = 2;
const ONLINE: i32 = 1;
const ONLINE_SENDER: i32 = 1;
const ONLINE_RECEIVER: i32 = 2;
/// A stock client's pull (bytes).
const STOCK_PULL: u32 = 34 << 10;
const MIB: u64 = 1 << 20;
const BLOCK: u64 = MIB;
const PULL: u32 = 256 << 10;
const FOUR_GIB: u64 = 1 << 32;
const SIZE: u64 = 5 << 30;
const SENDER: u32 = 21;
const RECEIVER: u32 = 22;
const SALT: u8 = 9;
const TASK: &str = "0b9c7e4e-5a3d-4f1e-9f61-6a8f0c2d4e11";

/// The blocks the uploader sends: the last below 4 GiB, the first at
/// 4 GiB, the last of the file. Every other block is zeros.
fn missing() -> Vec<u32> {
    vec![
        (FOUR_GIB / BLOCK - 1) as u32,
        (FOUR_GIB / BLOCK) as u32,
        (SIZE / BLOCK - 1) as u32,
    ]
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

fn relay(root: &Path, driver: Driver) -> Relay {
    let mut config = Config::local(2);
    config.driver = driver;
    config.offline_pull = PULL;
    config.offline_commit_bytes = BLOCK;
    config.offline = Some(store_config(root));
    start(config)
}

/// The file's bytes at `offset`: the pattern in the missing blocks (one
/// `file_slice` per pull, as the uploader sends it: the pattern is only
/// a slice within one call), zeros elsewhere.
fn content(offset: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let pull = u64::from(PULL);
    for b in missing() {
        let (start, end) = (u64::from(b) * BLOCK, u64::from(b + 1) * BLOCK);
        let (lo, hi) = (offset.max(start), (offset + len as u64).min(end));
        let mut piece = lo - lo % pull;
        while piece < hi {
            let bytes = file_slice(piece, PULL as usize, SALT);
            let (a, z) = (piece.max(lo), (piece + pull).min(hi));
            out[(a - offset) as usize..(z - offset) as usize]
                .copy_from_slice(&bytes[(a - piece) as usize..(z - piece) as usize]);
            piece += pull;
        }
    }
    out
}

fn sha256_of_file() -> Vec<u8> {
    let mut h = Sha256::new();
    let zeros = vec![0u8; BLOCK as usize];
    let missing = missing();
    for b in 0..(SIZE / BLOCK) as u32 {
        if missing.contains(&b) {
            h.update(content(u64::from(b) * BLOCK, BLOCK as usize));
        } else {
            h.update(&zeros);
        }
    }
    h.finalize().to_vec()
}

/// The 5 GiB task, every zero block committed without a byte written
/// (the data file stays sparse); done before the relay opens the store.
fn seed(root: &Path) {
    let config = store_config(root);
    let (mut store, _) = Store::open(StdFs, &config, RecoveryMode::Quick, 0).unwrap();
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
    let missing = missing();
    let task = store.task_mut(TASK).unwrap();
    for b in 0..(SIZE / BLOCK) as u32 {
        if !missing.contains(&b) {
            let w = task.begin_write(u64::from(b) * BLOCK, &zeros).unwrap();
            task.end_write(w, true); // nothing written: the hole reads as zeros
        }
    }
    let committed = store.flush(TASK, 0).unwrap();
    assert_eq!(committed, (SIZE / BLOCK) as u32 - 3);
}

fn login(
    addr: std::net::SocketAddr,
    user: u32,
    role: i32,
    size: Option<u64>,
) -> (Conn, ImFileLoginRsp) {
    login_to(addr, TASK, user, role, size)
}

fn login_to(
    addr: std::net::SocketAddr,
    task: &str,
    user: u32,
    role: i32,
    size: Option<u64>,
) -> (Conn, ImFileLoginRsp) {
    let mut c = Conn::connect(addr);
    let req = ImFileLoginReq {
        user_id: user,
        task_id: task.to_owned().into(),
        file_role: role,
        file_size_u64: size,
    };
    c.send(&req, 5);
    let (rsp, _) = c.recv_msg::<ImFileLoginRsp>();
    (c, rsp)
}

fn refused(addr: std::net::SocketAddr, user: u32, role: i32, size: Option<u64>, why: &str) {
    refused_from(addr, TASK, user, role, size, why);
}

fn refused_from(
    addr: std::net::SocketAddr,
    task: &str,
    user: u32,
    role: i32,
    size: Option<u64>,
    why: &str,
) -> ImFileLoginRsp {
    let (mut c, rsp) = login_to(addr, task, user, role, size);
    assert_eq!(rsp.result_code, 1, "{why}: refused");
    assert_eq!(rsp.file_size_u64, None, "{why}: no size in a refusal");
    let rest = c.until_closed();
    assert!(
        rest.iter()
            .all(|f| f.header.command != CID_FILE_PULL_DATA_REQ),
        "{why}: never a pull"
    );
    rsp
}

fn breakpoint(addr: std::net::SocketAddr) -> BreakpointRsp {
    let mut c = Conn::connect(addr);
    let req = BreakpointReq {
        user_id: SENDER,
        task_id: TASK.into(),
    };
    c.send(&req, 44);
    c.recv_msg::<BreakpointRsp>().0
}

/// A ferry uploader: answers every pull with the file's bytes, checking
/// that each pull's offset is carried as the extension says. The pulls'
/// offsets, and the DONE's digest.
fn upload(addr: std::net::SocketAddr) -> (Vec<u64>, Vec<u8>) {
    let (mut c, rsp) = login(addr, SENDER, UPLOAD, Some(SIZE));
    assert_eq!(rsp.result_code, 0, "a ferry uploader is let in");
    assert_eq!(rsp.file_size_u64, Some(SIZE), "and told the size as stored");
    let mut offsets = Vec::new();
    loop {
        let frame = c.recv();
        if frame.header.command == CID_FILE_STATE {
            let done: ImFileState = frame.decode().unwrap();
            assert_eq!(done.state, DONE);
            return (offsets, done.sha256.expect("the stored SHA-256").to_vec());
        }
        assert_eq!(frame.header.command, CID_FILE_PULL_DATA_REQ);
        let pull: ImFilePullDataReq = frame.decode().unwrap();
        let offset = pull.offset_u64.unwrap_or(u64::from(pull.offset));
        if offset >= FOUR_GIB {
            assert_eq!(pull.offset, WIDE_SENTINEL, "the stock field past 4 GiB");
        } else {
            assert_eq!(pull.offset_u64, None, "no twin for an offset that fits");
        }
        offsets.push(offset);
        let (offset32, offset_u64) = split_u64(offset);
        let answer = ImFilePullDataRsp {
            result_code: 0,
            task_id: TASK.into(),
            user_id: SENDER,
            offset: offset32,
            file_data: content(offset, pull.data_size as usize).into(),
            offset_u64,
        };
        c.send(&answer, frame.header.seq_num);
    }
}

/// RECEIVER's pull of `size` bytes at `offset` of `task`, as a ferry peer
/// sends it: past 4 GiB the stock field at the sentinel, the offset in
/// its u64 twin.
fn pull_req(task: &str, trans_mode: i32, offset: u64, size: u32) -> ImFilePullDataReq {
    let (offset32, offset_u64) = split_u64(offset);
    ImFilePullDataReq {
        task_id: task.to_owned().into(),
        user_id: RECEIVER,
        trans_mode,
        offset: offset32,
        data_size: size,
        offset_u64,
    }
}

/// One pull of a ferry downloader; the answer's offset and bytes.
fn pull(c: &mut Conn, offset: u64, size: u32) -> (u64, Vec<u8>) {
    c.send(&pull_req(TASK, OFFLINE, offset, size), 61);
    let (rsp, seq) = c.recv_msg::<ImFilePullDataRsp>();
    assert_eq!((rsp.result_code, seq), (0, 61));
    if offset >= FOUR_GIB {
        assert_eq!(rsp.offset, WIDE_SENTINEL);
    } else {
        assert_eq!(rsp.offset_u64, None);
    }
    let at = rsp.offset_u64.unwrap_or(u64::from(rsp.offset));
    (at, rsp.file_data.to_vec())
}

fn five_gib(driver: Driver) {
    // On tmpfs when there is one: the store counts a task's declared size
    // against the free space even when the file stays sparse (it may grow
    // to it), so a disk with less than 5 GiB free would refuse the task
    // (`NoSpace`); tmpfs keeps only the pages written.
    let dir = shm_dir(6 << 30);
    seed(dir.path());
    let relay = relay(dir.path(), driver);
    let addr = relay.addresses().client;

    // Stock peers cannot address the file: refused at login, with no pull.
    refused(addr, SENDER, UPLOAD, None, "a stock uploader");
    refused(addr, RECEIVER, DOWNLOAD, None, "a stock downloader");
    refused(
        addr,
        SENDER,
        UPLOAD,
        Some(SIZE - 1),
        "a size that disagrees",
    );
    refused(
        addr,
        SENDER,
        UPLOAD,
        Some(SIZE & 0xffff_ffff),
        "a wrapped size",
    );

    let (offsets, digest) = upload(addr);
    let want: Vec<u64> = missing()
        .iter()
        .flat_map(|&b| {
            (0..BLOCK / u64::from(PULL)).map(move |i| u64::from(b) * BLOCK + i * u64::from(PULL))
        })
        .collect();
    let mut got = offsets.clone();
    got.sort_unstable();
    assert_eq!(got, want, "exactly the missing blocks pulled, once each");

    // The bytes sit at their offsets past 4 GiB in a sparse data file.
    let data = std::fs::read_dir(dir.path())
        .unwrap()
        .flat_map(|e| walk(&e.unwrap().path()))
        .find(|p| p.file_name().is_some_and(|n| n == "data"))
        .expect("the task's data file");
    let file = std::fs::File::open(&data).unwrap();
    let meta = file.metadata().unwrap();
    assert_eq!(meta.len(), SIZE);
    assert!(
        meta.blocks() * 512 < 64 * MIB,
        "stored sparsely: {} bytes allocated",
        meta.blocks() * 512
    );
    for at in [FOUR_GIB, SIZE - BLOCK] {
        let mut buf = vec![0u8; BLOCK as usize];
        file.read_exact_at(&mut buf, at).unwrap();
        let want = content(at, BLOCK as usize);
        let first = buf.iter().zip(&want).position(|(a, b)| a != b);
        assert!(
            first.is_none(),
            "bytes at {at}: first difference at {first:?}: {:?} vs {:?}",
            &buf[first.unwrap_or(0)..][..8],
            &want[first.unwrap_or(0)..][..8]
        );
    }
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 4 * BLOCK as usize];
    for i in 0..SIZE / (4 * BLOCK) {
        file.read_exact_at(&mut buf, i * 4 * BLOCK).unwrap();
        h.update(&buf);
    }
    assert_eq!(
        h.finalize().to_vec(),
        digest,
        "the DONE's SHA-256 is the stored file's"
    );
    assert_eq!(
        digest,
        sha256_of_file(),
        "the DONE's SHA-256 is the 5 GiB file's"
    );
    let bp = breakpoint(addr);
    assert_eq!((bp.result_code, bp.file_size), (0, Some(SIZE)));

    // A ferry downloader pulls across the 4 GiB line and at the end.
    refused(
        addr,
        RECEIVER,
        DOWNLOAD,
        None,
        "a stock downloader of the complete file",
    );
    let (mut c, rsp) = login(addr, RECEIVER, DOWNLOAD, Some(SIZE));
    assert_eq!((rsp.result_code, rsp.file_size_u64), (0, Some(SIZE)));
    let across = FOUR_GIB - u64::from(PULL) / 2;
    let (at, bytes) = pull(&mut c, across, PULL);
    assert_eq!(at, across);
    assert!(
        bytes == content(across, PULL as usize),
        "bytes across 4 GiB"
    );
    let last = SIZE - u64::from(PULL);
    let (at, bytes) = pull(&mut c, last, PULL);
    assert_eq!(at, last);
    assert!(bytes == content(last, PULL as usize), "the last bytes");
    let (done, _) = c.recv_msg::<ImFileState>();
    assert_eq!(done.state, DONE, "DONE after the last byte");
    assert_eq!(done.sha256.as_deref(), Some(&digest[..]));

    // A pull whose stock offset disagrees with its twin closes the
    // connection rather than being read as either.
    let (mut c, _) = login(addr, RECEIVER, DOWNLOAD, Some(SIZE));
    let req = ImFilePullDataReq {
        task_id: TASK.into(),
        user_id: RECEIVER,
        trans_mode: OFFLINE,
        offset: (FOUR_GIB + 4096) as u32,
        data_size: 4096,
        offset_u64: Some(FOUR_GIB + 4096),
    };
    c.send(&req, 62);
    assert!(c.until_closed().is_empty(), "a wrapped offset gets no data");
}

fn walk(p: &Path) -> Vec<std::path::PathBuf> {
    if p.is_dir() {
        std::fs::read_dir(p)
            .unwrap()
            .flat_map(|e| walk(&e.unwrap().path()))
            .collect()
    } else {
        vec![p.to_path_buf()]
    }
}

crate::on_both_drivers!(five_gib: five_gib_offline_with_the_u64_extension, five_gib_offline_with_the_u64_extension_on_epoll);

/// msg_server's TRANSFER_REQ from SENDER to RECEIVER for "disk.img".
fn transfer(
    link: &mut MsgLink,
    file_size: u32,
    file_size_u64: Option<u64>,
    trans_mode: i32,
) -> ImFileTransferRsp {
    let req = ImFileTransferReq {
        from_user_id: SENDER,
        to_user_id: RECEIVER,
        file_name: "disk.img".into(),
        file_size,
        trans_mode,
        file_size_u64,
        sha256: None,
        attach_data: None,
    };
    link.0.send(&req, 31);
    link.0.recv_msg::<ImFileTransferRsp>().0
}

/// msg_server's TRANSFER_REQ for 5 GiB: the sentinel and the twin make a
/// 5 GiB task (the answer echoes both); a stock field that disagrees with
/// the twin, or an online transfer past 4 GiB, is refused.
#[test]
fn transfer_requests_past_4_gib() {
    let dir = shm_dir(6 << 30);
    let relay = relay(dir.path(), Driver::Auto);
    let mut link = MsgLink::connect(&relay);
    let mut ask = |file_size: u32, file_size_u64: Option<u64>, trans_mode: i32| {
        transfer(&mut link, file_size, file_size_u64, trans_mode)
    };
    let rsp = ask(WIDE_SENTINEL, Some(SIZE), OFFLINE);
    assert_eq!(rsp.result_code, 0, "a 5 GiB offline task");
    assert_eq!(
        (rsp.file_size, rsp.file_size_u64),
        (Some(WIDE_SENTINEL), Some(SIZE))
    );
    let task = text(&rsp.task_id.unwrap()).to_string();
    let mut c = Conn::connect(relay.addresses().client);
    c.send(
        &BreakpointReq {
            user_id: SENDER,
            task_id: task.into(),
        },
        1,
    );
    let (bp, _) = c.recv_msg::<BreakpointRsp>();
    assert_eq!(bp.file_size, Some(SIZE), "stored as 5 GiB");

    let rsp = ask((SIZE & 0xffff_ffff) as u32, Some(SIZE), OFFLINE);
    assert_eq!(
        (rsp.result_code, rsp.task_id),
        (1, None),
        "a wrapped stock size"
    );
    let rsp = ask(WIDE_SENTINEL, Some(SIZE), ONLINE);
    assert_eq!(rsp.result_code, 0, "a 5 GiB online task");
    assert_eq!(
        (rsp.file_size, rsp.file_size_u64),
        (Some(WIDE_SENTINEL), Some(SIZE))
    );
    let rsp = ask((SIZE & 0xffff_ffff) as u32, Some(SIZE), ONLINE);
    assert_eq!(
        (rsp.result_code, rsp.task_id),
        (1, None),
        "a wrapped stock size, online"
    );
    let rsp = ask(WIDE_SENTINEL, None, OFFLINE);
    assert_eq!(
        rsp.result_code, 0,
        "a stock request's 4 GiB - 1 still works"
    );
}

/// The same 5 GiB against a store whose quota is 4 GiB: refused up front,
/// before a byte moves (the relay logs the store's refusal).
#[test]
fn five_gib_past_the_quota_is_refused() {
    let dir = shm_dir(6 << 30);
    let mut config = Config::local(1);
    config.offline = Some(ferry_storage::Config {
        quota_bytes: FOUR_GIB,
        user_quota_bytes: FOUR_GIB,
        ..store_config(dir.path())
    });
    let relay = start(config);
    let mut link = MsgLink::connect(&relay);
    let req = ImFileTransferReq {
        from_user_id: SENDER,
        to_user_id: RECEIVER,
        file_name: "disk.img".into(),
        file_size: WIDE_SENTINEL,
        trans_mode: OFFLINE,
        file_size_u64: Some(SIZE),
        sha256: None,
        attach_data: None,
    };
    link.0.send(&req, 32);
    let (rsp, _) = link.0.recv_msg::<ImFileTransferRsp>();
    assert_eq!((rsp.result_code, rsp.task_id), (1, None), "over the quota");
    let small = ImFileTransferReq {
        file_size: 1 << 20,
        file_size_u64: None,
        ..req
    };
    link.0.send(&small, 33);
    let (rsp, _) = link.0.recv_msg::<ImFileTransferRsp>();
    assert_eq!(rsp.result_code, 0, "a file within the quota is taken");
}

/// One online pull through the relay, for 5 GiB between ferry peers: the
/// receiver asks at `offset`; the sender sees the pull with the stock
/// field at the sentinel past 4 GiB and answers in `layout`; the receiver
/// gets the bytes at that offset, under its own seq.
fn online_pull(receiver: &mut Conn, sender: &mut Conn, task: &str, offset: u64, layout: Layout) {
    receiver.send(&pull_req(task, ONLINE, offset, STOCK_PULL), 70);
    let (asked, seq) = sender.recv_msg::<ImFilePullDataReq>();
    assert_eq!(join_u64(asked.offset, asked.offset_u64), Ok(offset));
    if offset > u64::from(u32::MAX) {
        assert_eq!(asked.offset, WIDE_SENTINEL, "the stock field past 4 GiB");
    }
    let data = file_slice(offset, STOCK_PULL as usize, SALT);
    match layout {
        Layout::PayloadLast => {
            let mut pdu = rsp_prefix(seq, task.as_bytes(), SENDER, offset, data.len());
            pdu.extend_from_slice(data);
            sender.send_raw(&pdu);
        }
        Layout::Prost => {
            let answer = ImFilePullDataRsp {
                result_code: 0,
                task_id: task.to_owned().into(),
                user_id: SENDER,
                // The pull's own offset fields, echoed.
                offset: asked.offset,
                file_data: data.to_vec().into(),
                offset_u64: asked.offset_u64,
            };
            sender.send(&answer, seq);
        }
    }
    let (rsp, seq) = receiver.recv_msg::<ImFilePullDataRsp>();
    assert_eq!((rsp.result_code, seq), (0, 70), "{layout:?} at {offset}");
    assert_eq!(join_u64(rsp.offset, rsp.offset_u64), Ok(offset));
    assert!(rsp.file_data == data, "the bytes at {offset} ({layout:?})");
}

/// How a sender lays out its answer.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// `offset_u64` before `file_data` (ferry_proto::pull::rsp_prefix, what
    /// ferry-client sends): the relay forwards the payload spliced.
    PayloadLast,
    /// prost's field order, `offset_u64` after `file_data`: the relay
    /// reads the frame whole.
    Prost,
}

fn five_gib_online(driver: Driver) {
    let mut config = Config::local(2);
    config.driver = driver;
    let relay = start(config);
    let addr = relay.addresses().client;
    let mut link = MsgLink::connect(&relay);
    let rsp = transfer(&mut link, WIDE_SENTINEL, Some(SIZE), ONLINE);
    assert_eq!(rsp.result_code, 0, "a 5 GiB online task");
    let task = text(&rsp.task_id.unwrap()).to_string();

    // Stock peers could not address the file: refused, saying why.
    for (user, role) in [(SENDER, ONLINE_SENDER), (RECEIVER, ONLINE_RECEIVER)] {
        let rsp = refused_from(addr, &task, user, role, None, "a stock peer, online");
        assert_eq!(
            rsp.file_server_error,
            Some(FileServerError::StockPeerTooLarge.code())
        );
    }
    refused_from(
        addr,
        &task,
        RECEIVER,
        ONLINE_RECEIVER,
        Some(SIZE - 1),
        "a size that disagrees, online",
    );

    let (mut sender, rsp) = login_to(addr, &task, SENDER, ONLINE_SENDER, Some(SIZE));
    assert_eq!((rsp.result_code, rsp.file_size_u64), (0, Some(SIZE)));
    let (mut receiver, rsp) = login_to(addr, &task, RECEIVER, ONLINE_RECEIVER, Some(SIZE));
    assert_eq!((rsp.result_code, rsp.file_size_u64), (0, Some(SIZE)));
    let (ready, _) = receiver.recv_msg::<ImFileState>();
    assert_eq!(ready.state, PEER_READY);

    let pull = u64::from(STOCK_PULL);
    let at = [
        (FOUR_GIB - pull, Layout::PayloadLast), // the last pull below 4 GiB
        (FOUR_GIB - pull / 2, Layout::PayloadLast), // across the line
        (FOUR_GIB, Layout::PayloadLast),
        (FOUR_GIB + 3 * pull, Layout::Prost),
        (SIZE - pull, Layout::PayloadLast), // the end of the file
    ];
    for (offset, layout) in at {
        online_pull(&mut receiver, &mut sender, &task, offset, layout);
    }

    // DONE from the receiver reaches the sender; the task ends.
    let done = ImFileState {
        state: DONE,
        task_id: task.clone().into(),
        user_id: RECEIVER,
        sha256: None,
    };
    receiver.send(&done, 71);
    let (got, _) = sender.recv_msg::<ImFileState>();
    assert_eq!(got.state, DONE);
    wait_for(&relay, "the task freed", all_free);
    // The payload-last answers were spliced (all but the bytes read with
    // their head); prost's layout was read whole, adding nothing.
    let spliced = relay.stats().bytes_spliced;
    let last = at.iter().filter(|(_, l)| matches!(l, Layout::PayloadLast));
    let n = last.count() as u64;
    assert!(
        spliced > n * (pull - 512) && spliced <= n * pull,
        "{spliced} bytes spliced for {n} answers of {pull}"
    );
}

crate::on_both_drivers!(five_gib_online: five_gib_online_between_ferry_peers, five_gib_online_between_ferry_peers_on_epoll);
