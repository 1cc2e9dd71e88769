//! After the commit, with Redis: TeamTalk's counters for the stored
//! messages, pipelined. The receiver's `unread_<user>` hash, the group's
//! `<group>_im_group_msg` count (never below the durable count: a Redis
//! that lost it is set back to it) and each sender's
//! `<user>_<group>_im_user_group` count (what it has read). The messages
//! are stored by then, so a failure here is logged, not returned.

use std::collections::HashMap;

use super::super::redis_conn::RedisConn;
use super::batch::Batch;

pub(super) async fn raise(redis: &RedisConn, batch: &Batch<'_>) {
    let mut raises: Vec<(String, String, i64)> = batch
        .unread_counts()
        .iter()
        .map(|(&(to, from), &n)| (format!("unread_{to}"), from.to_string(), i64::from(n)))
        .collect();
    raises.extend(batch.groups.values().map(|c| {
        let n = i64::try_from(c.msgs.len()).unwrap_or(i64::MAX);
        (format!("{}_im_group_msg", c.key), "count".to_string(), n)
    }));
    let totals = match redis.hincrby_many(&raises).await {
        Ok(values) => values,
        Err(e) => {
            return tracing::warn!(error = %e, messages = batch.msgs.len(), "stored messages not counted in redis");
        }
    };
    let skip = raises.len() - batch.groups.len();
    let mut lost = Vec::new();
    let total: HashMap<u32, i64> = batch
        .groups
        .values()
        .zip(totals[skip..].iter().copied())
        .map(|(c, in_redis)| {
            let durable = i64::from(c.count) + c.msgs.len() as i64;
            if in_redis < durable {
                lost.push((
                    format!("{}_im_group_msg", c.key),
                    "count".to_string(),
                    durable,
                ));
            }
            (c.key, in_redis.max(durable))
        })
        .collect();
    if !lost.is_empty() {
        tracing::warn!(
            groups = lost.len(),
            "redis group counts behind the stored ones; re-seeded"
        );
        if let Err(e) = redis.hset_many_keys(&lost).await {
            tracing::warn!(error = %e, "group counts not re-seeded in redis");
        }
    }
    let reads: Vec<(String, String, i64)> = batch
        .group_reads()
        .into_iter()
        .map(|((user, group), (after, _))| {
            let read = total[&group] - i64::from(after);
            (
                format!("{user}_{group}_im_user_group"),
                "count".to_string(),
                read,
            )
        })
        .collect();
    if let Err(e) = redis.hset_many_keys(&reads).await {
        tracing::warn!(error = %e, "group read counts not updated in redis");
    }
}
