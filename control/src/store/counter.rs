//! msg_id allocation. Called while the caller holds the pair's (or group's)
//! row lock, with `high_water`, the largest msg_id stored for it.
//!
//! - Without Redis the SQL row is the counter: next = high_water + 1.
//! - With Redis, TeamTalk's `msg_id_<relateId>` / `group_msg_id_<groupId>`
//!   INCR allocates (so a TeamTalk db_proxy sharing the Redis agrees). If
//!   Redis answers at or below the high water (flushed, restored from an old
//!   snapshot, or never seeded) the key is re-seeded to high_water + 1: a
//!   msg_id is never issued twice, whatever Redis lost.

use super::redis_conn::RedisConn;
use crate::Error;

pub(super) fn pair_key(relate_id: u32) -> String {
    format!("msg_id_{relate_id}")
}

pub(super) fn group_key(group_id: u32) -> String {
    format!("group_msg_id_{group_id}")
}

pub(super) async fn next(
    redis: Option<&RedisConn>,
    key: &str,
    high_water: u32,
) -> Result<u32, Error> {
    let floor = high_water
        .checked_add(1)
        .ok_or_else(|| Error::InvalidArgument(format!("{key}: msg_id space exhausted")))?;
    let Some(redis) = redis else {
        return Ok(floor);
    };
    let got = redis.incr(key).await?;
    if got >= i64::from(floor) {
        return u32::try_from(got)
            .map_err(|_| Error::Corrupt(format!("redis {key} = {got} is not a u32")));
    }
    tracing::warn!(
        key,
        got,
        high_water,
        "redis msg_id counter behind the stored maximum; re-seeding"
    );
    redis.set(key, floor).await?;
    Ok(floor)
}
