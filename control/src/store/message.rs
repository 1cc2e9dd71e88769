//! Storing a message (CID_MSG_DATA). Pair messages go to the batching
//! [`super::message_writer`]; a group message is one transaction that
//!
//! 1. takes the group's lock: its `FerryGroupCounter` row, created on first
//!    use (`INSERT … ON CONFLICT/ON DUPLICATE KEY`, then a locking read), so
//!    concurrent messages serialise here;
//! 2. checks that the sender is a current member of a live group;
//! 3. makes sure the sender has exactly one IMRecentSession row for the
//!    group (status 0, updated now);
//! 4. allocates the msg_id ([`super::counter`]), seeded from the stored
//!    maximum on first use, inserts into `IMGroupMessage_<groupId % 8>`,
//!    raises the counter and the group's lastChated, commits.
//!
//! With Redis the group counters are updated after the commit: the message
//! is stored by then, so a Redis failure there is logged, not reported.

use super::message_writer::PairMessage;
use super::pool::{RowExt, with_pool};
use super::{Store, counter, now, shard};
use crate::Error;

/// A message as db_proxy is asked to store it.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub from: u32,
    /// The peer user, or the group.
    pub to: u32,
    /// TeamTalk's MsgType value (0x01, 0x02, 0x11, 0x12).
    pub msg_type: i32,
    pub data: &'a [u8],
    pub create_time: u32,
}

/// Makes `user`'s recent session with `peer` current: its one
/// IMRecentSession row revived and stamped, or created. Runs inside the
/// pair's (or group's) locked transaction, so it never creates a duplicate.
/// A macro because the transaction's type differs per backend.
macro_rules! touch_session {
    ($tx:ident, $user:expr, $peer:expr, $kind:expr, $now:expr) => {{
        let found = sqlx::query(
            "SELECT id FROM IMRecentSession WHERE userId = ? AND peerId = ? AND type = ? ORDER BY id LIMIT 1",
        )
        .bind($user)
        .bind($peer)
        .bind($kind)
        .fetch_optional(&mut *$tx)
        .await?;
        match found {
            Some(r) => {
                sqlx::query("UPDATE IMRecentSession SET status = 0, updated = ? WHERE id = ?")
                    .bind($now)
                    .bind(r.u32("id")?)
                    .execute(&mut *$tx)
                    .await?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO IMRecentSession (userId, peerId, type, status, created, updated) \
                     VALUES (?, ?, ?, 0, ?, ?)",
                )
                .bind($user)
                .bind($peer)
                .bind($kind)
                .bind($now)
                .bind($now)
                .execute(&mut *$tx)
                .await?;
            }
        }
    }};
}

const SESSION_GROUP: u32 = 2;

impl Store {
    /// Stores a 1:1 message; returns its msg_id. Pair messages are stored in
    /// batches by [`super::message_writer`].
    pub async fn send_single(&self, msg: &Outgoing<'_>) -> Result<u32, Error> {
        if msg.from == msg.to || msg.from == 0 || msg.to == 0 {
            return Err(Error::InvalidArgument(format!(
                "message {} -> {}: not a pair of users",
                msg.from, msg.to
            )));
        }
        let text = self.stored_content(msg).await?;
        self.messages
            .store(PairMessage {
                from: msg.from,
                to: msg.to,
                msg_type: msg.msg_type,
                text,
                create_time: msg.create_time,
            })
            .await
    }

    /// Stores a group message from a current member; returns its msg_id.
    pub async fn send_group(&self, msg: &Outgoing<'_>) -> Result<u32, Error> {
        retry(|| self.try_send_group(msg)).await
    }

