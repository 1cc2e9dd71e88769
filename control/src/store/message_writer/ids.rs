//! Step 3 of a batch: msg_ids, one step for every conversation, from Redis
//! (TeamTalk's keys, shared with a TeamTalk db_proxy) or the SQL high
//! water. A counter Redis lost is re-seeded above the largest msg_id
//! stored for its conversation, whoever stored it (`counter`).

use super::super::counter::{self, Allocation, Taken};
use super::super::pool::RowExt;
use super::super::redis_conn::RedisConn;
use super::super::shard::{self, MAX_GROUP_MSG_ID, MAX_MSG_ID};
use super::super::tx::{Arg, Tx};
use super::batch::Batch;
use crate::Error;

/// One allocation per conversation: pairs, then groups.
pub(super) fn asks(batch: &Batch<'_>) -> Vec<Allocation> {
    let pairs = batch.pairs.values().map(|c| (counter::pair_key(c.key), c));
    let groups = batch
        .groups
        .values()
        .map(|c| (counter::group_key(c.key), c));
    pairs
        .chain(groups)
        .map(|(key, c)| Allocation {
            key,
            high_water: c.high,
            count: c.msgs.len() as u32,
        })
        .collect()
}

/// Redis's answers (or the SQL high water's), not yet checked.
pub(super) async fn take(
    redis: Option<&RedisConn>,
    asks: &[Allocation],
) -> Result<Vec<Taken>, Error> {
    counter::next_many(redis, asks).await
}

/// Gives every message its id: where Redis was behind, from above the
/// largest stored msg_id.
pub(super) async fn assign(
    tx: &mut Tx,
    redis: Option<&RedisConn>,
    batch: &mut Batch<'_>,
    asks: &[Allocation],
    taken: Vec<Taken>,
) -> Result<(), Error> {
    let mut behind = Vec::new();
    let convs = batch
        .pairs
        .values()
        .map(|c| (false, c.key))
        .chain(batch.groups.values().map(|c| (true, c.key)));
    for ((group, key), (ask, t)) in convs.zip(asks.iter().zip(&taken)) {
        if *t == Taken::Behind {
            let sql = if group { MAX_GROUP_MSG_ID } else { MAX_MSG_ID };
            let stored = tx
                .row(sql[shard::of(key)], &[Arg::U32(key)])
                .await?
                .map(|r| r.opt_u32("m"))
                .transpose()?
                .flatten()
                .unwrap_or(0);
            behind.push((ask, stored));
        }
    }
    let mut reseeded = counter::reseed(redis, &behind).await?.into_iter();
    let firsts = taken.iter().map(|t| match t {
        Taken::First(first) => *first,
        Taken::Behind => reseeded.next().expect("one reseed per behind"),
    });
    let results = &mut batch.results;
    for (conv, first) in batch
        .pairs
        .values_mut()
        .chain(batch.groups.values_mut())
        .zip(firsts)
    {
        conv.first_id = first;
        for (n, &i) in conv.msgs.iter().enumerate() {
            results[i] = Some(Ok(first + n as u32));
        }
    }
    Ok(())
}
