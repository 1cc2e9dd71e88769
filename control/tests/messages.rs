//! Messages through the PDU port: send (single, group, text, audio, any
//! bytes), list, by id, latest, unread and read ack, recent sessions, user
//! info; msg_id monotonic across a Redis flush and a restart.

mod common;
#[allow(unused_imports)]
use common::AsText as _;

use std::time::Duration;

use common::{Arg, Backend, Client, bytes, count, exec, insert_teamtalk_user};
use ferry_proto::pb::im::base_define::MsgType;
use ferry_proto::pb::im::buddy::{
    ImAllUserReq, ImAllUserRsp, ImRecentContactSessionReq, ImRecentContactSessionRsp,
    ImUsersInfoReq, ImUsersInfoRsp,
};
use ferry_proto::pb::im::message::{
    ImGetLatestMsgIdReq, ImGetLatestMsgIdRsp, ImGetMsgByIdReq, ImGetMsgByIdRsp, ImGetMsgListReq,
    ImGetMsgListRsp, ImMsgData, ImMsgDataReadAck, ImUnreadMsgCntReq, ImUnreadMsgCntRsp,
};

pub fn msg(from: u32, to: u32, msg_type: MsgType, data: &[u8]) -> ImMsgData {
    ImMsgData {
        from_user_id: from,
        to_session_id: to,
        msg_id: 0,
        create_time: 1_700_000_000,
        msg_type: msg_type as i32,
        msg_data: bytes(data),
        attach_data: Some(bytes(b"cookie")),
    }
}

pub async fn send(c: &mut Client, m: &ImMsgData) -> u32 {
    let rsp: ImMsgData = c.call(m).await;
    assert_eq!(rsp.attach_data, m.attach_data);
    assert_eq!(rsp.msg_data, m.msg_data);
    rsp.msg_id
}