    async fn try_send_group(&self, msg: &Outgoing<'_>) -> Result<u32, Error> {
        let text = self.stored_content(msg).await?;
        let group = msg.to;
        let mysql = self.write.is_mysql();
        let lock = if mysql {
            "INSERT INTO FerryGroupCounter (groupId) VALUES (?) ON DUPLICATE KEY UPDATE msgId = msgId"
        } else {
            "INSERT INTO FerryGroupCounter (groupId) VALUES (?) ON CONFLICT (groupId) DO NOTHING"
        };
        let locked = if mysql {
            "SELECT msgId, msgCount FROM FerryGroupCounter WHERE groupId = ? FOR UPDATE"
        } else {
            "SELECT msgId, msgCount FROM FerryGroupCounter WHERE groupId = ?"
        };
        let read = if mysql {
            "INSERT INTO FerryGroupRead (userId, groupId, cnt) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE cnt = VALUES(cnt)"
        } else {
            "INSERT INTO FerryGroupRead (userId, groupId, cnt) VALUES (?, ?, ?) ON CONFLICT (userId, groupId) DO UPDATE SET cnt = excluded.cnt"
        };
        let now = now();
        let redis = self.redis.as_ref();
        let msg_id = with_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            sqlx::query(lock).bind(group).execute(&mut *tx).await?;
            let row = sqlx::query(locked).bind(group).fetch_one(&mut *tx).await?;
            let mut high = row.u32("msgId")?;
            let count = row.u32("msgCount")?;
            let member = sqlx::query(
                "SELECT m.id FROM IMGroupMember m JOIN IMGroup g ON g.id = m.groupId \
                 WHERE m.groupId = ? AND m.userId = ? AND m.status = 0 AND g.status = 0 LIMIT 1",
            )
            .bind(group)
            .bind(msg.from)
            .fetch_optional(&mut *tx)
            .await?;
            if member.is_none() {
                return Err(Error::InvalidArgument(format!(
                    "user {} is not a member of group {group}",
                    msg.from
                )));
            }
            if high == 0 {
                let max = sqlx::query(MAX_GROUP_MSG_ID[shard(group) as usize])
                    .bind(group)
                    .fetch_one(&mut *tx)
                    .await?;
                high = max.opt_u32("m")?.unwrap_or(0);
            }
            touch_session!(tx, msg.from, group, SESSION_GROUP, now);
            let msg_id = counter::next(redis, &counter::group_key(group), high).await?;
            sqlx::query(INSERT_GROUP_MESSAGE[shard(group) as usize])
                .bind(group)
                .bind(msg.from)
                .bind(msg_id)
                .bind(&text)
                .bind(msg.msg_type)
                .bind(now)
                .bind(msg.create_time)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE FerryGroupCounter SET msgId = ?, msgCount = msgCount + 1 WHERE groupId = ?",
            )
            .bind(msg_id)
            .bind(group)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE IMGroup SET lastChated = ? WHERE id = ?")
                .bind(now)
                .bind(group)
                .execute(&mut *tx)
                .await?;
            if redis.is_none() {
                sqlx::query(read)
                    .bind(msg.from)
                    .bind(group)
                    .bind(count + 1)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            msg_id
        });
        if let Some(redis) = redis {
            let total = redis
                .hincrby(&format!("{group}_im_group_msg"), "count", 1)
                .await;
            let user_key = format!("{}_{group}_im_user_group", msg.from);
            if let Err(e) = match total {
                Ok(total) => redis.hset(&user_key, "count", total).await,
                Err(e) => Err(e),
            } {
                tracing::warn!(error = %e, group, "stored group message not counted");
            }
        }
        Ok(msg_id)
    }
}

/// Attempts at a message transaction the database rolled back to break a
/// deadlock (InnoDB may pick one when first messages of many new pairs insert
/// neighbouring FerryPair keys at once).
const ATTEMPTS: u32 = 5;

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

/// One constant statement per shard: `$head` + shard digit + `$tail`. Table
/// names cannot be parameters; a fixed table keeps every statement a
/// compile-time constant.
macro_rules! per_shard {
    ($head:literal, $tail:literal) => {
        [
            concat!($head, "0", $tail),
            concat!($head, "1", $tail),
            concat!($head, "2", $tail),
            concat!($head, "3", $tail),
            concat!($head, "4", $tail),
            concat!($head, "5", $tail),
            concat!($head, "6", $tail),
            concat!($head, "7", $tail),
        ]
    };
}
pub(crate) use per_shard;

pub(super) const INSERT_MESSAGE: [&str; 8] = per_shard!(
    "INSERT INTO IMMessage_",
    " (relateId, fromId, toId, msgId, content, type, status, updated, created) \
     VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)"
);
const INSERT_GROUP_MESSAGE: [&str; 8] = per_shard!(
    "INSERT INTO IMGroupMessage_",
    " (groupId, userId, msgId, content, type, status, updated, created) \
     VALUES (?, ?, ?, ?, ?, 0, ?, ?)"
);
pub(super) const MAX_MSG_ID: [&str; 8] = per_shard!(
    "SELECT MAX(msgId) AS m FROM IMMessage_",
    " WHERE relateId = ?"
);
const MAX_GROUP_MSG_ID: [&str; 8] = per_shard!(
    "SELECT MAX(msgId) AS m FROM IMGroupMessage_",
    " WHERE groupId = ?"
);
