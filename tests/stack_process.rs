//! The whole stack as an operator runs it without `ferry up`: db_proxy
//! (SQLite), route_server, login_server, a relay and msg_server, each its
//! own `ferry` process on loopback ports. Two users made with `ferry user
//! add` find msg_server through login_server's HTTP, log in, run the PC
//! client's first requests, exchange messages, and move a file online
//! through the relay; every process then drains on SIGTERM and exits 0.

mod stack;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use ferry_proto::pb::im::base_define::{ClientType, MsgType, SessionType, TransferFileType};
use ferry_proto::pb::im::buddy::{ImAllUserReq, ImAllUserRsp, ImDepartmentReq, ImDepartmentRsp};
use ferry_proto::pb::im::file::{ImFileNotify, ImFileReq, ImFileRsp};
use ferry_proto::pb::im::message::{
    ImMsgData, ImMsgDataAck, ImMsgDataReadAck, ImMsgDataReadNotify, ImUnreadMsgCntReq,
    ImUnreadMsgCntRsp,
};
use ferry_proto::registry::{CID_FILE_NOTIFY, CID_MSG_DATA, CID_MSG_READ_NOTIFY};
use stack::process::{port, spawn, wait_listening};
use stack::{Client, http_get, relay_transfer};

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
    let (db_ops, route_ops, msg_ops) = (port(), port(), port());
    let services = vec![
        spawn(
            "db_proxy",
            &[
                "db-proxy",
                "--data-dir",
                data,
                "--listen",
                &at(db),
                "--metrics-listen",
                &at(db_ops),
            ],
        ),
        spawn(
            "route_server",
            &[
                "route-server",
                "--listen",
                &at(route),
                "--metrics-listen",
                &at(route_ops),
            ],
        ),
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
                "--metrics-listen",
                &at(msg_ops),
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

    // Each service's operator endpoint.
    let ops = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    for (p, metric) in [
        (db_ops, "ferry_db_proxy_requests_in_flight "),
        (route_ops, "ferry_route_users_online 2"),
        (msg_ops, "ferry_msg_sessions 2"),
    ] {
        assert_eq!(http_get(ops(p), "/health").await, "ok\n");
        let metrics = http_get(ops(p), "/metrics").await;
        assert!(metrics.contains(metric), "{metric:?} in {metrics}");
    }
    drop((alice, bob));
    let mut services = services.into_iter();
    let db_proxy = services.next().unwrap();
    assert!(db_proxy.terminate().success());
    // Without db_proxy, msg_server says it cannot serve logins.
    let mut health = (0, String::new());
    for _ in 0..200 {
        health = stack::http_get_status(ops(msg_ops), "/health").await;
        if health.0 != 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(health, (503, "no link up to: db_proxy\n".to_string()));
    for service in services {
        let name = service.name;
        let status = service.terminate();
        assert!(status.success(), "{name} exits 0 after SIGTERM: {status}");
    }
}

/// A MariaDB database for one test, dropped at the end.
struct MariaDb {
    server: String,
    name: String,
}

impl MariaDb {
    async fn create(server: &str) -> MariaDb {
        let name = format!("ferry_stack_{}", std::process::id());
        let pool = sqlx::MySqlPool::connect(server).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS `{name}`"))
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE `{name}`"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        MariaDb {
            server: server.to_string(),
            name,
        }
    }

    fn url(&self) -> String {
        let base = self
            .server
            .rsplit_once('/')
            .map_or(&*self.server, |(b, _)| b);
        format!("{base}/{}", self.name)
    }
}