async fn message_flow(b: Backend) {
    let server = b.start().await;
    let pool = b.pool().await;
    for name in ["u1", "u2", "u3"] {
        insert_teamtalk_user(&pool, name, "pw", "1", 0).await;
    }
    let mut c = server.connect().await;
    let text = MsgType::SingleText;
    assert_eq!(send(&mut c, &msg(1, 2, text, b"hello")).await, 1);
    assert_eq!(send(&mut c, &msg(2, 1, text, b"hi back")).await, 2);
    // Not UTF-8: stored losslessly, read back byte for byte.
    let binary = [0xff, 0xfe, 0x00, 0xc3, 0x28, b'x'];
    assert_eq!(
        send(&mut c, &msg(1, 2, MsgType::SingleAudio, &binary)).await,
        3
    );
    let injection = b"x'); DELETE FROM IMMessage_1; --";
    assert_eq!(send(&mut c, &msg(1, 2, text, injection)).await, 4);
    // Refused, never acked: to oneself, empty, too long, undeclared type.
    assert_eq!(send(&mut c, &msg(1, 1, text, b"me")).await, 0);
    assert_eq!(send(&mut c, &msg(1, 2, text, &[b'a'; 4097])).await, 0);
    let mut bad = msg(1, 2, text, b"x");
    bad.msg_data = bytes(b"");
    assert_eq!(c.call::<_, ImMsgData>(&bad).await.msg_id, 0);

    let list: ImGetMsgListRsp = c
        .call(&ImGetMsgListReq {
            user_id: 2,
            session_type: 1,
            session_id: 1,
            msg_id_begin: 0,
            msg_cnt: 10,
            attach_data: None,
        })
        .await;
    let ids: Vec<u32> = list.msg_list.iter().map(|m| m.msg_id).collect();
    assert_eq!(ids, [4, 3, 2, 1], "{}", b.name);
    assert_eq!(&list.msg_list[0].msg_data[..], injection);
    assert_eq!(&list.msg_list[1].msg_data[..], binary);
    assert_eq!(list.msg_list[1].msg_type, MsgType::SingleAudio as i32);
    assert_eq!(
        (
            list.msg_list[2].from_session_id,
            list.msg_list[2].create_time
        ),
        (2, 1_700_000_000)
    );
    let page: ImGetMsgListRsp = c
        .call(&ImGetMsgListReq {
            user_id: 1,
            session_type: 1,
            session_id: 2,
            msg_id_begin: 2,
            msg_cnt: 1,
            attach_data: None,
        })
        .await;
    assert_eq!(
        page.msg_list.iter().map(|m| m.msg_id).collect::<Vec<_>>(),
        [2]
    );
    // A stranger reads nothing of the pair.
    let stranger: ImGetMsgListRsp = c
        .call(&ImGetMsgListReq {
            user_id: 3,
            session_type: 1,
            session_id: 1,
            msg_id_begin: 0,
            msg_cnt: 10,
            attach_data: None,
        })
        .await;
    assert!(stranger.msg_list.is_empty());

    let by_id: ImGetMsgByIdRsp = c
        .call(&ImGetMsgByIdReq {
            user_id: 1,
            session_type: 1,
            session_id: 2,
            msg_id_list: vec![3, 1, 99],
            attach_data: None,
        })
        .await;
    let mut got: Vec<u32> = by_id.msg_list.iter().map(|m| m.msg_id).collect();
    got.sort();
    assert_eq!(got, [1, 3]);

    let latest: ImGetLatestMsgIdRsp = c
        .call(&ImGetLatestMsgIdReq {
            user_id: 2,
            session_type: 1,
            session_id: 1,
            attach_data: Some(bytes(b"a")),
        })
        .await;
    assert_eq!(
        (latest.latest_msg_id, latest.attach_data.as_deref()),
        (4, Some(&b"a"[..]))
    );

    // Unread: user 2 has 3 from user 1; user 1 has 1 from user 2.
    let unread: ImUnreadMsgCntRsp = c
        .call(&ImUnreadMsgCntReq {
            user_id: 2,
            attach_data: None,
        })
        .await;
    assert_eq!(unread.total_cnt, 3, "{}", b.name);
    assert_eq!(unread.unreadinfo_list.len(), 1);
    let info = &unread.unreadinfo_list[0];
    assert_eq!(
        (info.session_id, info.unread_cnt, info.latest_msg_id),
        (1, 3, 4)
    );
    assert_eq!(info.latest_msg_from_user_id, 1);
    // Read ack clears it and has no answer.
    c.send(&ImMsgDataReadAck {
        user_id: 2,
        session_id: 1,
        msg_id: 4,
        session_type: 1,
    })
    .await;
    assert!(c.silent_for(Duration::from_millis(300)).await);
    let unread: ImUnreadMsgCntRsp = c
        .call(&ImUnreadMsgCntReq {
            user_id: 2,
            attach_data: None,
        })
        .await;
    assert_eq!((unread.total_cnt, unread.unreadinfo_list.len()), (0, 0));

    // Recent sessions: one per side; the latest message; single chats name the peer.
    let sessions: ImRecentContactSessionRsp = c
        .call(&ImRecentContactSessionReq {
            user_id: 1,
            latest_update_time: 0,
            attach_data: None,
        })
        .await;
    assert_eq!(sessions.contact_session_list.len(), 1);
    let s = &sessions.contact_session_list[0];
    assert_eq!((s.session_id, s.session_type, s.latest_msg_id), (2, 1, 4));
    assert_eq!(s.latest_msg_from_user_id, 2);
    let later: ImRecentContactSessionRsp = c
        .call(&ImRecentContactSessionReq {
            user_id: 1,
            latest_update_time: u32::MAX - 1,
            attach_data: None,
        })
        .await;
    assert!(later.contact_session_list.is_empty());

    // Group: members only; its own counter and shard.
    exec(
        &pool,
        "INSERT INTO IMGroup (id, name, avatar, creator, type, userCnt, status, version, lastChated, updated, created) \
         VALUES (9, 'g', '', 1, 1, 2, 0, 1, 0, 1, 1)",
        &[],
    )
    .await;
    for u in [1, 2] {
        exec(
            &pool,
            "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES (9, ?, 0, 1, 1)",
            &[Arg::U(u)],
        )
        .await;
    }
    let group = MsgType::GroupText;
    assert_eq!(send(&mut c, &msg(1, 9, group, b"to all")).await, 1);
    assert_eq!(
        send(&mut c, &msg(2, 9, MsgType::GroupAudio, &[0, 0, 0, 3, 0xff])).await,
        2
    );
    assert_eq!(send(&mut c, &msg(3, 9, group, b"not a member")).await, 0);
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM IMGroupMessage_1 WHERE groupId = ?",
            &[9]
        )
        .await,
        2
    );
    let unread: ImUnreadMsgCntRsp = c
        .call(&ImUnreadMsgCntReq {
            user_id: 1,
            attach_data: None,
        })
        .await;
    let g = unread
        .unreadinfo_list
        .iter()
        .find(|u| u.session_type == 2)
        .unwrap();
    assert_eq!(
        (
            g.session_id,
            g.unread_cnt,
            g.latest_msg_id,
            g.latest_msg_from_user_id
        ),
        (9, 1, 2, 2)
    );
    c.send(&ImMsgDataReadAck {
        user_id: 1,
        session_id: 9,
        msg_id: 2,
        session_type: 2,
    })
    .await;
    assert!(c.silent_for(Duration::from_millis(300)).await);
    let unread: ImUnreadMsgCntRsp = c
        .call(&ImUnreadMsgCntReq {
            user_id: 1,
            attach_data: None,
        })
        .await;
    assert!(unread.unreadinfo_list.iter().all(|u| u.session_type != 2));
    let glist: ImGetMsgListRsp = c
        .call(&ImGetMsgListReq {
            user_id: 2,
            session_type: 2,
            session_id: 9,
            msg_id_begin: 0,
            msg_cnt: 10,
            attach_data: None,
        })
        .await;
    assert_eq!(glist.msg_list.len(), 2);
    assert_eq!(&glist.msg_list[0].msg_data[..], &[0, 0, 0, 3, 0xff]);

    // Users.
    let users: ImUsersInfoRsp = c
        .call(&ImUsersInfoReq {
            user_id: 1,
            user_id_list: vec![2, 3, 404],
            attach_data: None,
        })
        .await;
    let names: Vec<&str> = users
        .user_info_list
        .iter()
        .map(|u| u.user_real_name.as_str())
        .collect();
    assert_eq!(names, ["u2", "u3"]);
    let all: ImAllUserRsp = c
        .call(&ImAllUserReq {
            user_id: 1,
            latest_update_time: 0,
            attach_data: None,
        })
        .await;
    assert_eq!((all.user_list.len(), all.latest_update_time), (3, 100));
    let none: ImAllUserRsp = c
        .call(&ImAllUserReq {
            user_id: 1,
            latest_update_time: 100,
            attach_data: None,
        })
        .await;
    assert!(none.user_list.is_empty());
    server.stop().await;
}
on_backends!(message_flow, redis);

