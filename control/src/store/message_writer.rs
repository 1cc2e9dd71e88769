//! The pair-message writer: CID_MSG_DATA between two users, stored in
//! batches.
//!
//! A caller queues its message and waits for its msg_id. Writer tasks take
//! whatever is queued, up to [`MAX_BATCH`], and store it in one transaction.
//! Nothing waits to fill a batch: at low load a batch is one message; under
//! load the queue fills while the previous transaction runs, so statements
//! per message fall as load rises (TeamTalk runs about ten per message).
//!
//! One batch transaction:
//! 1. locks the batch's `FerryPair` rows in key order, first creating the
//!    rows of pairs this process has not stored for yet (an upsert), so
//!    concurrent first messages of a new pair serialise instead of racing as
//!    they do in TeamTalk;
//! 2. for a pair without a relation yet, adopts TeamTalk's IMRelationShip
//!    row (reviving it) or creates one, and raises the pair's high water to
//!    the stored maximum msgId;
//! 3. makes each side's one IMRecentSession row current (status 0, updated
//!    now) with one UPDATE by id; a side seen for the first time is looked
//!    up, or created, under the pair's lock, so it is never duplicated;
//! 4. allocates each pair's msg_ids in one step ([`counter::next_many`]),
//!    inserts the rows into `IMMessage_<relateId % 8>` several per
//!    statement, writes the high water back (and, without Redis, the unread
//!    counts), and commits.
//!
//! With Redis the unread hashes are raised after the commit, in one
//! pipeline: the messages are stored by then, so a failure there is logged.
//!
//! Row ids are cached only after their transaction commits (a rolled-back
//! insert must not be remembered). IMRecentSession rows are never deleted by
//! TeamTalk or ferry (removal sets status 1), so a cached id stays valid.
//!
//! Statement texts: sqlx prepares and caches each distinct text per
//! connection (100 by default). Lists where a repeated entry is harmless (the
//! locking SELECT, the session UPDATE, the high-water upsert) are padded to a
//! power of two by repeating their last entry; inserts are cut into
//! power-of-two chunks. Either way a handful of texts cover every batch.
//!
//! A batch the database refuses for a reason other than a deadlock is
//! retried one message at a time, so a bad message fails alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::counter::{self, Allocation};
use super::message::{INSERT_MESSAGE, MAX_MSG_ID, retry};
use super::pool::{InsertId, Pool, RowExt, with_pool};
use super::redis_conn::RedisConn;
use super::{now, shard};
use crate::Error;

/// Messages per transaction at most.
const MAX_BATCH: usize = 64;
/// Writer tasks on MySQL: one transaction can run while the next batch
/// fills. SQLite has one writer connection, so one task.
const MYSQL_WRITERS: usize = 2;
/// Messages waiting for a writer. db_proxy already bounds its requests in
/// flight below this.
const QUEUE: usize = 1024;
/// Cached pairs and session ids at most; past it the cache starts over.
const CACHE_LIMIT: usize = 200_000;
/// IMRecentSession.type of a single chat.
const SESSION_SINGLE: u32 = 1;

/// A pair message as the writer stores it.
#[derive(Debug)]
pub(super) struct PairMessage {
    pub from: u32,
    pub to: u32,
    pub msg_type: i32,
    /// The `content` column's text.
    pub text: String,
    pub create_time: u32,
}

struct Job {
    msg: PairMessage,
    reply: oneshot::Sender<Result<u32, Error>>,
}

/// The queue into the writer tasks; they stop when it is dropped.
#[derive(Debug)]
pub(super) struct MessageWriter {
    jobs: mpsc::Sender<Job>,
}

impl MessageWriter {
    /// Starts the writer tasks on the current tokio runtime.
    pub(super) fn spawn(pool: Pool, redis: Option<RedisConn>) -> MessageWriter {
        let writers = if pool.is_mysql() { MYSQL_WRITERS } else { 1 };
        let (jobs, queue) = mpsc::channel(QUEUE);
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let batcher = Arc::new(Batcher {
            pool,
            redis,
            cache: Mutex::default(),
        });
        for _ in 0..writers {
            tokio::spawn(run(batcher.clone(), queue.clone()));
        }
        MessageWriter { jobs }
    }

