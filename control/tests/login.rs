//! CID_OTHER_VALIDATE_REQ through the PDU port: TeamTalk MD5 rows, argon2
//! users created by ferry, `status = 0`, the lockout, injection in the name.

mod common;
#[allow(unused_imports)]
use common::AsText as _;

use bytes::Bytes;
use common::{Backend, client_password, insert_teamtalk_user, text};
use ferry_control::store::{NewUser, PasswordScheme, Store};
use ferry_proto::pb::im::server::{ImValidateReq, ImValidateRsp};

fn req(name: &str, plain: &str) -> ImValidateReq {
    ImValidateReq {
        user_name: name.to_owned().into(),
        password: client_password(plain).into(),
        attach_data: Some(Bytes::from_static(b"\x00\x00\x00\x01cookie")),
    }
}

async fn login_md5_argon2_and_lockout(b: Backend) {
    let server = b.start().await;
    let pool = b.pool().await;
    insert_teamtalk_user(&pool, "alice", "123456", "4321", 0).await;
    insert_teamtalk_user(&pool, "gone", "123456", "77", 3).await;
    insert_teamtalk_user(&pool, "carol", "pw", "9999", 0).await;
    let store = Store::open(&b.options).await.unwrap();
    let bob = store
        .add_user(&NewUser {
            name: "bob".into(),
            password: "hunter2".into(),
            nick: "Bob".into(),
            depart_id: 2,
            scheme: PasswordScheme::Argon2,
        })
        .await
        .unwrap();
    // TeamTalk's scheme, written by `ferry user add --password-scheme teamtalk-md5`.
    let dave = store
        .add_user(&NewUser {
            name: "dave".into(),
            password: "s3cret".into(),
            scheme: PasswordScheme::TeamTalkMd5,
            ..NewUser::default()
        })
        .await
        .unwrap();
    let schemes: Vec<_> = (store.list_users().await.unwrap().into_iter())
        .map(|u| (u.name, u.scheme))
        .filter(|(n, _)| n == "bob" || n == "dave")
        .collect();
    assert_eq!(
        schemes,
        [("bob".to_string(), "argon2"), ("dave".to_string(), "md5")]
    );
    store.close().await;
    let sql = |col| format!("SELECT {col} FROM IMUser WHERE id = ?");
    let stored = text(&pool, &sql("password"), &[dave]).await.unwrap();
    let salt = text(&pool, &sql("salt"), &[dave]).await.unwrap();
    let client = client_password("s3cret");
    assert_eq!(
        stored,
        ferry_control::store::md5_hex(format!("{client}{salt}").as_bytes()),
        "TeamTalk's md5(md5(plain) + salt)"
    );

    let mut c = server.connect().await;
    let ok: ImValidateRsp = c.call(&req("alice", "123456")).await;
    assert_eq!(ok.result_code, 0, "{}: {ok:?}", b.name);
    assert_eq!(ok.user_name, "alice");
    assert_eq!(
        ok.attach_data.as_deref(),
        Some(&b"\x00\x00\x00\x01cookie"[..])
    );
    let info = ok.user_info.unwrap();
    assert_eq!(
        (
            info.user_real_name.as_str(),
            info.department_id,
            info.user_gender,
            info.status
        ),
        ("alice", 3, 1, 0)
    );
    assert_eq!(info.sign_info.as_deref(), Some(&b"hi"[..]));

    let argon: ImValidateRsp = c.call(&req("bob", "hunter2")).await;
    assert_eq!(argon.result_code, 0);
    assert_eq!(argon.user_info.unwrap().user_id, bob);
    let wrong: ImValidateRsp = c.call(&req("bob", "hunter3")).await;
    assert_eq!(wrong.result_code, 1);
    let md5: ImValidateRsp = c.call(&req("dave", "s3cret")).await;
    assert_eq!(md5.result_code, 0);
    assert_eq!(md5.user_info.unwrap().user_id, dave);
    let wrong: ImValidateRsp = c.call(&req("dave", "s3cre")).await;
    assert_eq!(wrong.result_code, 1);
    // The marker in IMUser.password is not a password.
    let marker = ImValidateReq {
        password: "!argon2".into(),
        ..req("bob", "")
    };
    assert_eq!(c.call::<_, ImValidateRsp>(&marker).await.result_code, 1);

    // status 3 (left): the login query requires status = 0.
    let left: ImValidateRsp = c.call(&req("gone", "123456")).await;
    assert_eq!(left.result_code, 1);
    assert_eq!(
        c.call::<_, ImValidateRsp>(&req("nobody", "x"))
            .await
            .result_code,
        1
    );

    // Injection in the name is a name, not SQL.
    for name in [
        "alice' OR '1'='1",
        "x' or '1'='1",
        "alice'-- ",
        "\" OR 1=1 #",
    ] {
        let rsp: ImValidateRsp = c.call(&req(name, "123456")).await;
        assert_eq!(rsp.result_code, 1, "{name}");
        assert_eq!(rsp.user_name, name);
    }

    // More than 10 failures in 30 minutes: refused with 6 even with the right password.
    for i in 0..11 {
        let rsp: ImValidateRsp = c.call(&req("alice", "wrong")).await;
        assert_eq!(rsp.result_code, 1, "failure {i}");
    }
    let locked: ImValidateRsp = c.call(&req("alice", "123456")).await;
    assert_eq!(locked.result_code, 6);
    assert!(locked.user_info.is_none());
    // Keyed on the name: bob (argon2) still logs in.
    assert_eq!(
        c.call::<_, ImValidateRsp>(&req("bob", "hunter2"))
            .await
            .result_code,
        0
    );

    // A success clears the count: 10 failures, a success, 10 more, still allowed.
    for _ in 0..10 {
        c.call::<_, ImValidateRsp>(&req("carol", "nope")).await;
    }
    assert_eq!(
        c.call::<_, ImValidateRsp>(&req("carol", "pw"))
            .await
            .result_code,
        0
    );
    for _ in 0..10 {
        c.call::<_, ImValidateRsp>(&req("carol", "nope")).await;
    }
    assert_eq!(
        c.call::<_, ImValidateRsp>(&req("carol", "pw"))
            .await
            .result_code,
        0
    );
    server.stop().await;
}
on_backends!(login_md5_argon2_and_lockout);

