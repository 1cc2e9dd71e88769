//! msg_id allocation. Called while the caller holds the pair's (or group's)
//! row lock, with `high_water`, the largest msg_id stored for it.
//!
//! - Without Redis the SQL row is the counter: next = high_water + 1.
//! - With Redis, TeamTalk's `msg_id_<relateId>` / `group_msg_id_<groupId>`
//!   INCR (INCRBY for a batch's several) allocates, so a TeamTalk db_proxy
//!   sharing the Redis agrees. If Redis answers at or below the high water
//!   (flushed, restored from an old snapshot, or never seeded) the key is
//!   re-seeded past it: a msg_id is never issued twice, whatever Redis lost.

use super::redis_conn::RedisConn;
use crate::Error;

pub(super) fn pair_key(relate_id: u32) -> String {
    format!("msg_id_{relate_id}")
}

pub(super) fn group_key(group_id: u32) -> String {
    format!("group_msg_id_{group_id}")
}

/// One key's share of a batch: `count` ids above `high_water`.
pub(super) struct Allocation {
    pub key: String,
    pub high_water: u32,
    pub count: u32,
}

/// The first of `count` consecutive msg_ids for each allocation, in order.
/// With Redis one pipeline of INCRBY takes them all; keys found behind their
/// high water are re-seeded with one MSET.
pub(super) async fn next_many(
    redis: Option<&RedisConn>,
    asks: &[Allocation],
) -> Result<Vec<u32>, Error> {
    let mut firsts = Vec::with_capacity(asks.len());
    for a in asks {
        let last = a
            .high_water
            .checked_add(a.count)
            .ok_or_else(|| Error::InvalidArgument(format!("{}: msg_id space exhausted", a.key)))?;
        firsts.push(last - a.count + 1);
    }
    let Some(redis) = redis else {
        return Ok(firsts);
    };
    let tops = redis
        .incr_by_many(asks.iter().map(|a| (a.key.as_str(), a.count)))
        .await?;
    let mut reseed = Vec::new();
    for ((a, top), first) in asks.iter().zip(tops).zip(firsts.iter_mut()) {
        let got = top - i64::from(a.count) + 1;
        if got >= i64::from(*first) {
            *first = u32::try_from(top)
                .map(|top| top - a.count + 1)
                .map_err(|_| Error::Corrupt(format!("redis {} = {top} is not a u32", a.key)))?;
            continue;
        }
        tracing::warn!(
            key = a.key,
            got,
            high_water = a.high_water,
            "redis msg_id counter behind the stored maximum; re-seeding"
        );
        reseed.push((a.key.as_str(), *first + a.count - 1));
    }
    redis.set_many(&reseed).await?;
    Ok(firsts)
}
