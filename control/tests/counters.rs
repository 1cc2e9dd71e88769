//! Counters rebuilt from the stored truth: msg_ids that Redis lost are
//! re-seeded above the largest stored one, whoever stored it (a TeamTalk
//! db_proxy sharing the database and Redis during a migration), and unread
//! counts come back after Redis loses everything.

mod common;
#[allow(unused_imports)]
use common::AsText as _;

use std::time::{Duration, Instant};

use common::{Arg, Backend, bytes, exec};
use ferry_control::store::Store;
use ferry_proto::pb::im::base_define::MsgType;
use ferry_proto::pb::im::group::{ImGroupCreateReq, ImGroupCreateRsp};
use ferry_proto::pb::im::message::{ImMsgData, ImUnreadMsgCntReq, ImUnreadMsgCntRsp};

fn msg(from: u32, to: u32, msg_type: MsgType) -> ImMsgData {
    ImMsgData {
        from_user_id: from,
        to_session_id: to,
        msg_id: 0,
        create_time: 0,
        msg_type: msg_type as i32,
        msg_data: bytes(b"hello"),
        attach_data: None,
    }
}

async fn redis_cmd(b: &Backend, args: &[&str]) -> redis::Value {
    let mut r = b.redis().await.expect("a Redis backend");
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(&mut r).await.unwrap()
}

/// The case: ferry stores a pair's message; a TeamTalk db_proxy on
/// the same database and Redis stores the next six (msgId 2..7, advancing
/// `msg_id_<relateId>`); Redis loses that key; ferry's next message must be
/// 8, not a msg_id already stored.
async fn a_lost_pair_counter_restarts_above_every_stored_msg_id(b: Backend) {
    let server = b.start().await;
    let mut c = server.connect().await;
    let first: ImMsgData = c.call(&msg(1, 2, MsgType::SingleText)).await;
    assert_eq!(first.msg_id, 1);
    let pool = b.pool().await;
    let store = Store::open(&b.options).await.unwrap();
    let relate = store
        .relation_id(1, 2)
        .await
        .unwrap()
        .expect("the pair talked");
    store.close().await;
    for msg_id in 2..=7u32 {
        exec(
            &pool,
            &format!(
                "INSERT INTO IMMessage_{} (relateId, fromId, toId, msgId, content, type, status, \
                 updated, created) VALUES (?, 2, 1, ?, 'from teamtalk', 1, 0, 1, 1)",
                relate % 8
            ),
            &[Arg::U(relate), Arg::U(msg_id)],
        )
        .await;
    }
    let key = format!("msg_id_{relate}");
    redis_cmd(&b, &["SET", &key, "7"]).await;
    redis_cmd(&b, &["DEL", &key]).await; // Redis restarted without persistence
    let next: ImMsgData = c.call(&msg(1, 2, MsgType::SingleText)).await;
    assert_eq!(next.msg_id, 8, "{}: above every stored msg_id", b.name);
    let again: ImMsgData = c.call(&msg(2, 1, MsgType::SingleText)).await;
    assert_eq!(
        again.msg_id, 9,
        "{}: and Redis counts on from there",
        b.name
    );
    server.stop().await;
}
on_backends!(
    a_lost_pair_counter_restarts_above_every_stored_msg_id,
    [mysql_redis, sqlite_redis]
);

/// The same for a group's `group_msg_id_<groupId>`.
async fn a_lost_group_counter_restarts_above_every_stored_msg_id(b: Backend) {
    let server = b.start().await;
    let mut c = server.connect().await;
    let created: ImGroupCreateRsp = c
        .call(&ImGroupCreateReq {
            user_id: 1,
            group_type: 1,
            group_name: "g".into(),
            group_avatar: "".into(),
            member_id_list: vec![1, 2],
            attach_data: None,
        })
        .await;
    let group = created.group_id.unwrap();
    let first: ImMsgData = c.call(&msg(1, group, MsgType::GroupText)).await;
    assert_eq!(first.msg_id, 1);
    let pool = b.pool().await;
    for msg_id in 2..=5u32 {
        exec(
            &pool,
            &format!(
                "INSERT INTO IMGroupMessage_{} (groupId, userId, msgId, content, type, status, \
                 updated, created) VALUES (?, 2, ?, 'from teamtalk', 17, 0, 1, 1)",
                group % 8
            ),
            &[Arg::U(group), Arg::U(msg_id)],
        )
        .await;
    }
    redis_cmd(&b, &["DEL", &format!("group_msg_id_{group}")]).await;
    let next: ImMsgData = c.call(&msg(2, group, MsgType::GroupText)).await;
    assert_eq!(next.msg_id, 6, "{}: above every stored msg_id", b.name);
    server.stop().await;
}
on_backends!(
    a_lost_group_counter_restarts_above_every_stored_msg_id,
    [mysql_redis]
);

/// (total, [(session type, session id, unread)] sorted).
async fn unread_of(c: &mut common::Client, user: u32) -> (u32, Vec<(i32, u32, u32)>) {
    let rsp: ImUnreadMsgCntRsp = c
        .call(&ImUnreadMsgCntReq {
            user_id: user,
            attach_data: None,
        })
        .await;
    let mut list: Vec<(i32, u32, u32)> = rsp
        .unreadinfo_list
        .iter()
        .map(|u| (u.session_type, u.session_id, u.unread_cnt))
        .collect();
    list.sort();
    (rsp.total_cnt, list)
}

/// Redis restarts empty (FLUSHDB here): the unread counts and group totals
/// it held are rebuilt from the database within a few seconds, instead of
/// every user's unread badge silently dropping to zero.
async fn unread_counts_survive_redis_losing_everything(b: Backend) {
    let server = b.start().await;
    let mut c = server.connect().await;
    for _ in 0..3 {
        c.call::<_, ImMsgData>(&msg(1, 2, MsgType::SingleText))
            .await;
    }
    c.call::<_, ImMsgData>(&msg(3, 2, MsgType::SingleText))
        .await;
    let created: ImGroupCreateRsp = c
        .call(&ImGroupCreateReq {
            user_id: 1,
            group_type: 1,
            group_name: "g".into(),
            group_avatar: "".into(),
            member_id_list: vec![1, 2],
            attach_data: None,
        })
        .await;
    let group = created.group_id.unwrap();
    for _ in 0..2 {
        c.call::<_, ImMsgData>(&msg(1, group, MsgType::GroupText))
            .await;
    }
    let before = unread_of(&mut c, 2).await;
    assert_eq!(
        before,
        (6, vec![(1, 1, 3), (1, 3, 1), (2, group, 2)]),
        "{}",
        b.name
    );
    redis_cmd(&b, &["FLUSHDB"]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = unread_of(&mut c, 2).await;
        if now == before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{}: unread still {now:?} 10 s after Redis lost it",
            b.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And counting goes on from the rebuilt values.
    c.call::<_, ImMsgData>(&msg(1, 2, MsgType::SingleText))
        .await;
    assert_eq!(unread_of(&mut c, 2).await.0, 7, "{}", b.name);
    server.stop().await;
}
on_backends!(
    unread_counts_survive_redis_losing_everything,
    [mysql_redis, sqlite_redis]
);