async fn user_admin_path(b: Backend) {
    let store = Store::open(&b.options).await.unwrap();
    let name = "o'brien\"; DROP TABLE IMUser; --";
    let id = store
        .add_user(&NewUser {
            name: name.into(),
            password: "pw".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    assert!(
        store
            .add_user(&NewUser {
                name: name.into(),
                ..NewUser::default()
            })
            .await
            .is_err(),
        "names are unique"
    );
    assert!(
        store
            .add_user(&NewUser {
                name: "x".repeat(33),
                ..NewUser::default()
            })
            .await
            .is_err()
    );
    let list = store.list_users().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].id, list[0].name.as_str(), list[0].scheme),
        (id, name, "argon2")
    );
    assert_eq!(list[0].nick, name, "nick defaults to the name");
    store.close().await;
}
on_backends!(user_admin_path);

/// "报告" (report) in GBK: not UTF-8, as Chinese Windows clients send names.
const GBK_NAME: &[u8] = &[0xb1, 0xa8, 0xb8, 0xe6];

/// A login whose name is not UTF-8 is answered (no such user: result 1,
/// the name echoed byte for byte), never dropped; the link stays up and
/// the next login on it is answered too.
async fn a_gbk_user_name_is_answered(b: Backend) {
    let server = b.start().await;
    insert_teamtalk_user(&b.pool().await, "alice", "123456", "4321", 0).await;
    let mut c = server.connect().await;
    let gbk = ImValidateReq {
        user_name: Bytes::from_static(GBK_NAME),
        ..req("", "123456")
    };
    let seq = c.send(&gbk).await;
    let valid = c.send(&req("alice", "123456")).await;
    // Requests are answered as they finish, not in the order sent.
    let mut answers = [
        c.recv::<ImValidateRsp>().await,
        c.recv::<ImValidateRsp>().await,
    ];
    answers.sort_by_key(|(got, _)| *got != seq);
    let [(got, rsp), (next, valid_rsp)] = answers;
    assert_eq!((got, rsp.result_code), (seq, 1), "{}", b.name);
    assert_eq!(&rsp.user_name[..], GBK_NAME, "echoed as sent");
    assert_eq!((next, valid_rsp.result_code), (valid, 0), "{}", b.name);
    server.stop().await;
}
on_backends!(a_gbk_user_name_is_answered);

/// 200 argon2 logins at once against a gate of one check at a time with 4
/// waiting: every login is answered, those past the queue with result 2 and
/// the busy text at once, the others 0; none waits for a timeout or gets a
/// wrong answer, and the name is not locked out for being refused.
async fn a_login_burst_past_the_queue_is_refused_busy(mut b: Backend) {
    b.options.hash_concurrency = 1;
    b.options.hash_queue = 4;
    let store = Store::open(&b.options).await.unwrap();
    store
        .add_user(&NewUser {
            name: "burst".into(),
            password: "pw".into(),
            ..NewUser::default()
        })
        .await
        .unwrap();
    store.close().await;
    let server = b.start().await;
    let mut conns = Vec::new();
    for _ in 0..200 {
        conns.push(server.connect().await);
    }
    let gate = std::sync::Arc::new(tokio::sync::Barrier::new(conns.len()));
    let mut tasks = tokio::task::JoinSet::new();
    for mut c in conns {
        let gate = gate.clone();
        tasks.spawn(async move {
            gate.wait().await;
            let rsp: ImValidateRsp = c.call(&req("burst", "pw")).await;
            (rsp.result_code, rsp.result_string)
        });
    }
    let answers = tasks.join_all().await;
    let ok = answers.iter().filter(|(code, _)| *code == 0).count();
    let busy = answers
        .iter()
        .filter(|(code, text)| {
            *code == 2 && text.as_deref() == Some("服务端忙，请稍后重试".as_bytes())
        })
        .count();
    assert_eq!(ok + busy, 200, "{}: only 0 or busy: {answers:?}", b.name);
    assert!(
        ok >= 5,
        "{}: the running and queued ones are served: {ok}",
        b.name
    );
    assert!(busy > 0, "{}: 200 at once overflow a queue of 4", b.name);
    // Refusals for load are not failures of the password.
    let mut c = server.connect().await;
    assert_eq!(
        c.call::<_, ImValidateRsp>(&req("burst", "pw"))
            .await
            .result_code,
        0
    );
    server.stop().await;
}
on_backends!(a_login_burst_past_the_queue_is_refused_busy, [sqlite]);
