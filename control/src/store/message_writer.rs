//! The message writer: CID_MSG_DATA, pair and group messages, stored in
//! batches.
//!
//! A caller queues its message and waits for its msg_id. Writer tasks take
//! whatever is queued, up to [`MAX_BATCH`], and store it in one transaction.
//! Nothing waits to fill a batch: at low load a batch is one message; under
//! load the queue fills while the previous transaction runs, so statements
//! per message fall as load rises (TeamTalk runs about ten per message).
//!
//! One batch transaction:
//! 1. locks the batch's conversations in key order, pairs (`FerryPair`)
//!    then groups (`FerryGroupCounter`), first creating the rows of those
//!    this process has not stored for yet (an upsert), so concurrent first
//!    messages of a new pair serialise instead of racing as they do in
//!    TeamTalk;
//! 2. for a pair without a relation yet, adopts TeamTalk's IMRelationShip
//!    row (reviving it) or creates one; for a group, refuses the messages
//!    of senders who are not current members of a live group (that message
//!    alone fails); a counter seen for the first time is raised to the
//!    stored maximum msgId;
//! 3. makes each side's one IMRecentSession row current (status 0, updated
//!    now) with one UPDATE by id: both users of a pair, the sender of a
//!    group message; a side seen for the first time is looked up, or
//!    created, under its conversation's lock, so it is never duplicated;
//! 4. allocates each conversation's msg_ids in one step
//!    ([`counter::next_many`]), inserts the rows into
//!    `IMMessage_<relateId % 8>` / `IMGroupMessage_<groupId % 8>` several per
//!    statement, writes the counters back (the groups' lastChated, and,
//!    without Redis, the unread and read counts), and commits.
//!
//! The unread and read counts are kept in SQL (FerryUnread, FerryGroupRead,
//! FerryGroupCounter.msgCount) whether or not Redis is configured: they are
//! the durable truth. With Redis, TeamTalk's unread hashes and group
//! counters are raised too, after the commit, pipelined (the messages are
//! stored by then, so a failure there is logged); a Redis that lost them is
//! rebuilt from the SQL counts (`store::redis_epoch`).
//!
//! Row ids are cached only after their transaction commits (a rolled-back
//! insert must not be remembered). IMRecentSession rows are never deleted by
//! TeamTalk or ferry (removal sets status 1), so a cached id stays valid.
//!
//! Statement texts: sqlx prepares and caches each distinct text per
//! connection (100 by default). Lists where a repeated entry is harmless
//! (locking SELECTs, the session UPDATE, lastChated) are padded to a power
//! of two by repeating their last entry; inserts and counter upserts are
//! cut into power-of-two chunks. Either way a handful of texts cover every
//! batch.
//!
//! A batch the database refuses for a reason other than a deadlock is
//! retried one message at a time, so a bad message fails alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::counter::{self, Allocation, Taken};
use super::message::{INSERT_GROUP_MESSAGE, INSERT_MESSAGE, MAX_GROUP_MSG_ID, MAX_MSG_ID, retry};
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
/// Cached conversations and session ids at most; past it the cache starts
/// over.
const CACHE_LIMIT: usize = 200_000;
/// IMRecentSession.type of a single chat and of a group chat.
const SESSION_SINGLE: u32 = 1;
const SESSION_GROUP: u32 = 2;

/// `INSERT INTO $table VALUES (?, ?, ?), … $conflict` over rows of three
/// values, in power-of-two chunks, inside transaction `$tx`.
macro_rules! insert_triples {
    ($tx:ident, $table:expr, $conflict:expr, $rows:expr) => {
        for chunk in chunks($rows) {
            let sql = format!(
                "INSERT INTO {} VALUES {} {}",
                $table,
                repeat("(?, ?, ?)", ", ", chunk.len()),
                $conflict
            );
            let mut q = sqlx::query(&sql);
            for &(a, b, c) in chunk {
                q = q.bind(a).bind(b).bind(c);
            }
            q.execute(&mut *$tx).await?;
        }
    };
}

