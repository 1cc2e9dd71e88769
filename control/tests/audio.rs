//! Audio messages through the PDU port, stored as TeamTalk stores them
//! (IMAudio row, content = its id) with the bytes in FerryAudioData: single
//! and group audio read back byte for byte by list, by id and as the latest
//! message (unread, recent sessions); bad audio refused with nothing stored;
//! TeamTalk's msfs rows, missing rows and ferry's older rows; answers bounded
//! in bytes.

mod common;
#[allow(unused_imports)]
use common::AsText as _;

use base64::Engine as _;
use common::{
    Arg, Backend, Client, blob, bytes, count, exec, insert_teamtalk_user, recent_sessions, text,
};
use ferry_control::store::{
    AUDIO_MAX_BYTES, AUDIO_PATH_PREFIX, CONTENT_MARKER, PAGE_BYTES, PREVIEW_BYTES,
};
use ferry_proto::pb::im::base_define::{MsgInfo, MsgType, UnreadInfo};
use ferry_proto::pb::im::message::{
    ImGetLatestMsgIdReq, ImGetLatestMsgIdRsp, ImGetMsgByIdReq, ImGetMsgByIdRsp, ImGetMsgListReq,
    ImGetMsgListRsp, ImMsgData, ImUnreadMsgCntReq, ImUnreadMsgCntRsp,
};

const SINGLE: i32 = 1;
const GROUP: i32 = 2;

/// msg_data of an audio message: duration (u32 BE) + `len` bytes, most of
/// them not UTF-8.
fn audio(duration: u32, len: usize, seed: u8) -> Vec<u8> {
    let mut v = duration.to_be_bytes().to_vec();
    v.extend((0..len).map(|i| (i as u8).wrapping_mul(151).wrapping_add(seed) | 0x80));
    v
}

fn msg(from: u32, to: u32, msg_type: MsgType, data: &[u8]) -> ImMsgData {
    ImMsgData {
        from_user_id: from,
        to_session_id: to,
        msg_id: 0,
        create_time: 1_700_000_000,
        msg_type: msg_type as i32,
        msg_data: bytes(data),
        attach_data: None,
    }
}

/// The msg_id db_proxy gave the message (0: refused).
async fn send(c: &mut Client, from: u32, to: u32, msg_type: MsgType, data: &[u8]) -> u32 {
    let rsp: ImMsgData = c.call(&msg(from, to, msg_type, data)).await;
    assert_eq!(
        &rsp.msg_data[..],
        data,
        "the answer carries msg_data unchanged"
    );
    rsp.msg_id
}

async fn page(c: &mut Client, user: u32, kind: i32, session: u32, begin: u32) -> Vec<MsgInfo> {
    let rsp: ImGetMsgListRsp = c
        .call(&ImGetMsgListReq {
            user_id: user,
            session_type: kind,
            session_id: session,
            msg_id_begin: begin,
            msg_cnt: 20,
            attach_data: None,
        })
        .await;
    rsp.msg_list
}

async fn by_id(c: &mut Client, user: u32, kind: i32, session: u32, ids: &[u32]) -> Vec<MsgInfo> {
    let rsp: ImGetMsgByIdRsp = c
        .call(&ImGetMsgByIdReq {
            user_id: user,
            session_type: kind,
            session_id: session,
            msg_id_list: ids.to_vec(),
            attach_data: None,
        })
        .await;
    rsp.msg_list
}

async fn unread(c: &mut Client, user: u32) -> Vec<UnreadInfo> {
    let rsp: ImUnreadMsgCntRsp = c
        .call(&ImUnreadMsgCntReq {
            user_id: user,
            attach_data: None,
        })
        .await;
    rsp.unreadinfo_list
}

fn ids(list: &[MsgInfo]) -> Vec<u32> {
    list.iter().map(|m| m.msg_id).collect()
}

