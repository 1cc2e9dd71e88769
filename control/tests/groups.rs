//! Groups through the PDU port: create (normal and temporary), list, info
//! by version, member add/del with who may do it, version bumps, sessions
//! and unread counts of changed members, group shield set/get; with Redis,
//! TeamTalk's `group_member_<groupId>` and `group_set_<groupId>` hashes.

mod common;
#[allow(unused_imports)]
use common::AsText as _;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Arg, Backend, Client, bytes, count, exec, insert_teamtalk_user};
use ferry_proto::pb::im::base_define::{
    ClientType, GroupModifyType, GroupType, GroupVersionInfo, MsgType,
};
use ferry_proto::pb::im::buddy::{ImRemoveSessionReq, ImRemoveSessionRsp};
use ferry_proto::pb::im::group::{
    ImGroupChangeMemberReq, ImGroupChangeMemberRsp, ImGroupCreateReq, ImGroupCreateRsp,
    ImGroupInfoListReq, ImGroupInfoListRsp, ImGroupShieldReq, ImGroupShieldRsp,
    ImNormalGroupListReq, ImNormalGroupListRsp,
};
use ferry_proto::pb::im::login::{ImDeviceTokenReq, ImDeviceTokenRsp};
use ferry_proto::pb::im::message::{ImMsgData, ImUnreadMsgCntReq, ImUnreadMsgCntRsp};
use ferry_proto::pb::im::server::{
    ImGetDeviceTokenReq, ImGetDeviceTokenRsp, ImGroupGetShieldReq, ImGroupGetShieldRsp,
};

fn cookie() -> Option<bytes::Bytes> {
    Some(bytes(b"group\x00cookie"))
}

fn create_req(user: u32, kind: GroupType, name: &str, members: &[u32]) -> ImGroupCreateReq {
    ImGroupCreateReq {
        user_id: user,
        group_type: kind as i32,
        group_name: name.to_owned().into(),
        group_avatar: "http://a/b.png".into(),
        member_id_list: members.to_vec(),
        attach_data: cookie(),
    }
}

async fn create(c: &mut Client, req: &ImGroupCreateReq) -> ImGroupCreateRsp {
    let rsp: ImGroupCreateRsp = c.call(req).await;
    assert_eq!(
        (
            rsp.user_id,
            rsp.group_name.as_str(),
            rsp.attach_data.clone()
        ),
        (req.user_id, req.group_name.as_str(), cookie())
    );
    rsp
}

/// (result, cur, chg) of a member change.
async fn change(
    c: &mut Client,
    user: u32,
    group: u32,
    kind: GroupModifyType,
    ids: &[u32],
) -> (u32, Vec<u32>, Vec<u32>) {
    let rsp: ImGroupChangeMemberRsp = c
        .call(&ImGroupChangeMemberReq {
            user_id: user,
            change_type: kind as i32,
            group_id: group,
            member_id_list: ids.to_vec(),
            attach_data: cookie(),
        })
        .await;
    assert_eq!(
        (rsp.user_id, rsp.group_id, rsp.change_type, rsp.attach_data),
        (user, group, kind as i32, cookie())
    );
    (rsp.result_code, rsp.cur_user_id_list, rsp.chg_user_id_list)
}

async fn list(c: &mut Client, user: u32) -> Vec<(u32, u32)> {
    let rsp: ImNormalGroupListRsp = c
        .call(&ImNormalGroupListReq {
            user_id: user,
            attach_data: cookie(),
        })
        .await;
    assert_eq!((rsp.user_id, rsp.attach_data), (user, cookie()));
    rsp.group_version_list
        .iter()
        .map(|g| (g.group_id, g.version))
        .collect()
}

/// group id -> (version, name, creator, type, shield, members).
type Info = BTreeMap<u32, (u32, String, u32, i32, u32, Vec<u32>)>;

async fn info(c: &mut Client, user: u32, asked: &[(u32, u32)]) -> Info {
    let rsp: ImGroupInfoListRsp = c
        .call(&ImGroupInfoListReq {
            user_id: user,
            group_version_list: asked
                .iter()
                .map(|&(group_id, version)| GroupVersionInfo { group_id, version })
                .collect(),
            attach_data: cookie(),
        })
        .await;
    assert_eq!((rsp.user_id, rsp.attach_data), (user, cookie()));
    rsp.group_info_list
        .into_iter()
        .map(|g| {
            assert_eq!(g.group_avatar, "http://a/b.png");
            (
                g.group_id,
                (
                    g.version,
                    g.group_name.as_str().to_owned(),
                    g.group_creator_id,
                    g.group_type,
                    g.shield_status,
                    g.group_member_list,
                ),
            )
        })
        .collect()
}

