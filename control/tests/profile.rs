//! What a user sets and removes through the PDU port: push shield, sign
//! info (stored literally, injection included, refused past 128
//! characters), departments changed since a time, removing a recent
//! session, device tokens (TeamTalk's `device_…` keys with Redis,
//! FerryDeviceToken without).

mod common;
#[allow(unused_imports)]
use common::AsText as _;

use std::time::Duration;

use common::{Arg, Backend, Client, bytes, count, exec, insert_teamtalk_user, session_ids};
use ferry_proto::pb::im::base_define::{ClientType, MsgType};
use ferry_proto::pb::im::buddy::{
    ImAllUserReq, ImAllUserRsp, ImChangeSignInfoReq, ImChangeSignInfoRsp, ImDepartmentReq,
    ImDepartmentRsp, ImRemoveSessionReq, ImRemoveSessionRsp, ImUsersInfoReq, ImUsersInfoRsp,
};
use ferry_proto::pb::im::login::{
    ImDeviceTokenReq, ImDeviceTokenRsp, ImPushShieldReq, ImPushShieldRsp, ImQueryPushShieldReq,
    ImQueryPushShieldRsp,
};
use ferry_proto::pb::im::message::{ImMsgData, ImUnreadMsgCntReq, ImUnreadMsgCntRsp};
use ferry_proto::pb::im::server::{ImGetDeviceTokenReq, ImGetDeviceTokenRsp};

fn cookie() -> Option<bytes::Bytes> {
    Some(bytes(b"cookie\x00\xff"))
}

async fn set_shield(c: &mut Client, user: u32, status: u32) -> ImPushShieldRsp {
    let rsp: ImPushShieldRsp = c
        .call(&ImPushShieldReq {
            user_id: user,
            shield_status: status,
            attach_data: cookie(),
        })
        .await;
    assert_eq!((rsp.user_id, rsp.attach_data.clone()), (user, cookie()));
    rsp
}

async fn query_shield(c: &mut Client, user: u32) -> ImQueryPushShieldRsp {
    let rsp: ImQueryPushShieldRsp = c
        .call(&ImQueryPushShieldReq {
            user_id: user,
            attach_data: cookie(),
        })
        .await;
    assert_eq!((rsp.user_id, rsp.attach_data.clone()), (user, cookie()));
    rsp
}

async fn push_shield(b: Backend) {
    let server = b.start().await;
    let pool = b.pool().await;
    insert_teamtalk_user(&pool, "u1", "pw", "1", 0).await;
    let mut c = server.connect().await;
    let q = query_shield(&mut c, 1).await;
    assert_eq!((q.result_code, q.shield_status), (0, Some(0)), "{}", b.name);
    let s = set_shield(&mut c, 1, 1).await;
    assert_eq!((s.result_code, s.shield_status), (0, Some(1)));
    // The same value again is still a success (MySQL reports 0 rows changed).
    let s = set_shield(&mut c, 1, 1).await;
    assert_eq!((s.result_code, s.shield_status), (0, Some(1)));
    let q = query_shield(&mut c, 1).await;
    assert_eq!((q.result_code, q.shield_status), (0, Some(1)));
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM IMUser WHERE id = ? AND push_shield_status = 1",
            &[1]
        )
        .await,
        1
    );
    // Unknown user, a status other than 0/1: result 1 without a status.
    let s = set_shield(&mut c, 99, 1).await;
    assert_eq!((s.result_code, s.shield_status), (1, None));
    let s = set_shield(&mut c, 1, 7).await;
    assert_eq!((s.result_code, s.shield_status), (1, None));
    let q = query_shield(&mut c, 99).await;
    assert_eq!((q.result_code, q.shield_status), (1, None));
    let s = set_shield(&mut c, 1, 0).await;
    assert_eq!((s.result_code, s.shield_status), (0, Some(0)));
    server.stop().await;
}
on_backends!(push_shield);

async fn sign(c: &mut Client, user: u32, text: &str) -> ImChangeSignInfoRsp {
    let rsp: ImChangeSignInfoRsp = c
        .call(&ImChangeSignInfoReq {
            user_id: user,
            sign_info: text.to_owned().into(),
            attach_data: cookie(),
        })
        .await;
    assert_eq!((rsp.user_id, rsp.attach_data.clone()), (user, cookie()));
    rsp
}

