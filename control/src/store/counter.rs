//! msg_id allocation. Called while the caller holds the pair's (or group's)
//! row lock, with `high_water`, the largest msg_id stored for it.
//!
//! - Without Redis the SQL row is the counter: next = high_water + 1.
//! - With Redis, TeamTalk's `msg_id_<relateId>` / `group_msg_id_<groupId>`
//!   INCR (INCRBY for a batch's several) allocates, so a TeamTalk db_proxy
//!   sharing the Redis agrees. If Redis answers at or below the high water
//!   (flushed, restored from an old snapshot, or never seeded) the counter
//!   is re-seeded from the stored truth: above the largest msg_id in the
//!   conversation's rows, whoever stored them (a TeamTalk db_proxy beside
//!   ferry advances Redis, not ferry's high water). A msg_id is never issued
//!   twice, whatever Redis lost.

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

/// What Redis gave one allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Taken {
    /// The first of the allocation's ids: above the high water.
    First(u32),
    /// Redis answered at or below the high water: it lost the key (a
    /// restart without persistence, a flush, an old snapshot) or never had
    /// it. The caller re-reads the largest stored id and calls [`reseed`].
    Behind,
}

/// The first of `count` consecutive msg_ids for each allocation, in order,
/// or [`Taken::Behind`] where Redis is behind. With Redis one pipeline of
/// INCRBY takes them all; without it the SQL high water is the counter.
pub(super) async fn next_many(
    redis: Option<&RedisConn>,
    asks: &[Allocation],
) -> Result<Vec<Taken>, Error> {
    let mut firsts = Vec::with_capacity(asks.len());
    for a in asks {
        firsts.push(first_above(a.high_water, a)?);
    }
    let Some(redis) = redis else {
        return Ok(firsts.into_iter().map(Taken::First).collect());
    };
    let tops = redis
        .incr_by_many(asks.iter().map(|a| (a.key.as_str(), a.count)))
        .await?;
    let mut taken = Vec::with_capacity(asks.len());
    for ((a, top), first) in asks.iter().zip(tops).zip(firsts) {
        let got = top - i64::from(a.count) + 1;
        if got >= i64::from(first) {
            let top = u32::try_from(top)
                .map_err(|_| Error::Corrupt(format!("redis {} = {top} is not a u32", a.key)))?;
            taken.push(Taken::First(top - a.count + 1));
        } else {
            tracing::warn!(
                key = a.key,
                got,
                high_water = a.high_water,
                "redis msg_id counter behind the stored maximum; re-seeding from the stored rows"
            );
            taken.push(Taken::Behind);
        }
    }
    Ok(taken)
}

/// For allocations Redis was behind on: `stored` is the largest msg_id in
/// the conversation's rows, whoever wrote them (a TeamTalk db_proxy sharing
/// the database included). The ids start above both it and the high water,
/// and the Redis key is set to the last of them (one MSET for all).
pub(super) async fn reseed(
    redis: Option<&RedisConn>,
    behind: &[(&Allocation, u32)],
) -> Result<Vec<u32>, Error> {
    let mut firsts = Vec::with_capacity(behind.len());
    let mut sets = Vec::with_capacity(behind.len());
    for &(a, stored) in behind {
        let first = first_above(a.high_water.max(stored), a)?;
        firsts.push(first);
        sets.push((a.key.as_str(), first + a.count - 1));
    }
    if let Some(redis) = redis {
        redis.set_many(&sets).await?;
    }
    Ok(firsts)
}

/// The first of `a.count` ids above `high`.
fn first_above(high: u32, a: &Allocation) -> Result<u32, Error> {
    high.checked_add(a.count)
        .map(|last| last - a.count + 1)
        .ok_or_else(|| Error::InvalidArgument(format!("{}: msg_id space exhausted", a.key)))
}
