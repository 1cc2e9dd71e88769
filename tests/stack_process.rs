//! The whole stack as an operator runs it without `ferry up`: db_proxy
//! (SQLite), route_server, login_server, a relay and msg_server, each its
//! own `ferry` process on loopback ports. Two users made with `ferry user
//! add` find msg_server through login_server's HTTP, log in, run the PC
//! client's first requests, exchange messages, and move a file online
//! through the relay; every process then drains on SIGTERM and exits 0.

mod stack;

use std::net::SocketAddr;
use std::time::Duration;

use ferry_proto::pb::im::base_define::{ClientType, MsgType, SessionType};
use ferry_proto::pb::im::buddy::{ImAllUserReq, ImAllUserRsp, ImDepartmentReq, ImDepartmentRsp};
use ferry_proto::pb::im::message::{
    ImMsgData, ImMsgDataAck, ImMsgDataReadAck, ImMsgDataReadNotify, ImUnreadMsgCntReq,
    ImUnreadMsgCntRsp,
};
use ferry_proto::registry::{CID_MSG_DATA, CID_MSG_READ_NOTIFY};
use stack::process::{port, spawn, spawn_login, spawn_relay, user_add, wait_listening};
use stack::{Client, http_get, text_msg};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_as_its_own_process_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for name in ["alice", "bob"] {
        user_add(name, stack::PASSWORD, &["--data-dir", data]);
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
        spawn_login(http, client, reg),
        spawn_relay(relay_client, relay_msg, 2),
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
    let msg_addr = stack::msg_server_from(SocketAddr::from(([127, 0, 0, 1], http))).await;
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
        ..text_msg(bob.user, "across processes")
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

    stack::file_online(&mut alice, &mut bob, 1 << 20).await;

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

/// Issue's deployment past one machine: MariaDB + Redis behind one
/// db_proxy, two route_servers sharing Redis, two msg_servers (one per
/// route_server), a relay, each its own process. A message, a group message
/// and a file notify cross between the msg_servers; a second PC login on
/// the other msg_server kicks and closes the first; killing a msg_server
/// (SIGKILL) turns its users offline for the other side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_msg_servers_on_mariadb_and_redis_as_processes() {
    use ferry_proto::pb::im::base_define::{GroupType, UserStatType};
    use ferry_proto::pb::im::group::{ImGroupCreateReq, ImGroupCreateRsp};
    use ferry_proto::registry::CID_LOGIN_KICK_USER;

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
        .map(|name| user_add(name, stack::PASSWORD, &["--depart", "1", "--db", &db_url]))
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
        spawn_login(http, client, reg),
        spawn_relay(relay_client, relay_msg, 2),
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
        .call(&text_msg(bob.user, "one msg_server to the other"))
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
    stack::file_online(&mut alice, &mut bob, 256 << 10).await;

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
    let online = alice.status_notify_about(carol_id).await;
    assert_eq!(online, UserStatType::UserStatusOnline as i32);
    let msg1_service = services.pop().unwrap();
    drop(msg1_service); // SIGKILL
    let offline = alice.status_notify_about(carol_id).await;
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
