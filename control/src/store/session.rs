//! Recent sessions (CID_BUDDY_LIST_RECENT_CONTACT_SESSION_REQUEST): the
//! user's IMRecentSession rows with status 0 updated after a time, newest
//! first, at most 100 (TeamTalk's query), each filled with the latest
//! message of its conversation. Sessions with no readable message are left
//! out, and for single chats `latest_msg_from_user_id` is the peer, both as
//! TeamTalk answers. The latest messages share [`PREVIEW_BYTES`] of
//! msg_data; audio past it is sent as its duration alone.
//!
//! Removing a session (CID_BUDDY_LIST_REMOVE_SESSION_REQ) marks the user's
//! live rows for that peer deleted (status 1, updated now) and clears the
//! unread count of the conversation, as TeamTalk does; the next message
//! revives the row.

use ferry_proto::pb::im::base_define::ContactSessionInfo;

use super::history::PREVIEW_BYTES;
use super::pool::{RowExt, with_pool};
use super::{Store, now};
use crate::Error;

/// Sessions per answer at most (TeamTalk: LIMIT 100).
pub(super) const MAX_SESSIONS: u32 = 100;

impl Store {
    pub async fn recent_sessions(
        &self,
        user: u32,
        updated_after: u32,
    ) -> Result<Vec<ContactSessionInfo>, Error> {
        let rows: Vec<(u32, u32, u32, u32)> = with_pool!(&self.read, p => {
            let rows = sqlx::query(
                "SELECT peerId, type, status, updated FROM IMRecentSession \
                 WHERE userId = ? AND status = 0 AND updated > ? ORDER BY updated DESC, id DESC LIMIT ?",
            )
            .bind(user)
            .bind(updated_after)
            .bind(MAX_SESSIONS)
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| Ok((r.u32("peerId")?, r.u32("type")?, r.u32("status")?, r.u32("updated")?)))
                .collect::<Result<_, Error>>()?
        });
        let mut out = Vec::with_capacity(rows.len());
        let mut room = PREVIEW_BYTES;
        for (peer, kind, status, updated) in rows {
            let (latest, from) = match kind {
                1 => match self.relation_id(user, peer).await? {
                    Some(relate) => (self.latest_within(false, relate, room).await?, Some(peer)),
                    None => (None, None),
                },
                2 => (self.latest_within(true, peer, room).await?, None),
                _ => (None, None),
            };
            let Some(latest) = latest else { continue };
            room = room.saturating_sub(latest.data.len());
            out.push(ContactSessionInfo {
                session_id: peer,
                session_type: kind as i32,
                session_status: status as i32,
                updated_time: updated,
                latest_msg_id: latest.msg_id,
                latest_msg_data: latest.data.into(),
                latest_msg_type: latest.msg_type,
                latest_msg_from_user_id: from.unwrap_or(latest.from),
            });
        }
        Ok(out)
    }

    /// Marks `user`'s session with `peer` (`kind` 1 user, 2 group) deleted
    /// and clears its unread count; `false` when no live session matched.
    /// The count is cleared first: when Redis is down the request fails
    /// with the session untouched, never half done.
    pub async fn remove_session(&self, user: u32, peer: u32, kind: u32) -> Result<bool, Error> {
        let live = with_pool!(&self.write, p => {
            sqlx::query(
                "SELECT id FROM IMRecentSession \
                 WHERE userId = ? AND peerId = ? AND type = ? AND status = 0 LIMIT 1",
            )
            .bind(user)
            .bind(peer)
            .bind(kind)
            .fetch_optional(p)
            .await?
            .is_some()
        });
        if !live {
            return Ok(false);
        }
        self.mark_read(user, peer, kind == 2).await?;
        let t = now();
        let removed = with_pool!(&self.write, p => {
            sqlx::query(
                "UPDATE IMRecentSession SET status = 1, updated = ? \
                 WHERE userId = ? AND peerId = ? AND type = ? AND status = 0",
            )
            .bind(t)
            .bind(user)
            .bind(peer)
            .bind(kind)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(removed > 0)
    }
}
