//! `db_read` (TeamTalk's `teamtalk_slave`): db_proxy with its write pool on
//! one MariaDB and its read pool on another (`FERRY_TEST_MYSQL_READ_URL`,
//! started by `.ci/run` on port 3307). The read server stands for a replica:
//! ferry never migrates or writes it; the test gives it the schema and
//! copies rows into it as replication would. Reads (login, user info,
//! message list, sessions) are answered from it, writes land on the write
//! server only.

mod common;
#[allow(unused_imports)]
use common::AsText as _;

use common::{Arg, Backend, Client, count, exec, insert_teamtalk_user, session_ids};
use ferry_control::store::{Pool, Store};
use ferry_proto::pb::im::base_define::MsgType;
use ferry_proto::pb::im::buddy::{ImUsersInfoReq, ImUsersInfoRsp};
use ferry_proto::pb::im::message::{ImGetMsgListReq, ImGetMsgListRsp, ImMsgData};
use ferry_proto::pb::im::server::{ImValidateReq, ImValidateRsp};

async fn tables(pool: &Pool) -> i64 {
    count(
        pool,
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()",
        &[],
    )
    .await
}

async fn names(c: &mut Client, ids: &[u32]) -> Vec<String> {
    let rsp: ImUsersInfoRsp = c
        .call(&ImUsersInfoReq {
            user_id: 1,
            user_id_list: ids.to_vec(),
            attach_data: None,
        })
        .await;
    rsp.user_info_list
        .into_iter()
        .map(|u| u.user_real_name.as_str().to_owned())
        .collect()
}

async fn logs_in(c: &mut Client, name: &str) -> bool {
    let rsp: ImValidateRsp = c
        .call(&ImValidateReq {
            user_name: name.to_owned().into(),
            password: common::client_password("pw").into(),
            attach_data: None,
        })
        .await;
    rsp.result_code == 0
}

async fn listed(c: &mut Client) -> Vec<(u32, Vec<u8>)> {
    let rsp: ImGetMsgListRsp = c
        .call(&ImGetMsgListReq {
            user_id: 1,
            session_type: 1,
            session_id: 2,
            msg_id_begin: 0,
            msg_cnt: 20,
            attach_data: None,
        })
        .await;
    rsp.msg_list
        .into_iter()
        .map(|m| (m.msg_id, m.msg_data.to_vec()))
        .collect()
}

async fn reads_from_the_read_server(b: Backend) {
    let server = b.start().await;
    let write = b.pool().await;
    let read = b.read_pool().await;
    assert!(tables(&write).await > 30, "the write server is migrated");
    assert_eq!(
        tables(&read).await,
        0,
        "ferry never migrates (writes) the read server"
    );
    // What a replica has: the schema, and the rows replication copied.
    let read_url = b.options.db_read.as_deref().unwrap();
    Store::migrate(read_url).await.unwrap();
    for (pool, suffix) in [(&write, "w"), (&read, "r")] {
        for n in 1..=2 {
            insert_teamtalk_user(pool, &format!("u{n}{suffix}"), "pw", "12", 0).await;
        }
    }

    let mut c = server.connect().await;
    assert_eq!(names(&mut c, &[1, 2]).await, ["u1r", "u2r"], "{}", b.name);
    assert!(logs_in(&mut c, "u1r").await);
    assert!(!logs_in(&mut c, "u1w").await, "login reads the read server");

    // A write lands on the write server only, and is not read until it
    // reaches the read server.
    let sent: ImMsgData = c
        .call(&ImMsgData {
            from_user_id: 1,
            to_session_id: 2,
            msg_id: 0,
            create_time: 1_700_000_000,
            msg_type: MsgType::SingleText as i32,
            msg_data: common::bytes(b"hello"),
            attach_data: None,
        })
        .await;
    assert_eq!(sent.msg_id, 1);
    let relate = count(
        &write,
        "SELECT MAX(id) FROM IMRelationShip WHERE smallId = 1 AND bigId = 2",
        &[],
    )
    .await as u32;
    let shard = format!("IMMessage_{}", relate % 8);
    let stored = format!("SELECT COUNT(*) FROM {shard} WHERE relateId = ? AND msgId = 1");
    assert_eq!(count(&write, &stored, &[relate]).await, 1);
    assert_eq!(count(&read, &stored, &[relate]).await, 0);
    for table in ["IMRelationShip", "IMRecentSession"] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        assert_eq!(
            count(&read, &sql, &[]).await,
            0,
            "{table} written to the read server"
        );
    }
    assert!(
        listed(&mut c).await.is_empty(),
        "the list reads the read server"
    );
    assert!(session_ids(&mut c, 1).await.is_empty());

    // Replication catches up: now the reads see it.
    exec(
        &read,
        "INSERT INTO IMRelationShip (id, smallId, bigId, status, created, updated) VALUES (?, 1, 2, 0, 1, 1)",
        &[Arg::U(relate)],
    )
    .await;
    exec(
        &read,
        &format!(
            "INSERT INTO {shard} (relateId, fromId, toId, msgId, content, type, status, updated, created) \
             VALUES (?, 1, 2, 1, 'hello', 1, 0, 1700000000, 1700000000)"
        ),
        &[Arg::U(relate)],
    )
    .await;
    exec(
        &read,
        "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) VALUES (1, 2, 1, 0, 1, 1)",
        &[],
    )
    .await;
    assert_eq!(listed(&mut c).await, [(1, b"hello".to_vec())]);
    assert_eq!(session_ids(&mut c, 1).await, [2]);
    server.stop().await;
}

mod reads_from_the_read_server {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        if let Some(b) = crate::common::Backend::mysql().await
            && let Some(b) = b.with_read_server().await
        {
            super::reads_from_the_read_server(b).await
        }
    }
}
