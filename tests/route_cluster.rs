//! Two route_servers sharing one Redis, each with a msg_server of its own:
//! users on different msg_servers reach each other as if on one (messages,
//! status queries and notifies, kicks, file notifies), and a msg_server that
//! stops takes its users offline for the other side. Needs
//! `FERRY_TEST_REDIS_URL` (skipped without it, failed under CI).

mod stack;

use std::time::Duration;

use ferry_proto::pb::im::base_define::{ClientType, UserStatType};
use ferry_proto::pb::im::buddy::{ImUserStatNotify, ImUsersStatReq, ImUsersStatRsp};
use ferry_proto::pb::im::login::ImKickUser;
use ferry_proto::pb::im::message::{ImMsgData, ImMsgDataAck};
use ferry_proto::pb::im::switch_service::Imp2pCmdMsg;
use ferry_proto::registry::*;
use stack::{Client, Pair, text_msg};

const ONLINE: i32 = UserStatType::UserStatusOnline as i32;
const OFFLINE: i32 = UserStatType::UserStatusOffline as i32;

async fn status(c: &mut Client, users: &[u32]) -> Vec<(u32, i32)> {
    let rsp: ImUsersStatRsp = c
        .call(&ImUsersStatReq {
            user_id: c.user,
            user_id_list: users.to_vec(),
            attach_data: None,
        })
        .await;
    rsp.user_stat_list
        .iter()
        .map(|s| (s.user_id, s.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_two_route_servers_reach_each_other_through_redis() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let ids = pair.users(&["alice", "bob", "carol"], 1).await;
    let (alice, bob, carol) = (ids[0], ids[1], ids[2]);
    let mut a = Client::login(pair.msg[0], "alice", ClientType::Windows).await;
    assert_eq!(
        status(&mut a, &[bob]).await,
        [(bob, OFFLINE)],
        "bob is nowhere yet"
    );

    // bob logs in on the other side: alice (same department) hears of it,
    // and her status query sees him.
    let mut b = Client::login(pair.msg[1], "bob", ClientType::Windows).await;
    assert_eq!(a.status_notify_about(bob).await, ONLINE);
    assert_eq!(
        status(&mut a, &[bob, carol]).await,
        [(bob, ONLINE), (carol, OFFLINE)]
    );

    // A message crosses, acked on alice's side, delivered on bob's.
    let ack: ImMsgDataAck = a.call(&text_msg(bob, "across")).await;
    let m: ImMsgData = b.expect(CID_MSG_DATA).await.decode().unwrap();
    assert_eq!(
        (m.from_user_id, m.msg_id, &m.msg_data[..]),
        (alice, ack.msg_id, &b"across"[..])
    );
    // A P2P command too.
    b.send(&Imp2pCmdMsg {
        from_user_id: 0,
        to_user_id: alice,
        cmd_msg_data: "typing".into(),
    })
    .await;
    let p: Imp2pCmdMsg = a.expect(CID_SWITCH_P2P_CMD).await.decode().unwrap();
    assert_eq!(p.from_user_id, bob);

    // bob's second PC login, on alice's msg_server, kicks and closes the
    // first one on the other msg_server; his presence never flips.
    let mut b2 = Client::login(pair.msg[0], "bob", ClientType::Mac).await;
    let frames = b.until_closed().await;
    let kick = frames
        .iter()
        .find(|f| f.header.command == CID_LOGIN_KICK_USER)
        .expect("the first session is told it was kicked");
    let kick: ImKickUser = kick.decode().unwrap();
    assert_eq!(kick.user_id, bob);
    assert_eq!(pair.msg_stats[1].snapshot().kicked, 1);
    assert!(
        a.none_of(CID_BUDDY_LIST_STATUS_NOTIFY, Duration::from_millis(500))
            .await,
        "bob stayed online throughout: no notify"
    );
    assert_eq!(status(&mut a, &[bob]).await, [(bob, ONLINE)]);

    // carol on side 1 while alice's msg_server (side 0) stops: carol hears
    // alice and bob go offline, and sees them offline.
    let mut c = Client::login(pair.msg[1], "carol", ClientType::Windows).await;
    assert_eq!(
        status(&mut c, &[alice, bob]).await,
        [(alice, ONLINE), (bob, ONLINE)]
    );
    pair.stop_msg(0);
    let mut gone = std::collections::BTreeMap::new();
    while gone.len() < 2 {
        let n: ImUserStatNotify = c
            .expect(CID_BUDDY_LIST_STATUS_NOTIFY)
            .await
            .decode()
            .unwrap();
        if n.user_stat.user_id != carol {
            gone.insert(n.user_stat.user_id, n.user_stat.status);
        }
    }
    assert_eq!(gone, [(alice, OFFLINE), (bob, OFFLINE)].into());
    assert_eq!(
        status(&mut c, &[alice, bob]).await,
        [(alice, OFFLINE), (bob, OFFLINE)]
    );
    let _ = (a.until_closed().await, b2.until_closed().await);
    pair.stop().await;
}

/// A route_server that dies without a word (its process killed) stops
/// refreshing its mark in Redis: within presence_ttl its users count as
/// offline everywhere, the watchers on the living side are told, and its
/// entries are pruned. The dead one is played by writing its entries as a
/// route_server does and letting its mark expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_route_servers_users_go_offline_within_the_ttl() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let ids = pair.users(&["ghost", "carol"], 1).await;
    let ghost = ids[0];
    let mut c = Client::login(pair.msg[1], "carol", ClientType::Windows).await;

    let client = redis::Client::open(pair.redis.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let p = &pair.prefix;
    let () = redis::pipe()
        .cmd("SET")
        .arg(format!("{p}:rs:alive:dead"))
        .arg(1)
        .arg("PX")
        .arg(1500)
        .ignore()
        .cmd("SADD")
        .arg(format!("{p}:rs:all"))
        .arg("dead")
        .ignore()
        .cmd("HSET")
        .arg(format!("{p}:presence:{ghost}"))
        .arg(format!("dead/{}", ClientType::Windows as i32))
        .arg(1)
        .ignore()
        .cmd("SADD")
        .arg(format!("{p}:rs:users:dead"))
        .arg(ghost)
        .ignore()
        .query_async(&mut conn)
        .await
        .unwrap();
    // Each route_server learns the living within a third of the ttl.
    tokio::time::sleep(stack::PAIR_PRESENCE_TTL / 2).await;
    assert_eq!(status(&mut c, &[ghost]).await, [(ghost, ONLINE)]);

    assert_eq!(c.status_notify_about(ghost).await, OFFLINE);
    assert_eq!(status(&mut c, &[ghost]).await, [(ghost, OFFLINE)]);
    let left: (i64, i64) = redis::pipe()
        .cmd("HLEN")
        .arg(format!("{p}:presence:{ghost}"))
        .cmd("EXISTS")
        .arg(format!("{p}:rs:users:dead"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, (0, 0), "the dead one's entries are pruned");
    assert!(
        c.none_of(CID_BUDDY_LIST_STATUS_NOTIFY, Duration::from_millis(1500))
            .await,
        "told once, by the one route_server that pruned it"
    );
    pair.stop().await;
}

/// A `redis-server` of the test's own on `port`, keeping nothing on disk.
fn redis_server(port: u16) -> std::process::Child {
    std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (installed with Redis)")
}

/// Redis dies under a route_server: it keeps delivering between its own
/// msg_servers (messages and presence), and says so: `/health` answers 503
/// and the failures are counted. When Redis comes back (empty), the
/// route_server writes its sessions into it again. A Redis of the test's own (a
/// `redis-server` process on a free port) is killed; skipped where no
/// `redis-server` is installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_server_that_loses_redis_keeps_serving_its_own_links() {
    use stack::process::{port, wait_listening};
    let Some(_) = stack::required_env("FERRY_TEST_REDIS_URL") else {
        return;
    };
    let redis_port = port();
    let mut redis = redis_server(redis_port);
    wait_listening(std::net::SocketAddr::from(([127, 0, 0, 1], redis_port))).await;

    let dir = tempfile::tempdir().unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let (db, store) = stack::spawn_db(dir.path(), &stopped, &mut tasks).await;
    let ops = std::net::SocketAddr::from(([127, 0, 0, 1], port()));
    let route = stack::spawn_route(
        ferry_control::route_server::Config {
            redis: Some(format!("redis://127.0.0.1:{redis_port}")),
            metrics_listen: Some(ops),
            presence_ttl: Duration::from_millis(1500),
            ..Default::default()
        },
        &stopped,
        &mut tasks,
    )
    .await;
    let login = stack::spawn_login(&stopped, &mut tasks).await;
    let mut msg = Vec::new();
    for _ in 0..2 {
        let config = ferry_control::msg_server::Config {
            listen: stack::LOCAL,
            db_proxy: vec![db],
            route_server: vec![route],
            login_server: vec![login.msg_server],
            ..Default::default()
        };
        msg.push(stack::spawn_msg(config, &stopped, &mut tasks).await.0);
    }
    let ids = stack::add_users(&store, &["alice", "bob", "carol"], 1).await;
    let mut a = Client::login(msg[0], "alice", ClientType::Windows).await;
    let mut b = Client::login(msg[1], "bob", ClientType::Windows).await;
    assert_eq!(status(&mut a, &[ids[2]]).await, [(ids[2], OFFLINE)]);
    assert_eq!(stack::http_get(ops, "/health").await, "ok\n");

    redis.kill().unwrap();
    redis.wait().unwrap();
    let ack: ImMsgDataAck = a.call(&text_msg(ids[1], "without redis")).await;
    let m: ImMsgData = b.expect(CID_MSG_DATA).await.decode().unwrap();
    assert_eq!(
        m.msg_id, ack.msg_id,
        "delivered between the route_server's own links"
    );
    // Presence from this route_server's own view.
    let _c = Client::login(msg[1], "carol", ClientType::Windows).await;
    assert_eq!(a.status_notify_about(ids[2]).await, ONLINE);
    assert_eq!(status(&mut a, &[ids[2]]).await, [(ids[2], ONLINE)]);
    let (code, body) = stack::http_get_status(ops, "/health").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("redis"), "{body}");
    let failures = stack::metric(ops, "ferry_route_redis_failures_total").await;
    assert!(failures > 0, "{failures} Redis failures counted");

    // Redis comes back empty: the route_server writes its sessions again.
    let mut redis = redis_server(redis_port);
    let mut healthy = false;
    for _ in 0..100 {
        if stack::http_get_status(ops, "/health").await.0 == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "healthy again once redis answers");
    let client = redis::Client::open(format!("redis://127.0.0.1:{redis_port}")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut restated = Vec::new();
    for _ in 0..50 {
        restated.clear();
        for id in &ids {
            let fields: std::collections::HashMap<String, i64> = redis::cmd("HGETALL")
                .arg(format!("ferry:presence:{id}"))
                .query_async(&mut conn)
                .await
                .unwrap();
            restated.push(fields.values().sum::<i64>());
        }
        if restated == [1, 1, 1] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(restated, [1, 1, 1], "each user's one session counted again");
    let _ = redis.kill();
    let _ = redis.wait();
    let _ = stop.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
}

/// ferry-client's reconnect: alice's msg_server stops; her session logs in
/// again through login_server (which has dropped the stopped one) on the
/// other msg_server, says so (Event::Reconnected) and receives what bob
/// sends her afterwards. A kicked session does not log in again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_whose_msg_server_stops_logs_in_again_on_the_other() {
    let Some(pair) = Pair::start().await else {
        return;
    };
    let ids = pair.users(&["alice", "bob"], 1).await;
    let login = |user: &str| {
        let mut l =
            ferry_client::Login::new(format!("http://{}", pair.login.http), user, stack::PASSWORD);
        l.heartbeat = Duration::from_millis(300);
        l.timeout = Duration::from_secs(5);
        l
    };
    let mut alice = ferry_client::Session::login(&login("alice")).await.unwrap();
    let first = pair
        .msg
        .iter()
        .position(|m| *m == alice.msg_server())
        .unwrap();
    let other = pair.msg[1 - first];
    let bob = ferry_client::Session::login_at(other, &login("bob"))
        .await
        .unwrap();

    pair.stop_msg(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let event = tokio::time::timeout_at(deadline, alice.next_event())
            .await
            .expect("logged in again within 30 s");
        match event {
            Some(ferry_client::Event::Reconnected { msg_server }) => {
                assert_eq!(msg_server, other, "logged in again on the running one");
                break;
            }
            Some(_) => {} // presence and the like, from before the stop
            None => panic!("the session ended instead of logging in again"),
        }
    }
    assert_eq!(alice.msg_server(), other);
    assert_eq!(alice.user_id(), ids[0]);
    bob.send_text(ids[0], "still there?").await.unwrap();
    let m = loop {
        let e = tokio::time::timeout(Duration::from_secs(10), alice.next_event())
            .await
            .expect("bob's message within 10 s")
            .expect("alice's session is open");
        if let ferry_client::Event::Message(m) = e {
            break m;
        }
    };
    assert_eq!(
        (m.from_user_id, &m.msg_data[..]),
        (ids[1], &b"still there?"[..])
    );

    // Kicked by a second login of the same kind: the session ends.
    let _again = ferry_client::Session::login_at(other, &login("alice"))
        .await
        .unwrap();
    let mut kicked = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), alice.next_event())
            .await
            .expect("the kick and the close within 10 s")
        {
            Some(ferry_client::Event::Kicked(_)) => kicked = true,
            Some(ferry_client::Event::Reconnected { .. }) => panic!("a kicked session came back"),
            Some(_) => {}
            None => break,
        }
    }
    assert!(kicked, "told of the kick before the end");
    pair.stop().await;
}