    /// Stores `msg`; returns its msg_id.
    pub(super) async fn store(&self, msg: PairMessage) -> Result<u32, Error> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Error::InvalidArgument("the message writer has stopped".into());
        self.jobs
            .send(Job { msg, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(batcher: Arc<Batcher>, queue: Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    loop {
        let taken = queue.lock().await.recv_many(&mut jobs, MAX_BATCH).await;
        if taken == 0 {
            return;
        }
        batcher.store(&mut jobs).await;
    }
}

struct Batcher {
    pool: Pool,
    redis: Option<RedisConn>,
    cache: Mutex<Cache>,
}

/// What earlier committed batches established.
#[derive(Default)]
struct Cache {
    /// Pairs whose FerryPair row exists.
    pairs: HashSet<(u32, u32)>,
    /// (userId, peerId) -> the single-chat IMRecentSession row's id.
    sessions: HashMap<(u32, u32), u32>,
}

/// One pair of a batch.
#[derive(Default)]
struct Pair {
    /// Indexes of its messages in the batch, in queue order.
    msgs: Vec<usize>,
    relate_id: u32,
    high: u32,
    first_id: u32,
}

/// What a committed batch adds to the cache.
#[derive(Default)]
struct Learned {
    pairs: Vec<(u32, u32)>,
    sessions: Vec<((u32, u32), u32)>,
}

impl Batcher {
    /// Stores `jobs` (emptying it) and answers each.
    async fn store(&self, jobs: &mut Vec<Job>) {
        let msgs: Vec<&PairMessage> = jobs.iter().map(|j| &j.msg).collect();
        let result = retry(|| self.transaction(&msgs)).await;
        drop(msgs);
        match result {
            Ok(ids) => {
                for (job, id) in jobs.drain(..).zip(ids) {
                    let _ = job.reply.send(Ok(id));
                }
            }
            Err(Error::Db(sqlx::Error::Database(e))) if jobs.len() > 1 => {
                tracing::warn!(error = %e, messages = jobs.len(), "message batch refused; storing one at a time");
                for job in jobs.drain(..) {
                    let one = [&job.msg];
                    let stored = retry(|| self.transaction(&one)).await;
                    let _ = job.reply.send(stored.map(|ids| ids[0]));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for job in jobs.drain(..) {
                    let _ = job.reply.send(Err(Error::Batch(e.clone())));
                }
            }
        }
    }

    /// One attempt at storing `msgs`; their msg_ids in the same order.
    async fn transaction(&self, msgs: &[&PairMessage]) -> Result<Vec<u32>, Error> {
        let now = now();
        let mysql = self.pool.is_mysql();
        let mut pairs: BTreeMap<(u32, u32), Pair> = BTreeMap::new();
        for (i, m) in msgs.iter().enumerate() {
            let key = (m.from.min(m.to), m.from.max(m.to));
            pairs.entry(key).or_default().msgs.push(i);
        }
        let keys: Vec<(u32, u32)> = pairs.keys().copied().collect();
        // Both sides of every pair, and the session ids already known.
        let sides: Vec<(u32, u32)> = keys.iter().flat_map(|&(a, b)| [(a, b), (b, a)]).collect();
        let (new_pairs, mut session_ids, unknown_sides) = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let new_pairs: Vec<(u32, u32)> = keys
                .iter()
                .filter(|k| !cache.pairs.contains(k))
                .copied()
                .collect();
            let mut known = Vec::with_capacity(sides.len());
            let mut unknown = Vec::new();
            for side in &sides {
                match cache.sessions.get(side) {
                    Some(&id) => known.push(id),
                    None => unknown.push(*side),
                }
            }
            (new_pairs, known, unknown)
        };
        let mut learned = Learned::default();
        let mut ids = vec![0u32; msgs.len()];
        let unread = unread_counts(msgs);
        with_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
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
                let mut q = sqlx::query(&upsert);
                for &(a, b) in padding(&new_pairs) {
                    q = q.bind(a).bind(b);
                }
                q.execute(&mut *tx).await?;
            }
            let lock = format!(
                "SELECT smallId, bigId, relateId, msgId FROM FerryPair WHERE {}{}",
                repeat("(smallId = ? AND bigId = ?)", " OR ", padded(keys.len())),
                if mysql { " FOR UPDATE" } else { "" }
            );
            let mut q = sqlx::query(&lock);
            for &(a, b) in padding(&keys) {
                q = q.bind(a).bind(b);
            }
            for row in q.fetch_all(&mut *tx).await? {
                let key = (row.u32("smallId")?, row.u32("bigId")?);
                if let Some(pair) = pairs.get_mut(&key) {
                    pair.relate_id = row.u32("relateId")?;
                    pair.high = row.u32("msgId")?;
                }
            }
            for (&(small, big), pair) in pairs.iter_mut() {
                if pair.relate_id != 0 {
                    continue;
                }
                // First message of this pair through ferry: adopt or create
                // the relation, and never issue an id at or below a stored one.
                let found = sqlx::query(
                    "SELECT id, status FROM IMRelationShip WHERE smallId = ? AND bigId = ? \
                     ORDER BY status, id LIMIT 1",
                )
                .bind(small)
                .bind(big)
                .fetch_optional(&mut *tx)
                .await?;
                pair.relate_id = match found {
                    Some(r) => {
                        let id = r.u32("id")?;
                        if r.u32("status")? != 0 {
                            sqlx::query("UPDATE IMRelationShip SET status = 0, updated = ? WHERE id = ?")
                                .bind(now)
                                .bind(id)
                                .execute(&mut *tx)
                                .await?;
                        }
                        id
                    }
                    None => sqlx::query(
                        "INSERT INTO IMRelationShip (smallId, bigId, status, created, updated) \
                         VALUES (?, ?, 0, ?, ?)",
                    )
                    .bind(small)
                    .bind(big)
                    .bind(now)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .insert_id()?,
                };
                let max = sqlx::query(MAX_MSG_ID[shard(pair.relate_id) as usize])
                    .bind(pair.relate_id)
                    .fetch_one(&mut *tx)
                    .await?;
                pair.high = pair.high.max(max.opt_u32("m")?.unwrap_or(0));
                sqlx::query("UPDATE FerryPair SET relateId = ? WHERE smallId = ? AND bigId = ?")
                    .bind(pair.relate_id)
                    .bind(small)
                    .bind(big)
                    .execute(&mut *tx)
                    .await?;
            }
            if !unknown_sides.is_empty() {
                let find = format!(
                    "SELECT id, userId, peerId FROM IMRecentSession WHERE type = ? AND ({}) ORDER BY id",
                    repeat("(userId = ? AND peerId = ?)", " OR ", padded(unknown_sides.len())),
                );
                let mut q = sqlx::query(&find).bind(SESSION_SINGLE);
                for &(user, peer) in padding(&unknown_sides) {
                    q = q.bind(user).bind(peer);
                }
                let mut found: HashMap<(u32, u32), u32> = HashMap::new();
                for row in q.fetch_all(&mut *tx).await? {
                    let side = (row.u32("userId")?, row.u32("peerId")?);
                    found.entry(side).or_insert(row.u32("id")?);
                }
                for side in &unknown_sides {
                    let id = match found.get(side) {
                        Some(&id) => {
                            session_ids.push(id);
                            id
                        }
                        None => sqlx::query(
                            "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) \
                             VALUES (?, ?, ?, 0, ?, ?)",
                        )
                        .bind(side.0)
                        .bind(side.1)
                        .bind(SESSION_SINGLE)
                        .bind(now)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .insert_id()?,
                    };
                    learned.sessions.push((*side, id));
                }
            }
            if !session_ids.is_empty() {
                let touch = format!(
                    "UPDATE IMRecentSession SET status = 0, updated = ? WHERE id IN ({})",
                    repeat("?", ", ", padded(session_ids.len())),
                );
                let mut q = sqlx::query(&touch).bind(now);
                for &id in padding(&session_ids) {
                    q = q.bind(id);
                }
                q.execute(&mut *tx).await?;
            }
            let asks: Vec<Allocation> = pairs
                .values()
                .map(|pair| Allocation {
                    key: counter::pair_key(pair.relate_id),
                    high_water: pair.high,
                    count: pair.msgs.len() as u32,
                })
                .collect();
            let firsts = counter::next_many(self.redis.as_ref(), &asks).await?;
            for (pair, first) in pairs.values_mut().zip(firsts) {
                pair.first_id = first;
                for (n, &i) in pair.msgs.iter().enumerate() {
                    ids[i] = first + n as u32;
                }
            }
            // Message rows, grouped by shard, several per statement.
            let mut by_shard: [Vec<(usize, u32)>; 8] = Default::default();
            for pair in pairs.values() {
                for &i in &pair.msgs {
                    by_shard[shard(pair.relate_id) as usize].push((i, pair.relate_id));
                }
            }
            for (s, rows) in by_shard.iter().enumerate() {
                for chunk in chunks(rows) {
                    let insert = format!(
                        "{}{}",
                        INSERT_MESSAGE[s],
                        repeat(", (?, ?, ?, ?, ?, ?, 0, ?, ?)", "", chunk.len() - 1)
                    );
                    let mut q = sqlx::query(&insert);
                    for &(i, relate_id) in chunk {
                        let m = msgs[i];
                        q = q
                            .bind(relate_id)
                            .bind(m.from)
                            .bind(m.to)
                            .bind(ids[i])
                            .bind(m.text.as_str())
                            .bind(m.msg_type)
                            .bind(now)
                            .bind(m.create_time);
                    }
                    q.execute(&mut *tx).await?;
                }
            }
            let highs: Vec<((u32, u32), u32)> = pairs
                .iter()
                .map(|(&k, pair)| (k, pair.first_id + pair.msgs.len() as u32 - 1))
                .collect();
            let store_high = format!(
                "INSERT INTO FerryPair (smallId, bigId, msgId) VALUES {} {}",
                repeat("(?, ?, ?)", ", ", padded(highs.len())),
                if mysql {
                    "ON DUPLICATE KEY UPDATE msgId = VALUES(msgId)"
                } else {
                    "ON CONFLICT (smallId, bigId) DO UPDATE SET msgId = excluded.msgId"
                }
            );
            let mut q = sqlx::query(&store_high);
            for &((a, b), high) in padding(&highs) {
                q = q.bind(a).bind(b).bind(high);
            }
            q.execute(&mut *tx).await?;
            if self.redis.is_none() {
                let counts: Vec<((u32, u32), u32)> = unread.iter().map(|(&k, &n)| (k, n)).collect();
                for chunk in chunks(&counts) {
                    let add = format!(
                        "INSERT INTO FerryUnread (userId, peerId, cnt) VALUES {} {}",
                        repeat("(?, ?, ?)", ", ", chunk.len()),
                        if mysql {
                            "ON DUPLICATE KEY UPDATE cnt = cnt + VALUES(cnt)"
                        } else {
                            "ON CONFLICT (userId, peerId) DO UPDATE SET cnt = cnt + excluded.cnt"
                        }
                    );
                    let mut q = sqlx::query(&add);
                    for &((user, peer), n) in chunk {
                        q = q.bind(user).bind(peer).bind(n);
                    }
                    q.execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
        });
        learned.pairs = keys;
        self.learn(learned);
        if let Some(redis) = &self.redis {
            let raises: Vec<(String, String, i64)> = unread
                .iter()
                .map(|(&(to, from), &n)| (format!("unread_{to}"), from.to_string(), i64::from(n)))
                .collect();
            if let Err(e) = redis.hincrby_many(&raises).await {
                tracing::warn!(error = %e, messages = msgs.len(), "stored messages not counted as unread");
            }
        }
        Ok(ids)
    }

    fn learn(&self, learned: Learned) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.pairs.len() + cache.sessions.len() > CACHE_LIMIT {
            *cache = Cache::default();
        }
        cache.pairs.extend(learned.pairs);
        cache.sessions.extend(learned.sessions);
    }
}

/// (receiver, sender) -> messages, for the unread counters.
fn unread_counts(msgs: &[&PairMessage]) -> BTreeMap<(u32, u32), u32> {
    let mut counts = BTreeMap::new();
    for m in msgs {
        *counts.entry((m.to, m.from)).or_insert(0) += 1;
    }
    counts
}

/// `item` `n` times, separated by `sep`.
fn repeat(item: &str, sep: &str, n: usize) -> String {
    let mut s = String::with_capacity(n * (item.len() + sep.len()));
    for i in 0..n {
        if i > 0 {
            s.push_str(sep);
        }
        s.push_str(item);
    }
    s
}

/// The list length a padded statement is written for.
fn padded(n: usize) -> usize {
    n.next_power_of_two()
}

/// `items` followed by its last item repeated up to [`padded`] length.
fn padding<T>(items: &[T]) -> impl Iterator<Item = &T> {
    let extra = padded(items.len()) - items.len();
    items
        .iter()
        .chain(items.last().into_iter().cycle().take(extra))
}

/// `items` cut into power-of-two chunks, largest first.
fn chunks<T>(items: &[T]) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let size = 1usize << rest.len().ilog2();
        let (head, tail) = rest.split_at(size);
        out.push(head);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_repeats_the_last_entry_up_to_a_power_of_two() {
        let v = [1, 2, 3];
        assert_eq!(padding(&v).copied().collect::<Vec<_>>(), [1, 2, 3, 3]);
        assert_eq!(padding(&[7]).copied().collect::<Vec<_>>(), [7]);
        assert_eq!(padding(&[1, 2]).count(), 2);
        assert_eq!(padding(&[0; 33]).count(), 64);
    }

    #[test]
    fn chunks_are_powers_of_two_and_cover_everything_in_order() {
        let v: Vec<u32> = (0..23).collect();
        let c = chunks(&v);
        assert_eq!(c.iter().map(|c| c.len()).collect::<Vec<_>>(), [16, 4, 2, 1]);
        assert_eq!(c.concat(), v);
        assert!(chunks::<u32>(&[]).is_empty());
    }

    #[test]
    fn repeat_joins() {
        assert_eq!(repeat("?", ", ", 3), "?, ?, ?");
        assert_eq!(repeat("(?)", "", 0), "");
    }
}
