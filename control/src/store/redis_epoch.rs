//! Noticing that Redis lost its data, and rebuilding what ferry keeps there
//! from the durable rows.
//!
//! Redis holds TeamTalk's counters (`msg_id_<relateId>`, `unread_<user>`, …); a Redis run without
//! persistence loses them all at a restart, and TeamTalk's db_proxy then
//! starts counting from zero. ferry keeps the durable copy in SQL
//! (FerryUnread, FerryGroupRead, FerryGroupCounter.msgCount; see
//! `message_writer`) and marks the Redis it works with by one key of its
//! own, [`EPOCH_KEY`], set only if absent. Every [`CHECK_EVERY`] the watcher
//! sets it again with `SET NX`: if that succeeds the key was gone, so Redis
//! has been emptied (or is new), and the counters are written back from SQL:
//!
//! - `unread_<user>` field `<peer>` = FerryUnread.cnt;
//! - `<group>_im_group_msg` field `count` = FerryGroupCounter.msgCount;
//! - `<user>_<group>_im_user_group` field `count` = FerryGroupRead.cnt.
//!
//! msg_id counters are not written back here: each is re-seeded above the
//! largest stored msg_id the first time Redis answers behind it (`counter`).
//!
//! Limits: counts raised only through a TeamTalk db_proxy sharing the
//! database are not in ferry's SQL copy and are not restored; a message
//! stored in the instant between a rebuild's read and its write may be
//! counted once less.

use std::time::Duration;

use super::pool::{Pool, RowExt, with_pool};
use super::redis_conn::RedisConn;
use crate::Error;

/// ferry's mark in a Redis it has seen (a key TeamTalk never reads).
pub const EPOCH_KEY: &str = "ferry_redis_epoch";
/// How often the mark is checked.
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(2);
/// Rows read per query while rebuilding.
const PAGE: u32 = 5000;

/// Checks the mark now; rebuilds the counters if it was missing. Returns
/// whether a rebuild ran.
pub(super) async fn check(pool: &Pool, redis: &RedisConn) -> Result<bool, Error> {
    let mark = format!("{:016x}", rand::random::<u64>());
    if !redis.set_nx(EPOCH_KEY, &mark).await? {
        return Ok(false);
    }
    let restored = rebuild(pool, redis).await?;
    if restored > 0 {
        tracing::warn!(
            restored,
            "redis had lost ferry's counters (restarted without persistence or flushed); rebuilt from the database"
        );
    } else {
        tracing::info!("redis marked; no counters to restore");
    }
    Ok(true)
}

/// Runs [`check`] every [`CHECK_EVERY`] until the task is aborted.
pub(super) async fn watch(pool: Pool, redis: RedisConn) {
    loop {
        if let Err(e) = check(&pool, &redis).await {
            tracing::debug!(error = %e, "redis epoch check failed; trying again");
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

/// Writes every durable count back into Redis; returns how many fields.
async fn rebuild(pool: &Pool, redis: &RedisConn) -> Result<usize, Error> {
    let mut restored = 0;
    // FerryUnread: (userId, peerId) primary key, paged in key order.
    let mut after = (0u32, 0u32);
    loop {
        let rows = with_pool!(pool, p => sqlx::query(
            "SELECT userId, peerId, cnt FROM FerryUnread \
             WHERE cnt > 0 AND (userId > ? OR (userId = ? AND peerId > ?)) \
             ORDER BY userId, peerId LIMIT ?",
        )
        .bind(after.0)
        .bind(after.0)
        .bind(after.1)
        .bind(PAGE)
        .fetch_all(p)
        .await?
        .iter()
        .map(|r| Ok((r.u32("userId")?, r.u32("peerId")?, r.u32("cnt")?)))
        .collect::<Result<Vec<_>, Error>>())?;
        let Some(&(user, peer, _)) = rows.last() else {
            break;
        };
        after = (user, peer);
        let sets: Vec<(String, String, i64)> = rows
            .iter()
            .map(|&(u, p, n)| (format!("unread_{u}"), p.to_string(), i64::from(n)))
            .collect();
        restored += sets.len();
        redis.hset_many_keys(&sets).await?;
    }
    let mut after = 0u32;
    loop {
        let rows = with_pool!(pool, p => sqlx::query(
            "SELECT groupId, msgCount FROM FerryGroupCounter WHERE groupId > ? \
             ORDER BY groupId LIMIT ?",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(p)
        .await?
        .iter()
        .map(|r| Ok((r.u32("groupId")?, r.u32("msgCount")?)))
        .collect::<Result<Vec<_>, Error>>())?;
        let Some(&(group, _)) = rows.last() else {
            break;
        };
        after = group;
        let sets: Vec<(String, String, i64)> = rows
            .iter()
            .map(|&(g, n)| (format!("{g}_im_group_msg"), "count".into(), i64::from(n)))
            .collect();
        restored += sets.len();
        redis.hset_many_keys(&sets).await?;
    }
    let mut after = (0u32, 0u32);
    loop {
        let rows = with_pool!(pool, p => sqlx::query(
            "SELECT userId, groupId, cnt FROM FerryGroupRead \
             WHERE userId > ? OR (userId = ? AND groupId > ?) \
             ORDER BY userId, groupId LIMIT ?",
        )
        .bind(after.0)
        .bind(after.0)
        .bind(after.1)
        .bind(PAGE)
        .fetch_all(p)
        .await?
        .iter()
        .map(|r| Ok((r.u32("userId")?, r.u32("groupId")?, r.u32("cnt")?)))
        .collect::<Result<Vec<_>, Error>>())?;
        let Some(&(user, group, _)) = rows.last() else {
            break;
        };
        after = (user, group);
        let sets: Vec<(String, String, i64)> = rows
            .iter()
            .map(|&(u, g, n)| {
                (
                    format!("{u}_{g}_im_user_group"),
                    "count".into(),
                    i64::from(n),
                )
            })
            .collect();
        restored += sets.len();
        redis.hset_many_keys(&sets).await?;
    }
    Ok(restored)
}