async fn member_cache(b: &Backend, group: u32) -> Option<Vec<u32>> {
    let mut r = b.redis().await?;
    let map: BTreeMap<String, i64> = redis::cmd("HGETALL")
        .arg(format!("group_member_{group}"))
        .query_async(&mut r)
        .await
        .unwrap();
    Some(
        map.keys()
            .map(|k| k.parse().unwrap())
            .collect::<std::collections::BTreeSet<u32>>()
            .into_iter()
            .collect(),
    )
}

fn group_text(from: u32, group: u32) -> ImMsgData {
    ImMsgData {
        from_user_id: from,
        to_session_id: group,
        msg_id: 0,
        create_time: 0,
        msg_type: MsgType::GroupText as i32,
        msg_data: bytes(b"to the group"),
        attach_data: None,
    }
}

async fn group_unread(c: &mut Client, user: u32, group: u32) -> u32 {
    let rsp: ImUnreadMsgCntRsp = c
        .call(&ImUnreadMsgCntReq {
            user_id: user,
            attach_data: None,
        })
        .await;
    rsp.unreadinfo_list
        .iter()
        .find(|u| u.session_type == 2 && u.session_id == group)
        .map_or(0, |u| u.unread_cnt)
}

async fn group_lifecycle(b: Backend) {
    use GroupModifyType::{Add, Del};
    let server = b.start().await;
    let pool = b.pool().await;
    for name in ["u1", "u2", "u3", "u4", "u5"] {
        insert_teamtalk_user(&pool, name, "pw", "1", 0).await;
    }
    let mut c = server.connect().await;
    let evil = "g'); DROP TABLE IMGroup; --";
    let normal = create(&mut c, &create_req(1, GroupType::Normal, evil, &[3, 2, 3])).await;
    assert_eq!(normal.result_code, 0, "{}", b.name);
    assert_eq!(
        normal.user_id_list,
        [1, 2, 3],
        "creator included, each once"
    );
    let g = normal.group_id.unwrap();
    let tmp = create(&mut c, &create_req(4, GroupType::Tmp, "tmp", &[5])).await;
    let t = tmp.group_id.unwrap();
    assert_eq!((tmp.result_code, tmp.user_id_list), (0, vec![4, 5]));
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM IMGroup WHERE userCnt = ?",
            &[3]
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM IMGroupMember WHERE groupId = ? AND status = 0",
            &[g]
        )
        .await,
        3
    );
    if b.options.redis.is_some() {
        assert_eq!(member_cache(&b, g).await.unwrap(), [1, 2, 3]);
        assert_eq!(member_cache(&b, t).await.unwrap(), [4, 5]);
    }
    // An empty name is refused (result 1, no id); an unknown type unanswered.
    let bad = create(&mut c, &create_req(1, GroupType::Normal, "", &[2])).await;
    assert_eq!((bad.result_code, bad.group_id), (1, None));
    let mut unknown = create_req(1, GroupType::Normal, "x", &[2]);
    unknown.group_type = 9;
    c.send(&unknown).await;
    assert!(c.silent_for(Duration::from_millis(300)).await);

    // The list holds the user's normal groups only.
    assert_eq!(list(&mut c, 2).await, [(g, 1)]);
    assert!(list(&mut c, 4).await.is_empty());
    let all = info(&mut c, 2, &[(g, 0), (t, 0), (999, 0)]).await;
    assert_eq!(
        all.get(&g).unwrap(),
        &(
            1,
            evil.to_string(),
            1,
            GroupType::Normal as i32,
            0,
            vec![1, 2, 3]
        )
    );
    assert_eq!(all.get(&t).unwrap().5, [4, 5]);
    assert_eq!(all.len(), 2);
    assert!(
        info(&mut c, 2, &[(g, 1)]).await.is_empty(),
        "same version: nothing"
    );

    // Normal group: only the creator changes it.
    assert_eq!(change(&mut c, 2, g, Add, &[4]).await, (1, vec![], vec![]));
    assert_eq!(
        change(&mut c, 1, g, Add, &[4, 2]).await,
        (0, vec![1, 2, 3, 4], vec![4])
    );
    assert_eq!(list(&mut c, 4).await, [(g, 2)]);
    assert_eq!(
        info(&mut c, 4, &[(g, 1)]).await.get(&g).unwrap().5,
        [1, 2, 3, 4]
    );
    if b.options.redis.is_some() {
        assert_eq!(member_cache(&b, g).await.unwrap(), [1, 2, 3, 4]);
    }

    // Temporary group: a member may add, a stranger may not, only the
    // creator removes.
    assert_eq!(change(&mut c, 3, t, Add, &[1]).await.0, 1);
    assert_eq!(
        change(&mut c, 5, t, Add, &[3]).await,
        (0, vec![3, 4, 5], vec![3])
    );
    let _: ImMsgData = c.call(&group_text(5, t)).await;
    assert_eq!(change(&mut c, 5, t, Del, &[4]).await.0, 1);
    assert_eq!(
        change(&mut c, 4, t, Del, &[5, 99]).await,
        (0, vec![3, 4], vec![5])
    );
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = 2 AND status = 0",
            &[5, t]
        )
        .await,
        0,
        "a removed member's group session goes"
    );
    if b.options.redis.is_some() {
        assert_eq!(member_cache(&b, t).await.unwrap(), [3, 4]);
    }
    // Messages while 5 is out are not unread for 5 once back.
    let _: ImMsgData = c.call(&group_text(4, t)).await;
    let _: ImMsgData = c.call(&group_text(3, t)).await;
    assert_eq!(group_unread(&mut c, 4, t).await, 1);
    // Removing the group session clears the group's unread count too.
    let rsp: ImRemoveSessionRsp = c
        .call(&ImRemoveSessionReq {
            user_id: 4,
            session_type: 2,
            session_id: t,
            attach_data: cookie(),
        })
        .await;
    assert_eq!(
        (rsp.result_code, rsp.session_type, rsp.session_id),
        (0, 2, t)
    );
    assert_eq!(group_unread(&mut c, 4, t).await, 0);
    assert_eq!(
        change(&mut c, 4, t, Add, &[5]).await,
        (0, vec![3, 4, 5], vec![5])
    );
    assert_eq!(group_unread(&mut c, 5, t).await, 0);
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM IMGroupMember WHERE groupId = ? AND userId = ?",
            &[t, 5]
        )
        .await,
        1,
        "the old row comes back"
    );
    // Version: created 1, +1 per effective change (add 3, del 5, add 5).
    assert_eq!(info(&mut c, 4, &[(t, 0)]).await.get(&t).unwrap().0, 4);
    // Nothing to change: success, no version bump.
    assert_eq!(
        change(&mut c, 4, t, Add, &[3]).await,
        (0, vec![3, 4, 5], vec![])
    );
    assert_eq!(info(&mut c, 4, &[(t, 0)]).await.get(&t).unwrap().0, 4);
    // Unknown group: result 1; unknown change type: unanswered.
    assert_eq!(change(&mut c, 1, 999, Add, &[2]).await.0, 1);
    c.send(&ImGroupChangeMemberReq {
        user_id: 1,
        change_type: 7,
        group_id: g,
        member_id_list: vec![5],
        attach_data: None,
    })
    .await;
    assert!(c.silent_for(Duration::from_millis(300)).await);
    assert_eq!(
        count(&pool, "SELECT COUNT(*) FROM IMGroup WHERE id > ?", &[0]).await,
        2
    );
    server.stop().await;
}
on_backends!(group_lifecycle, redis);

