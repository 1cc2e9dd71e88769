//! db_proxy under pressure and abuse: concurrent first messages of a new
//! pair, 100 concurrent callers, offline-file deletes by the wrong user or
//! with SQL in the task id, a malformed frame, requests over the bound.

mod common;
#[allow(unused_imports)]
use common::AsText as _;

use std::collections::HashMap;
use std::time::Duration;

use common::{Backend, bytes, count, exec};
use ferry_proto::pb::im::base_define::{GroupType, MsgType, SessionType};
use ferry_proto::pb::im::buddy::{ImRemoveSessionReq, ImRemoveSessionRsp};
use ferry_proto::pb::im::file::{
    ImFileAddOfflineReq, ImFileDelOfflineReq, ImFileHasOfflineReq, ImFileHasOfflineRsp,
};
use ferry_proto::pb::im::group::{ImGroupCreateReq, ImGroupCreateRsp};
use ferry_proto::pb::im::message::{
    ImGetMsgByIdReq, ImGetMsgByIdRsp, ImMsgData, ImUnreadMsgCntReq, ImUnreadMsgCntRsp,
};
use ferry_proto::pb::im::server::{ImValidateReq, ImValidateRsp};
use tokio::task::JoinSet;

fn msg(from: u32, to: u32, n: u32) -> ImMsgData {
    ImMsgData {
        from_user_id: from,
        to_session_id: to,
        msg_id: 0,
        create_time: 1_700_000_000 + n,
        msg_type: MsgType::SingleText as i32,
        msg_data: bytes(format!("message {n}").as_bytes()),
        attach_data: Some(bytes(&n.to_be_bytes())),
    }
}

/// 25 first messages of a pair that never talked, on 25 connections at once.
async fn concurrent_first_messages_of_a_new_pair(b: Backend) {
    let server = b.start().await;
    let mut tasks = JoinSet::new();
    for n in 0..25u32 {
        let mut c = server.connect().await;
        let m = if n % 2 == 0 {
            msg(10, 11, n)
        } else {
            msg(11, 10, n)
        };
        tasks.spawn(async move {
            let rsp: ImMsgData = c.call(&m).await;
            assert_eq!(
                rsp.attach_data, m.attach_data,
                "answer on the asking connection"
            );
            rsp.msg_id
        });
    }
    let mut ids = tasks.join_all().await;
    ids.sort();
    assert!(
        ids.iter().all(|&id| id > 0),
        "{}: every message stored: {ids:?}",
        b.name
    );
    ids.dedup();
    assert_eq!(ids.len(), 25, "{}: no duplicate msg_id", b.name);
    if b.options.redis.is_none() {
        assert_eq!(ids, (1..=25).collect::<Vec<_>>());
    }
    let pool = b.pool().await;
    let rel = "SELECT COUNT(*) FROM IMRelationShip WHERE smallId = ? AND bigId = ?";
    assert_eq!(
        count(&pool, rel, &[10, 11]).await,
        1,
        "{}: one relation",
        b.name
    );
    let ses = "SELECT COUNT(*) FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = 1";
    assert_eq!(
        count(&pool, ses, &[10, 11]).await,
        1,
        "{}: one session for 10",
        b.name
    );
    assert_eq!(
        count(&pool, ses, &[11, 10]).await,
        1,
        "{}: one session for 11",
        b.name
    );
    let relate = 1u32;
    let stored = format!(
        "SELECT COUNT(*) FROM IMMessage_{} WHERE relateId = ?",
        relate % 8
    );
    assert_eq!(count(&pool, &stored, &[relate]).await, 25);
    server.stop().await;
}
on_backends!(concurrent_first_messages_of_a_new_pair, redis);

