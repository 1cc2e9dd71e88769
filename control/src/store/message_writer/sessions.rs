//! Step 2 of a batch: each side's one IMRecentSession row made current
//! (status 0, updated now): both users of a pair, each sender of a group
//! message. A side this process has not cached is looked up, or created,
//! under its conversation's lock (step 1), so it is never duplicated.

use std::collections::{HashMap, HashSet};

use super::super::pool::RowExt;
use super::super::sql_text::{padded, padding, repeat};
use super::super::tx::{Arg, Tx};
use super::batch::{Batch, Cache, Learned, SESSION_GROUP, SESSION_SINGLE, Side};
use crate::Error;

/// The batch's sides: the ids the cache knows, and the sides it does not.
pub(super) fn known(batch: &Batch<'_>, cache: &Cache) -> (Vec<u32>, Vec<Side>) {
    let mut sides: Vec<Side> = batch
        .pairs
        .keys()
        .flat_map(|&(a, b)| [(a, b, SESSION_SINGLE), (b, a, SESSION_SINGLE)])
        .collect();
    let group_sides: HashSet<Side> = batch
        .groups
        .values()
        .flat_map(|c| {
            c.msgs
                .iter()
                .map(|&i| (batch.msgs[i].from, c.key, SESSION_GROUP))
        })
        .collect();
    sides.extend(group_sides);
    let mut ids = Vec::with_capacity(sides.len());
    let mut unknown = Vec::new();
    for side in sides {
        match cache.sessions.get(&side) {
            Some(&id) => ids.push(id),
            None => unknown.push(side),
        }
    }
    (ids, unknown)
}

/// Every side's row id: the known ones, the unknown ones found or created
/// (recorded in `learned`, cached once the batch commits).
pub(super) async fn find_or_create(
    tx: &mut Tx,
    _batch: &Batch<'_>,
    (mut ids, unknown): (Vec<u32>, Vec<Side>),
    now: u32,
    learned: &mut Learned,
) -> Result<Vec<u32>, Error> {
    if unknown.is_empty() {
        return Ok(ids);
    }
    let find = format!(
        "SELECT id, userId, peerId, type FROM IMRecentSession WHERE {} ORDER BY id",
        repeat(
            "(userId = ? AND peerId = ? AND type = ?)",
            " OR ",
            padded(unknown.len())
        ),
    );
    let args: Vec<Arg> = padding(&unknown)
        .flat_map(|&(u, p, t)| [Arg::U32(u), Arg::U32(p), Arg::U32(t)])
        .collect();
    let mut found: HashMap<Side, u32> = HashMap::new();
    for row in tx.rows(&find, &args).await? {
        let side = (row.u32("userId")?, row.u32("peerId")?, row.u32("type")?);
        found.entry(side).or_insert(row.u32("id")?);
    }
    for side in &unknown {
        let id = match found.get(side) {
            Some(&id) => {
                ids.push(id);
                id
            }
            None => {
                tx.exec(
                    "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) \
                     VALUES (?, ?, ?, 0, ?, ?)",
                    &[
                        Arg::U32(side.0),
                        Arg::U32(side.1),
                        Arg::U32(side.2),
                        Arg::U32(now),
                        Arg::U32(now),
                    ],
                )
                .await?
                .insert_id
            }
        };
        learned.sessions.push((*side, id));
    }
    Ok(ids)
}

/// One UPDATE makes every side current.
pub(super) async fn touch(tx: &mut Tx, ids: &[u32], now: u32) -> Result<(), Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE IMRecentSession SET status = 0, updated = ? WHERE id IN ({})",
        repeat("?", ", ", padded(ids.len())),
    );
    let mut args = vec![Arg::U32(now)];
    args.extend(padding(ids).map(|&id| Arg::U32(id)));
    tx.exec(&sql, &args).await?;
    Ok(())
}
