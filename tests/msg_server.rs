//! msg_server with the rest of the stack (db_proxy on SQLite, route_server,
//! login_server, a relay), in this process, driven over real sockets as
//! TeamTalk clients drive it.

mod stack;

use std::time::Duration;

use ferry_proto::pb::im::base_define::{ClientType, SessionType, TransferFileType, UserStatType};
use ferry_proto::pb::im::buddy::{
    ImAllUserReq, ImAllUserRsp, ImDepartmentReq, ImDepartmentRsp, ImRecentContactSessionReq,
    ImRecentContactSessionRsp, ImUserStatNotify, ImUsersInfoReq, ImUsersInfoRsp, ImUsersStatReq,
    ImUsersStatRsp,
};
use ferry_proto::pb::im::file::{
    ImFileAddOfflineReq, ImFileDelOfflineReq, ImFileHasOfflineReq, ImFileHasOfflineRsp,
    ImFileLoginReq, ImFileLoginRsp, ImFileNotify, ImFileReq, ImFileRsp,
};
use ferry_proto::pb::im::group::{ImNormalGroupListReq, ImNormalGroupListRsp};
use ferry_proto::pb::im::login::{ImKickUser, ImLoginRes};
use ferry_proto::pb::im::message::{
    ImClientTimeReq, ImClientTimeRsp, ImMsgData, ImMsgDataAck, ImMsgDataReadAck,
    ImMsgDataReadNotify, ImUnreadMsgCntReq, ImUnreadMsgCntRsp,
};
use ferry_proto::pb::im::switch_service::Imp2pCmdMsg;
use ferry_proto::registry::*;
use stack::{Client, Stack, http_get, text_msg};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_server_points_to_msg_server_and_the_pc_clients_first_requests_are_answered() {
    let stack = Stack::start().await;
    let ids = stack.users(&["alice", "bob"], 7).await;
    // login_server: TeamTalk's JSON, port as a string, this msg_server.
    let body = http_get(stack.login.http, "/msg_server").await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["code"], 0, "{body}");
    assert_eq!(json["priorIP"], "127.0.0.1");
    assert_eq!(json["port"], stack.msg.port().to_string());
    assert_eq!(json["msfsPrior"], "http://127.0.0.1:8700/");
    assert_eq!(json["discovery"], "http://127.0.0.1/api/discovery");

    let mut a = Client::login(stack.msg, "alice", ClientType::Windows).await;
    assert_eq!(a.user, ids[0]);
    // The PC client's requests after login, each answered with its seq and
    // the session's user (call() checks the seq and that no cookie leaks).
    let d: ImDepartmentRsp = a
        .call(&ImDepartmentReq {
            user_id: 999,
            latest_update_time: 0,
            attach_data: None,
        })
        .await;
    assert_eq!(
        d.user_id, a.user,
        "the user id is the session's, not the client's"
    );
    let all: ImAllUserRsp = a
        .call(&ImAllUserReq {
            user_id: a.user,
            latest_update_time: 0,
            attach_data: None,
        })
        .await;
    assert_eq!(all.user_list.len(), 2);
    let g: ImNormalGroupListRsp = a
        .call(&ImNormalGroupListReq {
            user_id: a.user,
            attach_data: None,
        })
        .await;
    assert_eq!(g.user_id, a.user);
    let r: ImRecentContactSessionRsp = a
        .call(&ImRecentContactSessionReq {
            user_id: a.user,
            latest_update_time: 0,
            attach_data: None,
        })
        .await;
    assert_eq!(r.user_id, a.user);
    let u: ImUnreadMsgCntRsp = a
        .call(&ImUnreadMsgCntReq {
            user_id: a.user,
            attach_data: None,
        })
        .await;
    assert_eq!((u.user_id, u.total_cnt), (a.user, 0));
    let o: ImFileHasOfflineRsp = a
        .call(&ImFileHasOfflineReq {
            user_id: a.user,
            attach_data: None,
        })
        .await;
    assert_eq!(o.user_id, a.user);
    assert!(
        !o.ip_addr_list.is_empty(),
        "the relay's addresses come with the list"
    );
    let s: ImUsersStatRsp = a
        .call(&ImUsersStatReq {
            user_id: a.user,
            user_id_list: ids.clone(),
            attach_data: None,
        })
        .await;
    let online: Vec<(u32, i32)> = s
        .user_stat_list
        .iter()
        .map(|s| (s.user_id, s.status))
        .collect();
    assert_eq!(
        online,
        [
            (ids[0], UserStatType::UserStatusOnline as i32),
            (ids[1], UserStatType::UserStatusOffline as i32)
        ]
    );
    let i: ImUsersInfoRsp = a
        .call(&ImUsersInfoReq {
            user_id: a.user,
            user_id_list: vec![ids[1]],
            attach_data: None,
        })
        .await;
    assert_eq!(i.user_info_list.len(), 1);
    let t: ImClientTimeRsp = a.call(&ImClientTimeReq {}).await;
    assert!(t.server_time > 1_700_000_000);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_acked_delivered_and_its_reading_told_to_the_sender() {
    let stack = Stack::start().await;
    stack.users(&["alice", "bob"], 1).await;
    let mut a = Client::login(stack.msg, "alice", ClientType::Windows).await;
    let mut a_phone = Client::login(stack.msg, "alice", ClientType::Android).await;
    let mut b = Client::login(stack.msg, "bob", ClientType::Windows).await;
    let mut forged = text_msg(b.user, "hello bob");
    forged.from_user_id = 424_242; // a forged sender is replaced
    let ack: ImMsgDataAck = a.call(&forged).await;
    assert!(ack.msg_id > 0);
    assert_eq!(
        (ack.user_id, ack.session_id, ack.session_type),
        (a.user, b.user, 1)
    );
    let got = b.expect(CID_MSG_DATA).await;
    assert_eq!(got.header.seq_num, 0);
    let m: ImMsgData = got.decode().unwrap();
    assert_eq!(
        (m.from_user_id, m.msg_id, &m.msg_data[..]),
        (a.user, ack.msg_id, &b"hello bob"[..])
    );
    assert!(m.attach_data.is_none());
    let copy: ImMsgData = a_phone.expect(CID_MSG_DATA).await.decode().unwrap();
    assert_eq!(
        copy.msg_id, ack.msg_id,
        "the sender's other session gets a copy"
    );
    let unread: ImUnreadMsgCntRsp = b
        .call(&ImUnreadMsgCntReq {
            user_id: b.user,
            attach_data: None,
        })
        .await;
    assert_eq!(unread.total_cnt, 1);
    b.send(&ImMsgDataReadAck {
        user_id: b.user,
        session_id: a.user,
        msg_id: ack.msg_id,
        session_type: SessionType::Single as i32,
    })
    .await;
    // TeamTalk misses this when both are on one msg_server.
    let read: ImMsgDataReadNotify = a.expect(CID_MSG_READ_NOTIFY).await.decode().unwrap();
    assert_eq!(
        (read.user_id, read.session_id, read.msg_id),
        (b.user, a.user, ack.msg_id)
    );
    // A P2P command goes out under the session's own id.
    a.send(&Imp2pCmdMsg {
        from_user_id: 1,
        to_user_id: b.user,
        cmd_msg_data: "typing".into(),
    })
    .await;
    let p: Imp2pCmdMsg = b.expect(CID_SWITCH_P2P_CMD).await.decode().unwrap();
    assert_eq!(p.from_user_id, a.user);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_pc_login_kicks_and_closes_the_first() {
    let stack = Stack::start().await;
    stack.users(&["alice"], 1).await;
    let mut first = Client::login(stack.msg, "alice", ClientType::Windows).await;
    let phone = Client::login(stack.msg, "alice", ClientType::Ios).await;
    let _second = Client::login(stack.msg, "alice", ClientType::Mac).await;
    let frames = first.until_closed().await;
    let kick = frames
        .iter()
        .find(|f| f.header.command == CID_LOGIN_KICK_USER)
        .expect("told it was kicked");
    let kick: ImKickUser = kick.decode().unwrap();
    assert_eq!((kick.user_id, kick.kick_reason), (phone.user, 1));
    assert_eq!(
        stack.msg_stats.snapshot().kicked,
        1,
        "the phone is another kind of client"
    );
    stack.stop().await;
}

/// The users whose status notifies `c` gets within `wait`.
async fn notified(c: &mut Client, wait: Duration) -> Vec<(u32, i32)> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while !c
        .none_of(
            CID_BUDDY_LIST_STATUS_NOTIFY,
            deadline.saturating_duration_since(tokio::time::Instant::now()),
        )
        .await
    {
        let n: ImUserStatNotify = c
            .expect(CID_BUDDY_LIST_STATUS_NOTIFY)
            .await
            .decode()
            .unwrap();
        seen.push((n.user_stat.user_id, n.user_stat.status));
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_goes_to_the_sessions_that_watch_or_share_a_department_only() {
    let stack = Stack::start().await;
    let ids = stack.users(&["watcher", "colleague"], 1).await;
    let other = stack.users(&["stranger", "subject"], 2).await;
    let lonely = stack.users(&["lonely"], 3).await;
    let mut watcher = Client::login(stack.msg, "watcher", ClientType::Windows).await;
    let mut lone = Client::login(stack.msg, "lonely", ClientType::Windows).await;
    let _: ImUsersStatRsp = watcher
        .call(&ImUsersStatReq {
            user_id: ids[0],
            user_id_list: vec![other[1]],
            attach_data: None,
        })
        .await;
    let short = Duration::from_millis(500);
    let _ = notified(&mut watcher, short).await; // its own login
    let _ = notified(&mut lone, short).await;
    let subject = Client::login(stack.msg, "subject", ClientType::Windows).await;
    let mut stranger = Client::login(stack.msg, "stranger", ClientType::Windows).await;
    let colleague = Client::login(stack.msg, "colleague", ClientType::Windows).await;
    let online = UserStatType::UserStatusOnline as i32;
    let mut got = notified(&mut watcher, short).await;
    got.sort();
    // subject (watched) and colleague (same department); not stranger.
    assert_eq!(got, [(colleague.user, online), (subject.user, online)]);
    // lonely (its own department, watching nobody) hears of nobody.
    assert_eq!(notified(&mut lone, short).await, []);
    drop(subject);
    let offline = UserStatType::UserStatusOffline as i32;
    assert_eq!(notified(&mut watcher, short).await, [(other[1], offline)]);
    assert_eq!(
        notified(&mut stranger, short).await.last(),
        Some(&(other[1], offline)),
        "same department"
    );
    assert_eq!(notified(&mut lone, short).await, []);
    let sent = stack.msg_stats.snapshot().presence_notifies;
    assert!(
        sent < 20,
        "{sent} notifies for 6 logins and a logout: none to the unrelated"
    );
    let _ = lonely;
    stack.stop().await;
}

/// File signalling through the relay: the owning core's address first; an
/// online request to a user with no PC client becomes offline; no relay up
/// is answered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_request_gets_a_relay_task_and_the_receiver_is_notified() {
    let stack = Stack::start().await;
    let ids = stack.users(&["alice", "bob", "carol"], 1).await;
    let mut a = Client::login(stack.msg, "alice", ClientType::Windows).await;
    let mut b = Client::login(stack.msg, "bob", ClientType::Windows).await;
    let req = ImFileReq {
        file_size_u64: None,
        sha256: None,
        from_user_id: 0,
        to_user_id: ids[1],
        file_name: "report.pdf".into(),
        file_size: 4096,
        trans_mode: TransferFileType::FileTypeOnline as i32,
    };
    let rsp: ImFileRsp = a.call(&req).await;
    assert_eq!(
        (rsp.result_code, rsp.from_user_id, rsp.trans_mode),
        (0, a.user, 1)
    );
    assert_eq!(rsp.task_id.len(), 36);
    let relay = stack.relay.as_ref().unwrap();
    let owner = ferry_proto::core_for_task(&rsp.task_id[..], 2);
    let first = &rsp.ip_addr_list[0];
    assert_eq!(
        first.port as u16,
        relay.addresses().cores[owner].port(),
        "the owning core's port comes first"
    );
    let n: ImFileNotify = b.expect(CID_FILE_NOTIFY).await.decode().unwrap();
    assert_eq!(
        (n.task_id.clone(), n.offline_ready, n.file_size),
        (rsp.task_id.clone(), 0, 4096)
    );
    // The task is real: the receiver logs in to the relay with it.
    let login = ImFileLoginReq {
        file_size_u64: None,
        user_id: ids[1],
        task_id: rsp.task_id.clone(),
        file_role: 2,
    };
    let mut relay_conn = Client::connect(std::net::SocketAddr::new(
        [127, 0, 0, 1].into(),
        first.port as u16,
    ))
    .await;
    let lr: ImFileLoginRsp = relay_conn.call(&login).await;
    assert_eq!(lr.result_code, 0);
    // carol has no PC client online: the request becomes offline, which
    // this relay does not serve yet (the offline store's issue): its
    // refusal is passed on as the answer's result.
    let to_carol = ImFileReq {
        to_user_id: ids[2],
        ..req.clone()
    };
    let rsp: ImFileRsp = a.call(&to_carol).await;
    assert_eq!(
        (rsp.result_code, rsp.trans_mode),
        (1, TransferFileType::FileTypeOffline as i32)
    );
    // Offline rows: the receiver hears the file is ready; only its sender
    // or receiver may delete it.
    let task_id: bytes::Bytes = "6f9619ff-8b86-4d11-b42d-00c04fc964ff".into();
    // A file past 4 GiB: the stock size is the sentinel, ferry's u64
    // twin (PROTOCOL-EXTENSIONS.md) reaches the receiver unchanged.
    a.send(&ImFileAddOfflineReq {
        file_size_u64: Some(5 << 30),
        from_user_id: 0,
        to_user_id: ids[1],
        task_id: task_id.clone(),
        file_name: "report.pdf".into(),
        file_size: u32::MAX,
    })
    .await;
    let n: ImFileNotify = b.expect(CID_FILE_NOTIFY).await.decode().unwrap();
    assert_eq!((n.offline_ready, n.from_user_id), (1, a.user));
    assert_eq!((n.file_size, n.file_size_u64), (u32::MAX, Some(5 << 30)));
    let mut carol = Client::login(stack.msg, "carol", ClientType::Windows).await;
    carol
        .send(&ImFileDelOfflineReq {
            from_user_id: a.user,
            to_user_id: b.user,
            task_id: task_id.clone(),
        })
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let has: ImFileHasOfflineRsp = b
        .call(&ImFileHasOfflineReq {
            user_id: b.user,
            attach_data: None,
        })
        .await;
    assert_eq!(
        has.offline_file_list.len(),
        1,
        "carol cannot delete bob's file"
    );
    stack.stop().await;

    let stack = Stack::start_with(false, |c| c.file_server.clear()).await;
    stack.users(&["alice", "bob"], 1).await;
    let mut a = Client::login(stack.msg, "alice", ClientType::Windows).await;
    let rsp: ImFileRsp = a
        .call(&ImFileReq {
            to_user_id: 2,
            ..req
        })
        .await;
    assert_eq!(rsp.result_code, 1, "no relay: refused at once");
    stack.stop().await;
}

/// What TeamTalk takes from a connection that never logged in (P2P with
/// a chosen sender, file tasks, offline rows) closes it here, with the
/// reason logged; the stack serves everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_but_login_is_taken_before_login() {
    let stack = Stack::start().await;
    let ids = stack.users(&["alice", "bob"], 1).await;
    let mut b = Client::login(stack.msg, "bob", ClientType::Windows).await;
    for cmd in 0..7u8 {
        let mut c = Client::connect(stack.msg).await;
        match cmd {
            0 => {
                c.send(&Imp2pCmdMsg {
                    from_user_id: ids[0],
                    to_user_id: ids[1],
                    cmd_msg_data: "x".into(),
                })
                .await;
            }
            1 => {
                c.send(&ImFileReq {
                    file_size_u64: None,
                    sha256: None,
                    from_user_id: 0,
                    to_user_id: ids[1],
                    file_name: "x".into(),
                    file_size: 1,
                    trans_mode: 1,
                })
                .await;
            }
            2 => {
                c.send(&ImFileAddOfflineReq {
                    file_size_u64: None,
                    from_user_id: ids[0],
                    to_user_id: ids[1],
                    task_id: "t".into(),
                    file_name: "x".into(),
                    file_size: 1,
                })
                .await;
            }
            3 => {
                c.send(&text_msg(ids[1], "spoof")).await;
            }
            4 => {
                c.send(&ImClientTimeReq {}).await;
            }
            5 => {
                c.send(&ImUnreadMsgCntReq {
                    user_id: ids[1],
                    attach_data: None,
                })
                .await;
            }
            _ => {
                c.send(&ImFileDelOfflineReq {
                    from_user_id: ids[0],
                    to_user_id: ids[1],
                    task_id: "t".into(),
                })
                .await;
            }
        }
        assert!(
            c.until_closed().await.is_empty(),
            "command {cmd}: closed, unanswered"
        );
    }
    assert!(
        b.none_of(CID_SWITCH_P2P_CMD, Duration::from_millis(300))
            .await
    );
    assert!(b.none_of(CID_FILE_NOTIFY, Duration::from_millis(100)).await);
    assert!(b.none_of(CID_MSG_DATA, Duration::from_millis(100)).await);
    assert_eq!(stack.msg_stats.snapshot().unauthenticated, 7);
    let has: ImFileHasOfflineRsp = b
        .call(&ImFileHasOfflineReq {
            user_id: 0,
            attach_data: None,
        })
        .await;
    assert!(has.offline_file_list.is_empty(), "no offline row was added");
    stack.stop().await;
}