/// 100 callers at once, each on its own connection: 50 talk in one pair,
/// 50 in pairs of their own.
async fn hundred_concurrent_callers(b: Backend) {
    let server = b.start().await;
    let mut tasks = JoinSet::new();
    for caller in 0..100u32 {
        let mut c = server.connect().await;
        let (from, to) = if caller < 50 {
            (1000, 1001)
        } else {
            (2000 + caller, 3000 + caller)
        };
        tasks.spawn(async move {
            let mut got = Vec::new();
            for n in 0..3 {
                let rsp: ImMsgData = c.call(&msg(from, to, n)).await;
                got.push(((from, to), rsp.msg_id));
            }
            got
        });
    }
    let mut per_pair: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
    for (pair, id) in tasks.join_all().await.into_iter().flatten() {
        assert!(id > 0, "{}: a caller got an error result", b.name);
        per_pair.entry(pair).or_default().push(id);
    }
    assert_eq!(per_pair.len(), 51);
    for (pair, mut ids) in per_pair {
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "{}: duplicate msg_id in {pair:?}", b.name);
        if b.options.redis.is_none() {
            assert_eq!(ids, (1..=n as u32).collect::<Vec<_>>(), "{pair:?}");
        }
    }
    server.stop().await;
}
on_backends!(hundred_concurrent_callers, redis);

/// A burst from many callers is stored in shared batches: every answered
/// msg_id reads back as the message it was answered for, each side keeps
/// one session row (a removed one is revived), unread counts add up.
async fn burst_reads_back_as_answered(b: Backend) {
    const PAIRS: u32 = 8;
    const CALLERS: u32 = 48;
    const EACH: u32 = 4;
    let pair = |k: u32| (100 + 2 * k, 101 + 2 * k);
    let server = b.start().await;
    let mut c = server.connect().await;
    // Pair 0 talked before; 101 removed that session (status 1).
    let before: ImMsgData = c.call(&msg(100, 101, 0)).await;
    assert!(before.msg_id > 0);
    let _: ImRemoveSessionRsp = c
        .call(&ImRemoveSessionReq {
            user_id: 101,
            session_type: SessionType::Single as i32,
            session_id: 100,
            attach_data: None,
        })
        .await;
    let mut tasks = JoinSet::new();
    for caller in 0..CALLERS {
        let mut c = server.connect().await;
        let (small, big) = pair(caller % PAIRS);
        let (from, to) = if caller % 2 == 0 {
            (small, big)
        } else {
            (big, small)
        };
        tasks.spawn(async move {
            let mut got = Vec::new();
            for n in 0..EACH {
                let mut m = msg(from, to, n);
                m.msg_data = bytes(format!("caller {caller} message {n}").as_bytes());
                let rsp: ImMsgData = c.call(&m).await;
                got.push((from, to, rsp.msg_id, m.msg_data));
            }
            got
        });
    }
    let sent: Vec<_> = tasks.join_all().await.into_iter().flatten().collect();
    let mut received: HashMap<u32, u32> = HashMap::new();
    for k in 0..PAIRS {
        let (small, big) = pair(k);
        let mine: Vec<_> = sent
            .iter()
            .filter(|(f, t, _, _)| (*f).min(*t) == small)
            .collect();
        assert_eq!(mine.len() as u32, CALLERS / PAIRS * EACH);
        let got: ImGetMsgByIdRsp = c
            .call(&ImGetMsgByIdReq {
                user_id: small,
                session_type: SessionType::Single as i32,
                session_id: big,
                msg_id_list: mine.iter().map(|m| m.2).collect(),
                attach_data: None,
            })
            .await;
        let stored: HashMap<u32, _> = got
            .msg_list
            .iter()
            .map(|m| (m.msg_id, (m.from_session_id, m.msg_data.clone())))
            .collect();
        assert_eq!(
            stored.len(),
            mine.len(),
            "{}: ids unique and stored",
            b.name
        );
        for (from, to, id, data) in mine {
            assert_eq!(
                stored.get(id),
                Some(&(*from, data.clone())),
                "{}: msg {id}",
                b.name
            );
            *received.entry(*to).or_default() += 1;
        }
        let pool = b.pool().await;
        for (user, peer) in [(small, big), (big, small)] {
            let all =
                "SELECT COUNT(*) FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = 1";
            let live = "SELECT COUNT(*) FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = 1 AND status = 0";
            assert_eq!(
                count(&pool, all, &[user, peer]).await,
                1,
                "{}: one row",
                b.name
            );
            assert_eq!(
                count(&pool, live, &[user, peer]).await,
                1,
                "{}: live",
                b.name
            );
        }
    }
    for (user, n) in received {
        let unread: ImUnreadMsgCntRsp = c
            .call(&ImUnreadMsgCntReq {
                user_id: user,
                attach_data: None,
            })
            .await;
        assert_eq!(unread.total_cnt, n, "{}: unread of {user}", b.name);
    }
    server.stop().await;
}
on_backends!(burst_reads_back_as_answered, redis);