async fn sign_of(c: &mut Client, user: u32) -> String {
    let rsp: ImUsersInfoRsp = c
        .call(&ImUsersInfoReq {
            user_id: user,
            user_id_list: vec![user],
            attach_data: None,
        })
        .await;
    rsp.user_info_list[0]
        .sign_info
        .as_ref()
        .unwrap()
        .as_str()
        .to_owned()
}

async fn sign_info(b: Backend) {
    let server = b.start().await;
    let pool = b.pool().await;
    insert_teamtalk_user(&pool, "u1", "pw", "1", 0).await;
    insert_teamtalk_user(&pool, "u2", "pw", "2", 0).await;
    let mut c = server.connect().await;
    let rsp = sign(&mut c, 1, "今天 hello").await;
    assert_eq!(
        (rsp.result_code, rsp.sign_info.as_deref()),
        (0, Some("今天 hello".as_bytes())),
        "{}",
        b.name
    );
    assert_eq!(sign_of(&mut c, 1).await, "今天 hello");
    // The change stamps `updated`: the next all-users sync carries user 1 only.
    let all: ImAllUserRsp = c
        .call(&ImAllUserReq {
            user_id: 2,
            latest_update_time: 100,
            attach_data: None,
        })
        .await;
    assert_eq!(
        all.user_list.iter().map(|u| u.user_id).collect::<Vec<_>>(),
        [1]
    );
    assert!(all.latest_update_time > 100);

    // Injection attempts are stored as text, nothing else changes.
    for evil in [
        "x', sign_info = 'pwned', status = '3",
        "'; UPDATE IMUser SET sign_info = 'pwned'; --",
        "\\'; DROP TABLE IMUser; -- \" ` %",
    ] {
        let rsp = sign(&mut c, 1, evil).await;
        assert_eq!(
            (rsp.result_code, rsp.sign_info.as_deref()),
            (0, Some(evil.as_bytes()))
        );
        assert_eq!(sign_of(&mut c, 1).await, evil);
        assert_eq!(sign_of(&mut c, 2).await, "hi");
    }
    assert_eq!(
        count(&pool, "SELECT COUNT(*) FROM IMUser WHERE status = ?", &[0]).await,
        2
    );

    // 128 characters (multi-byte) fit the column; 129 are refused, not cut.
    let full = "签".repeat(128);
    assert_eq!(sign(&mut c, 1, &full).await.result_code, 0);
    assert_eq!(sign_of(&mut c, 1).await, full);
    let rsp = sign(&mut c, 1, &"a".repeat(129)).await;
    assert_eq!((rsp.result_code, rsp.sign_info), (1, None));
    assert_eq!(sign_of(&mut c, 1).await, full);
    // Unknown user.
    assert_eq!(sign(&mut c, 99, "x").await.result_code, 1);
    server.stop().await;
}
on_backends!(sign_info);

