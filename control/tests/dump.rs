//! "The MySQL schema applied to an empty MariaDB must accept a TeamTalk
//! dump's rows unchanged": a fresh database, ferry's migrations, then
//! `fixtures/teamtalk_dump.sql` (mysqldump's data-only output: column-less
//! INSERTs in TeamTalk's column order) executed statement by statement as the
//! `mysql` client would; then db_proxy on it, checked through the PDU port:
//! dump users log in, dumped pairs and groups list their messages, the next
//! msg_id follows the dumped maximum, recent sessions show.

mod common;
#[allow(unused_imports)]
use common::AsText as _;

use std::str::FromStr;

use common::{Backend, Client, client_password, count, text};
use ferry_control::store::{RowExt, Store};
use ferry_proto::pb::im::base_define::{MsgInfo, MsgType};
use ferry_proto::pb::im::buddy::{
    ImRecentContactSessionReq, ImRecentContactSessionRsp, ImUsersInfoReq, ImUsersInfoRsp,
};
use ferry_proto::pb::im::message::{ImGetMsgListReq, ImGetMsgListRsp, ImMsgData};
use ferry_proto::pb::im::server::{ImValidateReq, ImValidateRsp};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{ConnectOptions, Connection};

const DUMP: &str = include_str!("fixtures/teamtalk_dump.sql");

/// The statements of a mysqldump file, split as the `mysql` client splits
/// them: `--` comment lines and blank lines dropped, a statement ends with
/// the line that ends in `;`. (No value in the fixture holds a line ending
/// in `;`.)
fn statements(dump: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dump.lines() {
        if current.is_empty() && (line.trim().is_empty() || line.starts_with("--")) {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            out.push(std::mem::take(&mut current));
        }
    }
    assert!(
        current.trim().is_empty(),
        "unterminated statement: {current}"
    );
    out
}

