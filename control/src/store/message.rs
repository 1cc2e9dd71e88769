//! Storing a message (CID_MSG_DATA): one transaction per message that
//!
//! 1. takes the pair's lock: `FerryPair` (or the group's `FerryGroupCounter`)
//!    row, created on first use (`INSERT … ON CONFLICT/ON DUPLICATE KEY`, then
//!    a locking read), so concurrent first messages of a new pair serialise
//!    here instead of racing as they do in TeamTalk;
//! 2. on first use adopts TeamTalk's IMRelationShip row or creates it, and
//!    seeds the counter from the stored maximum msgId;
//! 3. makes sure each side has exactly one IMRecentSession row (status 0,
//!    updated now);
//! 4. allocates the msg_id ([`super::counter`]), inserts into
//!    `IMMessage_<relateId % 8>` / `IMGroupMessage_<groupId % 8>`, raises the
//!    high water and the SQL unread counter, commits.
//!
//! With Redis the unread hashes are updated after the commit: the message is
//! stored by then, so a Redis failure there is logged, not reported.

use super::pool::{InsertId, RowExt, with_pool};
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

const SESSION_SINGLE: u32 = 1;
const SESSION_GROUP: u32 = 2;

impl Store {
    /// Stores a 1:1 message; returns its msg_id.
    pub async fn send_single(&self, msg: &Outgoing<'_>) -> Result<u32, Error> {
        retry(|| self.try_send_single(msg)).await
    }

    /// Stores a group message from a current member; returns its msg_id.
    pub async fn send_group(&self, msg: &Outgoing<'_>) -> Result<u32, Error> {
        retry(|| self.try_send_group(msg)).await
    }

    async fn try_send_single(&self, msg: &Outgoing<'_>) -> Result<u32, Error> {
        if msg.from == msg.to || msg.from == 0 || msg.to == 0 {
            return Err(Error::InvalidArgument(format!(
                "message {} -> {}: not a pair of users",
                msg.from, msg.to
            )));
        }
        let text = self.stored_content(msg).await?;
        let (small, big) = (msg.from.min(msg.to), msg.from.max(msg.to));
        let mysql = self.write.is_mysql();
        let lock = if mysql {
            "INSERT INTO FerryPair (smallId, bigId) VALUES (?, ?) ON DUPLICATE KEY UPDATE relateId = relateId"
        } else {
            "INSERT INTO FerryPair (smallId, bigId) VALUES (?, ?) ON CONFLICT (smallId, bigId) DO NOTHING"
        };
        let locked = if mysql {
            "SELECT relateId, msgId FROM FerryPair WHERE smallId = ? AND bigId = ? FOR UPDATE"
        } else {
            "SELECT relateId, msgId FROM FerryPair WHERE smallId = ? AND bigId = ?"
        };
        let unread = if mysql {
            "INSERT INTO FerryUnread (userId, peerId, cnt) VALUES (?, ?, 1) ON DUPLICATE KEY UPDATE cnt = cnt + 1"
        } else {
            "INSERT INTO FerryUnread (userId, peerId, cnt) VALUES (?, ?, 1) ON CONFLICT (userId, peerId) DO UPDATE SET cnt = cnt + 1"
        };
        let now = now();
        let redis = self.redis.as_ref();
        let msg_id = with_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            sqlx::query(lock).bind(small).bind(big).execute(&mut *tx).await?;
            let row = sqlx::query(locked).bind(small).bind(big).fetch_one(&mut *tx).await?;
            let mut relate_id = row.u32("relateId")?;
            let mut high = row.u32("msgId")?;
            if relate_id == 0 {
                let found = sqlx::query(
                    "SELECT id, status FROM IMRelationShip WHERE smallId = ? AND bigId = ? \
                     ORDER BY status, id LIMIT 1",
                )
                .bind(small)
                .bind(big)
                .fetch_optional(&mut *tx)
                .await?;
                relate_id = match found {
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
                let max = sqlx::query(MAX_MSG_ID[shard(relate_id) as usize])
                    .bind(relate_id)
                    .fetch_one(&mut *tx)
                    .await?;
                high = high.max(max.opt_u32("m")?.unwrap_or(0));
                sqlx::query("UPDATE FerryPair SET relateId = ? WHERE smallId = ? AND bigId = ?")
                    .bind(relate_id)
                    .bind(small)
                    .bind(big)
                    .execute(&mut *tx)
                    .await?;
            }
            for (user, peer) in [(msg.from, msg.to), (msg.to, msg.from)] {
                touch_session!(tx, user, peer, SESSION_SINGLE, now);
            }
            let msg_id = counter::next(redis, &counter::pair_key(relate_id), high).await?;
            sqlx::query(INSERT_MESSAGE[shard(relate_id) as usize])
                .bind(relate_id)
                .bind(msg.from)
                .bind(msg.to)
                .bind(msg_id)
                .bind(&text)
                .bind(msg.msg_type)
                .bind(now)
                .bind(msg.create_time)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE FerryPair SET msgId = ? WHERE smallId = ? AND bigId = ?")
                .bind(msg_id)
                .bind(small)
                .bind(big)
                .execute(&mut *tx)
                .await?;
            if redis.is_none() {
                sqlx::query(unread).bind(msg.to).bind(msg.from).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            msg_id
        });
        if let Some(redis) = redis {
            let key = format!("unread_{}", msg.to);
            if let Err(e) = redis.hincrby(&key, &msg.from.to_string(), 1).await {
                tracing::warn!(error = %e, key, "stored message not counted as unread");
            }
        }
        Ok(msg_id)
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

async fn retry<F, Fut>(mut attempt: F) -> Result<u32, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u32, Error>>,
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

const INSERT_MESSAGE: [&str; 8] = per_shard!(
    "INSERT INTO IMMessage_",
    " (relateId, fromId, toId, msgId, content, type, status, updated, created) \
     VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)"
);
const INSERT_GROUP_MESSAGE: [&str; 8] = per_shard!(
    "INSERT INTO IMGroupMessage_",
    " (groupId, userId, msgId, content, type, status, updated, created) \
     VALUES (?, ?, ?, ?, ?, 0, ?, ?)"
);
const MAX_MSG_ID: [&str; 8] = per_shard!(
    "SELECT MAX(msgId) AS m FROM IMMessage_",
    " WHERE relateId = ?"
);
const MAX_GROUP_MSG_ID: [&str; 8] = per_shard!(
    "SELECT MAX(msgId) AS m FROM IMGroupMessage_",
    " WHERE groupId = ?"
);