async fn departments(b: Backend) {
    let server = b.start().await;
    let pool = b.pool().await;
    for (id, name, status, updated) in [
        (1, "研发", 0, 100),
        (2, "x'; DELETE FROM IMDepart; --", 1, 200),
        (3, "bad status", 7, 300),
        (4, "old", 0, 50),
    ] {
        exec(
            &pool,
            "INSERT INTO IMDepart (id, departName, priority, parentId, status, created, updated) \
             VALUES (?, ?, ?, 1, ?, 1, ?)",
            &[
                Arg::U(id),
                Arg::S(name),
                Arg::U(id * 10),
                Arg::U(status),
                Arg::U(updated),
            ],
        )
        .await;
    }
    let mut c = server.connect().await;
    let ask = |since| ImDepartmentReq {
        user_id: 5,
        latest_update_time: since,
        attach_data: cookie(),
    };
    let rsp: ImDepartmentRsp = c.call(&ask(60)).await;
    assert_eq!((rsp.user_id, rsp.attach_data.clone()), (5, cookie()));
    let got: Vec<_> = rsp
        .dept_list
        .iter()
        .map(|d| {
            (
                d.dept_id,
                d.dept_name.as_str(),
                d.priority,
                d.parent_dept_id,
                d.dept_status,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (1, "研发", 10, 1, 0),
            (2, "x'; DELETE FROM IMDepart; --", 20, 1, 1)
        ],
        "{}",
        b.name
    );
    // The newest change seen, the row with an unknown status included.
    assert_eq!(rsp.latest_update_time, 300);
    let rsp: ImDepartmentRsp = c.call(&ask(300)).await;
    assert_eq!((rsp.latest_update_time, rsp.dept_list.len()), (300, 0));
    let rsp: ImDepartmentRsp = c.call(&ask(0)).await;
    assert_eq!(rsp.dept_list.len(), 3);
    assert_eq!(
        count(&pool, "SELECT COUNT(*) FROM IMDepart WHERE id > ?", &[0]).await,
        4
    );
    server.stop().await;
}
on_backends!(departments);

fn text(from: u32, to: u32, data: &[u8]) -> ImMsgData {
    ImMsgData {
        from_user_id: from,
        to_session_id: to,
        msg_id: 0,
        create_time: 0,
        msg_type: MsgType::SingleText as i32,
        msg_data: bytes(data),
        attach_data: None,
    }
}

async fn unread_total(c: &mut Client, user: u32) -> u32 {
    let rsp: ImUnreadMsgCntRsp = c
        .call(&ImUnreadMsgCntReq {
            user_id: user,
            attach_data: None,
        })
        .await;
    rsp.total_cnt
}

async fn remove(c: &mut Client, user: u32, kind: i32, peer: u32) -> u16 {
    c.send(&ImRemoveSessionReq {
        user_id: user,
        session_type: kind,
        session_id: peer,
        attach_data: cookie(),
    })
    .await
}

async fn remove_session(b: Backend) {
    let server = b.start().await;
    let pool = b.pool().await;
    for name in ["u1", "u2"] {
        insert_teamtalk_user(&pool, name, "pw", "1", 0).await;
    }
    let mut c = server.connect().await;
    let ack: ImMsgData = c.call(&text(1, 2, b"hello")).await;
    assert_eq!(ack.msg_id, 1);
    assert_eq!(session_ids(&mut c, 2).await, [1]);
    assert_eq!(unread_total(&mut c, 2).await, 1);

    let seq = remove(&mut c, 2, 1, 1).await;
    let (got, rsp) = c.recv::<ImRemoveSessionRsp>().await;
    assert_eq!(got, seq);
    assert_eq!(
        (
            rsp.user_id,
            rsp.result_code,
            rsp.session_type,
            rsp.session_id,
            rsp.attach_data
        ),
        (2, 0, 1, 1, cookie()),
        "{}",
        b.name
    );
    assert!(session_ids(&mut c, 2).await.is_empty());
    assert_eq!(
        unread_total(&mut c, 2).await,
        0,
        "removing clears the unread count"
    );
    assert_eq!(session_ids(&mut c, 1).await, [2], "the peer keeps its side");
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM IMRecentSession WHERE userId = ? AND status = 1",
            &[2]
        )
        .await,
        1
    );
    // Nothing left to remove: result 1.
    remove(&mut c, 2, 1, 1).await;
    assert_eq!(c.recv::<ImRemoveSessionRsp>().await.1.result_code, 1);
    // A session type outside SessionType: no answer, as TeamTalk.
    remove(&mut c, 2, 7, 1).await;
    assert!(c.silent_for(Duration::from_millis(300)).await);
    // The next message brings the same row back.
    let ack: ImMsgData = c.call(&text(1, 2, b"again")).await;
    assert_eq!(ack.msg_id, 2);
    assert_eq!(session_ids(&mut c, 2).await, [1]);
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM IMRecentSession WHERE userId = ?",
            &[2]
        )
        .await,
        1
    );
    server.stop().await;
}
on_backends!(remove_session, redis);

async fn set_token(c: &mut Client, user: u32, kind: Option<ClientType>, token: &str) {
    let rsp: ImDeviceTokenRsp = c
        .call(&ImDeviceTokenReq {
            user_id: user,
            device_token: token.to_owned().into(),
            client_type: kind.map(|k| k as i32),
            attach_data: cookie(),
        })
        .await;
    assert_eq!((rsp.user_id, rsp.attach_data), (user, cookie()));
}

/// (user, client type, token, push count) of each token handed out.
async fn tokens(c: &mut Client, users: &[u32]) -> Vec<(u32, i32, String, u32)> {
    let rsp: ImGetDeviceTokenRsp = c
        .call(&ImGetDeviceTokenReq {
            user_id: users.to_vec(),
            attach_data: cookie(),
        })
        .await;
    assert_eq!(rsp.attach_data, cookie());
    let mut out: Vec<_> = rsp
        .user_token_info
        .iter()
        .map(|t| {
            assert_eq!(t.push_type, 1);
            (
                t.user_id,
                t.user_type,
                t.token.as_str().to_owned(),
                t.push_count,
            )
        })
        .collect();
    out.sort();
    out
}