/// Dropped even when the test fails part way: a thread with its own
/// runtime, since drop runs inside the test's.
impl Drop for MariaDb {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::MySqlPool::connect(&server).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS `{name}`"))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

/// `ferry user add` in department 1; the new user's id.
fn add_user(name: &str, db: &str) -> u32 {
    let out = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args([
            "user",
            "add",
            name,
            "--password",
            stack::PASSWORD,
            "--depart",
            "1",
            "--db",
            db,
        ])
        .env_remove("FERRY_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Issue's deployment past one machine: MariaDB + Redis behind one
/// db_proxy, two route_servers sharing Redis, two msg_servers (one per
/// route_server), a relay, each its own process. A message, a group message
/// and a file notify cross between the msg_servers; a second PC login on
/// the other msg_server kicks and closes the first; killing a msg_server
/// (SIGKILL) turns its users offline for the other side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_msg_servers_on_mariadb_and_redis_as_processes() {
    use ferry_proto::pb::im::base_define::{GroupType, UserStatType};
    use ferry_proto::pb::im::buddy::ImUserStatNotify;
    use ferry_proto::pb::im::group::{ImGroupCreateReq, ImGroupCreateRsp};
    use ferry_proto::registry::{CID_BUDDY_LIST_STATUS_NOTIFY, CID_LOGIN_KICK_USER};

    let (Some(mysql), Some(redis)) = (
        stack::required_env("FERRY_TEST_MYSQL_URL"),
        stack::required_env("FERRY_TEST_REDIS_URL"),
    ) else {
        return;
    };
    let redis = format!("{}/7", redis.trim_end_matches('/'));
    let flush = || {
        let client = redis::Client::open(redis.as_str()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let () = redis::cmd("FLUSHDB").query(&mut conn).unwrap();
    };
    flush();
    let maria = MariaDb::create(&mysql).await;
    let db_url = maria.url();
    let ids: Vec<u32> = ["alice", "bob", "carol"]
        .iter()
        .map(|name| add_user(name, &db_url))
        .collect();
    let at = |p: u16| format!("127.0.0.1:{p}");
    let (db, route0, route1, http, client, reg, relay_client, relay_msg, msg0, msg1) = (
        port(),
        port(),
        port(),
        port(),
        port(),
        port(),
        port(),
        port(),
        port(),
        port(),
    );
    let route_redis = format!("route_server.redis={redis}");
    let mut services = vec![
        spawn(
            "db_proxy",
            &[
                "db-proxy",
                "--db",
                &db_url,
                "--redis",
                &redis,
                "--listen",
                &at(db),
            ],
        ),
        spawn(
            "route_server 0",
            &[
                "route-server",
                "--listen",
                &at(route0),
                "--set",
                &route_redis,
            ],
        ),
        spawn(
            "route_server 1",
            &[
                "route-server",
                "--listen",
                &at(route1),
                "--set",
                &route_redis,
            ],
        ),
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
    ];
    for p in [db, route0, route1, relay_msg] {
        wait_listening(SocketAddr::from(([127, 0, 0, 1], p))).await;
    }
    for (name, listen, route) in [
        ("msg_server 0", msg0, route0),
        ("msg_server 1", msg1, route1),
    ] {
        services.push(spawn(
            name,
            &[
                "msg-server",
                "--listen",
                &at(listen),
                "--db-proxy",
                &at(db),
                "--route-server",
                &at(route),
                "--login-server",
                &at(reg),
                "--file-server",
                &at(relay_msg),
            ],
        ));
    }
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    for p in [msg0, msg1] {
        wait_listening(addr(p)).await;
    }
    // Logins are refused until a msg_server's links are up.
    let login = |p: u16, name: &'static str, t: ClientType| async move {
        for _ in 0..200 {
            let mut c = Client::connect(addr(p)).await;
            let res = c.try_login(name, stack::PASSWORD, t).await;
            if res.result_code == 0 {
                c.user = res.user_info.unwrap().user_id;
                return c;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{name} cannot log in on {p}");
    };
    let mut alice = login(msg0, "alice", ClientType::Windows).await;
    // As a PC client does after login: the status of its contacts, which
    // also asks msg_server to tell it of their changes.
    let _: ferry_proto::pb::im::buddy::ImUsersStatRsp = alice
        .call(&ferry_proto::pb::im::buddy::ImUsersStatReq {
            user_id: 0,
            user_id_list: ids[1..].to_vec(),
            attach_data: None,
        })
        .await;
    let mut bob = login(msg1, "bob", ClientType::Windows).await;

    // A message crosses.
    let ack: ImMsgDataAck = alice
        .call(&ImMsgData {
            from_user_id: 0,
            to_session_id: bob.user,
            msg_id: 0,
            create_time: 0,
            msg_type: MsgType::SingleText as i32,
            msg_data: "one msg_server to the other".into(),
            attach_data: None,
        })
        .await;
    let got: ImMsgData = bob.expect(CID_MSG_DATA).await.decode().unwrap();
    assert_eq!((got.msg_id, got.from_user_id), (ack.msg_id, alice.user));

    // A group message crosses.
    let group: ImGroupCreateRsp = alice
        .call(&ImGroupCreateReq {
            user_id: 0,
            group_type: GroupType::Tmp as i32,
            group_name: "across".into(),
            group_avatar: "".into(),
            member_id_list: vec![alice.user, bob.user],
            attach_data: None,
        })
        .await;
    assert_eq!(group.result_code, 0, "{group:?}");
    let group_id = group.group_id.unwrap();
    let gack: ImMsgDataAck = alice
        .call(&ImMsgData {
            from_user_id: 0,
            to_session_id: group_id,
            msg_id: 0,
            create_time: 0,
            msg_type: MsgType::GroupText as i32,
            msg_data: "to the group".into(),
            attach_data: None,
        })
        .await;
    let got = loop {
        let m: ImMsgData = bob.expect(CID_MSG_DATA).await.decode().unwrap();
        if m.to_session_id == group_id {
            break m;
        }
    };
    assert_eq!(
        (got.msg_id, &got.msg_data[..]),
        (gack.msg_id, &b"to the group"[..])
    );

    // A file notify crosses; the bytes go through the relay.
    let file: bytes::Bytes = (0..(256u32 << 10))
        .map(|i| (i % 253) as u8)
        .collect::<Vec<u8>>()
        .into();
    let rsp: ImFileRsp = alice
        .call(&ImFileReq {
            from_user_id: 0,
            to_user_id: bob.user,
            file_name: "across.bin".into(),
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
    assert!(received == file[..]);

    // bob's second PC login, on msg_server 0, kicks and closes the first.
    let bob2 = login(msg0, "bob", ClientType::Mac).await;
    let frames = bob.until_closed().await;
    assert!(
        frames
            .iter()
            .any(|f| f.header.command == CID_LOGIN_KICK_USER)
    );

    // carol on msg_server 1; msg_server 1 is killed: alice (who asked
    // about carol, on msg_server 0) hears carol go offline.
    let carol = login(msg1, "carol", ClientType::Windows).await;
    let carol_id = carol.user;
    let online = loop {
        let n: ImUserStatNotify = alice
            .expect(CID_BUDDY_LIST_STATUS_NOTIFY)
            .await
            .decode()
            .unwrap();
        if n.user_stat.user_id == carol_id {
            break n.user_stat.status;
        }
    };
    assert_eq!(online, UserStatType::UserStatusOnline as i32);
    let msg1_service = services.pop().unwrap();
    drop(msg1_service); // SIGKILL
    let offline = loop {
        let n: ImUserStatNotify = alice
            .expect(CID_BUDDY_LIST_STATUS_NOTIFY)
            .await
            .decode()
            .unwrap();
        if n.user_stat.user_id == carol_id {
            break n.user_stat.status;
        }
    };
    assert_eq!(offline, UserStatType::UserStatusOffline as i32);
    drop((alice, bob2, carol));
    for service in services {
        let name = service.name;
        let status = service.terminate();
        assert!(status.success(), "{name} exits 0 after SIGTERM: {status}");
    }
    drop(maria);
    flush();
}
