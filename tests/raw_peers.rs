//! ferry-client's raw peers (the benches' TeamTalk-shaped peers on
//! blocking sockets) against a relay in this process: an online transfer
//! with one pull in flight and with a window, an offline upload and
//! download through the store, and refusals returned as typed errors with
//! the relay's reason, never a panic. The raw caller (the db_proxy bench's
//! msg_server-like connection) against db_proxy in process.

mod stack;

use std::net::TcpStream;
use std::thread;

use bytes::Bytes;
use ferry_client::FileServerError;
use ferry_client::raw::{Peer, ROLE_DOWNLOAD, ROLE_RECEIVER, ROLE_SENDER, ROLE_UPLOAD};
use ferry_relay::{Config, Relay};

fn peer(addr: std::net::SocketAddr) -> Peer {
    Peer::new(TcpStream::connect(addr).unwrap()).unwrap()
}

fn relay(dir: &std::path::Path) -> Relay {
    let mut config = Config::local(1);
    config.offline = Some(ferry_storage::Config {
        root: dir.to_path_buf(),
        min_free_bytes: 0,
        ..ferry_storage::Config::default()
    });
    Relay::start(config).unwrap()
}

#[test]
fn raw_peers_move_files_online_and_offline() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay(dir.path());
    let (msg, client) = (relay.addresses().msg, relay.addresses().client);
    let payload = Bytes::from(vec![7u8; 1 << 20]);
    let size: u32 = 3 << 20;

    for (chunk, window) in [(34 << 10, 1), (256 << 10, 8)] {
        let task = peer(msg).create_task(1, 2, size).unwrap();
        let mut sender = peer(client);
        sender.login(&task, 1, ROLE_SENDER).unwrap();
        let mut receiver = peer(client);
        receiver.login(&task, 2, ROLE_RECEIVER).unwrap();
        receiver.wait_ready().unwrap();
        let (t, p) = (task.clone(), payload.clone());
        let sending = thread::spawn(move || sender.send_file(&t, 1, &p));
        let mut waits = Vec::new();
        let got = receiver
            .receive(&task, 2, u64::from(size), chunk, window, Some(&mut waits))
            .unwrap();
        sending.join().unwrap().unwrap();
        assert_eq!(got, u64::from(size), "W {window}");
        assert_eq!(
            waits.len() as u32,
            size.div_ceil(chunk),
            "one wait per pull"
        );
    }

    let task = peer(msg).create_offline_task(3, 4, size).unwrap();
    let mut up = peer(client);
    up.login(&task, 3, ROLE_UPLOAD).unwrap();
    up.upload(&task, 3, &payload, None).unwrap();
    let mut down = peer(client);
    down.login(&task, 4, ROLE_DOWNLOAD).unwrap();
    let got = down
        .download(&task, 4, u64::from(size), 1 << 20, 4, None)
        .unwrap();
    assert_eq!(got, u64::from(size));
    peer(msg).delete_offline(&task, 4).unwrap();

    // Refusals are errors with the relay's reason.
    let e = peer(client)
        .login("00000000-0000-4000-8000-000000000000", 4, ROLE_DOWNLOAD)
        .unwrap_err();
    assert!(e.is_refused(), "{e}");
    assert_eq!(e.file_server_error(), Some(FileServerError::InvalidTaskId));
    let e = peer(msg).delete_offline(&task, 4).unwrap_err();
    assert!(e.is_refused(), "deleted already: {e}");
    relay.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_caller_gets_each_answer_under_its_seq() {
    use ferry_client::raw::Caller;
    use ferry_proto::pb::im::server::{ImValidateReq, ImValidateRsp};
    let dir = tempfile::tempdir().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let (db, store) = stack::spawn_db(dir.path(), &stopped, &mut tasks).await;
    stack::add_users(&store, &["alice"], 1).await;
    let mut caller = Caller::connect(db).await.unwrap();
    for (password, want) in [(stack::PASSWORD, 0), ("wrong", 1), (stack::PASSWORD, 0)] {
        let rsp: ImValidateRsp = caller
            .call(&ImValidateReq {
                user_name: "alice".into(),
                password: ferry_client::password_digest(password).into(),
                attach_data: None,
            })
            .await
            .unwrap();
        assert_eq!(rsp.result_code, want, "{password}");
    }
    let _ = stop.send(true);
    for t in tasks {
        t.await.unwrap();
    }
    let e = caller
        .call::<_, ImValidateRsp>(&ImValidateReq {
            user_name: "alice".into(),
            password: "x".into(),
            attach_data: None,
        })
        .await
        .unwrap_err();
    assert!(e.is_closed() || e.is_io(), "db_proxy stopped: {e}");
}