async fn redis_get(b: &Backend, key: &str) -> Option<String> {
    let mut r = b.redis().await?;
    redis::cmd("GET")
        .arg(key)
        .query_async(&mut r)
        .await
        .unwrap()
}

async fn device_tokens(b: Backend) {
    let server = b.start().await;
    let pool = b.pool().await;
    for name in ["u1", "u2", "u3"] {
        insert_teamtalk_user(&pool, name, "pw", "1", 0).await;
    }
    let mut c = server.connect().await;
    let _: ImMsgData = c.call(&text(2, 1, b"ping")).await;
    let (ios, android) = (ClientType::Ios as i32, ClientType::Android as i32);
    set_token(&mut c, 1, Some(ClientType::Ios), "tokA").await;
    set_token(&mut c, 2, Some(ClientType::Android), "tokB").await;
    set_token(&mut c, 3, Some(ClientType::Windows), "tokC").await;
    // Only iOS and Android tokens are pushable; user 1 has one unread message.
    assert_eq!(
        tokens(&mut c, &[1, 2, 3, 99, 1]).await,
        [(1, ios, "tokA".into(), 1), (2, android, "tokB".into(), 0)],
        "{}",
        b.name
    );
    if b.options.redis.is_some() {
        assert_eq!(redis_get(&b, "device_1").await.as_deref(), Some("ios:tokA"));
        assert_eq!(
            redis_get(&b, "device_2").await.as_deref(),
            Some("android:tokB")
        );
        assert_eq!(redis_get(&b, "device_3").await.as_deref(), Some("tokC"));
        assert_eq!(redis_get(&b, "device_tokA").await.as_deref(), Some("1"));
    } else {
        assert_eq!(
            count(
                &pool,
                "SELECT COUNT(*) FROM FerryDeviceToken WHERE userId > ?",
                &[0]
            )
            .await,
            3
        );
    }
    // The phone of user 1 logs in as user 2: the token is user 2's only.
    set_token(&mut c, 2, Some(ClientType::Android), "tokA").await;
    assert_eq!(
        tokens(&mut c, &[1, 2]).await,
        [(2, android, "tokA".into(), 0)]
    );
    // User 2 moves to a new token: the old reverse key goes.
    set_token(&mut c, 2, Some(ClientType::Ios), "tokE").await;
    assert_eq!(tokens(&mut c, &[2]).await, [(2, ios, "tokE".into(), 0)]);
    if b.options.redis.is_some() {
        assert_eq!(redis_get(&b, "device_1").await, None);
        assert_eq!(redis_get(&b, "device_tokA").await, None);
        assert_eq!(redis_get(&b, "device_tokB").await, None);
        assert_eq!(redis_get(&b, "device_tokE").await.as_deref(), Some("2"));
    }
    // Injection in a token is kept as text.
    let evil = "x'; DELETE FROM FerryDeviceToken; --";
    set_token(&mut c, 1, Some(ClientType::Android), evil).await;
    assert_eq!(
        tokens(&mut c, &[1, 2]).await,
        [(1, android, evil.into(), 1), (2, ios, "tokE".into(), 0)]
    );
    // Too long: answered (the answer has no result), not stored.
    set_token(&mut c, 1, Some(ClientType::Ios), &"t".repeat(256)).await;
    assert_eq!(tokens(&mut c, &[1]).await, [(1, android, evil.into(), 1)]);
    // Empty, as a stock msg_server sends at every logout: the device is
    // forgotten (TeamTalk clears it), so a logged-out phone gets no pushes.
    set_token(&mut c, 1, Some(ClientType::Android), "").await;
    assert_eq!(tokens(&mut c, &[1, 2]).await, [(2, ios, "tokE".into(), 0)]);
    if b.options.redis.is_some() {
        assert_eq!(redis_get(&b, "device_1").await, None);
        assert_eq!(redis_get(&b, &format!("device_{evil}")).await, None);
        assert_eq!(redis_get(&b, "device_tokE").await.as_deref(), Some("2"));
    }
    // Clearing what is not there changes nothing.
    set_token(&mut c, 1, None, "").await;
    assert_eq!(tokens(&mut c, &[1]).await, []);
    // An iOS user with the push shield on is left out in quiet hours only.
    set_token(&mut c, 1, Some(ClientType::Ios), "tokF").await;
    let _: ImPushShieldRsp = c
        .call(&ImPushShieldReq {
            user_id: 1,
            shield_status: 1,
            attach_data: None,
        })
        .await;
    let hour = (ferry_control::store::now() / 3600) % 24;
    let expect: Vec<(u32, i32, String, u32)> = if ferry_control::store::quiet_hours(hour) {
        Vec::new()
    } else {
        vec![(1, ios, "tokF".into(), 1)]
    };
    assert_eq!(tokens(&mut c, &[1]).await, expect);
    server.stop().await;
}
on_backends!(device_tokens, redis);

