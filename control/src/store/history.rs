//! Reading messages back: a page of a conversation (CID_MSG_LIST_REQUEST),
//! messages by id (CID_MSG_GET_BY_MSG_ID_REQ), and the latest message of a
//! pair or group (CID_MSG_GET_LATEST_MSG_ID_REQ, recent sessions, unread).
//! Orders and filters are TeamTalk's: `status = 0`, newest first by
//! `created DESC, id DESC`; rows of an undeclared MsgType are skipped. A
//! group member reads the group's messages from their join on
//! (IMGroupMember.created, reset when a member is added again), as
//! TeamTalk's db_proxy does: what was said before they joined stays hidden.
//! Audio messages come back with their audio read ([`super::audio`]).
//!
//! An answer must fit one frame (db_proxy's default is 4 MiB) and one audio
//! may hold 1 MiB, so answers are bounded in bytes of msg_data: a page (or a
//! by-id answer) ends after [`PAGE_BYTES`], always holding its first message;
//! the latest messages of a sessions or unread answer share
//! [`PREVIEW_BYTES`], past which their audio is sent as the duration alone.

use ferry_proto::pb::im::base_define::{MsgInfo, MsgType};

use super::audio::{self, Overflow, Pending};
use super::group_member::member_since;
use super::pool::{RowExt, with_pool};
use super::shard::{self, per_shard};
use super::sql_text::marks;
use super::{Store, content};
use crate::Error;

/// Messages per page at most (TeamTalk clients ask for 20).
pub(super) const MAX_PAGE: u32 = 200;
/// msg_ids per CID_MSG_GET_BY_MSG_ID_REQ at most (TeamTalk: LIMIT 100).
pub(super) const MAX_BY_ID: usize = 100;
/// msg_data bytes per page or by-id answer: the page ends before the message
/// that would pass it (a text page of 200 messages of 4096 four-byte
/// characters would be 3.2 MiB).
pub const PAGE_BYTES: usize = 2 << 20;
/// msg_data bytes of the latest messages in one sessions or unread answer
/// (one audio at the bound fits). Text previews are never cut: with 100
/// sessions of 16 KiB texts the worst answer stays under 4 MiB.
pub const PREVIEW_BYTES: usize = 2 << 20;

/// The newest message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    pub msg_id: u32,
    pub from: u32,
    pub msg_type: i32,
    pub data: Vec<u8>,
}

/// A conversation: a pair of users or a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversation {
    Pair { user: u32, peer: u32 },
    Group { user: u32, group: u32 },
}

impl Store {
    /// The relation id of a pair, if they ever talked (TeamTalk's
    /// getRelationId without creation).
    pub async fn relation_id(&self, a: u32, b: u32) -> Result<Option<u32>, Error> {
        let (small, big) = (a.min(b), a.max(b));
        let row = with_pool!(&self.read, p => sqlx::query(
            "SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ? ORDER BY status, id LIMIT 1",
        )
        .bind(small)
        .bind(big)
        .fetch_optional(p)
        .await?
        .map(|r| r.u32("id"))
        .transpose())?;
        Ok(row)
    }

    /// True when `user` is a current member of an existing group.
    pub async fn is_member(&self, user: u32, group: u32) -> Result<bool, Error> {
        super::group_member::member_of(&self.read, user, group).await
    }

    /// Where a conversation's rows are and what of them the user may read:
    /// (group?, key column value, first `created` time visible), or `None`
    /// when there is nothing the user may read.
    async fn locate(&self, conv: Conversation) -> Result<Option<(bool, u32, u32)>, Error> {
        Ok(match conv {
            Conversation::Pair { user, peer } => {
                self.relation_id(user, peer).await?.map(|r| (false, r, 0))
            }
            Conversation::Group { user, group } => member_since(&self.read, user, group)
                .await?
                .map(|joined| (true, group, joined)),
        })
    }

    /// Up to `count` messages, newest first, with msgId <= `begin` (0: from
    /// the newest).
    pub async fn message_page(
        &self,
        conv: Conversation,
        begin: u32,
        count: u32,
    ) -> Result<Vec<MsgInfo>, Error> {
        let Some((group, key, since)) = self.locate(conv).await? else {
            return Ok(Vec::new());
        };
        let begin = if begin == 0 { u32::MAX } else { begin };
        let count = count.min(MAX_PAGE);
        let sql = if group { GROUP_PAGE } else { PAIR_PAGE }[shard::of(key)];
        let rows = with_pool!(&self.read, p => {
            let rows = sqlx::query(sql)
                .bind(key)
                .bind(begin)
                .bind(since)
                .bind(count)
                .fetch_all(p)
                .await?;
            rows.iter().filter_map(|r| msg_info(r).transpose()).collect::<Result<Vec<_>, _>>()?
        });
        self.with_audio(rows, PAGE_BYTES, Overflow::Stop).await
    }