/// A burst of group messages from many members at once, with a non-member
/// among them: the non-member alone is refused; each group's msg_ids are
/// unique (1..n without Redis) and read back as answered; each sender keeps
/// one session row; unread counts say what each member has not seen (a
/// sender has seen everything up to its own last message).
async fn group_burst_reads_back_as_answered(b: Backend) {
    const GROUPS: u32 = 3;
    const MEMBERS: u32 = 6;
    let server = b.start().await;
    let mut c = server.connect().await;
    let mut groups = Vec::new();
    for g in 0..GROUPS {
        let members: Vec<u32> = (0..MEMBERS).map(|m| 900 + 10 * g + m).collect();
        let rsp: ImGroupCreateRsp = c
            .call(&ImGroupCreateReq {
                user_id: members[0],
                group_type: GroupType::Normal as i32,
                group_name: format!("burst {g}").into(),
                group_avatar: String::new().into(),
                member_id_list: members.clone(),
                attach_data: None,
            })
            .await;
        assert_eq!(rsp.result_code, 0);
        groups.push((rsp.group_id.expect("a group id"), members));
    }
    let mut tasks = JoinSet::new();
    for caller in 0..40u32 {
        let mut conn = server.connect().await;
        let (group, members) = groups[(caller % GROUPS) as usize].clone();
        // The last member never sends; caller 39 is nobody's member.
        let from = if caller == 39 {
            999
        } else {
            members[(caller / GROUPS % (MEMBERS - 1)) as usize]
        };
        tasks.spawn(async move {
            let mut got = Vec::new();
            for n in 0..3 {
                let mut m = msg(from, group, n);
                m.msg_type = MsgType::GroupText as i32;
                // Stamped by db_proxy (now): members read from their join on.
                m.create_time = 0;
                m.msg_data = bytes(format!("{caller}/{n}").as_bytes());
                let rsp: ImMsgData = conn.call(&m).await;
                got.push((group, from, rsp.msg_id, m.msg_data));
            }
            got
        });
    }
    let sent: Vec<_> = tasks.join_all().await.into_iter().flatten().collect();
    assert!(
        sent.iter().filter(|s| s.1 == 999).all(|s| s.2 == 0),
        "{}: the non-member is refused",
        b.name
    );
    let pool = b.pool().await;
    for (group, members) in &groups {
        let mine: Vec<_> = sent
            .iter()
            .filter(|s| s.0 == *group && s.1 != 999)
            .collect();
        assert!(
            mine.iter().all(|s| s.2 > 0),
            "{}: members' messages stored",
            b.name
        );
        let mut ids: Vec<u32> = mine.iter().map(|s| s.2).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), mine.len(), "{}: no duplicate msg_id", b.name);
        if b.options.redis.is_none() {
            assert_eq!(ids, (1..=mine.len() as u32).collect::<Vec<_>>());
        }
        let total = mine.len() as u32;
        let got: ImGetMsgByIdRsp = c
            .call(&ImGetMsgByIdReq {
                user_id: members[0],
                session_type: SessionType::Group as i32,
                session_id: *group,
                msg_id_list: ids.clone(),
                attach_data: None,
            })
            .await;
        let stored: HashMap<u32, _> = got
            .msg_list
            .iter()
            .map(|m| (m.msg_id, (m.from_session_id, m.msg_data.clone())))
            .collect();
        for (_, from, id, data) in &mine {
            assert_eq!(stored.get(id), Some(&(*from, data.clone())), "{}", b.name);
        }
        let first = ids[0];
        for &user in members {
            let last = mine.iter().filter(|s| s.1 == user).map(|s| s.2).max();
            let unread: ImUnreadMsgCntRsp = c
                .call(&ImUnreadMsgCntReq {
                    user_id: user,
                    attach_data: None,
                })
                .await;
            let cnt = unread
                .unreadinfo_list
                .iter()
                .find(|u| u.session_id == *group)
                .map_or(0, |u| u.unread_cnt);
            let seen = last.map_or(0, |l| l - first + 1);
            assert_eq!(cnt, total - seen, "{}: unread of {user} in {group}", b.name);
            let rows =
                "SELECT COUNT(*) FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = 2";
            let want = i64::from(last.is_some());
            assert_eq!(
                count(&pool, rows, &[user, *group]).await,
                want,
                "{}",
                b.name
            );
        }
    }
    server.stop().await;
}
on_backends!(group_burst_reads_back_as_answered, redis);