/// Runs the dump on one connection (LOCK TABLES and the `SET`s are per
/// session), each statement as text, unchanged. The dump turns strict mode
/// off (`SQL_MODE='NO_AUTO_VALUE_ON_ZERO'`), so a value that does not fit
/// its column would load truncated with a warning: a warning fails too.
async fn load(url: &str) -> usize {
    let mut conn = MySqlConnectOptions::from_str(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let list = statements(DUMP);
    for (i, s) in list.iter().enumerate() {
        if let Err(e) = sqlx::raw_sql(s).execute(&mut conn).await {
            panic!("statement {i} of the dump refused by ferry's schema: {e}\n{s}");
        }
        let warnings = sqlx::raw_sql("SELECT @@warning_count AS n")
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .u32("n")
            .unwrap();
        assert_eq!(
            warnings, 0,
            "statement {i} of the dump loaded with warnings:\n{s}"
        );
    }
    conn.close().await.unwrap();
    list.len()
}

fn login(name: &str, plain: &str) -> ImValidateReq {
    ImValidateReq {
        user_name: name.to_owned().into(),
        password: client_password(plain).into(),
        attach_data: None,
    }
}

async fn page(c: &mut Client, user: u32, kind: i32, session: u32) -> Vec<MsgInfo> {
    let rsp: ImGetMsgListRsp = c
        .call(&ImGetMsgListReq {
            user_id: user,
            session_type: kind,
            session_id: session,
            msg_id_begin: 0,
            msg_cnt: 20,
            attach_data: None,
        })
        .await;
    rsp.msg_list
}

async fn send(c: &mut Client, from: u32, to: u32, msg_type: MsgType, data: &str) -> u32 {
    let rsp: ImMsgData = c
        .call(&ImMsgData {
            from_user_id: from,
            to_session_id: to,
            msg_id: 0,
            create_time: 0,
            msg_type: msg_type as i32,
            msg_data: common::bytes(data.as_bytes()),
            attach_data: None,
        })
        .await;
    rsp.msg_id
}

async fn dump_loads_unchanged(b: Backend) {
    Store::migrate(&b.options.db).await.unwrap();
    assert!(load(&b.options.db).await > 100);
    let pool = b.pool().await;
    for (table, rows) in [
        ("IMAdmin", 1),
        ("IMAudio", 2),
        ("IMDepart", 2),
        ("IMDiscovery", 1),
        ("IMGroup", 2),
        ("IMGroupMember", 6),
        ("IMGroupMessage_1", 4),
        ("IMGroupMessage_2", 1),
        ("IMMessage_1", 7),
        ("IMMessage_2", 2),
        ("IMMessage_3", 1),
        ("IMRecentSession", 11),
        ("IMRelationShip", 5),
        ("IMUser", 6),
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        assert_eq!(count(&pool, &sql, &[]).await, rows, "{table}");
    }
    let escaped = "it's \"quoted\" \\ and\nnew line \u{1F600}";
    assert_eq!(
        text(&pool, "SELECT content FROM IMMessage_1 WHERE id = ?", &[5])
            .await
            .as_deref(),
        Some(escaped)
    );

    let server = b.start().await;
    let mut c = server.connect().await;

    // Dump users log in with their passwords (TeamTalk's salted MD5).
    let ok: ImValidateRsp = c.call(&login("test", "test")).await;
    assert_eq!(ok.result_code, 0, "{}", b.name);
    let info = ok.user_info.unwrap();
    assert_eq!((info.user_id, info.user_nick_name.as_str()), (1, "test"));
    assert_eq!(info.sign_info.as_deref(), Some("时间".as_bytes()));
    let ok: ImValidateRsp = c.call(&login("wb", "wb")).await;
    assert_eq!((ok.result_code, ok.user_info.unwrap().user_id), (0, 4));
    let ok: ImValidateRsp = c.call(&login("zhang", "123456")).await;
    assert_eq!(ok.result_code, 0);
    let info = ok.user_info.unwrap();
    assert_eq!(
        (
            info.user_nick_name.as_str(),
            info.department_id,
            info.sign_info.as_deref()
        ),
        ("张三\u{1F600}", 2, Some("it's me \\o/".as_bytes()))
    );
    let wrong: ImValidateRsp = c.call(&login("testa", "tesT")).await;
    assert_ne!(wrong.result_code, 0);
    let left: ImValidateRsp = c.call(&login("gone", "gone")).await;
    assert_ne!(left.result_code, 0, "IMUser.status 3 does not log in");

    // The dumped pair 1-2 (relation 1; the duplicate relation 4 is ignored):
    // newest first, the deleted row and another pair's row left out, the
    // msfs audio as its duration.
    let list = page(&mut c, 1, 1, 2).await;
    let got: Vec<(u32, u32, u32)> = list
        .iter()
        .map(|m| (m.msg_id, m.from_session_id, m.create_time))
        .collect();
    assert_eq!(
        got,
        [
            (6, 2, 1428417400),
            (5, 1, 1428417300),
            (3, 1, 1428417101),
            (2, 2, 1428417060),
            (1, 1, 1428417000)
        ],
        "{}",
        b.name
    );
    let data: Vec<&[u8]> = list.iter().map(|m| &m.msg_data[..]).collect();
    assert_eq!(
        data,
        [
            "最后一条".as_bytes(),
            escaped.as_bytes(),
            &4u32.to_be_bytes(),
            b"Pq0t9d2Y7b8Gk1wH3m8J0A==",
            "你好".as_bytes()
        ]
    );
    assert_eq!(list[2].msg_type, MsgType::SingleAudio as i32);

    // The dumped group 1: members read it, one who left does not.
    let group = page(&mut c, 2, 2, 1).await;
    let got: Vec<(u32, u32, i32)> = group
        .iter()
        .map(|m| (m.msg_id, m.from_session_id, m.msg_type))
        .collect();
    assert_eq!(
        got,
        [(4, 4, 0x11), (3, 3, 0x11), (2, 2, 0x12), (1, 1, 0x11)],
        "{}",
        b.name
    );
    assert_eq!(&group[2].msg_data[..], 3u32.to_be_bytes());
    assert_eq!(&group[3].msg_data[..], "欢迎".as_bytes());
    assert!(page(&mut c, 4, 2, 1).await.is_empty());

    // Recent sessions of user 1 as dumped: newest first, the deleted
    // duplicate left out, each with its latest dumped message.
    let rsp: ImRecentContactSessionRsp = c
        .call(&ImRecentContactSessionReq {
            user_id: 1,
            latest_update_time: 0,
            attach_data: None,
        })
        .await;
    let got: Vec<(u32, i32, u32, u32)> = rsp
        .contact_session_list
        .iter()
        .map(|s| {
            (
                s.session_id,
                s.session_type,
                s.updated_time,
                s.latest_msg_id,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (2, 2, 1428420000, 1),
            (3, 1, 1428418060, 2),
            (1, 2, 1428417680, 4),
            (2, 1, 1428417400, 6)
        ],
        "{}",
        b.name
    );

    // The next messages follow the dumped maxima, in the dumped relation.
    assert_eq!(send(&mut c, 1, 2, MsgType::SingleText, "after").await, 7);
    assert_eq!(send(&mut c, 2, 1, MsgType::SingleText, "again").await, 8);
    assert_eq!(send(&mut c, 3, 1, MsgType::GroupText, "grp").await, 5);
    assert_eq!(send(&mut c, 4, 1, MsgType::GroupText, "left").await, 0);
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM IMMessage_1 WHERE relateId = 1 AND msgId IN (7, 8)",
            &[]
        )
        .await,
        2
    );
    assert_eq!(
        count(&pool, "SELECT COUNT(*) FROM IMRelationShip", &[]).await,
        5
    );
    let users: ImUsersInfoRsp = c
        .call(&ImUsersInfoReq {
            user_id: 1,
            user_id_list: vec![5],
            attach_data: None,
        })
        .await;
    assert_eq!(users.user_info_list[0].user_nick_name, "张三\u{1F600}");
    server.stop().await;
}

on_backends!(dump_loads_unchanged, [mysql, mysql_redis]);

#[test]
fn the_dump_splits_into_statements() {
    let list = statements(DUMP);
    assert!(list.iter().all(|s| s.trim_end().ends_with(';')));
    let inserts = list.iter().filter(|s| s.starts_with("INSERT INTO")).count();
    assert_eq!(inserts, 14, "one INSERT per table with rows");
    assert_eq!(
        list.iter().filter(|s| s.starts_with("LOCK TABLES")).count(),
        list.iter()
            .filter(|s| s.starts_with("UNLOCK TABLES"))
            .count()
    );
}