async fn shield(c: &mut Client, user: u32, group: u32, status: u32) -> u32 {
    let rsp: ImGroupShieldRsp = c
        .call(&ImGroupShieldReq {
            user_id: user,
            group_id: group,
            shield_status: status,
            attach_data: cookie(),
        })
        .await;
    assert_eq!(
        (rsp.user_id, rsp.group_id, rsp.attach_data),
        (user, group, cookie())
    );
    rsp.result_code
}

async fn shields(c: &mut Client, group: u32, users: &[u32]) -> Vec<(u32, u32)> {
    let rsp: ImGroupGetShieldRsp = c
        .call(&ImGroupGetShieldReq {
            group_id: group,
            user_id: users.to_vec(),
            attach_data: cookie(),
        })
        .await;
    assert_eq!((rsp.group_id, rsp.attach_data), (group, cookie()));
    rsp.shield_status_list
        .iter()
        .map(|s| {
            assert_eq!(s.group_id, group);
            (s.user_id, s.shield_status)
        })
        .collect()
}

async fn group_shield(b: Backend) {
    let server = b.start().await;
    let pool = b.pool().await;
    for name in ["u1", "u2", "u3"] {
        insert_teamtalk_user(&pool, name, "pw", "1", 0).await;
    }
    let mut c = server.connect().await;
    let g = create(&mut c, &create_req(1, GroupType::Normal, "g", &[2]))
        .await
        .group_id
        .unwrap();
    assert_eq!(shield(&mut c, 2, g, 1).await, 0, "{}", b.name);
    assert_eq!(shield(&mut c, 3, g, 1).await, 1, "not a member");
    assert_eq!(shield(&mut c, 2, 999, 1).await, 1, "no such group");
    assert_eq!(shield(&mut c, 2, g, 2).await, 1, "neither 0 nor 1");
    assert_eq!(
        shields(&mut c, g, &[1, 2, 3]).await,
        [(1, 0), (2, 1), (3, 0)]
    );
    assert!(shields(&mut c, 999, &[1]).await.is_empty());
    // The asking user's own status comes with the group's info.
    assert_eq!(info(&mut c, 2, &[(g, 0)]).await.get(&g).unwrap().4, 1);
    assert_eq!(info(&mut c, 1, &[(g, 0)]).await.get(&g).unwrap().4, 0);
    if let Some(mut r) = b.redis().await {
        let v: Option<String> = redis::cmd("HGET")
            .arg(format!("group_set_{g}"))
            .arg("2_1")
            .query_async(&mut r)
            .await
            .unwrap();
        assert_eq!(v.as_deref(), Some("1"), "TeamTalk's field <userId>_1");
    } else {
        assert_eq!(
            count(
                &pool,
                "SELECT COUNT(*) FROM FerryGroupShield WHERE groupId = ?",
                &[g]
            )
            .await,
            1
        );
    }
    assert_eq!(shield(&mut c, 2, g, 0).await, 0);
    assert_eq!(shields(&mut c, g, &[2]).await, [(2, 0)]);
    server.stop().await;
}
on_backends!(group_shield, redis);