/// The database refuses one message of a burst (a trigger stands in for
/// any statement-level failure): that message gets the error result, and
/// the messages that shared its batch transaction are stored all the same.
async fn a_refused_message_fails_alone(b: Backend) {
    let server = b.start().await;
    let pool = b.pool().await;
    for shard in 0..8 {
        let trigger = if b.options.db.starts_with("sqlite") {
            format!(
                "CREATE TRIGGER poison_{shard} BEFORE INSERT ON IMMessage_{shard} \
                 WHEN NEW.content = 'poison' BEGIN SELECT RAISE(ABORT, 'poison refused'); END"
            )
        } else {
            format!(
                "CREATE TRIGGER poison_{shard} BEFORE INSERT ON IMMessage_{shard} FOR EACH ROW \
                 BEGIN IF NEW.content = 'poison' THEN \
                 SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poison refused'; END IF; END"
            )
        };
        exec(&pool, &trigger, &[]).await;
    }
    let mut conns = Vec::new();
    for _ in 0..40 {
        conns.push(server.connect().await);
    }
    let mut tasks = JoinSet::new();
    for (n, mut c) in conns.into_iter().enumerate() {
        let n = n as u32;
        let (from, to) = (500 + n % 4, 600 + n % 4);
        let mut m = msg(from, to, n);
        if n == 17 {
            m.msg_data = bytes(b"poison");
        }
        tasks.spawn(async move {
            let rsp: ImMsgData = c.call(&m).await;
            (n, (from, to), rsp.msg_id)
        });
    }
    let mut per_pair: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
    for (n, pair, id) in tasks.join_all().await {
        if n == 17 {
            assert_eq!(id, 0, "{}: the refused message is not acked", b.name);
        } else {
            assert!(
                id > 0,
                "{}: message {n} stored beside the refused one",
                b.name
            );
            per_pair.entry(pair).or_default().push(id);
        }
    }
    let stored: u32 = per_pair.values().map(|ids| ids.len() as u32).sum();
    assert_eq!(stored, 39);
    for ids in per_pair.values_mut() {
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "{}: no duplicate msg_id", b.name);
    }
    let rows = (0..8)
        .map(|s| format!("SELECT COUNT(*) FROM IMMessage_{s}"))
        .collect::<Vec<_>>();
    let mut total = 0;
    for sql in &rows {
        total += count(&pool, sql, &[]).await;
    }
    assert_eq!(total, 39, "{}: rows stored", b.name);
    server.stop().await;
}
on_backends!(a_refused_message_fails_alone, redis);