/// Headers of length 5 and 0xFFFFFFF0, and bodies of garbage: only that
/// connection is closed; others go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_frames_close_only_their_connection() {
    let stack = Stack::start().await;
    stack.users(&["alice", "bob"], 1).await;
    let mut b = Client::login(stack.msg, "bob", ClientType::Windows).await;
    // length, version 1, flag 0, service (the command's high byte), command, seq 1, reserved 0
    let header = |len: u32, cid: u16| {
        let mut h = Vec::new();
        h.extend_from_slice(&len.to_be_bytes());
        h.extend_from_slice(&[0, 1, 0, 0]);
        h.extend_from_slice(&(cid >> 8).to_be_bytes());
        h.extend_from_slice(&cid.to_be_bytes());
        h.extend_from_slice(&[0, 1, 0, 0]);
        h
    };
    for len in [5u32, 0xFFFF_FFF0] {
        let mut pre = Client::connect(stack.msg).await;
        pre.send_raw(&header(len, 0x0103)).await;
        assert!(
            pre.until_closed().await.is_empty(),
            "length {len} before login"
        );
        let mut post = Client::login(stack.msg, "alice", ClientType::Windows).await;
        post.send_raw(&header(len, 0x0301)).await;
        assert!(
            post.until_closed()
                .await
                .iter()
                .all(|f| f.header.command != CID_MSG_DATA_ACK),
            "length {len} after login: closed"
        );
    }
    // A body of garbage on every client command: closed or answered, never
    // a crash; bob is served all along.
    let commands = [
        0x0105u16, 0x0108, 0x010a, 0x010c, 0x010e, 0x0201, 0x0204, 0x0206, 0x0208, 0x020a, 0x020c,
        0x0210, 0x0213, 0x0301, 0x0303, 0x0305, 0x0307, 0x0309, 0x030b, 0x030d, 0x0401, 0x0403,
        0x0405, 0x0407, 0x0409, 0x0506, 0x0509, 0x050b, 0x050c, 0x0601,
    ];
    for cid in commands {
        let mut c = Client::login(stack.msg, "alice", ClientType::Windows).await;
        let mut pdu = header(16 + 4, cid);
        pdu.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        c.send_raw(&pdu).await;
        let _ = c.until_closed().await;
        let t: ImClientTimeRsp = b.call(&ImClientTimeReq {}).await;
        assert!(
            t.server_time > 0,
            "bob still served after garbage on {cid:#06x}"
        );
    }
    stack.stop().await;
}

