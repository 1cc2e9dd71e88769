//! The whole stack as an operator runs it without `ferry up`: db_proxy
//! (SQLite), route_server, login_server, a relay and msg_server, each its
//! own `ferry` process on loopback ports. Two users made with `ferry user
//! add` find msg_server through login_server's HTTP, log in, run the PC
//! client's first requests, exchange messages, and move a file online
//! through the relay; every process then drains on SIGTERM and exits 0.

mod stack;

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry_proto::pb::im::base_define::{ClientType, MsgType, SessionType, TransferFileType};
use ferry_proto::pb::im::buddy::{ImAllUserReq, ImAllUserRsp, ImDepartmentReq, ImDepartmentRsp};
use ferry_proto::pb::im::file::{ImFileNotify, ImFileReq, ImFileRsp};
use ferry_proto::pb::im::message::{
    ImMsgData, ImMsgDataAck, ImMsgDataReadAck, ImMsgDataReadNotify, ImUnreadMsgCntReq,
    ImUnreadMsgCntRsp,
};
use ferry_proto::registry::{CID_FILE_NOTIFY, CID_MSG_DATA, CID_MSG_READ_NOTIFY};
use stack::{Client, http_get, relay_transfer};

fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Service {
    name: &'static str,
    child: Child,
}

fn spawn(name: &'static str, args: &[&str]) -> Service {
    let child = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(args)
        .env_remove("FERRY_CONFIG")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    Service { name, child }
}

impl Service {
    /// SIGTERM; the exit status within 20 s.
    fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit after SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_listening(addr: SocketAddr) {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing listens on {addr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_as_its_own_process_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
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
    let at = |p: u16| format!("127.0.0.1:{p}");
    let (db, route, http, client, reg, relay_client, relay_msg, msg) = (
        port(),
        port(),
        port(),
        port(),
        port(),
        port(),
        port(),
        port(),
    );
    let services = vec![
        spawn(
            "db_proxy",
            &["db-proxy", "--data-dir", data, "--listen", &at(db)],
        ),
        spawn("route_server", &["route-server", "--listen", &at(route)]),
        spawn(
            "login_server",
            &[
                "login-server",
                "--http-listen",
                &at(http),
                "--client-listen",
                &at(client),
                "--msg-server-listen",
                &at(reg),
            ],
        ),
        spawn(
            "relay",
            &[
                "relay",
                "--client-listen",
                &at(relay_client),
                "--msg-listen",
                &at(relay_msg),
                "--cores",
                "2",
                "--core-port-base",
                "0",
                "--advertise",
                "127.0.0.1",
            ],
        ),
        spawn(
            "msg_server",
            &[
                "msg-server",
                "--listen",
                &at(msg),
                "--db-proxy",
                &at(db),
                "--route-server",
                &at(route),
                "--login-server",
                &at(reg),
                "--file-server",
                &at(relay_msg),
            ],
        ),
    ];
    for p in [db, route, http, relay_client, msg] {
        wait_listening(SocketAddr::from(([127, 0, 0, 1], p))).await;
    }
    // msg_server registers with login_server once its links are up.
    let http_addr = SocketAddr::from(([127, 0, 0, 1], http));
    let mut json = serde_json::Value::Null;
    for _ in 0..200 {
        json = serde_json::from_str(&http_get(http_addr, "/msg_server").await).unwrap();
        if json["code"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(json["code"], 0, "{json}");
    let port: u16 = json["port"].as_str().unwrap().parse().unwrap();
    let msg_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut alice = Client::login(msg_addr, "alice", ClientType::Windows).await;
    let mut bob = Client::login(msg_addr, "bob", ClientType::Windows).await;
    let d: ImDepartmentRsp = alice
        .call(&ImDepartmentReq {
            user_id: alice.user,
            latest_update_time: 0,
            attach_data: None,
        })
        .await;
    assert_eq!(d.user_id, alice.user);
    let all: ImAllUserRsp = alice
        .call(&ImAllUserReq {
            user_id: alice.user,
            latest_update_time: 0,
            attach_data: None,
        })
        .await;
    assert_eq!(all.user_list.len(), 2);

    let msg = ImMsgData {
        from_user_id: alice.user,
        to_session_id: bob.user,
        msg_id: 0,
        create_time: 0,
        msg_type: MsgType::SingleText as i32,
        msg_data: "across processes".into(),
        attach_data: None,
    };
    let ack: ImMsgDataAck = alice.call(&msg).await;
    assert!(ack.msg_id > 0);
    let got: ImMsgData = bob.expect(CID_MSG_DATA).await.decode().unwrap();
    assert_eq!(&got.msg_data[..], b"across processes");
    let unread: ImUnreadMsgCntRsp = bob
        .call(&ImUnreadMsgCntReq {
            user_id: bob.user,
            attach_data: None,
        })
        .await;
    assert_eq!(unread.total_cnt, 1);
    bob.send(&ImMsgDataReadAck {
        user_id: bob.user,
        session_id: alice.user,
        msg_id: ack.msg_id,
        session_type: SessionType::Single as i32,
    })
    .await;
    let read: ImMsgDataReadNotify = alice.expect(CID_MSG_READ_NOTIFY).await.decode().unwrap();
    assert_eq!(read.msg_id, ack.msg_id);

    let file: bytes::Bytes = (0..(1u32 << 20))
        .map(|i| (i * 31 % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let rsp: ImFileRsp = alice
        .call(&ImFileReq {
            from_user_id: alice.user,
            to_user_id: bob.user,
            file_name: "one.bin".into(),
            file_size: file.len() as u32,
            trans_mode: TransferFileType::FileTypeOnline as i32,
        })
        .await;
    assert_eq!(rsp.result_code, 0);
    let notify: ImFileNotify = bob.expect(CID_FILE_NOTIFY).await.decode().unwrap();
    assert_eq!(notify.task_id, rsp.task_id);
    let relay_addr = {
        let ip = &rsp.ip_addr_list[0];
        SocketAddr::new(
            std::str::from_utf8(&ip.ip).unwrap().parse().unwrap(),
            ip.port as u16,
        )
    };
    let received = relay_transfer(
        relay_addr,
        &rsp.task_id,
        alice.user,
        bob.user,
        file.clone(),
        34 << 10,
    )
    .await;
    assert!(received == file[..], "the file arrives byte for byte");

    drop((alice, bob));
    for service in services {
        let name = service.name;
        let status = service.terminate();
        assert!(status.success(), "{name} exits 0 after SIGTERM: {status}");
    }
}