/// Many callers change one group at once: every change applies (the IMGroup
/// row lock serialises them), each bumps the version once, userCnt and the
/// Redis member hash end right; the same user added twice at once is
/// reported changed once.
async fn concurrent_member_changes(b: Backend) {
    let server = b.start().await;
    let pool = b.pool().await;
    let mut c = server.connect().await;
    let g = create(&mut c, &create_req(1, GroupType::Tmp, "busy", &[2]))
        .await
        .group_id
        .unwrap();
    const CALLERS: u32 = 30;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..CALLERS {
        let mut c = server.connect().await;
        // Callers 0 and 1 both add user 100; caller n > 1 adds 100 + n.
        let user = if n == 1 { 100 } else { 100 + n };
        tasks.spawn(async move { change(&mut c, 2, g, GroupModifyType::Add, &[user]).await });
    }
    let mut changed = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (result, _, chg) = r.unwrap();
        assert_eq!(result, 0, "{}", b.name);
        changed.extend(chg);
    }
    changed.sort();
    let expect: Vec<u32> = [100].into_iter().chain(102..100 + CALLERS).collect();
    assert_eq!(changed, expect, "user 100 reported once");
    let (version, .., members) = info(&mut c, 1, &[(g, 0)]).await.remove(&g).unwrap();
    assert_eq!(version, 1 + CALLERS - 1);
    let mut all = vec![1, 2];
    all.extend(&expect);
    assert_eq!(members, all);
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM IMGroup WHERE id = ? AND userCnt = ?",
            &[g, all.len() as u32]
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM IMGroupMember WHERE groupId = ?",
            &[g]
        )
        .await,
        all.len() as i64,
        "one row per member"
    );
    if b.options.redis.is_some() {
        assert_eq!(member_cache(&b, g).await.unwrap(), all);
    }
    server.stop().await;
}
on_backends!(concurrent_member_changes, redis);

