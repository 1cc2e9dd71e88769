//! CID_OTHER_VALIDATE_REQ through the PDU port: TeamTalk MD5 rows, argon2
//! users created by ferry, `status = 0`, the lockout, injection in the name.

mod common;

use bytes::Bytes;
use common::{Backend, client_password, insert_teamtalk_user};
use ferry_control::store::{NewUser, Store};
use ferry_proto::pb::im::server::{ImValidateReq, ImValidateRsp};

fn req(name: &str, plain: &str) -> ImValidateReq {
    ImValidateReq {
        user_name: name.into(),
        password: client_password(plain),
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
        })
        .await
        .unwrap();
    store.close().await;

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
    assert_eq!(info.sign_info.as_deref(), Some("hi"));

    let argon: ImValidateRsp = c.call(&req("bob", "hunter2")).await;
    assert_eq!(argon.result_code, 0);
    assert_eq!(argon.user_info.unwrap().user_id, bob);
    let wrong: ImValidateRsp = c.call(&req("bob", "hunter3")).await;
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