/// Two db_proxy processes' worth of stores on one MariaDB (and Redis), as a
/// TeamTalk deployment runs several: concurrent messages of the same pairs
/// through both never share a msg_id, and each pair keeps one relation and
/// one session row per side.
async fn two_db_proxies_on_one_database(b: Backend) {
    const PAIRS: u32 = 4;
    let servers = [b.start().await, b.start().await];
    let mut tasks = JoinSet::new();
    for caller in 0..32u32 {
        let mut c = servers[(caller % 2) as usize].connect().await;
        let k = caller % PAIRS;
        let (from, to) = if caller % 3 == 0 {
            (701 + k, 700)
        } else {
            (700, 701 + k)
        };
        tasks.spawn(async move {
            let mut got = Vec::new();
            for n in 0..5 {
                let rsp: ImMsgData = c.call(&msg(from, to, n)).await;
                got.push((from.max(to), rsp.msg_id));
            }
            got
        });
    }
    let mut per_pair: HashMap<u32, Vec<u32>> = HashMap::new();
    for (peer, id) in tasks.join_all().await.into_iter().flatten() {
        assert!(id > 0, "{}: a message was refused", b.name);
        per_pair.entry(peer).or_default().push(id);
    }
    assert_eq!(per_pair.len() as u32, PAIRS);
    let pool = b.pool().await;
    for (peer, mut ids) in per_pair {
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "{}: duplicate msg_id with {peer}", b.name);
        if b.options.redis.is_none() {
            assert_eq!(ids, (1..=n as u32).collect::<Vec<_>>());
        }
        let rel = "SELECT COUNT(*) FROM IMRelationShip WHERE smallId = ? AND bigId = ?";
        assert_eq!(count(&pool, rel, &[700, peer]).await, 1, "{}", b.name);
        let ses =
            "SELECT COUNT(*) FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = 1";
        assert_eq!(count(&pool, ses, &[700, peer]).await, 1, "{}", b.name);
        assert_eq!(count(&pool, ses, &[peer, 700]).await, 1, "{}", b.name);
    }
    for s in servers {
        s.stop().await;
    }
}

on_backends!(two_db_proxies_on_one_database, [mysql, mysql_redis]);