/// A message as the writer stores it.
#[derive(Debug)]
pub(super) struct NewMessage {
    /// To a group (`to` is the group) or to a user.
    pub group: bool,
    pub from: u32,
    pub to: u32,
    pub msg_type: i32,
    /// The `content` column's text.
    pub text: String,
    pub create_time: u32,
}

struct Job {
    msg: NewMessage,
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
    pub(super) async fn store(&self, msg: NewMessage) -> Result<u32, Error> {
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
    /// Groups whose FerryGroupCounter row exists.
    groups: HashSet<u32>,
    /// (userId, peerId, type) -> the IMRecentSession row's id.
    sessions: HashMap<Side, u32>,
}

/// An IMRecentSession key: (userId, peerId, type).
type Side = (u32, u32, u32);

/// One conversation of a batch.
#[derive(Default)]
struct Conv {
    /// Indexes of its messages in the batch, in queue order (refused ones
    /// removed).
    msgs: Vec<usize>,
    /// relateId of a pair (0 until known); the group id of a group.
    key: u32,
    high: u32,
    /// Group messages ever counted (FerryGroupCounter.msgCount).
    count: u32,
    first_id: u32,
}

/// What a committed batch adds to the cache.
#[derive(Default)]
struct Learned {
    pairs: Vec<(u32, u32)>,
    groups: Vec<u32>,
    sessions: Vec<(Side, u32)>,
}

impl Batcher {
    /// Stores `jobs` (emptying it) and answers each.
    async fn store(&self, jobs: &mut Vec<Job>) {
        let msgs: Vec<&NewMessage> = jobs.iter().map(|j| &j.msg).collect();
        let result = retry(|| self.transaction(&msgs)).await;
        drop(msgs);
        match result {
            Ok(results) => {
                for (job, r) in jobs.drain(..).zip(results) {
                    let _ = job.reply.send(r);
                }
            }
            Err(Error::Db(sqlx::Error::Database(e))) if jobs.len() > 1 => {
                tracing::warn!(error = %e, messages = jobs.len(), "message batch refused; storing one at a time");
                for job in jobs.drain(..) {
                    let one = [&job.msg];
                    let stored = retry(|| self.transaction(&one)).await;
                    let _ = job.reply.send(stored.and_then(|mut r| r.remove(0)));
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

    /// One attempt at storing `msgs`: each one's msg_id, or why that one
    /// was refused, in the same order.
    async fn transaction(&self, msgs: &[&NewMessage]) -> Result<Vec<Result<u32, Error>>, Error> {
        let now = now();
        let mysql = self.pool.is_mysql();
        let mut results: Vec<Option<Result<u32, Error>>> = msgs.iter().map(|_| None).collect();
        let mut pairs: BTreeMap<(u32, u32), Conv> = BTreeMap::new();
        let mut groups: BTreeMap<u32, Conv> = BTreeMap::new();
        for (i, m) in msgs.iter().enumerate() {
            let conv = if m.group {
                groups.entry(m.to).or_default()
            } else {
                pairs
                    .entry((m.from.min(m.to), m.from.max(m.to)))
                    .or_default()
            };
            conv.msgs.push(i);
        }
        for (&g, conv) in groups.iter_mut() {
            conv.key = g;
        }
        let pair_keys: Vec<(u32, u32)> = pairs.keys().copied().collect();
        let group_keys: Vec<u32> = groups.keys().copied().collect();
        let (new_pairs, new_groups) = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            let new_pairs: Vec<(u32, u32)> = pair_keys
                .iter()
                .filter(|k| !cache.pairs.contains(k))
                .copied()
                .collect();
            let new_groups: Vec<u32> = group_keys
                .iter()
                .filter(|g| !cache.groups.contains(g))
                .copied()
                .collect();
            (new_pairs, new_groups)
        };
        let mut learned = Learned::default();
        with_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            // 1. Locks, pairs then groups, each in key order.
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
            if !pair_keys.is_empty() {
                let lock = format!(
                    "SELECT smallId, bigId, relateId, msgId FROM FerryPair WHERE {}{}",
                    repeat("(smallId = ? AND bigId = ?)", " OR ", padded(pair_keys.len())),
                    if mysql { " FOR UPDATE" } else { "" }
                );
                let mut q = sqlx::query(&lock);
                for &(a, b) in padding(&pair_keys) {
                    q = q.bind(a).bind(b);
                }
                for row in q.fetch_all(&mut *tx).await? {
                    let key = (row.u32("smallId")?, row.u32("bigId")?);
                    if let Some(conv) = pairs.get_mut(&key) {
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
                let mut q = sqlx::query(&upsert);
                for &g in padding(&new_groups) {
                    q = q.bind(g);
                }
                q.execute(&mut *tx).await?;
            }
            if !group_keys.is_empty() {
                let lock = format!(
                    "SELECT groupId, msgId, msgCount FROM FerryGroupCounter WHERE groupId IN ({}){}",
                    repeat("?", ", ", padded(group_keys.len())),
                    if mysql { " FOR UPDATE" } else { "" }
                );
                let mut q = sqlx::query(&lock);
                for &g in padding(&group_keys) {
                    q = q.bind(g);
                }
                for row in q.fetch_all(&mut *tx).await? {
                    if let Some(conv) = groups.get_mut(&row.u32("groupId")?) {
                        conv.high = row.u32("msgId")?;
                        conv.count = row.u32("msgCount")?;
                    }
                }
                // 2. Group senders must be current members of a live group.
                let senders: Vec<(u32, u32)> = msgs
                    .iter()
                    .filter(|m| m.group)
                    .map(|m| (m.to, m.from))
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .collect();
                let members = format!(
                    "SELECT m.groupId, m.userId FROM IMGroupMember m JOIN IMGroup g ON g.id = m.groupId \
                     WHERE m.status = 0 AND g.status = 0 AND ({})",
                    repeat("(m.groupId = ? AND m.userId = ?)", " OR ", padded(senders.len())),
                );
                let mut q = sqlx::query(&members);
                for &(g, u) in padding(&senders) {
                    q = q.bind(g).bind(u);
                }
                let mut allowed = HashSet::new();
                for row in q.fetch_all(&mut *tx).await? {
                    allowed.insert((row.u32("groupId")?, row.u32("userId")?));
                }
                for conv in groups.values_mut() {
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
                groups.retain(|_, conv| !conv.msgs.is_empty());
            }
            // First messages through ferry: adopt or create the relation, and
            // never issue an id at or below a stored one.
            for (&(small, big), conv) in pairs.iter_mut() {
                if conv.key != 0 {
                    continue;
                }
                let found = sqlx::query(
                    "SELECT id, status FROM IMRelationShip WHERE smallId = ? AND bigId = ? \
                     ORDER BY status, id LIMIT 1",
                )
                .bind(small)
                .bind(big)
                .fetch_optional(&mut *tx)
                .await?;
                conv.key = match found {
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
                let max = sqlx::query(MAX_MSG_ID[shard(conv.key) as usize])
                    .bind(conv.key)
                    .fetch_one(&mut *tx)
                    .await?;
                conv.high = conv.high.max(max.opt_u32("m")?.unwrap_or(0));
                sqlx::query("UPDATE FerryPair SET relateId = ? WHERE smallId = ? AND bigId = ?")
                    .bind(conv.key)
                    .bind(small)
                    .bind(big)
                    .execute(&mut *tx)
                    .await?;
            }
            for conv in groups.values_mut().filter(|c| c.high == 0) {
                let max = sqlx::query(MAX_GROUP_MSG_ID[shard(conv.key) as usize])
                    .bind(conv.key)
                    .fetch_one(&mut *tx)
                    .await?;
                conv.high = max.opt_u32("m")?.unwrap_or(0);
            }
            // 3. Sessions: both users of a pair, each sender of a group.
            let mut sides: Vec<Side> = pair_keys
                .iter()
                .flat_map(|&(a, b)| [(a, b, SESSION_SINGLE), (b, a, SESSION_SINGLE)])
                .collect();
            let group_sides: HashSet<Side> = groups
                .values()
                .flat_map(|c| c.msgs.iter().map(|&i| (msgs[i].from, c.key, SESSION_GROUP)))
                .collect();
            sides.extend(group_sides);
            let (mut session_ids, unknown) = {
                let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                let mut known = Vec::with_capacity(sides.len());
                let mut unknown = Vec::new();
                for side in sides {
                    match cache.sessions.get(&side) {
                        Some(&id) => known.push(id),
                        None => unknown.push(side),
                    }
                }
                (known, unknown)
            };
            if !unknown.is_empty() {
                let find = format!(
                    "SELECT id, userId, peerId, type FROM IMRecentSession WHERE {} ORDER BY id",
                    repeat("(userId = ? AND peerId = ? AND type = ?)", " OR ", padded(unknown.len())),
                );
                let mut q = sqlx::query(&find);
                for &(user, peer, kind) in padding(&unknown) {
                    q = q.bind(user).bind(peer).bind(kind);
                }
                let mut found: HashMap<Side, u32> = HashMap::new();
                for row in q.fetch_all(&mut *tx).await? {
                    let side = (row.u32("userId")?, row.u32("peerId")?, row.u32("type")?);
                    let id = row.u32("id")?;
                    found.entry(side).or_insert(id);
                }
                for side in &unknown {
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
                        .bind(side.2)
                        .bind(now)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?
                        .insert_id()?,
                    };
                    learned.sessions.push((*side, id));
                }
            }
            // 4. msg_ids, one step for every conversation of the batch,
            // taken from Redis while the sessions are touched.
            let asks: Vec<Allocation> = pairs
                .values()
                .map(|c| (counter::pair_key(c.key), c))
                .chain(groups.values().map(|c| (counter::group_key(c.key), c)))
                .map(|(key, c)| Allocation {
                    key,
                    high_water: c.high,
                    count: c.msgs.len() as u32,
                })
                .collect();
            let allocate = counter::next_many(self.redis.as_ref(), &asks);
            let touch = async {
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
                Ok::<(), Error>(())
            };
            let (taken, touched) = tokio::join!(allocate, touch);
            touched?;
            let taken = taken?;
            // Where Redis lost a counter: the largest msg_id stored, by us
            // or anyone else, is the floor it is re-seeded above.
            let mut behind = Vec::new();
            let convs = pairs.values().map(|c| (false, c)).chain(groups.values().map(|c| (true, c)));
            for ((group, conv), (ask, t)) in convs.zip(asks.iter().zip(&taken)) {
                if *t == Taken::Behind {
                    let sql = if group { MAX_GROUP_MSG_ID } else { MAX_MSG_ID };
                    let stored = sqlx::query(sql[shard(conv.key) as usize])
                        .bind(conv.key)
                        .fetch_one(&mut *tx)
                        .await?
                        .opt_u32("m")?
                        .unwrap_or(0);
                    behind.push((ask, stored));
                }
            }
            let mut reseeded = counter::reseed(self.redis.as_ref(), &behind).await?.into_iter();
            let firsts = taken.iter().map(|t| match t {
                Taken::First(first) => *first,
                Taken::Behind => reseeded.next().expect("one reseed per behind"),
            });
            for (conv, first) in pairs.values_mut().chain(groups.values_mut()).zip(firsts) {
                conv.first_id = first;
                for (n, &i) in conv.msgs.iter().enumerate() {
                    results[i] = Some(Ok(first + n as u32));
                }
            }
            let id_of = |i: usize| match &results[i] {
                Some(Ok(id)) => *id,
                _ => unreachable!("every stored message has its id"),
            };
            // Rows, grouped by table, several per statement.
            let mut by_shard: [Vec<(usize, u32)>; 8] = Default::default();
            for conv in pairs.values() {
                for &i in &conv.msgs {
                    by_shard[shard(conv.key) as usize].push((i, conv.key));
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
                            .bind(id_of(i))
                            .bind(m.text.as_str())
                            .bind(m.msg_type)
                            .bind(now)
                            .bind(m.create_time);
                    }
                    q.execute(&mut *tx).await?;
                }
            }
            let mut by_shard: [Vec<usize>; 8] = Default::default();
            for conv in groups.values() {
                by_shard[shard(conv.key) as usize].extend(&conv.msgs);
            }
            for (s, rows) in by_shard.iter().enumerate() {
                for chunk in chunks(rows) {
                    let insert = format!(
                        "{}{}",
                        INSERT_GROUP_MESSAGE[s],
                        repeat(", (?, ?, ?, ?, ?, 0, ?, ?)", "", chunk.len() - 1)
                    );
                    let mut q = sqlx::query(&insert);
                    for &i in chunk {
                        let m = msgs[i];
                        q = q
                            .bind(m.to)
                            .bind(m.from)
                            .bind(id_of(i))
                            .bind(m.text.as_str())
                            .bind(m.msg_type)
                            .bind(now)
                            .bind(m.create_time);
                    }
                    q.execute(&mut *tx).await?;
                }
            }
            // Counters back.
            let highs: Vec<((u32, u32), u32)> = pairs
                .iter()
                .map(|(&k, c)| (k, c.first_id + c.msgs.len() as u32 - 1))
                .collect();
            let highs: Vec<(u32, u32, u32)> = highs.into_iter().map(|((a, b), h)| (a, b, h)).collect();
            insert_triples!(
                tx,
                "FerryPair (smallId, bigId, msgId)",
                if mysql {
                    "ON DUPLICATE KEY UPDATE msgId = VALUES(msgId)"
                } else {
                    "ON CONFLICT (smallId, bigId) DO UPDATE SET msgId = excluded.msgId"
                },
                &highs
            );
            let counted: Vec<(u32, u32, u32)> = groups
                .values()
                .map(|c| {
                    let n = c.msgs.len() as u32;
                    (c.key, c.first_id + n - 1, n)
                })
                .collect();
            insert_triples!(
                tx,
                "FerryGroupCounter (groupId, msgId, msgCount)",
                if mysql {
                    "ON DUPLICATE KEY UPDATE msgId = VALUES(msgId), msgCount = msgCount + VALUES(msgCount)"
                } else {
                    "ON CONFLICT (groupId) DO UPDATE SET msgId = excluded.msgId, \
                     msgCount = msgCount + excluded.msgCount"
                },
                &counted
            );
            if !groups.is_empty() {
                let chatted: Vec<u32> = groups.keys().copied().collect();
                let stamp = format!(
                    "UPDATE IMGroup SET lastChated = ? WHERE id IN ({})",
                    repeat("?", ", ", padded(chatted.len())),
                );
                let mut q = sqlx::query(&stamp).bind(now);
                for &g in padding(&chatted) {
                    q = q.bind(g);
                }
                q.execute(&mut *tx).await?;
            }
            // The durable counts, with or without Redis: Redis is TeamTalk's
            // mirror of them and is rebuilt from them if it loses its data.
            let unread: Vec<(u32, u32, u32)> = unread_counts(msgs, &pairs)
                .into_iter()
                .map(|((user, peer), n)| (user, peer, n))
                .collect();
            insert_triples!(
                tx,
                "FerryUnread (userId, peerId, cnt)",
                if mysql {
                    "ON DUPLICATE KEY UPDATE cnt = cnt + VALUES(cnt)"
                } else {
                    "ON CONFLICT (userId, peerId) DO UPDATE SET cnt = cnt + excluded.cnt"
                },
                &unread
            );
            // A sender has read its group up to its own last message.
            let read: Vec<(u32, u32, u32)> = group_reads(msgs, &groups)
                .into_iter()
                .map(|((user, group), (_, upto))| (user, group, upto))
                .collect();
            insert_triples!(
                tx,
                "FerryGroupRead (userId, groupId, cnt)",
                if mysql {
                    "ON DUPLICATE KEY UPDATE cnt = VALUES(cnt)"
                } else {
                    "ON CONFLICT (userId, groupId) DO UPDATE SET cnt = excluded.cnt"
                },
                &read
            );
            tx.commit().await?;
        });
        learned.pairs = pair_keys;
        learned.groups = group_keys;
        self.learn(learned);
        if let Some(redis) = &self.redis {
            self.count_in_redis(redis, msgs, &pairs, &groups).await;
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Corrupt("message left unanswered".into()))))
            .collect())
    }