/// 20 messages a second per connection, as TeamTalk; past that each is
/// answered with msg_id 0 (TeamTalk drops them silently).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_past_the_rate_is_refused_with_an_answer() {
    let stack = Stack::start().await;
    stack.users(&["alice", "bob"], 1).await;
    let mut a = Client::login(stack.msg, "alice", ClientType::Windows).await;
    let b = Client::login(stack.msg, "bob", ClientType::Windows).await;
    let mut seqs = Vec::new();
    for i in 0..40 {
        seqs.push(a.send(&text_msg(b.user, &format!("m{i}"))).await);
    }
    let mut stored = 0;
    let mut refused = 0;
    for _ in 0..40 {
        let ack: ImMsgDataAck = a.expect(CID_MSG_DATA_ACK).await.decode().unwrap();
        if ack.msg_id == 0 {
            refused += 1
        } else {
            stored += 1
        }
    }
    assert!(
        stored >= 20 && refused >= 1,
        "stored {stored}, refused {refused}"
    );
    assert_eq!(stored + refused, 40, "every message answered");
    // A message to oneself and an empty one: answered, not stored.
    let ack: ImMsgDataAck = a.call(&text_msg(a.user, "me")).await;
    assert_eq!(ack.msg_id, 0);
    stack.stop().await;
}

