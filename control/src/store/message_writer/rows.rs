//! Step 4 of a batch: the message rows, several per statement, and the
//! counters written back: high waters, group totals and lastChated, the
//! durable unread and read counts.

use super::super::shard::{self, INSERT_GROUP_MESSAGE, INSERT_MESSAGE};
use super::super::sql_text::{chunks, padded, padding, repeat};
use super::super::tx::{Arg, Tx};
use super::batch::Batch;
use crate::Error;

/// Inserts every stored message into its shard's table.
pub(super) async fn insert(tx: &mut Tx, batch: &Batch<'_>, now: u32) -> Result<(), Error> {
    let mut by_shard: [Vec<(usize, u32)>; 8] = Default::default();
    for conv in batch.pairs.values() {
        for &i in &conv.msgs {
            by_shard[shard::of(conv.key)].push((i, conv.key));
        }
    }
    for (s, rows) in by_shard.iter().enumerate() {
        for chunk in chunks(rows) {
            let sql = format!(
                "{}{}",
                INSERT_MESSAGE[s],
                repeat(", (?, ?, ?, ?, ?, ?, 0, ?, ?)", "", chunk.len() - 1)
            );
            let mut args = Vec::with_capacity(chunk.len() * 8);
            for &(i, relate_id) in chunk {
                let m = batch.msgs[i];
                args.extend([
                    Arg::U32(relate_id),
                    Arg::U32(m.from),
                    Arg::U32(m.to),
                    Arg::U32(batch.id_of(i)),
                    Arg::Str(&m.text),
                    Arg::I32(m.msg_type),
                    Arg::U32(now),
                    Arg::U32(m.create_time),
                ]);
            }
            tx.exec(&sql, &args).await?;
        }
    }
    let mut by_shard: [Vec<usize>; 8] = Default::default();
    for conv in batch.groups.values() {
        by_shard[shard::of(conv.key)].extend(&conv.msgs);
    }
    for (s, rows) in by_shard.iter().enumerate() {
        for chunk in chunks(rows) {
            let sql = format!(
                "{}{}",
                INSERT_GROUP_MESSAGE[s],
                repeat(", (?, ?, ?, ?, ?, 0, ?, ?)", "", chunk.len() - 1)
            );
            let mut args = Vec::with_capacity(chunk.len() * 7);
            for &i in chunk {
                let m = batch.msgs[i];
                args.extend([
                    Arg::U32(m.to),
                    Arg::U32(m.from),
                    Arg::U32(batch.id_of(i)),
                    Arg::Str(&m.text),
                    Arg::I32(m.msg_type),
                    Arg::U32(now),
                    Arg::U32(m.create_time),
                ]);
            }
            tx.exec(&sql, &args).await?;
        }
    }
    Ok(())
}

/// `INSERT INTO $table VALUES (?, ?, ?), … $conflict` over rows of three
/// values, in power-of-two chunks.
async fn insert_triples(
    tx: &mut Tx,
    table: &str,
    conflict: &str,
    rows: &[(u32, u32, u32)],
) -> Result<(), Error> {
    for chunk in chunks(rows) {
        let sql = format!(
            "INSERT INTO {table} VALUES {} {conflict}",
            repeat("(?, ?, ?)", ", ", chunk.len()),
        );
        let args: Vec<Arg> = chunk
            .iter()
            .flat_map(|&(a, b, c)| [Arg::U32(a), Arg::U32(b), Arg::U32(c)])
            .collect();
        tx.exec(&sql, &args).await?;
    }
    Ok(())
}

/// The counters of the batch's conversations, written back.
pub(super) async fn counters(tx: &mut Tx, batch: &Batch<'_>, now: u32) -> Result<(), Error> {
    let mysql = tx.is_mysql();
    let upsert = |mysql_form: &'static str, sqlite_form: &'static str| {
        if mysql { mysql_form } else { sqlite_form }
    };
    let highs: Vec<(u32, u32, u32)> = batch
        .pairs
        .iter()
        .map(|(&(a, b), c)| (a, b, c.first_id + c.msgs.len() as u32 - 1))
        .collect();
    insert_triples(
        tx,
        "FerryPair (smallId, bigId, msgId)",
        upsert(
            "ON DUPLICATE KEY UPDATE msgId = VALUES(msgId)",
            "ON CONFLICT (smallId, bigId) DO UPDATE SET msgId = excluded.msgId",
        ),
        &highs,
    )
    .await?;
    let counted: Vec<(u32, u32, u32)> = batch
        .groups
        .values()
        .map(|c| {
            let n = c.msgs.len() as u32;
            (c.key, c.first_id + n - 1, n)
        })
        .collect();
    insert_triples(
        tx,
        "FerryGroupCounter (groupId, msgId, msgCount)",
        upsert(
            "ON DUPLICATE KEY UPDATE msgId = VALUES(msgId), msgCount = msgCount + VALUES(msgCount)",
            "ON CONFLICT (groupId) DO UPDATE SET msgId = excluded.msgId, \
             msgCount = msgCount + excluded.msgCount",
        ),
        &counted,
    )
    .await?;
    if !batch.groups.is_empty() {
        let chatted: Vec<u32> = batch.groups.keys().copied().collect();
        let sql = format!(
            "UPDATE IMGroup SET lastChated = ? WHERE id IN ({})",
            repeat("?", ", ", padded(chatted.len())),
        );
        let mut args = vec![Arg::U32(now)];
        args.extend(padding(&chatted).map(|&g| Arg::U32(g)));
        tx.exec(&sql, &args).await?;
    }
    // The durable counts, with or without Redis: Redis is TeamTalk's mirror
    // of them and is rebuilt from them if it loses its data.
    let unread: Vec<(u32, u32, u32)> = batch
        .unread_counts()
        .into_iter()
        .map(|((user, peer), n)| (user, peer, n))
        .collect();
    insert_triples(
        tx,
        "FerryUnread (userId, peerId, cnt)",
        upsert(
            "ON DUPLICATE KEY UPDATE cnt = cnt + VALUES(cnt)",
            "ON CONFLICT (userId, peerId) DO UPDATE SET cnt = cnt + excluded.cnt",
        ),
        &unread,
    )
    .await?;
    // A sender has read its group up to its own last message.
    let read: Vec<(u32, u32, u32)> = batch
        .group_reads()
        .into_iter()
        .map(|((user, group), (_, upto))| (user, group, upto))
        .collect();
    insert_triples(
        tx,
        "FerryGroupRead (userId, groupId, cnt)",
        upsert(
            "ON DUPLICATE KEY UPDATE cnt = VALUES(cnt)",
            "ON CONFLICT (userId, groupId) DO UPDATE SET cnt = excluded.cnt",
        ),
        &read,
    )
    .await
}