    /// TeamTalk's Redis counters for stored messages: the receiver's
    /// `unread_<user>` hash, the group's `<group>_im_group_msg` count and
    /// each sender's `<user>_<group>_im_user_group` count (what it has read).
    async fn count_in_redis(
        &self,
        redis: &RedisConn,
        msgs: &[&NewMessage],
        pairs: &BTreeMap<(u32, u32), Conv>,
        groups: &BTreeMap<u32, Conv>,
    ) {
        let mut raises: Vec<(String, String, i64)> = unread_counts(msgs, pairs)
            .iter()
            .map(|(&(to, from), &n)| (format!("unread_{to}"), from.to_string(), i64::from(n)))
            .collect();
        raises.extend(groups.values().map(|c| {
            let n = i64::try_from(c.msgs.len()).unwrap_or(i64::MAX);
            (format!("{}_im_group_msg", c.key), "count".to_string(), n)
        }));
        let totals = match redis.hincrby_many(&raises).await {
            Ok(values) => values,
            Err(e) => {
                return tracing::warn!(error = %e, messages = msgs.len(), "stored messages not counted in redis");
            }
        };
        // Each group's total after the batch (never below the durable
        // count: a Redis that lost the hash is set back to it), then what
        // each sender has read.
        let skip = raises.len() - groups.len();
        let mut lost = Vec::new();
        let total: HashMap<u32, i64> = groups
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
        let reads: Vec<(String, String, i64)> = group_reads(msgs, groups)
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

    fn learn(&self, learned: Learned) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.pairs.len() + cache.groups.len() + cache.sessions.len() > CACHE_LIMIT {
            *cache = Cache::default();
        }
        cache.pairs.extend(learned.pairs);
        cache.groups.extend(learned.groups);
        cache.sessions.extend(learned.sessions);
    }
}

/// (receiver, sender) -> stored pair messages, for the unread counters.
fn unread_counts(
    msgs: &[&NewMessage],
    pairs: &BTreeMap<(u32, u32), Conv>,
) -> BTreeMap<(u32, u32), u32> {
    let mut counts = BTreeMap::new();
    for &i in pairs.values().flat_map(|c| &c.msgs) {
        *counts.entry((msgs[i].to, msgs[i].from)).or_insert(0) += 1;
    }
    counts
}

/// (sender, group) -> (the group's messages stored after the sender's last
/// one in this batch, the group's msgCount at that last one).
fn group_reads(
    msgs: &[&NewMessage],
    groups: &BTreeMap<u32, Conv>,
) -> BTreeMap<(u32, u32), (u32, u32)> {
    let mut reads = BTreeMap::new();
    for c in groups.values() {
        let n = c.msgs.len() as u32;
        for (k, &i) in c.msgs.iter().enumerate() {
            let k = k as u32;
            reads.insert((msgs[i].from, c.key), (n - k - 1, c.count + k + 1));
        }
    }
    reads
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

    #[test]
    fn a_sender_has_read_up_to_its_own_last_message() {
        let m = |from| NewMessage {
            group: true,
            from,
            to: 9,
            msg_type: 0x11,
            text: String::new(),
            create_time: 0,
        };
        let (a, b) = (m(1), m(2));
        let msgs = [&a, &b, &a];
        let mut groups = BTreeMap::new();
        groups.insert(
            9,
            Conv {
                msgs: vec![0, 1, 2],
                key: 9,
                count: 10,
                ..Conv::default()
            },
        );
        let reads = group_reads(&msgs, &groups);
        // User 1 sent the 11th and 13th: nothing after its last, read 13.
        assert_eq!(reads[&(1, 9)], (0, 13));
        // User 2 sent the 12th: one after it, read 12.
        assert_eq!(reads[&(2, 9)], (1, 12));
    }
}