async fn group_of(pool: &ferry_control::store::Pool, group: u32, members: &[u32]) {
    exec(
        pool,
        "INSERT INTO IMGroup (id, name, avatar, creator, type, userCnt, status, version, lastChated, updated, created) \
         VALUES (?, 'g', '', 1, 1, 2, 0, 1, 0, 1, 1)",
        &[Arg::U(group)],
    )
    .await;
    for u in members {
        exec(
            pool,
            "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES (?, ?, 0, 1, 1)",
            &[Arg::U(group), Arg::U(*u)],
        )
        .await;
    }
}

async fn audio_round_trip(b: Backend) {
    let server = b.start().await;
    let pool = b.pool().await;
    for name in ["u1", "u2", "u3"] {
        insert_teamtalk_user(&pool, name, "pw", "1", 0).await;
    }
    group_of(&pool, 9, &[1, 2]).await;
    let mut c = server.connect().await;

    let single = audio(7, 3000, 1);
    assert_eq!(send(&mut c, 1, 2, MsgType::SingleAudio, &single).await, 1);
    let group = audio(12, 777, 2);
    assert_eq!(send(&mut c, 2, 9, MsgType::GroupAudio, &group).await, 1);

    // Stored as TeamTalk stores audio, the bytes in FerryAudioData.
    let relate = count(
        &pool,
        "SELECT MAX(id) FROM IMRelationShip WHERE smallId = 1 AND bigId = 2",
        &[],
    )
    .await as u32;
    let shard = format!("IMMessage_{}", relate % 8);
    for (audio_id, from, to, msg_data, content_sql) in [
        (
            1u32,
            1u32,
            2u32,
            &single,
            format!("SELECT content FROM {shard} WHERE relateId = ? AND msgId = 1"),
        ),
        (
            2,
            2,
            9,
            &group,
            "SELECT content FROM IMGroupMessage_1 WHERE groupId = ? AND msgId = 1".to_string(),
        ),
    ] {
        let key = if to == 9 { 9 } else { relate };
        assert_eq!(
            text(&pool, &content_sql, &[key]).await,
            Some(audio_id.to_string()),
            "{}: content is the IMAudio id",
            b.name
        );
        assert_eq!(
            count(
                &pool,
                "SELECT COUNT(*) FROM IMAudio WHERE id = ? AND fromId = ? AND toId = ? AND size = ? \
                 AND duration = ? AND created = 1700000000",
                &[
                    audio_id,
                    from,
                    to,
                    msg_data.len() as u32 - 4,
                    u32::from_be_bytes(msg_data[..4].try_into().unwrap())
                ],
            )
            .await,
            1
        );
        assert_eq!(
            text(&pool, "SELECT path FROM IMAudio WHERE id = ?", &[audio_id]).await,
            Some(format!("{AUDIO_PATH_PREFIX}{audio_id}"))
        );
        assert_eq!(
            blob(
                &pool,
                "SELECT data FROM FerryAudioData WHERE audioId = ?",
                &[audio_id]
            )
            .await
            .as_deref(),
            Some(&msg_data[4..])
        );
    }

    // Read back exactly: list, by id, latest (unread, sessions).
    for (user, peer) in [(1, 2), (2, 1)] {
        let list = page(&mut c, user, SINGLE, peer, 0).await;
        assert_eq!(ids(&list), [1], "{}", b.name);
        assert_eq!(&list[0].msg_data[..], single, "{}", b.name);
        assert_eq!(list[0].msg_type, MsgType::SingleAudio as i32);
        let got = by_id(&mut c, user, SINGLE, peer, &[1]).await;
        assert_eq!(&got[0].msg_data[..], single);
    }
    for user in [1, 2] {
        let list = page(&mut c, user, GROUP, 9, 0).await;
        assert_eq!(ids(&list), [1]);
        assert_eq!(&list[0].msg_data[..], group, "{}", b.name);
        assert_eq!(list[0].msg_type, MsgType::GroupAudio as i32);
        assert_eq!(list[0].from_session_id, 2);
        let got = by_id(&mut c, user, GROUP, 9, &[1, 2]).await;
        assert_eq!(ids(&got), [1]);
        assert_eq!(&got[0].msg_data[..], group);
    }
    assert!(
        page(&mut c, 3, GROUP, 9, 0).await.is_empty(),
        "members only"
    );
    let latest: ImGetLatestMsgIdRsp = c
        .call(&ImGetLatestMsgIdReq {
            user_id: 2,
            session_type: SINGLE,
            session_id: 1,
            attach_data: None,
        })
        .await;
    assert_eq!(latest.latest_msg_id, 1);
    let counts = unread(&mut c, 2).await;
    let from_1 = counts.iter().find(|u| u.session_type == SINGLE).unwrap();
    assert_eq!((from_1.session_id, from_1.unread_cnt), (1, 1));
    assert_eq!(&from_1.latest_msg_data[..], single, "{}", b.name);
    assert_eq!(from_1.latest_msg_type, MsgType::SingleAudio as i32);
    let counts = unread(&mut c, 1).await;
    let in_9 = counts.iter().find(|u| u.session_type == GROUP).unwrap();
    assert_eq!(&in_9.latest_msg_data[..], group);
    let of_2 = recent_sessions(&mut c, 2).await;
    let with_1 = of_2.iter().find(|s| s.session_type == SINGLE).unwrap();
    assert_eq!(&with_1.latest_msg_data[..], single);
    let in_9 = of_2.iter().find(|s| s.session_type == GROUP).unwrap();
    assert_eq!(
        (in_9.session_id, &in_9.latest_msg_data[..]),
        (9, &group[..])
    );

    // Refused, nothing stored: no audio after the duration, over the bound,
    // a group audio from a non-member.
    let rows = |pool| async move {
        (
            count(pool, "SELECT COUNT(*) FROM IMAudio", &[]).await,
            count(pool, "SELECT COUNT(*) FROM FerryAudioData", &[]).await,
        )
    };
    let before = rows(&pool).await;
    for bad in [
        &[0u8, 0, 1][..],
        &[0, 0, 0, 5],
        &audio(5, AUDIO_MAX_BYTES + 1, 3),
    ] {
        assert_eq!(send(&mut c, 1, 2, MsgType::SingleAudio, bad).await, 0);
        assert_eq!(send(&mut c, 1, 9, MsgType::GroupAudio, bad).await, 0);
    }
    assert_eq!(
        send(&mut c, 3, 9, MsgType::GroupAudio, &audio(1, 10, 4)).await,
        0
    );
    assert_eq!(
        rows(&pool).await,
        before,
        "{}: refused audio left rows",
        b.name
    );
    assert_eq!(ids(&page(&mut c, 1, SINGLE, 2, 0).await), [1]);
    assert_eq!(ids(&page(&mut c, 1, GROUP, 9, 0).await), [1]);

    // The bound itself is accepted.
    let biggest = audio(60, AUDIO_MAX_BYTES, 5);
    assert_eq!(send(&mut c, 2, 1, MsgType::SingleAudio, &biggest).await, 2);
    assert_eq!(
        &by_id(&mut c, 1, SINGLE, 2, &[2]).await[0].msg_data[..],
        biggest
    );

    // Rows ferry cannot fetch: TeamTalk's msfs URL (the duration only), an
    // id with no IMAudio row (duration 0); and an audio row ferry wrote
    // before IMAudio (its marked content) still reads back.
    exec(
        &pool,
        "INSERT INTO IMAudio (id, fromId, toId, path, size, duration, created) \
         VALUES (5000, 2, 1, 'http://10.0.0.8:8700/g0/000/000/1428416500123456_140211.audio', 4000, 9, 1700000100)",
        &[],
    )
    .await;
    let legacy = audio(5, 3, 9);
    let marked = format!(
        "{CONTENT_MARKER}{}",
        base64::engine::general_purpose::STANDARD.encode(&legacy)
    );
    let insert = format!(
        "INSERT INTO {shard} (relateId, fromId, toId, msgId, content, type, status, updated, created) \
         VALUES (?, 2, 1, ?, ?, 2, 0, ?, ?)"
    );
    for (msg_id, content) in [(3u32, "5000"), (4, "424242"), (5, marked.as_str())] {
        let t = 1_700_000_100 + msg_id;
        exec(
            &pool,
            &insert,
            &[
                Arg::U(relate),
                Arg::U(msg_id),
                Arg::S(content),
                Arg::U(t),
                Arg::U(t),
            ],
        )
        .await;
    }
    let list = page(&mut c, 1, SINGLE, 2, 0).await;
    assert_eq!(ids(&list), [5, 4, 3, 2, 1], "{}", b.name);
    assert_eq!(&list[0].msg_data[..], legacy);
    assert_eq!(&list[1].msg_data[..], [0, 0, 0, 0]);
    assert_eq!(&list[2].msg_data[..], 9u32.to_be_bytes());
    assert_eq!(&list[3].msg_data[..], biggest);
    assert_eq!(&list[4].msg_data[..], single);
    let got = by_id(&mut c, 2, SINGLE, 1, &[3]).await;
    assert_eq!(&got[0].msg_data[..], 9u32.to_be_bytes());
    server.stop().await;
}
on_backends!(audio_round_trip, redis);