/// msg_id keeps rising across a Redis FLUSHDB and a db_proxy restart.
async fn msg_id_survives_redis_flush_and_restart(b: Backend) {
    let mut redis = b.redis().await.unwrap();
    let server = b.start().await;
    let mut c = server.connect().await;
    let text = MsgType::SingleText;
    assert_eq!(send(&mut c, &msg(5, 6, text, b"1")).await, 1);
    assert_eq!(send(&mut c, &msg(6, 5, text, b"2")).await, 2);
    let key: Option<u32> = redis::cmd("GET")
        .arg("msg_id_1")
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(key, Some(2), "TeamTalk's key holds the counter");
    let _: () = redis::cmd("FLUSHDB").query_async(&mut redis).await.unwrap();
    assert_eq!(send(&mut c, &msg(5, 6, text, b"3")).await, 3, "{}", b.name);
    server.stop().await;

    let _: () = redis::cmd("FLUSHDB").query_async(&mut redis).await.unwrap();
    let server = b.start().await;
    let mut c = server.connect().await;
    assert_eq!(send(&mut c, &msg(5, 6, text, b"4")).await, 4);
    // A Redis counter ahead of the store (a TeamTalk db_proxy used it) is followed.
    let _: () = redis::cmd("SET")
        .arg("msg_id_1")
        .arg(10)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(send(&mut c, &msg(6, 5, text, b"5")).await, 11);
    server.stop().await;
    // And without Redis afterwards, the SQL high water goes on from there.
    let mut plain = b.options.clone();
    plain.redis = None;
    let store = ferry_control::store::Store::open(&plain).await.unwrap();
    let id = store
        .send_single(&ferry_control::store::Outgoing {
            from: 5,
            to: 6,
            msg_type: text as i32,
            data: b"6",
            create_time: 1,
        })
        .await
        .unwrap();
    assert_eq!(id, 12);
    store.close().await;
}

on_backends!(
    msg_id_survives_redis_flush_and_restart,
    [sqlite_redis, mysql_redis]
);

/// Without Redis: the SQL counter across a restart.
async fn msg_id_survives_restart(b: Backend) {
    let server = b.start().await;
    let mut c = server.connect().await;
    for i in 1..=3 {
        assert_eq!(send(&mut c, &msg(7, 8, MsgType::SingleText, b"x")).await, i);
    }
    server.stop().await;
    let server = b.start().await;
    let mut c = server.connect().await;
    assert_eq!(send(&mut c, &msg(8, 7, MsgType::SingleText, b"y")).await, 4);
    server.stop().await;
}
on_backends!(msg_id_survives_restart);
