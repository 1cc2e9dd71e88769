//! Step 1 of a batch: lock its conversations, pairs then groups, each in
//! key order; refuse group messages of non-members; on the first sight of a
//! pair, adopt or create its relation; raise a new counter to the largest
//! stored msgId.

use std::collections::HashSet;

use super::super::group_member::CURRENT_MEMBERS;
use super::super::pool::RowExt;
use super::super::shard::{self, MAX_GROUP_MSG_ID, MAX_MSG_ID};
use super::super::sql_text::{padded, padding, repeat};
use super::super::tx::{Arg, Tx};
use super::batch::Batch;
use crate::Error;

/// Creates the counter rows this process has not seen (an upsert), then
/// locks every conversation's row and reads its relation, high water and
/// group count; refuses group messages whose sender is not a current
/// member of a live group.
pub(super) async fn conversations(
    tx: &mut Tx,
    batch: &mut Batch<'_>,
    new_pairs: &[(u32, u32)],
    new_groups: &[u32],
) -> Result<(), Error> {
    let mysql = tx.is_mysql();
    let lock = if mysql { " FOR UPDATE" } else { "" };
    if !new_pairs.is_empty() {
        let upsert = format!(
            "INSERT INTO FerryPair (smallId, bigId) VALUES {} {}",
            repeat("(?, ?)", ", ", padded(new_pairs.len())),
            if mysql {
                "ON DUPLICATE KEY UPDATE relateId = relateId"
            } else {
                "ON CONFLICT (smallId, bigId) DO NOTHING"
            }
        );
        let args: Vec<Arg> = padding(new_pairs)
            .flat_map(|&(a, b)| [Arg::U32(a), Arg::U32(b)])
            .collect();
        tx.exec(&upsert, &args).await?;
    }
    if !batch.pairs.is_empty() {
        let keys: Vec<(u32, u32)> = batch.pairs.keys().copied().collect();
        let sql = format!(
            "SELECT smallId, bigId, relateId, msgId FROM FerryPair WHERE {}{lock}",
            repeat("(smallId = ? AND bigId = ?)", " OR ", padded(keys.len())),
        );
        let args: Vec<Arg> = padding(&keys)
            .flat_map(|&(a, b)| [Arg::U32(a), Arg::U32(b)])
            .collect();
        for row in tx.rows(&sql, &args).await? {
            let key = (row.u32("smallId")?, row.u32("bigId")?);
            if let Some(conv) = batch.pairs.get_mut(&key) {
                conv.key = row.u32("relateId")?;
                conv.high = row.u32("msgId")?;
            }
        }
    }
    if !new_groups.is_empty() {
        let upsert = format!(
            "INSERT INTO FerryGroupCounter (groupId) VALUES {} {}",
            repeat("(?)", ", ", padded(new_groups.len())),
            if mysql {
                "ON DUPLICATE KEY UPDATE msgId = msgId"
            } else {
                "ON CONFLICT (groupId) DO NOTHING"
            }
        );
        let args: Vec<Arg> = padding(new_groups).map(|&g| Arg::U32(g)).collect();
        tx.exec(&upsert, &args).await?;
    }
    if batch.groups.is_empty() {
        return Ok(());
    }
    let keys: Vec<u32> = batch.groups.keys().copied().collect();
    let sql = format!(
        "SELECT groupId, msgId, msgCount FROM FerryGroupCounter WHERE groupId IN ({}){lock}",
        repeat("?", ", ", padded(keys.len())),
    );
    let args: Vec<Arg> = padding(&keys).map(|&g| Arg::U32(g)).collect();
    for row in tx.rows(&sql, &args).await? {
        if let Some(conv) = batch.groups.get_mut(&row.u32("groupId")?) {
            conv.high = row.u32("msgId")?;
            conv.count = row.u32("msgCount")?;
        }
    }
    members_only(tx, batch).await
}

/// Group senders must be current members of a live group: a message of
/// anyone else fails alone.
async fn members_only(tx: &mut Tx, batch: &mut Batch<'_>) -> Result<(), Error> {
    let senders: Vec<(u32, u32)> = batch
        .msgs
        .iter()
        .filter(|m| m.group)
        .map(|m| (m.to, m.from))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let sql = format!(
        "SELECT m.groupId, m.userId FROM {CURRENT_MEMBERS} AND ({})",
        repeat(
            "(m.groupId = ? AND m.userId = ?)",
            " OR ",
            padded(senders.len())
        ),
    );
    let args: Vec<Arg> = padding(&senders)
        .flat_map(|&(g, u)| [Arg::U32(g), Arg::U32(u)])
        .collect();
    let mut allowed = HashSet::new();
    for row in tx.rows(&sql, &args).await? {
        allowed.insert((row.u32("groupId")?, row.u32("userId")?));
    }
    let msgs = batch.msgs;
    let results = &mut batch.results;
    for conv in batch.groups.values_mut() {
        conv.msgs.retain(|&i| {
            let m = msgs[i];
            let member = allowed.contains(&(m.to, m.from));
            if !member {
                results[i] = Some(Err(Error::InvalidArgument(format!(
                    "user {} is not a member of group {}",
                    m.from, m.to
                ))));
            }
            member
        });
    }
    batch.groups.retain(|_, conv| !conv.msgs.is_empty());
    Ok(())
}

/// First messages through ferry: adopt or create the pair's relation, and
/// never issue an id at or below one already stored (by anyone).
pub(super) async fn first_sight(tx: &mut Tx, batch: &mut Batch<'_>, now: u32) -> Result<(), Error> {
    for (&(small, big), conv) in batch.pairs.iter_mut() {
        if conv.key != 0 {
            continue;
        }
        let found = tx
            .row(
                "SELECT id, status FROM IMRelationShip WHERE smallId = ? AND bigId = ? \
                 ORDER BY status, id LIMIT 1",
                &[Arg::U32(small), Arg::U32(big)],
            )
            .await?;
        conv.key = match found {
            Some(r) => {
                let id = r.u32("id")?;
                if r.u32("status")? != 0 {
                    tx.exec(
                        "UPDATE IMRelationShip SET status = 0, updated = ? WHERE id = ?",
                        &[Arg::U32(now), Arg::U32(id)],
                    )
                    .await?;
                }
                id
            }
            None => {
                tx.exec(
                    "INSERT INTO IMRelationShip (smallId, bigId, status, created, updated) \
                     VALUES (?, ?, 0, ?, ?)",
                    &[Arg::U32(small), Arg::U32(big), Arg::U32(now), Arg::U32(now)],
                )
                .await?
                .insert_id
            }
        };
        let max = tx
            .row(MAX_MSG_ID[shard::of(conv.key)], &[Arg::U32(conv.key)])
            .await?;
        let stored = max
            .map(|r| r.opt_u32("m"))
            .transpose()?
            .flatten()
            .unwrap_or(0);
        conv.high = conv.high.max(stored);
        tx.exec(
            "UPDATE FerryPair SET relateId = ? WHERE smallId = ? AND bigId = ?",
            &[Arg::U32(conv.key), Arg::U32(small), Arg::U32(big)],
        )
        .await?;
    }
    for conv in batch.groups.values_mut().filter(|c| c.high == 0) {
        let max = tx
            .row(MAX_GROUP_MSG_ID[shard::of(conv.key)], &[Arg::U32(conv.key)])
            .await?;
        conv.high = max
            .map(|r| r.opt_u32("m"))
            .transpose()?
            .flatten()
            .unwrap_or(0);
    }
    Ok(())
}