/// A page ends before the message that would take it past PAGE_BYTES; the
/// latest messages of a sessions answer share PREVIEW_BYTES, audio past it
/// cut to the duration.
async fn answers_bounded_in_bytes(b: Backend) {
    let full = 4 + AUDIO_MAX_BYTES;
    assert!(
        2 * full > PAGE_BYTES.max(PREVIEW_BYTES),
        "two audios overflow"
    );
    assert!(full <= PREVIEW_BYTES, "one audio fits a preview");
    let server = b.start().await;
    let mut c = server.connect().await;
    let first = audio(1, AUDIO_MAX_BYTES, 10);
    let second = audio(2, AUDIO_MAX_BYTES, 20);
    assert_eq!(send(&mut c, 1, 2, MsgType::SingleAudio, &first).await, 1);
    assert_eq!(send(&mut c, 2, 1, MsgType::SingleAudio, &second).await, 2);
    let list = page(&mut c, 1, SINGLE, 2, 0).await;
    assert_eq!(ids(&list), [2], "{}", b.name);
    assert_eq!(&list[0].msg_data[..], second);
    let rest = page(&mut c, 1, SINGLE, 2, 1).await;
    assert_eq!(ids(&rest), [1]);
    assert_eq!(&rest[0].msg_data[..], first);
    assert_eq!(by_id(&mut c, 1, SINGLE, 2, &[1, 2]).await.len(), 1);

    for (peer, seed) in [(3u32, 30u8), (4, 40)] {
        let data = audio(u32::from(seed), AUDIO_MAX_BYTES, seed);
        assert_eq!(send(&mut c, peer, 1, MsgType::SingleAudio, &data).await, 1);
    }
    let of_1 = recent_sessions(&mut c, 1).await;
    let mut peers: Vec<u32> = of_1.iter().map(|s| s.session_id).collect();
    peers.sort();
    assert_eq!(peers, [2, 3, 4], "{}", b.name);
    let whole = of_1
        .iter()
        .filter(|s| s.latest_msg_data.len() == full)
        .count();
    assert_eq!(
        whole, 1,
        "{}: one full audio fits the preview bytes",
        b.name
    );
    for s in of_1.iter().filter(|s| s.latest_msg_data.len() != full) {
        let duration = match s.session_id {
            2 => 2u32,
            peer => peer * 10,
        };
        assert_eq!(&s.latest_msg_data[..], duration.to_be_bytes());
    }
    server.stop().await;
}
on_backends!(answers_bounded_in_bytes);