    /// The messages of `ids` that exist, newest first.
    pub async fn messages_by_id(
        &self,
        conv: Conversation,
        ids: &[u32],
    ) -> Result<Vec<MsgInfo>, Error> {
        let Some((group, key, since)) = self.locate(conv).await? else {
            return Ok(Vec::new());
        };
        let ids = &ids[..ids.len().min(MAX_BY_ID)];
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let table = if group {
            "IMGroupMessage_"
        } else {
            "IMMessage_"
        };
        let (key_col, from_col) = if group {
            ("groupId", "userId")
        } else {
            ("relateId", "fromId")
        };
        // Only `?` placeholders are generated: no value is pasted into SQL.
        let marks = marks(ids.len());
        let sql = format!(
            "SELECT msgId, {from_col} AS fromId, created, type, content FROM {table}{} \
             WHERE {key_col} = ? AND status = 0 AND created >= ? AND msgId IN ({marks}) \
             ORDER BY created DESC, id DESC LIMIT {MAX_BY_ID}",
            shard::of(key)
        );
        let rows = with_pool!(&self.read, p => {
            let mut q = sqlx::query(&sql).bind(key).bind(since);
            for id in ids {
                q = q.bind(*id);
            }
            let rows = q.fetch_all(p).await?;
            rows.iter().filter_map(|r| msg_info(r).transpose()).collect::<Result<Vec<_>, _>>()?
        });
        self.with_audio(rows, PAGE_BYTES, Overflow::Stop).await
    }

    /// The newest stored message of a conversation.
    pub async fn latest(&self, conv: Conversation) -> Result<Option<Latest>, Error> {
        let Some((group, key, since)) = self.locate(conv).await? else {
            return Ok(None);
        };
        self.newest(group, key, since, usize::MAX).await
    }

    /// The newest message of relation `relate_id` or group `group`, without
    /// access checks (callers have done them), with its audio cut to the duration unless its
    /// msg_data fits `room` bytes (a preview in a list, see [`PREVIEW_BYTES`]).
    pub(crate) async fn latest_within(
        &self,
        group: bool,
        key: u32,
        room: usize,
    ) -> Result<Option<Latest>, Error> {
        self.newest(group, key, 0, room).await
    }

    /// The newest message created at or after `since`, its audio within
    /// `room` as in [`Store::latest_within`].
    async fn newest(
        &self,
        group: bool,
        key: u32,
        since: u32,
        room: usize,
    ) -> Result<Option<Latest>, Error> {
        let sql = if group { GROUP_PAGE } else { PAIR_PAGE }[shard::of(key)];
        let newest = with_pool!(&self.read, p => {
            let rows = sqlx::query(sql)
                .bind(key)
                .bind(u32::MAX)
                .bind(since)
                .bind(8u32)
                .fetch_all(p)
                .await?;
            let mut newest = None;
            for r in &rows {
                if let Some(m) = msg_info(r)? {
                    newest = Some(m);
                    break;
                }
            }
            newest
        });
        let Some(newest) = newest else {
            return Ok(None);
        };
        let m = self
            .with_audio(vec![newest], room, Overflow::HeaderOnly)
            .await?
            .pop()
            .ok_or_else(|| Error::Corrupt("latest message lost while reading its audio".into()))?;
        Ok(Some(Latest {
            msg_id: m.msg_id,
            from: m.from_session_id,
            msg_type: m.msg_type,
            data: m.msg_data.to_vec(),
        }))
    }
}

/// A row as TeamTalk's MsgInfo, `None` for an undeclared MsgType. An audio
/// row naming an IMAudio id is returned with that id and no msg_data yet.
fn msg_info(r: &impl RowExt) -> Result<Option<Pending>, Error> {
    let msg_type = r.u32("type")? as i32;
    if MsgType::try_from(msg_type).is_err() {
        return Ok(None);
    }
    let text = r.text("content")?;
    let audio = audio::is_audio(msg_type)
        .then(|| audio::audio_id(&text))
        .flatten();
    let msg_data = match audio {
        Some(_) => Vec::new(),
        None => content::decode(text),
    };
    Ok(Some(Pending {
        info: MsgInfo {
            msg_id: r.u32("msgId")?,
            from_session_id: r.u32("fromId")?,
            create_time: r.u32("created")?,
            msg_type,
            msg_data: msg_data.into(),
        },
        audio,
    }))
}

/// A page: key, msgId at most, created at least (0 for pairs: everything;
/// a member's join time for groups), count.
const PAIR_PAGE: [&str; 8] = per_shard!(
    "SELECT msgId, fromId, created, type, content FROM IMMessage_",
    " WHERE relateId = ? AND status = 0 AND msgId <= ? AND created >= ? \
     ORDER BY created DESC, id DESC LIMIT ?"
);
const GROUP_PAGE: [&str; 8] = per_shard!(
    "SELECT msgId, userId AS fromId, created, type, content FROM IMGroupMessage_",
    " WHERE groupId = ? AND status = 0 AND msgId <= ? AND created >= ? \
     ORDER BY created DESC, id DESC LIMIT ?"
);