/// Redis configured but down: what needs it answers with its error result
/// (no hang, no crash); what only caches in it succeeds from SQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_an_error_result() {
    let Some(mut b) = Backend::sqlite().await else {
        return;
    };
    // Nothing listens on port 1.
    b.options.redis = Some("redis://127.0.0.1:1/0".into());
    let server = b.start().await;
    let pool = b.pool().await;
    for name in ["u1", "u2"] {
        insert_teamtalk_user(&pool, name, "pw", "1", 0).await;
    }
    let mut c = server.connect().await;
    let created = create(&mut c, &create_req(1, GroupType::Normal, "g", &[2])).await;
    assert_eq!(
        created.result_code, 0,
        "stored in SQL; the cache write is logged"
    );
    let g = created.group_id.unwrap();
    assert_eq!(shield(&mut c, 2, g, 1).await, 1);
    let rsp: ImGroupGetShieldRsp = c
        .call(&ImGroupGetShieldReq {
            group_id: g,
            user_id: vec![2],
            attach_data: cookie(),
        })
        .await;
    assert!(rsp.shield_status_list.is_empty());
    assert_eq!(rsp.attach_data, cookie());
    // Device tokens live in Redis: set is answered (it has no result), get
    // answers an empty list.
    let set: ImDeviceTokenRsp = c
        .call(&ImDeviceTokenReq {
            user_id: 1,
            device_token: "tok".into(),
            client_type: Some(ClientType::Ios as i32),
            attach_data: cookie(),
        })
        .await;
    assert_eq!((set.user_id, set.attach_data), (1, cookie()));
    let get: ImGetDeviceTokenRsp = c
        .call(&ImGetDeviceTokenReq {
            user_id: vec![1],
            attach_data: cookie(),
        })
        .await;
    assert!(get.user_token_info.is_empty());
    // Removing a session clears an unread count in Redis: result 1, and
    // the session is still there.
    // (A message cannot make the session: its msg_id needs Redis.)
    let sent: ImMsgData = c.call(&group_text(2, g)).await;
    assert_eq!(sent.msg_id, 0, "not stored, not acked");
    exec(
        &pool,
        "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) \
         VALUES (2, ?, 2, 0, 1, 1)",
        &[Arg::U(g)],
    )
    .await;
    let rsp: ImRemoveSessionRsp = c
        .call(&ImRemoveSessionReq {
            user_id: 2,
            session_type: 2,
            session_id: g,
            attach_data: cookie(),
        })
        .await;
    assert_eq!((rsp.result_code, rsp.attach_data), (1, cookie()));
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM IMRecentSession WHERE userId = ? AND peerId = ? AND status = 0",
            &[2, g]
        )
        .await,
        1
    );
    server.stop().await;
}

/// User 1 sends a message to `group`; its msg_id.
async fn send(c: &mut Client, group: u32) -> u32 {
    c.call::<_, ImMsgData>(&group_text(1, group)).await.msg_id
}

/// The msg_ids a member reads back through a message page and by id.
async fn readable(c: &mut Client, user: u32, group: u32, ids: &[u32]) -> (Vec<u32>, Vec<u32>) {
    use ferry_proto::pb::im::base_define::SessionType;
    use ferry_proto::pb::im::message::{
        ImGetMsgByIdReq, ImGetMsgByIdRsp, ImGetMsgListReq, ImGetMsgListRsp,
    };
    let page: ImGetMsgListRsp = c
        .call(&ImGetMsgListReq {
            user_id: user,
            session_type: SessionType::Group as i32,
            session_id: group,
            msg_id_begin: 0,
            msg_cnt: 50,
            attach_data: None,
        })
        .await;
    let by_id: ImGetMsgByIdRsp = c
        .call(&ImGetMsgByIdReq {
            user_id: user,
            session_type: SessionType::Group as i32,
            session_id: group,
            msg_id_list: ids.to_vec(),
            attach_data: None,
        })
        .await;
    let mut a: Vec<u32> = page.msg_list.iter().map(|m| m.msg_id).collect();
    let mut b: Vec<u32> = by_id.msg_list.iter().map(|m| m.msg_id).collect();
    a.sort();
    b.sort();
    (a, b)
}

/// As TeamTalk's db_proxy: a member reads the group's history from the time
/// they joined, not what was said before; removed and added again, from the
/// new join. (Times are whole seconds: the test waits past a second between
/// a message and a join.)
async fn a_new_member_reads_from_the_join_on(b: Backend) {
    use GroupModifyType::{Add, Del};
    let server = b.start().await;
    let mut c = server.connect().await;
    let g = create(&mut c, &create_req(1, GroupType::Normal, "history", &[2]))
        .await
        .group_id
        .unwrap();
    let before = send(&mut c, g).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(change(&mut c, 1, g, Add, &[3]).await.0, 0);
    let after = send(&mut c, g).await;
    let all = [before, after];
    assert_eq!(
        readable(&mut c, 2, g, &all).await,
        (all.to_vec(), all.to_vec())
    );
    assert_eq!(
        readable(&mut c, 3, g, &all).await,
        (vec![after], vec![after]),
        "{}: the newcomer reads from the join on",
        b.name
    );
    assert_eq!(change(&mut c, 1, g, Del, &[3]).await.0, 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let while_away = send(&mut c, g).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(change(&mut c, 1, g, Add, &[3]).await.0, 0);
    let back = send(&mut c, g).await;
    let all = [before, after, while_away, back];
    assert_eq!(
        readable(&mut c, 3, g, &all).await,
        (vec![back], vec![back]),
        "{}: added again, from the new join",
        b.name
    );
    assert_eq!(readable(&mut c, 2, g, &all).await.0, all.to_vec());
    server.stop().await;
}
on_backends!(a_new_member_reads_from_the_join_on);
