//! `ferry up` as a new user runs it: the whole stack in one process on a
//! fresh data directory; users added with `ferry user add` while it runs;
//! two clients find msg_server through login_server's HTTP, exchange a
//! message and move a file through the relay; Ctrl-C (SIGINT) drains and
//! exits 0.

mod stack;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferry_proto::pb::im::base_define::{ClientType, MsgType, TransferFileType};
use ferry_proto::pb::im::file::{ImFileNotify, ImFileReq, ImFileRsp};
use ferry_proto::pb::im::message::{ImMsgData, ImMsgDataAck};
use ferry_proto::registry::{CID_FILE_NOTIFY, CID_MSG_DATA};
use stack::{Client, http_get, relay_transfer};

/// The address after `label` on the line of `ferry up`'s start-up text
/// that starts with it.
fn address(lines: &[String], label: &str) -> SocketAddr {
    let line = lines
        .iter()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no {label} line in {lines:?}"));
    let word = line.split_whitespace().nth(1).unwrap();
    let word = word.trim_start_matches("http://");
    let word = word.split('/').next().unwrap();
    word.parse().unwrap_or_else(|e| panic!("{word}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_up_runs_the_whole_stack_in_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let started = Instant::now();
    let mut up = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["up", "--any-port", "--data-dir", data])
        .env_remove("FERRY_CONFIG")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(up.stdout.take().unwrap()).lines();
    let mut lines = Vec::new();
    let ready = tokio::task::block_in_place(|| {
        for line in out.by_ref() {
            let line = line.unwrap();
            let done = line.starts_with("Ctrl-C");
            lines.push(line);
            if done {
                return true;
            }
        }
        false
    });
    assert!(ready, "ferry up printed {lines:?} and stopped");
    println!("ferry up: listening {:?} after start", started.elapsed());
    assert!(
        lines.iter().any(|l| l.contains("ferry user add")),
        "tells how to add a user: {lines:?}"
    );
    let http = address(&lines, "login_server");

    for name in ["alice", "bob"] {
        let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
            .args([
                "user",
                "add",
                name,
                "--password",
                stack::PASSWORD,
                "--data-dir",
                data,
            ])
            .env_remove("FERRY_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // msg_server registers once its links are up.
    let mut json = serde_json::Value::Null;
    for _ in 0..200 {
        json = serde_json::from_str(&http_get(http, "/msg_server").await).unwrap();
        if json["code"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(json["code"], 0, "{json}");
    let ip: std::net::IpAddr = json["priorIP"].as_str().unwrap().parse().unwrap();
    let port: u16 = json["port"].as_str().unwrap().parse().unwrap();
    let msg = SocketAddr::new(ip, port);
    let mut alice = Client::login(msg, "alice", ClientType::Windows).await;
    let mut bob = Client::login(msg, "bob", ClientType::Windows).await;

    let ack: ImMsgDataAck = alice
        .call(&ImMsgData {
            from_user_id: 0,
            to_session_id: bob.user,
            msg_id: 0,
            create_time: 0,
            msg_type: MsgType::SingleText as i32,
            msg_data: "hello from ferry up".into(),
            attach_data: None,
        })
        .await;
    let got: ImMsgData = bob.expect(CID_MSG_DATA).await.decode().unwrap();
    assert_eq!(
        (got.msg_id, &got.msg_data[..]),
        (ack.msg_id, &b"hello from ferry up"[..])
    );

    let file: bytes::Bytes = (0..(300u32 << 10))
        .map(|i| (i % 241) as u8)
        .collect::<Vec<u8>>()
        .into();
    let rsp: ImFileRsp = alice
        .call(&ImFileReq {
            from_user_id: 0,
            to_user_id: bob.user,
            file_name: "up.bin".into(),
            file_size: file.len() as u32,
            trans_mode: TransferFileType::FileTypeOnline as i32,
        })
        .await;
    assert_eq!(rsp.result_code, 0);
    let notify: ImFileNotify = bob.expect(CID_FILE_NOTIFY).await.decode().unwrap();
    assert_eq!(notify.task_id, rsp.task_id);
    let ip = &rsp.ip_addr_list[0];
    let relay = SocketAddr::new(
        std::str::from_utf8(&ip.ip).unwrap().parse().unwrap(),
        ip.port as u16,
    );
    let received = relay_transfer(
        relay,
        &rsp.task_id,
        alice.user,
        bob.user,
        file.clone(),
        34 << 10,
    )
    .await;
    assert!(received == file[..], "the file arrives byte for byte");
    drop((alice, bob));

    let _ = Command::new("kill")
        .args(["-INT", &up.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = up.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "ferry up did not exit after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit 0 after SIGINT: {status}");
}
