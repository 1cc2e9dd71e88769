//! The message writer: CID_MSG_DATA, pair and group messages, stored in
//! batches.
//!
//! A caller queues its message and waits for its msg_id. Writer tasks take
//! whatever is queued, up to [`MAX_BATCH`], and store it in one transaction.
//! Nothing waits to fill a batch: at low load a batch is one message; under
//! load the queue fills while the previous transaction runs, so statements
//! per message fall as load rises (TeamTalk runs about ten per message).
//!
//! One batch transaction, a file per step:
//! 1. [`lock`]: locks the batch's conversations in key order, pairs
//!    (`FerryPair`) then groups (`FerryGroupCounter`), first creating the
//!    rows of those this process has not stored for yet (an upsert), so
//!    concurrent first messages of a new pair serialise instead of racing as
//!    they do in TeamTalk; refuses the group messages of senders who are not
//!    current members of a live group (that message alone fails); adopts
//!    TeamTalk's IMRelationShip row of a pair seen for the first time
//!    (reviving it) or creates one, and raises a counter seen for the first
//!    time to the stored maximum msgId;
//! 2. [`sessions`]: makes each side's one IMRecentSession row current
//!    (status 0, updated now) with one UPDATE by id: both users of a pair,
//!    the sender of a group message; a side seen for the first time is
//!    looked up, or created, under its conversation's lock;
//! 3. [`ids`]: allocates each conversation's msg_ids in one step (Redis or
//!    the SQL high water, `counter`), while the sessions are touched; a
//!    counter Redis lost is re-seeded above the largest stored msgId;
//! 4. [`rows`]: inserts the rows into `IMMessage_<relateId % 8>` /
//!    `IMGroupMessage_<groupId % 8>` several per statement, writes the
//!    counters back (high waters, group totals and lastChated, unread and
//!    read counts), and the transaction commits.
//!
//! The unread and read counts are kept in SQL (FerryUnread, FerryGroupRead,
//! FerryGroupCounter.msgCount) whether or not Redis is configured: they are
//! the durable truth. With Redis, TeamTalk's unread hashes and group
//! counters are raised too, after the commit, pipelined ([`redis_counts`]);
//! a failure there is logged, and a Redis that lost them is rebuilt from
//! the SQL counts (`store::redis_epoch`).
//!
//! Row ids are cached only after their transaction commits (a rolled-back
//! insert must not be remembered). IMRecentSession rows are never deleted by
//! TeamTalk or ferry (removal sets status 1), so a cached id stays valid.
//!
//! A batch the database refuses for a reason other than a deadlock is
//! retried one message at a time, so a bad message fails alone.

mod batch;
mod ids;
mod lock;
mod redis_counts;
mod rows;
mod sessions;

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::now;
use super::pool::Pool;
use super::redis_conn::RedisConn;
use super::tx::Tx;
use crate::Error;
use batch::{Batch, Cache, Learned};

/// Messages per transaction at most.
const MAX_BATCH: usize = 64;
/// Writer tasks on MySQL: one transaction can run while the next batch
/// fills. SQLite has one writer connection, so one task.
const MYSQL_WRITERS: usize = 2;
/// Messages waiting for a writer. db_proxy already bounds its requests in
/// flight below this.
const QUEUE: usize = 1024;
/// Attempts at a message transaction the database rolled back to break a
/// deadlock (InnoDB may pick one when first messages of many new pairs
/// insert neighbouring FerryPair keys at once).
const ATTEMPTS: u32 = 5;

/// A message as the writer stores it.
#[derive(Debug)]
pub(in crate::store) struct NewMessage {
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
pub(in crate::store) struct MessageWriter {
    jobs: mpsc::Sender<Job>,
}

impl MessageWriter {
    /// Starts the writer tasks on the current tokio runtime.
    pub(in crate::store) fn spawn(pool: Pool, redis: Option<RedisConn>) -> MessageWriter {
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
    pub(in crate::store) async fn store(&self, msg: NewMessage) -> Result<u32, Error> {
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
        let mut batch = Batch::new(msgs);
        let (new_pairs, new_groups) = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            batch.unseen(&cache)
        };
        let mut learned = Learned::default();
        let mut tx = Tx::begin(&self.pool).await?;
        lock::conversations(&mut tx, &mut batch, &new_pairs, &new_groups).await?;
        lock::first_sight(&mut tx, &mut batch, now).await?;
        let session_ids = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            sessions::known(&batch, &cache)
        };
        let session_ids =
            sessions::find_or_create(&mut tx, &batch, session_ids, now, &mut learned).await?;
        let asks = ids::asks(&batch);
        let (taken, touched) = tokio::join!(
            ids::take(self.redis.as_ref(), &asks),
            sessions::touch(&mut tx, &session_ids, now)
        );
        touched?;
        ids::assign(&mut tx, self.redis.as_ref(), &mut batch, &asks, taken?).await?;
        rows::insert(&mut tx, &batch, now).await?;
        rows::counters(&mut tx, &batch, now).await?;
        tx.commit().await?;
        learned.pairs = batch.pairs.keys().copied().collect();
        learned.groups = batch.groups.keys().copied().collect();
        self.learn(learned);
        if let Some(redis) = &self.redis {
            redis_counts::raise(redis, &batch).await;
        }
        Ok(batch.results())
    }

    fn learn(&self, learned: Learned) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.learn(learned);
    }
}

pub(super) async fn retry<T, F, Fut>(mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut n = 1;
    loop {
        match attempt().await {
            Err(Error::Db(sqlx::Error::Database(e)))
                if n < ATTEMPTS && e.code().as_deref() == Some("40001") =>
            {
                tracing::debug!(error = %e, attempt = n, "message transaction rolled back; retrying");
                n += 1;
            }
            other => return other,
        }
    }
}
