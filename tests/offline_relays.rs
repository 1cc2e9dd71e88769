//! Offline files over several relays, in process over real sockets: two
//! relays keep offline files, msg_servers know both. Each receiver is sent
//! to the relay that took the upload (the offline-ready notify, and the
//! HAS_OFFLINE answer of another msg_server that never saw the upload and
//! lists the relays in the other order), and downloads every file. And an
//! offline request whose file name db_proxy would not record is refused
//! at once, with nothing stored. A receiver's delete drops the stored file
//! on the relay holding it; the sender's leaves it.

mod stack;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ferry_client::transfer::{FileTask, Mode, Options, SendOptions};
use ferry_client::{Event, Session};
use ferry_control::store::OFFLINE_FILE_NAME_MAX_BYTES;
use ferry_control::store::StoreOptions;
use ferry_control::{login_server, msg_server};
use ferry_proto::pb::im::base_define::{ClientType, TransferFileType};
use ferry_proto::pb::im::file::{ImFileHasOfflineReq, ImFileHasOfflineRsp, ImFileReq, ImFileRsp};
use ferry_relay::Relay;
use stack::{Client, LOCAL, Stack, add_users, spawn_db, spawn_login, spawn_msg, spawn_route};
use tokio::sync::watch;

/// A relay of two cores keeping offline files under `root`.
fn offline_relay(root: &Path) -> Relay {
    let mut config = ferry_relay::Config::local(2);
    config.offline = Some(ferry_storage::Config {
        root: root.to_path_buf(),
        min_free_bytes: 0,
        ..ferry_storage::Config::default()
    });
    Relay::start(config).unwrap()
}

/// db_proxy (SQLite under `dir`), route_server and login_server in
/// process, and two relays keeping offline files under `dir`; the
/// function makes a msg_server config linked to them with the relays'
/// msg links given (in the order of `file_server`).
async fn two_relays(
    dir: &Path,
    stopped: &watch::Receiver<bool>,
    tasks: &mut stack::Tasks,
) -> (
    StoreOptions,
    login_server::Addresses,
    [Relay; 2],
    impl Fn(Vec<SocketAddr>) -> msg_server::Config + use<>,
) {
    let (db, store) = spawn_db(dir, stopped, tasks).await;
    let route = spawn_route(Default::default(), stopped, tasks).await;
    let login = spawn_login(stopped, tasks).await;
    let relays = [
        offline_relay(&dir.join("relay0")),
        offline_relay(&dir.join("relay1")),
    ];
    let msg_server = login.msg_server;
    let msg_config = move |file_server: Vec<SocketAddr>| msg_server::Config {
        listen: LOCAL,
        db_proxy: vec![db],
        route_server: vec![route],
        login_server: vec![msg_server],
        file_server,
        ..Default::default()
    };
    (store, login, relays, msg_config)
}

/// `size` bytes, different for each `seed`.
fn content(seed: u32, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503) >> 7) as u8)
        .collect()
}

/// Which of `relays` serves `addr` (an address of its IP_RSP list).
fn relay_of(relays: &[&Relay], addr: SocketAddr) -> Option<usize> {
    relays
        .iter()
        .position(|r| r.addresses().advertised.contains(&addr))
}