async fn offline_files_and_injection(b: Backend) {
    let server = b.start().await;
    let mut c = server.connect().await;
    let evil = "x' or '1'='1";
    for (task, name) in [
        ("6f1c3b0e-0000-4000-8000-000000000001", "report.pdf"),
        (evil, "'; DROP TABLE IMTransmitFile; --"),
    ] {
        c.send(&ImFileAddOfflineReq {
            file_size_u64: None,
            from_user_id: 1,
            to_user_id: 2,
            task_id: task.into(),
            file_name: name.into(),
            file_size: 1234,
        })
        .await;
    }
    let list = |user| ImFileHasOfflineReq {
        user_id: user,
        attach_data: Some(bytes(b"ad")),
    };
    // ADD has no answer and runs as its own task: wait until both are in.
    let has = until(&mut c, &list(2), |h| h.offline_file_list.len() == 2).await;
    assert_eq!(has.attach_data.as_deref(), Some(&b"ad"[..]));
    // ADDs run concurrently, so their rows may land in either order.
    let mut tasks: Vec<(&str, &str, u32)> = has
        .offline_file_list
        .iter()
        .map(|f| (f.task_id.as_str(), f.file_name.as_str(), f.from_user_id))
        .collect();
    tasks.sort();
    assert_eq!(
        tasks,
        [
            ("6f1c3b0e-0000-4000-8000-000000000001", "report.pdf", 1),
            (evil, "'; DROP TABLE IMTransmitFile; --", 1)
        ],
        "{}: stored literally",
        b.name
    );
    // An unrelated user (3) cannot delete, by id pair or by injection.
    for (from, to, task) in [
        (3, 2, "6f1c3b0e-0000-4000-8000-000000000001"),
        (3, 3, "6f1c3b0e-0000-4000-8000-000000000001"),
        (3, 2, evil),
        (1, 3, evil),
        (1, 2, "x"),
    ] {
        c.send(&ImFileDelOfflineReq {
            from_user_id: from,
            to_user_id: to,
            task_id: task.into(),
        })
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let has: ImFileHasOfflineRsp = c.call(&list(2)).await;
    assert_eq!(
        has.offline_file_list.len(),
        2,
        "{}: nothing deleted",
        b.name
    );
    // Its sender and receiver (as the ids of the row) delete exactly that row.
    c.send(&ImFileDelOfflineReq {
        from_user_id: 1,
        to_user_id: 2,
        task_id: evil.into(),
    })
    .await;
    let has = until(&mut c, &list(2), |h| h.offline_file_list.len() < 2).await;
    assert_eq!(has.offline_file_list.len(), 1);
    assert_eq!(has.offline_file_list[0].file_name, "report.pdf");
    let none: ImFileHasOfflineRsp = c.call(&list(1)).await;
    assert!(none.offline_file_list.is_empty());
    server.stop().await;
}
on_backends!(offline_files_and_injection);

/// An offline file whose name is GBK (not UTF-8) is stored with its bytes
/// and listed back byte for byte, whatever the backend's column type.
async fn a_gbk_offline_file_name_is_stored_as_sent(b: Backend) {
    let server = b.start().await;
    let mut c = server.connect().await;
    // "报告.pdf" in GBK, then a name with every byte value once.
    let gbk: &[u8] = &[0xb1, 0xa8, 0xb8, 0xe6, b'.', b'p', b'd', b'f'];
    let every: Vec<u8> = (1..=255u8).collect();
    for (task, name) in [
        ("6f1c3b0e-0000-4000-8000-0000000000a1", gbk),
        ("6f1c3b0e-0000-4000-8000-0000000000a2", &every[..]),
    ] {
        c.send(&ImFileAddOfflineReq {
            file_size_u64: None,
            from_user_id: 1,
            to_user_id: 2,
            task_id: task.into(),
            file_name: bytes(name),
            file_size: 77,
        })
        .await;
    }
    let list = ImFileHasOfflineReq {
        user_id: 2,
        attach_data: None,
    };
    let has = until(&mut c, &list, |h| h.offline_file_list.len() == 2).await;
    let mut names: Vec<&[u8]> = has
        .offline_file_list
        .iter()
        .map(|f| &f.file_name[..])
        .collect();
    names.sort();
    let mut want = vec![gbk, &every[..]];
    want.sort();
    assert_eq!(names, want, "{}: byte for byte", b.name);
    server.stop().await;
}
on_backends!(a_gbk_offline_file_name_is_stored_as_sent);

/// IMFileAddOfflineReq has no answer, so msg_server may send it again: a
/// repeat changes nothing (one row per sender, receiver and task), and one
/// delete removes the file.
async fn a_repeated_offline_add_changes_nothing(b: Backend) {
    let server = b.start().await;
    let mut c = server.connect().await;
    let add = ImFileAddOfflineReq {
        file_size_u64: None,
        from_user_id: 1,
        to_user_id: 2,
        task_id: "6f1c3b0e-0000-4000-8000-0000000000b1".into(),
        file_name: "twice.bin".into(),
        file_size: 10,
    };
    let list = ImFileHasOfflineReq {
        user_id: 2,
        attach_data: None,
    };
    c.send(&add).await;
    until(&mut c, &list, |h| h.offline_file_list.len() == 1).await;
    for _ in 0..3 {
        c.send(&add).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let has: ImFileHasOfflineRsp = c.call(&list).await;
    assert_eq!(has.offline_file_list.len(), 1, "{}: listed once", b.name);
    let pool = b.pool().await;
    let rows = common::count(
        &pool,
        "SELECT COUNT(*) FROM IMTransmitFile WHERE fromId = ? AND toId = ?",
        &[1, 2],
    )
    .await;
    assert_eq!(rows, 1, "{}: one row", b.name);
    let del = ImFileDelOfflineReq {
        from_user_id: 1,
        to_user_id: 2,
        task_id: add.task_id.clone(),
    };
    c.send(&del).await;
    until(&mut c, &list, |h| h.offline_file_list.is_empty()).await;
    c.send(&del).await; // a repeated delete finds nothing and harms nothing
    c.send(&add).await; // the same task offered again after its delete
    until(&mut c, &list, |h| h.offline_file_list.len() == 1).await;
    server.stop().await;
}
on_backends!(a_repeated_offline_add_changes_nothing);

/// A ferry peer's offline file past 4 GiB: the size rides in
/// `file_size_u64` (the stock field carries 0xFFFFFFFF), is stored whole and
/// listed the same way; a file that fits is listed without the extension; an
/// extension that disagrees with the stock field is refused, nothing stored.
async fn an_offline_file_past_4_gib_keeps_its_size(b: Backend) {
    let server = b.start().await;
    let mut c = server.connect().await;
    const BIG: u64 = 5 << 30;
    let add = |task: &'static str, size: u32, wide: Option<u64>| ImFileAddOfflineReq {
        from_user_id: 1,
        to_user_id: 3,
        task_id: task.into(),
        file_name: "disk.img".into(),
        file_size: size,
        file_size_u64: wide,
    };
    c.send(&add(
        "6f1c3b0e-0000-4000-8000-0000000000c1",
        u32::MAX,
        Some(BIG),
    ))
    .await;
    c.send(&add("6f1c3b0e-0000-4000-8000-0000000000c2", 4096, None))
        .await;
    // Disagreeing fields: refused (no answer to ADD; nothing stored).
    c.send(&add("6f1c3b0e-0000-4000-8000-0000000000c3", 12, Some(BIG)))
        .await;
    let list = ImFileHasOfflineReq {
        user_id: 3,
        attach_data: None,
    };
    until(&mut c, &list, |h| h.offline_file_list.len() >= 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // the refused one had its turn
    let has: ImFileHasOfflineRsp = c.call(&list).await;
    let mut sizes: Vec<(&str, u32, Option<u64>)> = has
        .offline_file_list
        .iter()
        .map(|f| (f.task_id.as_str(), f.file_size, f.file_size_u64))
        .collect();
    sizes.sort();
    assert_eq!(
        sizes,
        [
            ("6f1c3b0e-0000-4000-8000-0000000000c1", u32::MAX, Some(BIG)),
            ("6f1c3b0e-0000-4000-8000-0000000000c2", 4096, None),
        ],
        "{}",
        b.name
    );
    server.stop().await;
}
on_backends!(an_offline_file_past_4_gib_keeps_its_size);

/// Asks `req` until the answer satisfies `done` (requests without an answer
/// run concurrently with later ones), for 10 s at most.
async fn until(
    c: &mut common::Client,
    req: &ImFileHasOfflineReq,
    done: impl Fn(&ImFileHasOfflineRsp) -> bool,
) -> ImFileHasOfflineRsp {
    for _ in 0..200 {
        let rsp: ImFileHasOfflineRsp = c.call(req).await;
        if done(&rsp) {
            return rsp;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached in 10 s")
}

/// A header declaring length 5 closes that connection only (TeamTalk's
/// db_proxy segfaults on it).
async fn malformed_frame_closes_only_that_connection(b: Backend) {
    let server = b.start().await;
    let mut good = server.connect().await;
    let mut bad = server.connect().await;
    let mut header = [0u8; 16];
    header[..4].copy_from_slice(&5u32.to_be_bytes());
    header[4..6].copy_from_slice(&1u16.to_be_bytes());
    header[8..10].copy_from_slice(&7u16.to_be_bytes());
    header[10..12].copy_from_slice(&0x0703u16.to_be_bytes());
    bad.send_raw(&header).await;
    assert!(
        bad.recv_frame().await.is_none(),
        "the bad connection is closed"
    );
    let rsp: ImMsgData = good.call(&msg(20, 21, 1)).await;
    assert_eq!(rsp.msg_id, 1);
    // A body that is not the command's message is dropped; the connection lives.
    let mut junk = Vec::new();
    ferry_proto::frame::Header::new(ferry_proto::registry::CID_MSG_DATA, 9, 2).write(&mut junk);
    junk.extend_from_slice(&[0xff, 0xff]);
    good.send_raw(&junk).await;
    let rsp: ImMsgData = good.call(&msg(21, 20, 2)).await;
    assert_eq!(rsp.msg_id, 2);
    // A new connection is served as before.
    let mut again = server.connect().await;
    assert_eq!(again.call::<_, ImMsgData>(&msg(20, 21, 3)).await.msg_id, 3);
    server.stop().await;
}
on_backends!(malformed_frame_closes_only_that_connection);

/// Over pool_size + queue_limit requests in flight: the excess gets its
/// command's error result at once (msg_id 0, result_code 2), nobody hangs.
async fn over_the_bound_is_refused_with_an_error_result(b: Backend) {
    let mut b = b;
    b.options.pool_size = 1;
    let server = b.start_with(|o| o.queue_limit = 1).await;
    let mut c = server.connect().await;
    // Argon2-free but slow enough: 40 requests written in one go.
    let mut burst = Vec::new();
    for n in 0..40u32 {
        let m = msg(30, 31, n);
        let pdu = ferry_proto::frame::encode_to_bytes(&m, n as u16, 1 << 20).unwrap();
        burst.extend_from_slice(&pdu);
    }
    let v = ImValidateReq {
        user_name: "nobody".into(),
        password: "x".into(),
        attach_data: None,
    };
    burst.extend_from_slice(&ferry_proto::frame::encode_to_bytes(&v, 99, 1 << 20).unwrap());
    c.send_raw(&burst).await;
    let (mut stored, mut refused, mut validate) = (Vec::new(), 0, None);
    for _ in 0..41 {
        let f = c.recv_frame().await.unwrap();
        if f.header.seq_num == 99 {
            validate = Some(f.decode::<ImValidateRsp>().unwrap().result_code);
            continue;
        }
        match f.decode::<ImMsgData>().unwrap().msg_id {
            0 => refused += 1,
            id => stored.push(id),
        }
    }
    assert!(refused > 0, "{}: some requests refused", b.name);
    assert!(matches!(validate, Some(1 | 2)));
    stored.sort();
    assert_eq!(
        stored,
        (1..=stored.len() as u32).collect::<Vec<_>>(),
        "refused ones took no msg_id"
    );
    assert!(c.silent_for(Duration::from_millis(200)).await);
    server.stop().await;
}
on_backends!(over_the_bound_is_refused_with_an_error_result);

/// db_proxy keeps each msg_server link alive from its side, as TeamTalk's
/// db_proxy_server does: after 5 s without sending anything it sends a
/// heartbeat, so a stock msg_server (which drops a db link that received
/// nothing for 30 s) never sees its links die while idle.
async fn an_idle_link_gets_heartbeats_from_db_proxy(b: Backend) {
    let server = b.start().await;
    let mut c = server.connect().await;
    let started = std::time::Instant::now();
    let beat = c.recv_frame().await.expect("a heartbeat, not a close");
    let waited = started.elapsed();
    assert_eq!(
        (beat.header.command, beat.header.seq_num, beat.body().len()),
        (ferry_proto::registry::CID_OTHER_HEARTBEAT, 0, 0)
    );
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(7),
        "{}: heartbeat after {waited:?}",
        b.name
    );
    server.stop().await;
}
on_backends!(an_idle_link_gets_heartbeats_from_db_proxy, [sqlite]);

/// A link that sends nothing (not even heartbeats) for `link_timeout` is
/// dead and is closed; one that heartbeats stays.
async fn a_silent_link_is_closed_a_heartbeating_one_stays(b: Backend) {
    let server = b
        .start_with(|o| {
            o.heartbeat = Duration::from_millis(100);
            o.link_timeout = Duration::from_millis(800);
        })
        .await;
    let mut silent = server.connect().await;
    let mut alive = server.connect().await;
    let beat = ferry_proto::frame::encode_to_bytes(
        &ferry_proto::pb::im::other::ImHeartBeat {},
        0,
        ferry_proto::frame::DEFAULT_MAX_FRAME,
    )
    .unwrap();
    let started = std::time::Instant::now();
    while silent.recv_frame().await.is_some() {
        alive.send_raw(&beat).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{}",
        b.name
    );
    // The heartbeating link is still served (past the heartbeats it got).
    let seq = alive
        .send(&ImValidateReq {
            user_name: "nobody".into(),
            password: "x".into(),
            attach_data: None,
        })
        .await;
    loop {
        let f = alive.recv_frame().await.expect("the live link stays open");
        if f.header.command == ferry_proto::registry::CID_OTHER_VALIDATE_RSP {
            assert_eq!(f.header.seq_num, seq);
            assert_eq!(f.decode::<ImValidateRsp>().unwrap().result_code, 1);
            break;
        }
    }
    server.stop().await;
}
on_backends!(a_silent_link_is_closed_a_heartbeating_one_stays, [sqlite]);