/// Logins are refused with TeamTalk's codes when a server is missing, and
/// a wrong password with 6; the connection is closed after the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_refused_with_teamtalks_codes() {
    let stack = Stack::start().await;
    stack.users(&["alice"], 1).await;
    let mut c = Client::connect(stack.msg).await;
    let res: ImLoginRes = c.try_login("alice", "wrong", ClientType::Windows).await;
    assert_eq!(res.result_code, 6);
    assert!(c.until_closed().await.is_empty());
    stack.stop().await;

    let nowhere: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    let stack = Stack::start_with(false, |c| {
        c.login_server = vec![nowhere];
    })
    .await;
    stack.users(&["alice"], 1).await;
    let mut c = Client::connect(stack.msg).await;
    let res: ImLoginRes = c
        .try_login("alice", stack::PASSWORD, ClientType::Windows)
        .await;
    assert_eq!(res.result_code, 4, "no login_server");
    stack.stop().await;
}

/// A msg_server alone (no route_server configured) tells its sessions of
/// its own users' presence: a PC login and logout reach the watchers, a
/// second PC session or a phone changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_works_for_a_msg_server_alone() {
    let stack = Stack::start_with(false, |c| c.route_server.clear()).await;
    let ids = stack.users(&["watcher", "subject"], 1).await;
    let mut watcher = Client::login(stack.msg, "watcher", ClientType::Windows).await;
    let rsp: ImUsersStatRsp = watcher
        .call(&ImUsersStatReq {
            user_id: ids[0],
            user_id_list: vec![ids[1]],
            attach_data: None,
        })
        .await;
    let offline = UserStatType::UserStatusOffline as i32;
    let online = UserStatType::UserStatusOnline as i32;
    assert_eq!(rsp.user_stat_list[0].status, offline);
    let short = Duration::from_millis(400);
    let _ = notified(&mut watcher, short).await; // its own login
    let subject = Client::login(stack.msg, "subject", ClientType::Windows).await;
    assert_eq!(notified(&mut watcher, short).await, [(ids[1], online)]);
    let phone = Client::login(stack.msg, "subject", ClientType::Android).await;
    let second = Client::login(stack.msg, "subject", ClientType::Mac).await;
    assert_eq!(notified(&mut watcher, short).await, [], "still online");
    drop(second); // Mac kicked Windows already; this is the last PC
    assert_eq!(notified(&mut watcher, short).await, [(ids[1], offline)]);
    drop((subject, phone));
    stack.stop().await;
}
