//! ferry-client against the whole stack in process: discovery through
//! login_server, login, messages both ways, refusals with their codes,
//! heartbeats that keep a session alive, a silent session closed by
//! msg_server (and logged in again), a kick that ends one.

mod stack;

use std::time::Duration;

use ferry_client::{Event, Login, Session};
use ferry_proto::pb::im::base_define::{ClientType, ResultType};
use stack::Stack;

fn login(stack: &Stack, user: &str) -> Login {
    let mut l = stack.login_as(user);
    l.heartbeat = Duration::from_millis(300);
    l
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_logs_in_through_login_server_and_exchanges_messages() {
    let stack = Stack::start_with(false, |c| {
        c.pc_timeout = Duration::from_secs(1);
        c.mobile_timeout = Duration::from_secs(1);
    })
    .await;
    let ids = stack.users(&["alice", "bob"], 1).await;
    let alice = Session::login(&login(&stack, "alice")).await.unwrap();
    let mut bob = Session::login(&login(&stack, "bob")).await.unwrap();
    assert_eq!((alice.user_id(), bob.user_id()), (ids[0], ids[1]));
    assert_eq!(alice.msg_server(), stack.msg);

    let msg_id = alice.send_text(bob.user_id(), "hello bob").await.unwrap();
    let m = loop {
        match bob.next_event().await.expect("bob's session is open") {
            Event::Message(m) => break m,
            _ => continue,
        }
    };
    assert_eq!(
        (m.msg_id, m.from_user_id, &m.msg_data[..]),
        (msg_id, ids[0], &b"hello bob"[..])
    );

    // Sessions silent for 1 s are closed: heartbeats every 300 ms keep these.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let again = bob.send_text(alice.user_id(), "still here").await.unwrap();
    assert!(again > 0);

    // A session that never heartbeats is closed by msg_server; without
    // reconnects that is its end.
    let mut quiet = login(&stack, "alice");
    quiet.client_type = ClientType::Android;
    quiet.heartbeat = Duration::from_secs(3600);
    quiet.reconnects = 0;
    let mut phone = Session::login(&quiet).await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while phone.next_event().await.is_some() {}
    })
    .await;
    assert!(closed.is_ok(), "a silent session is closed");
    // With them (the default) it logs in again and says so.
    quiet.reconnects = 2;
    let mut phone = Session::login(&quiet).await.unwrap();
    let came_back = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match phone.next_event().await {
                Some(Event::Reconnected { msg_server }) => return Some(msg_server),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .expect("closed and back within 10 s");
    assert_eq!(came_back, Some(stack.msg), "logged in again");
    assert!(phone.send_text(ids[1], "back").await.unwrap() > 0);
    drop((alice, bob));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_kicks_reach_the_caller_as_typed_errors_and_events() {
    let stack = Stack::start_with(false, |_| {}).await;
    stack.users(&["alice"], 1).await;
    let mut wrong = login(&stack, "alice");
    wrong.password = "not the password".into();
    let e = Session::login(&wrong).await.unwrap_err();
    assert!(e.is_refused(), "{e}");
    assert_eq!(
        e.result_code(),
        Some(ResultType::RefuseReasonDbValidateFailed as u32)
    );
    assert!(
        e.to_string().contains("unknown user or wrong password"),
        "the code's meaning, not only TeamTalk's Chinese text: {e}"
    );

    let mut first = Session::login(&login(&stack, "alice")).await.unwrap();
    let _second = Session::login(&login(&stack, "alice")).await.unwrap();
    let mut kicked = false;
    while let Some(event) = first.next_event().await {
        kicked |= matches!(event, Event::Kicked(_));
    }
    assert!(kicked, "told it was kicked, then closed");
    let e = first.send_text(1, "after the kick").await.unwrap_err();
    assert!(e.is_closed() || e.is_timeout(), "{e}");

    // Discovery: nothing listening, and a scheme it does not speak.
    let port = stack::process::port();
    let e = Session::login(&Login::new(
        format!("http://127.0.0.1:{port}"),
        "alice",
        "x",
    ))
    .await
    .unwrap_err();
    assert!(e.is_io(), "{e}");
    let e = Session::login(&Login::new("https://127.0.0.1", "alice", "x"))
        .await
        .unwrap_err();
    assert!(e.is_discovery(), "{e}");
    stack.stop().await;
}