/// Past pool_size + queue_limit requests in flight, the new commands with a
/// result code answer 1 at once too: every request gets its answer.
async fn over_the_bound_sign_info_gets_result_1(b: Backend) {
    let mut b = b;
    b.options.pool_size = 1;
    let server = b.start_with(|o| o.queue_limit = 1).await;
    let pool = b.pool().await;
    insert_teamtalk_user(&pool, "u1", "pw", "1", 0).await;
    let mut c = server.connect().await;
    let mut burst = Vec::new();
    for n in 1..=40u16 {
        let req = ImChangeSignInfoReq {
            user_id: 1,
            sign_info: format!("sign {n}").into(),
            attach_data: cookie(),
        };
        burst.extend_from_slice(&ferry_proto::frame::encode_to_bytes(&req, n, 1 << 20).unwrap());
    }
    c.send_raw(&burst).await;
    let (mut seqs, mut refused) = (Vec::new(), 0);
    for _ in 0..40 {
        let f = c.recv_frame().await.unwrap();
        let rsp = f.decode::<ImChangeSignInfoRsp>().unwrap();
        assert_eq!(rsp.attach_data, cookie());
        match rsp.result_code {
            0 => assert_eq!(
                rsp.sign_info,
                Some(format!("sign {}", f.header.seq_num).into())
            ),
            _ => refused += 1,
        }
        seqs.push(f.header.seq_num);
    }
    seqs.sort();
    assert_eq!(seqs, (1..=40).collect::<Vec<u16>>());
    assert!(refused > 0, "{}: some requests refused", b.name);
    assert!(c.silent_for(Duration::from_millis(200)).await);
    server.stop().await;
}
on_backends!(over_the_bound_sign_info_gets_result_1);

/// Text a utf8mb4 column cannot hold (GBK here) in a request that has an
/// answer gets that answer's failure, on a link that stays up: a signature,
/// a group's name. Nothing is stored.
async fn gbk_text_gets_its_failure_answer(b: Backend) {
    use ferry_proto::pb::im::group::{ImGroupCreateReq, ImGroupCreateRsp};
    let server = b.start().await;
    insert_teamtalk_user(&b.pool().await, "u1", "pw", "1", 0).await;
    let mut c = server.connect().await;
    let gbk = bytes(&[0xc4, 0xe3, 0xba, 0xc3]); // "你好" in GBK
    let rsp: ImChangeSignInfoRsp = c
        .call(&ImChangeSignInfoReq {
            user_id: 1,
            sign_info: gbk.clone(),
            attach_data: cookie(),
        })
        .await;
    assert_eq!((rsp.result_code, rsp.sign_info), (1, None), "{}", b.name);
    let rsp: ImGroupCreateRsp = c
        .call(&ImGroupCreateReq {
            user_id: 1,
            group_type: 1,
            group_name: gbk.clone(),
            group_avatar: "".into(),
            member_id_list: vec![2],
            attach_data: None,
        })
        .await;
    assert_eq!((rsp.result_code, rsp.group_id), (1, None), "{}", b.name);
    // The same link still serves, and nothing was stored.
    assert_eq!(sign(&mut c, 1, "ok").await.result_code, 0);
    assert_eq!(
        count(
            &b.pool().await,
            "SELECT COUNT(*) FROM IMGroup WHERE creator = ?",
            &[1]
        )
        .await,
        0
    );
    server.stop().await;
}
on_backends!(gbk_text_gets_its_failure_answer);