/// The offline files of `session`'s user once there are `n`.
async fn pending(session: &Session, n: usize) -> Vec<FileTask> {
    for _ in 0..300 {
        let files = session.offline_files().await.unwrap();
        if files.len() >= n {
            return files;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {n} offline files listed after 3 s");
}

/// The next offline-ready notify `session` gets.
async fn next_ready(session: &mut Session) -> FileTask {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), session.next_event())
            .await
            .expect("an offline-ready notify within 10 s")
            .expect("the session is open");
        if let Event::File(n) = event
            && n.offline_ready == 1
        {
            return FileTask::from_notify(&n).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_receiver_is_sent_to_the_relay_that_holds_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let (store, login, relays, msg_config) = two_relays(dir.path(), &stopped, &mut tasks).await;
    let links: Vec<SocketAddr> = relays.iter().map(|r| r.addresses().msg).collect();
    let (msg_a, _) = spawn_msg(msg_config(links.clone()), &stopped, &mut tasks).await;

    let names = ["alice", "bob", "carol", "dave"];
    let ids = add_users(&store, &names, 1).await;
    let session = |name: &str, at: SocketAddr| {
        let login =
            ferry_client::Login::new(format!("http://{}", login.http), name, stack::PASSWORD);
        async move { Session::login_at(at, &login).await.unwrap() }
    };
    let alice = session("alice", msg_a).await;
    let mut bob = session("bob", msg_a).await;

    // Two files for each receiver, uploaded through msg_server A.
    let send = SendOptions {
        mode: Mode::Offline,
        ..SendOptions::default()
    };
    let mut sent = Vec::new(); // (receiver index, task, bytes)
    for (n, &to) in ids[1..].iter().enumerate() {
        for k in 0..2 {
            let seed = (n * 2 + k) as u32;
            let data = content(seed, 300_000 + 4_099 * seed as usize);
            let path = dir.path().join(format!("src-{seed}.bin"));
            std::fs::write(&path, &data).unwrap();
            let task = alice.send_file(to, &path, &send).await.unwrap();
            assert_eq!(task.mode, Mode::Offline);
            sent.push((n + 1, task, data));
        }
    }
    let refs = [&relays[0], &relays[1]];
    let holder = |t: &FileTask| relay_of(&refs, t.relays[0]).expect("a relay's address");
    let complete: Vec<u64> = relays.iter().map(|r| r.stats().offline_complete).collect();
    assert_eq!(complete.iter().sum::<u64>(), 6, "{complete:?}");
    assert!(
        complete.iter().all(|&c| c > 0),
        "the uploads land on both relays: {complete:?}"
    );
    // bob, online at A, is told each file is ready at the relay holding it.
    let opts = Options::default().with_window(4).with_chunk(64 << 10);
    for _ in 0..2 {
        let ready = next_ready(&mut bob).await; // in any order
        let (_, task, data) = sent
            .iter()
            .find(|(w, t, _)| *w == 1 && t.task_id == ready.task_id)
            .expect("a file sent to bob");
        assert_eq!(
            relay_of(&refs, ready.relays[0]),
            Some(holder(task)),
            "the offline-ready notify names the relay holding {}",
            task.task_id
        );
        let out = dir.path().join(format!("notified-{}", task.task_id));
        bob.receive_file(&ready, &out, &opts).await.unwrap();
        assert!(std::fs::read(&out).unwrap() == *data);
    }

    // msg_server B never saw the uploads and lists the relays the other
    // way round; it still sends each receiver to the relay holding its files.
    let (msg_b, _) = spawn_msg(
        msg_config(links.iter().rev().copied().collect()),
        &stopped,
        &mut tasks,
    )
    .await;
    // carol lists and downloads hers through B.
    let carol = session("carol", msg_b).await;
    let files = pending(&carol, 2).await;
    assert_eq!(files.len(), 2, "{files:?}");
    for file in &files {
        let (_, task, data) = sent
            .iter()
            .find(|(w, t, _)| *w == 2 && t.task_id == file.task_id)
            .expect("a file sent to carol");
        assert_eq!(
            relay_of(&refs, file.relays[0]),
            Some(holder(task)),
            "HAS_OFFLINE through B leads with the relay holding {}",
            task.task_id
        );
        let out = dir.path().join(format!("listed-{}", task.task_id));
        carol.receive_file(file, &out, &opts).await.unwrap();
        assert!(
            std::fs::read(&out).unwrap() == *data,
            "carol's file arrives intact"
        );
    }

    // A third file for dave goes through B, whose preferred relay for him
    // is the other one: his files now lie on both relays. B's answer leads
    // with the relay holding two of them and lists the other after it.
    let alice_b = session("alice", msg_b).await;
    let data = content(99, 123_457);
    let path = dir.path().join("src-99.bin");
    std::fs::write(&path, &data).unwrap();
    let task = alice_b.send_file(ids[3], &path, &send).await.unwrap();
    sent.push((3, task, data));
    let dave_holders: Vec<usize> = sent
        .iter()
        .filter(|(w, _, _)| *w == 3)
        .map(|(_, t, _)| holder(t))
        .collect();
    assert!(
        dave_holders.contains(&0) && dave_holders.contains(&1),
        "{dave_holders:?}"
    );
    let most = if dave_holders.iter().filter(|&&h| h == 0).count() == 2 {
        0
    } else {
        1
    };
    let dave = session("dave", msg_b).await;
    let files = pending(&dave, 3).await;
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(relay_of(&refs, files[0].relays[0]), Some(most));
    assert!(
        files[0]
            .relays
            .iter()
            .any(|a| relay_of(&refs, *a) == Some(1 - most)),
        "the other relay is listed too: {:?}",
        files[0].relays
    );
    for file in &files {
        let (_, _, data) = sent
            .iter()
            .find(|(w, t, _)| *w == 3 && t.task_id == file.task_id)
            .expect("a file sent to dave");
        let out = dir.path().join(format!("listed-{}", file.task_id));
        dave.receive_file(file, &out, &opts).await.unwrap();
        assert!(
            std::fs::read(&out).unwrap() == *data,
            "dave's file arrives intact"
        );
    }
    let served: u64 = relays.iter().map(|r| r.stats().bytes_served).sum();
    let total: u64 = sent.iter().map(|(_, _, d)| d.len() as u64).sum();
    assert!(served >= total, "served {served} of {total} bytes");
    // A's uploads: each receiver's files on one relay (its preferred).
    for (who, task, _) in &sent[..6] {
        let same: Vec<usize> = sent
            .iter()
            .take(6)
            .filter(|(w, _, _)| w == who)
            .map(|(_, t, _)| holder(t))
            .collect();
        assert!(
            same.iter().all(|&h| h == holder(task)),
            "one receiver's files lie on one relay: {same:?}"
        );
    }

    let _ = stop.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    for r in relays {
        r.shutdown();
    }
}

/// Waits until `relays` hold `n` complete offline files in all.
async fn complete_files(relays: &[Relay], n: u64) {
    for _ in 0..500 {
        if relays
            .iter()
            .map(|r| r.stats().offline_complete)
            .sum::<u64>()
            == n
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let held: Vec<u64> = relays.iter().map(|r| r.stats().offline_complete).collect();
    panic!("the relays hold {held:?} complete files, not {n} in all, after 5 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receivers_delete_drops_the_stored_file_on_the_relay_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    let (store, login, relays, msg_config) = two_relays(dir.path(), &stopped, &mut tasks).await;
    let links = relays.iter().map(|r| r.addresses().msg).collect();
    let (msg, _) = spawn_msg(msg_config(links), &stopped, &mut tasks).await;
    let ids = add_users(&store, &["alice", "bob", "carol", "mallory"], 1).await;
    let session = |name: &str| {
        let login =
            ferry_client::Login::new(format!("http://{}", login.http), name, stack::PASSWORD);
        async move { Session::login_at(msg, &login).await.unwrap() }
    };
    let (alice, bob, carol, mallory) = (
        session("alice").await,
        session("bob").await,
        session("carol").await,
        session("mallory").await,
    );
    let send = SendOptions {
        mode: Mode::Offline,
        ..SendOptions::default()
    };
    // Two files for bob and one for carol: bob's and carol's lie on
    // different relays (placed by receiver id over two relays).
    let mut sent = Vec::new();
    for (seed, to) in [(1, ids[1]), (2, ids[1]), (3, ids[2])] {
        let path = dir.path().join(format!("src-{seed}.bin"));
        std::fs::write(&path, content(seed, 200_000)).unwrap();
        sent.push(alice.send_file(to, &path, &send).await.unwrap());
    }
    complete_files(&relays, 3).await;
    let refs = [&relays[0], &relays[1]];
    assert_ne!(
        relay_of(&refs, sent[0].relays[0]),
        relay_of(&refs, sent[2].relays[0]),
        "bob's and carol's files on different relays"
    );
    let opts = Options::default();
    let stored = |t: &FileTask, me: u32| {
        let (t, opts) = (t.clone(), opts.clone());
        async move { ferry_client::transfer::breakpoint(&t, me, &opts).await }
    };

    // Neither the sender's delete nor a stranger's drops a stored file.
    alice.del_offline(&sent[0]).await.unwrap();
    mallory.del_offline(&sent[2]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    complete_files(&relays, 3).await;
    assert!(stored(&sent[0], ids[1]).await.unwrap().is_complete());

    // bob downloads his second file; receive_file deletes it after.
    let out = dir.path().join("bob-2.bin");
    bob.receive_file(&sent[1], &out, &opts).await.unwrap();
    assert!(std::fs::read(&out).unwrap() == content(2, 200_000));
    complete_files(&relays, 2).await;
    let gone = stored(&sent[1], ids[1]).await.unwrap_err();
    assert!(gone.is_refused(), "deleted: {gone}");
    // His first file (its record gone by the sender's delete) goes when he
    // deletes it; carol's, on the other relay, when she does.
    bob.del_offline(&sent[0]).await.unwrap();
    complete_files(&relays, 1).await;
    carol.del_offline(&sent[2]).await.unwrap();
    complete_files(&relays, 0).await;
    for r in &relays {
        assert_eq!(r.stats().offline_uploading, 0);
    }

    let _ = stop.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    for r in relays {
        r.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_file_name_db_proxy_cannot_record_is_refused_at_once() {
    use ferry_proto::extension::FileServerError;
    let stack = Stack::start_offline().await;
    let ids = stack.users(&["alice", "bob"], 1).await;
    let mut alice = Client::login(stack.msg, "alice", ClientType::Windows).await;
    let request = |len: usize| ImFileReq {
        file_size_u64: None,
        sha256: None,
        from_user_id: ids[0],
        to_user_id: ids[1],
        file_name: vec![b'n'; len].into(),
        file_size: 1_000,
        trans_mode: TransferFileType::FileTypeOffline as i32,
    };
    let rsp: ImFileRsp = alice.call(&request(OFFLINE_FILE_NAME_MAX_BYTES + 1)).await;
    assert_eq!(rsp.result_code, 1, "refused");
    assert_eq!(
        rsp.file_server_error,
        Some(FileServerError::BadRequest.code()),
        "with a reason (a ferry extension)"
    );
    assert!(rsp.task_id.is_empty() && rsp.ip_addr_list.is_empty());
    // The relay's reason comes through: a file past storage.max_file_size.
    let huge = ImFileReq {
        file_size: u32::MAX,
        file_size_u64: Some(100 << 30),
        ..request(10)
    };
    let big: ImFileRsp = alice.call(&huge).await;
    assert_eq!(
        (big.result_code, big.file_server_error),
        (1, Some(FileServerError::TooLarge.code())),
        "the relay's reason, passed on"
    );
    assert_eq!(rsp.file_name.len(), OFFLINE_FILE_NAME_MAX_BYTES + 1);
    let relay = stack.relay.as_ref().unwrap();
    let st = relay.stats();
    assert_eq!(
        (st.offline_uploading, st.offline_complete),
        (0, 0),
        "no task stored"
    );
    // An online request to a user with no PC client becomes offline: the
    // same refusal.
    let mut online = request(OFFLINE_FILE_NAME_MAX_BYTES + 1);
    online.trans_mode = TransferFileType::FileTypeOnline as i32;
    let rsp: ImFileRsp = alice.call(&online).await;
    assert_eq!(rsp.result_code, 1);
    assert_eq!(relay.stats().offline_uploading, 0);

    // The longest name db_proxy records is taken.
    let rsp: ImFileRsp = alice.call(&request(OFFLINE_FILE_NAME_MAX_BYTES)).await;
    assert_eq!(rsp.result_code, 0);
    assert_eq!(relay.stats().offline_uploading, 1);
    let mut bob = Client::login(stack.msg, "bob", ClientType::Windows).await;
    let has: ImFileHasOfflineRsp = bob
        .call(&ImFileHasOfflineReq {
            user_id: ids[1],
            attach_data: None,
        })
        .await;
    assert!(has.offline_file_list.is_empty(), "nothing recorded");
    stack.stop().await;
}

/// A number for the stock file_server's task ids below (UUID-shaped, unique).
fn next_task_number() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A stock TeamTalk file_server on the msg-server link, as far as
/// msg_server sees it: its address list, a task for each TRANSFER_REQ,
/// heartbeats echoed, anything else (ferry's locate request) ignored. The
/// commands it ignored are counted.
async fn stock_file_server(
    advertised: SocketAddr,
) -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicU32>) {
    use bytes::BytesMut;
    use ferry_proto::frame::{DEFAULT_MAX_FRAME, Frame, encode_to_bytes};
    use ferry_proto::pb::im::base_define::IpAddr;
    use ferry_proto::pb::im::server::{ImFileServerIpRsp, ImFileTransferReq, ImFileTransferRsp};
    use ferry_proto::registry::{
        CID_OTHER_FILE_SERVER_IP_REQ, CID_OTHER_FILE_TRANSFER_REQ, CID_OTHER_HEARTBEAT,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind(LOCAL).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ignored = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = ignored.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let ignored = counter.clone();
            tokio::spawn(async move {
                let mut buf = BytesMut::new();
                loop {
                    while let Ok(Some(f)) = Frame::take(&mut buf, DEFAULT_MAX_FRAME) {
                        let seq = f.header.seq_num;
                        let out = if f.header.command == CID_OTHER_HEARTBEAT {
                            Some(f.pdu.clone())
                        } else if f.header.command == CID_OTHER_FILE_SERVER_IP_REQ {
                            let list = ImFileServerIpRsp {
                                ip_addr_list: vec![IpAddr {
                                    ip: advertised.ip().to_string().into(),
                                    port: u32::from(advertised.port()),
                                }],
                            };
                            encode_to_bytes(&list, seq, DEFAULT_MAX_FRAME).ok()
                        } else if f.header.command == CID_OTHER_FILE_TRANSFER_REQ {
                            let req: ImFileTransferReq = f.decode().unwrap();
                            let rsp = ImFileTransferRsp {
                                file_server_error: None,
                                file_size_u64: None,
                                result_code: 0,
                                from_user_id: req.from_user_id,
                                to_user_id: req.to_user_id,
                                file_name: Some(req.file_name),
                                file_size: Some(req.file_size),
                                task_id: Some(
                                    format!("00000000-0000-4000-8000-{:012x}", next_task_number())
                                        .into(),
                                ),
                                trans_mode: Some(req.trans_mode),
                                attach_data: req.attach_data,
                            };
                            encode_to_bytes(&rsp, seq, DEFAULT_MAX_FRAME).ok()
                        } else {
                            ignored.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            None
                        };
                        if let Some(pdu) = out
                            && stream.write_all(&pdu).await.is_err()
                        {
                            return;
                        }
                    }
                    match stream.read_buf(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    (addr, ignored)
}

/// With stock file_servers, which never answer the locate request, a
/// receiver is sent to the relay its offline files are placed on (its user
/// id modulo the relays), at once: no wait for an answer that never comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_file_servers_get_the_placement_without_a_wait() {
    use ferry_proto::pb::im::file::ImFileAddOfflineReq;
    use ferry_proto::registry::CID_FILE_NOTIFY;

    let fake: [SocketAddr; 2] = [
        "10.0.0.1:8600".parse().unwrap(),
        "10.0.0.2:8600".parse().unwrap(),
    ];
    let (link0, ignored0) = stock_file_server(fake[0]).await;
    let (link1, ignored1) = stock_file_server(fake[1]).await;
    let stack = Stack::start_with(false, |c| {
        c.file_server = vec![link0, link1];
        c.call_timeout = Duration::from_secs(10);
    })
    .await;
    let ids = stack.users(&["alice", "bob", "carol"], 1).await;
    let mut alice = Client::login(stack.msg, "alice", ClientType::Windows).await;
    for &to in &ids[1..] {
        let mut receiver = Client::login(
            stack.msg,
            if to == ids[1] { "bob" } else { "carol" },
            ClientType::Windows,
        )
        .await;
        let placed = fake[to as usize % 2];
        let rsp: ImFileRsp = alice
            .call(&ImFileReq {
                file_size_u64: None,
                sha256: None,
                from_user_id: ids[0],
                to_user_id: to,
                file_name: "stock.bin".into(),
                file_size: 1_000,
                trans_mode: TransferFileType::FileTypeOffline as i32,
            })
            .await;
        assert_eq!(rsp.result_code, 0);
        assert_eq!(rsp.ip_addr_list[0].port, u32::from(placed.port()));
        assert_eq!(rsp.ip_addr_list[0].ip, placed.ip().to_string().as_bytes());
        let _ = receiver.expect(CID_FILE_NOTIFY).await; // the task's notify
        let started = std::time::Instant::now();
        alice
            .send(&ImFileAddOfflineReq {
                file_size_u64: None,
                from_user_id: ids[0],
                to_user_id: to,
                task_id: rsp.task_id.clone(),
                file_name: "stock.bin".into(),
                file_size: 1_000,
            })
            .await;
        let ready: ferry_proto::pb::im::file::ImFileNotify =
            receiver.expect(CID_FILE_NOTIFY).await.decode().unwrap();
        assert_eq!(ready.offline_ready, 1);
        assert_eq!(ready.ip_addr_list[0].ip, placed.ip().to_string().as_bytes());
        let mut has = ImFileHasOfflineRsp::default();
        for _ in 0..100 {
            has = receiver
                .call(&ImFileHasOfflineReq {
                    user_id: to,
                    attach_data: None,
                })
                .await;
            if !has.offline_file_list.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(has.offline_file_list.len(), 1);
        assert_eq!(has.ip_addr_list[0].ip, placed.ip().to_string().as_bytes());
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no wait for stock relays: {:?}",
            started.elapsed()
        );
    }
    use std::sync::atomic::Ordering::Relaxed;
    assert!(
        ignored0.load(Relaxed) >= 1 && ignored1.load(Relaxed) >= 1,
        "each got the probe, and ignored it"
    );
    stack.stop().await;
}
