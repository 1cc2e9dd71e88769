//! Adding and removing group members (CID_GROUP_CHANGE_MEMBER_REQUEST), in
//! one transaction that locks the IMGroup row, so concurrent changes of a
//! group apply one after the other.
//!
//! Who may change a group (TeamTalk's hasModifyPermission, tightened): the
//! creator always; for a temporary group, any current member may add (the
//! original lets anyone add to any temporary group); user 0, msg_server's
//! system caller, always. Anything else is refused.
//!
//! - add: users not yet members get a row (or their old row back, status 0);
//! - del: members get status 1 and their group session is removed;
//!
//! then, if anyone changed, the group's version goes up by one (clients
//! refetch its info) and userCnt is recounted. After the commit the changed
//! users' unread counts of the group are cleared (TeamTalk: clearUserCounter,
//! so a new member does not inherit old messages as unread) and
//! `group_member_<groupId>` follows in Redis.

use ferry_proto::pb::im::base_define::{GroupModifyType, GroupType};

use super::group::id_set;
use super::pool::Pool;
use super::pool::{RowExt, with_pool};
use super::sql_text::marks;
use super::{Store, now};
use crate::Error;

/// Who is a member of a group, the one rule every query uses: an
/// IMGroupMember row with status 0 (1 is a member who left) in a group
/// whose IMGroup row has status 0. Followed by `AND …` conditions on `m`
/// (IMGroupMember) and `g` (IMGroup).
pub(super) const CURRENT_MEMBERS: &str =
    "IMGroupMember m JOIN IMGroup g ON g.id = m.groupId WHERE m.status = 0 AND g.status = 0";

/// What a membership change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// `current`: the members afterwards; `changed`: who was added/removed.
    Done {
        current: Vec<u32>,
        changed: Vec<u32>,
    },
    /// The caller may not change this group this way.
    Refused,
    /// No such group.
    NoGroup,
}

impl Store {
    pub async fn change_members(
        &self,
        user: u32,
        group: u32,
        kind: GroupModifyType,
        ids: &[u32],
    ) -> Result<MemberChange, Error> {
        let ids = id_set(ids.iter().copied());
        let lock = if self.write.is_mysql() {
            "SELECT creator, type FROM IMGroup WHERE id = ? FOR UPDATE"
        } else {
            "SELECT creator, type FROM IMGroup WHERE id = ?"
        };
        let t = now();
        let (current, changed) = with_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            let Some(row) = sqlx::query(lock).bind(group).fetch_optional(&mut *tx).await? else {
                return Ok(MemberChange::NoGroup);
            };
            let (creator, group_type) = (row.u32("creator")?, row.u32("type")?);
            let member = sqlx::query(
                "SELECT id FROM IMGroupMember WHERE groupId = ? AND userId = ? AND status = 0 LIMIT 1",
            )
            .bind(group)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
            let allowed = user == 0
                || user == creator
                || (group_type == GroupType::Tmp as u32 && kind == GroupModifyType::Add && member);
            if !allowed {
                return Ok(MemberChange::Refused);
            }
            let mut rows: Vec<(u32, u32)> = Vec::new();
            for chunk in ids.chunks(super::user::ID_CHUNK) {
                // Only `?` placeholders are generated: no value is pasted into SQL.
                let marks = marks(chunk.len());
                let sql = format!(
                    "SELECT userId, MIN(status) AS status FROM IMGroupMember \
                     WHERE groupId = ? AND userId IN ({marks}) GROUP BY userId"
                );
                let mut q = sqlx::query(&sql).bind(group);
                for id in chunk {
                    q = q.bind(*id);
                }
                for r in q.fetch_all(&mut *tx).await? {
                    rows.push((r.u32("userId")?, r.u32("status")?));
                }
            }
            let status_of = |u: u32| rows.iter().find(|(id, _)| *id == u).map(|(_, s)| *s);
            let mut changed = Vec::new();
            for &u in &ids {
                match (kind, status_of(u)) {
                    (GroupModifyType::Add, None) => {
                        sqlx::query(
                            "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) \
                             VALUES (?, ?, 0, ?, ?)",
                        )
                        .bind(group)
                        .bind(u)
                        .bind(t)
                        .bind(t)
                        .execute(&mut *tx)
                        .await?;
                        changed.push(u);
                    }
                    (GroupModifyType::Add, Some(s)) if s != 0 => {
                        sqlx::query(
                            "UPDATE IMGroupMember SET status = 0, created = ?, updated = ? \
                             WHERE groupId = ? AND userId = ?",
                        )
                        .bind(t)
                        .bind(t)
                        .bind(group)
                        .bind(u)
                        .execute(&mut *tx)
                        .await?;
                        changed.push(u);
                    }
                    (GroupModifyType::Del, Some(0)) => {
                        sqlx::query(
                            "UPDATE IMGroupMember SET status = 1, updated = ? \
                             WHERE groupId = ? AND userId = ? AND status = 0",
                        )
                        .bind(t)
                        .bind(group)
                        .bind(u)
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query(
                            "UPDATE IMRecentSession SET status = 1, updated = ? \
                             WHERE userId = ? AND peerId = ? AND type = 2 AND status = 0",
                        )
                        .bind(t)
                        .bind(u)
                        .bind(group)
                        .execute(&mut *tx)
                        .await?;
                        changed.push(u);
                    }
                    _ => {}
                }
            }
            let current: Vec<u32> = sqlx::query(
                "SELECT DISTINCT userId FROM IMGroupMember WHERE groupId = ? AND status = 0 ORDER BY userId",
            )
            .bind(group)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.u32("userId"))
            .collect::<Result<_, _>>()?;
            if !changed.is_empty() {
                sqlx::query(
                    "UPDATE IMGroup SET version = version + 1, userCnt = ?, updated = ? WHERE id = ?",
                )
                .bind(current.len() as u32)
                .bind(t)
                .bind(group)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            (current, changed)
        });
        for &u in &changed {
            if let Err(e) = self.mark_read(u, group, true).await {
                tracing::warn!(error = %e, user = u, group, "group unread count not cleared");
            }
        }
        let (added, removed): (&[u32], &[u32]) = match kind {
            GroupModifyType::Add => (&changed, &[]),
            GroupModifyType::Del => (&[], &changed),
        };
        self.cache_members(group, added, removed, t).await;
        Ok(MemberChange::Done { current, changed })
    }
}

/// True when `user` is a current member of an existing group, on `pool`.
pub(super) async fn member_of(pool: &Pool, user: u32, group: u32) -> Result<bool, Error> {
    Ok(member_since(pool, user, group).await?.is_some())
}

/// When `user` joined `group` (IMGroupMember.created, unix seconds), if
/// they are a current member of an existing group.
pub(super) async fn member_since(pool: &Pool, user: u32, group: u32) -> Result<Option<u32>, Error> {
    let sql = format!(
        "SELECT m.created FROM {CURRENT_MEMBERS} AND m.groupId = ? AND m.userId = ? \
         ORDER BY m.id DESC LIMIT 1"
    );
    with_pool!(pool, p => sqlx::query(&sql)
    .bind(group)
    .bind(user)
    .fetch_optional(p)
    .await?
    .map(|r| r.u32("created"))
    .transpose())
}
