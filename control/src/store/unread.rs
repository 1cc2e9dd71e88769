//! Unread counters (CID_MSG_UNREAD_CNT_REQUEST) and clearing them
//! (CID_MSG_READ_ACK). With Redis they are TeamTalk's keys: `unread_<user>`
//! (field: peer id, value: count) and, for groups, the group total
//! `<group>_im_group_msg` minus the user's `<user>_<group>_im_user_group`.
//! The same numbers live in FerryUnread / FerryGroupCounter / FerryGroupRead
//! in any case: without Redis they are what is read, with Redis they are
//! the durable copy a Redis that lost its data is rebuilt from. Each count carries the conversation's latest message;
//! they share [`PREVIEW_BYTES`] of msg_data, past which audio is sent as its
//! duration alone.

use ferry_proto::pb::im::base_define::UnreadInfo;

use super::Store;
use super::history::PREVIEW_BYTES;
use super::pool::{RowExt, with_pool};
use crate::Error;

impl Store {
    /// Every conversation of `user` with unread messages, and their sum.
    pub async fn unread(&self, user: u32) -> Result<(u32, Vec<UnreadInfo>), Error> {
        let mut counts: Vec<(bool, u32, u32)> = Vec::new();
        match &self.redis {
            Some(redis) => {
                for (peer, cnt) in redis.hgetall(&format!("unread_{user}")).await? {
                    if let (Ok(peer), true) = (peer.parse::<u32>(), cnt > 0) {
                        counts.push((false, peer, cnt.min(i64::from(u32::MAX)) as u32));
                    }
                }
                for group in self.groups_of(user).await? {
                    let total = redis
                        .hget(&format!("{group}_im_group_msg"), "count")
                        .await?
                        .unwrap_or(0);
                    let read = redis
                        .hget(&format!("{user}_{group}_im_user_group"), "count")
                        .await?
                        .unwrap_or(0);
                    if total > read {
                        counts.push((true, group, (total - read).min(i64::from(u32::MAX)) as u32));
                    }
                }
            }
            None => with_pool!(&self.read, p => {
                for r in sqlx::query("SELECT peerId, cnt FROM FerryUnread WHERE userId = ? AND cnt > 0")
                    .bind(user)
                    .fetch_all(p)
                    .await?
                {
                    counts.push((false, r.u32("peerId")?, r.u32("cnt")?));
                }
                for r in sqlx::query(
                    "SELECT m.groupId, c.msgCount, g.cnt AS readCnt \
                     FROM IMGroupMember m JOIN FerryGroupCounter c ON c.groupId = m.groupId \
                     LEFT JOIN FerryGroupRead g ON g.userId = m.userId AND g.groupId = m.groupId \
                     WHERE m.userId = ? AND m.status = 0",
                )
                .bind(user)
                .fetch_all(p)
                .await?
                {
                    let (total, read) = (r.u32("msgCount")?, r.opt_u32("readCnt")?.unwrap_or(0));
                    if total > read {
                        counts.push((true, r.u32("groupId")?, total - read));
                    }
                }
            }),
        }
        let mut total = 0u32;
        let mut list = Vec::with_capacity(counts.len());
        let mut room = PREVIEW_BYTES;
        for (group, id, cnt) in counts {
            let key = if group {
                Some(id)
            } else {
                self.relation_id(user, id).await?
            };
            let Some(key) = key else { continue };
            let Some(latest) = self.latest_within(group, key, room).await? else {
                continue;
            };
            room = room.saturating_sub(latest.data.len());
            total = total.saturating_add(cnt);
            list.push(UnreadInfo {
                session_id: id,
                session_type: if group { 2 } else { 1 },
                unread_cnt: cnt,
                latest_msg_id: latest.msg_id,
                latest_msg_data: latest.data.into(),
                latest_msg_type: latest.msg_type,
                latest_msg_from_user_id: latest.from,
            });
        }
        Ok((total, list))
    }

    /// Clears `user`'s unread count of a peer (`group` false) or a group:
    /// the durable SQL count always, and TeamTalk's Redis keys when Redis is
    /// configured. Idempotent (CID_MSG_READ_ACK has no answer).
    pub async fn mark_read(&self, user: u32, peer: u32, group: bool) -> Result<(), Error> {
        if group {
            let sql = if self.write.is_mysql() {
                "INSERT INTO FerryGroupRead (userId, groupId, cnt) \
                 SELECT ?, groupId, msgCount FROM FerryGroupCounter WHERE groupId = ? \
                 ON DUPLICATE KEY UPDATE cnt = VALUES(cnt)"
            } else {
                "INSERT INTO FerryGroupRead (userId, groupId, cnt) \
                 SELECT ?, groupId, msgCount FROM FerryGroupCounter WHERE groupId = ? \
                 ON CONFLICT (userId, groupId) DO UPDATE SET cnt = excluded.cnt"
            };
            with_pool!(&self.write, p => {
                sqlx::query(sql).bind(user).bind(peer).execute(p).await?;
            });
        } else {
            with_pool!(&self.write, p => {
                sqlx::query("DELETE FROM FerryUnread WHERE userId = ? AND peerId = ?")
                    .bind(user)
                    .bind(peer)
                    .execute(p)
                    .await?;
            });
        }
        match (&self.redis, group) {
            (Some(redis), false) => {
                redis
                    .hdel(&format!("unread_{user}"), &peer.to_string())
                    .await
            }
            (Some(redis), true) => {
                let total = redis
                    .hget(&format!("{peer}_im_group_msg"), "count")
                    .await?
                    .unwrap_or(0);
                redis
                    .hset(&format!("{user}_{peer}_im_user_group"), "count", total)
                    .await
            }
            (None, _) => Ok(()),
        }
    }

    /// The groups `user` is a current member of.
    pub async fn groups_of(&self, user: u32) -> Result<Vec<u32>, Error> {
        with_pool!(&self.read, p => {
            sqlx::query("SELECT groupId FROM IMGroupMember WHERE userId = ? AND status = 0")
                .bind(user)
                .fetch_all(p)
                .await?
                .iter()
                .map(|r| r.u32("groupId"))
                .collect()
        })
    }
}
