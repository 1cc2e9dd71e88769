//! IMGroup and its members as the client sees them: the user's normal groups
//! with their versions (CID_GROUP_NORMAL_LIST_REQUEST), the details of the
//! groups whose version moved past the client's (CID_GROUP_INFO_REQUEST) and
//! group creation (CID_GROUP_CREATE_REQUEST). Membership changes are in
//! [`super::group_member`].
//!
//! IMGroupMember is the truth (status 0 member, 1 left); with Redis,
//! TeamTalk's `group_member_<groupId>` hash (field userId, value join time)
//! is kept in step after each commit, for TeamTalk tools and a mixed
//! deployment. A failed cache write is logged: the stored change stands.

use std::collections::HashMap;

use ferry_proto::pb::im::base_define::{GroupInfo, GroupType, GroupVersionInfo};

use super::pool::{InsertId, RowExt, with_pool};
use super::sql_text::marks;
use super::{Store, now};
use crate::Error;

/// IMGroup.name and IMGroup.avatar are varchar(256).
pub const GROUP_TEXT_MAX_CHARS: usize = 256;

/// A group as CID_GROUP_CREATE_REQUEST asks for it.
#[derive(Debug, Clone)]
pub struct NewGroup<'a> {
    pub creator: u32,
    /// TeamTalk's GroupType: 1 normal, 2 temporary.
    pub group_type: i32,
    pub name: &'a str,
    pub avatar: &'a str,
    pub members: &'a [u32],
}

pub(super) fn member_key(group: u32) -> String {
    format!("group_member_{group}")
}

/// The ids once each, in order (TeamTalk keeps them in a `set<uint32_t>`).
pub(super) fn id_set(ids: impl IntoIterator<Item = u32>) -> Vec<u32> {
    let mut ids: Vec<u32> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl Store {
    /// The normal groups `user` is a member of, most recently updated first.
    pub async fn group_versions(&self, user: u32) -> Result<Vec<GroupVersionInfo>, Error> {
        with_pool!(&self.read, p => {
            sqlx::query(
                "SELECT g.id, g.version FROM IMGroup g \
                 WHERE g.type = ? AND g.id IN \
                 (SELECT groupId FROM IMGroupMember WHERE userId = ? AND status = 0) \
                 ORDER BY g.updated DESC, g.id DESC",
            )
            .bind(GroupType::Normal as i32)
            .bind(user)
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| {
                Ok(GroupVersionInfo {
                    group_id: r.u32("id")?,
                    version: r.u32("version")?,
                })
            })
            .collect()
        })
    }

    /// Details of each asked group whose stored version is newer than the
    /// asked one (TeamTalk: `asked < stored`), with its current members and
    /// `user`'s own shield status. Unknown groups are left out.
    pub async fn group_infos(
        &self,
        user: u32,
        asked: &[GroupVersionInfo],
    ) -> Result<Vec<GroupInfo>, Error> {
        let known: HashMap<u32, u32> = asked.iter().map(|g| (g.group_id, g.version)).collect();
        let ids = id_set(known.keys().copied());
        let mut out = Vec::new();
        for chunk in ids.chunks(super::user::ID_CHUNK) {
            // Only `?` placeholders are generated: no value is pasted into SQL.
            let marks = marks(chunk.len());
            let groups = format!(
                "SELECT id, name, avatar, creator, type, version FROM IMGroup \
                 WHERE id IN ({marks}) ORDER BY updated DESC, id DESC"
            );
            let mut infos: Vec<GroupInfo> = with_pool!(&self.read, p => {
                let mut q = sqlx::query(&groups);
                for id in chunk {
                    q = q.bind(*id);
                }
                let mut infos = Vec::new();
                for r in q.fetch_all(p).await? {
                    let (id, version, kind) = (r.u32("id")?, r.u32("version")?, r.u32("type")?);
                    let newer = known.get(&id).is_some_and(|asked| *asked < version);
                    if !newer || GroupType::try_from(kind as i32).is_err() {
                        continue;
                    }
                    infos.push(GroupInfo {
                        group_id: id,
                        version,
                        group_name: r.text("name")?.into(),
                        group_avatar: r.text("avatar")?.into(),
                        group_creator_id: r.u32("creator")?,
                        group_type: kind as i32,
                        shield_status: 0,
                        group_member_list: Vec::new(),
                    });
                }
                infos
            });
            for info in &mut infos {
                info.group_member_list = self.group_members(info.group_id).await?;
                info.shield_status = self
                    .group_shields(info.group_id, &[user])
                    .await?
                    .first()
                    .map_or(0, |s| s.shield_status);
            }
            out.extend(infos);
        }
        Ok(out)
    }

    /// The current members of `group`, by id.
    pub async fn group_members(&self, group: u32) -> Result<Vec<u32>, Error> {
        with_pool!(&self.read, p => {
            sqlx::query(
                "SELECT DISTINCT userId FROM IMGroupMember WHERE groupId = ? AND status = 0 ORDER BY userId",
            )
            .bind(group)
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| r.u32("userId"))
            .collect()
        })
    }

    /// Whether an IMGroup row `group` exists (TeamTalk's isValidateGroupId).
    pub async fn group_exists(&self, group: u32) -> Result<bool, Error> {
        with_pool!(&self.read, p => {
            Ok(sqlx::query("SELECT id FROM IMGroup WHERE id = ?")
                .bind(group)
                .fetch_optional(p)
                .await?
                .is_some())
        })
    }

    /// Creates a group with its creator and `members` (each once); returns
    /// the group id and the member ids.
    pub async fn create_group(&self, g: &NewGroup<'_>) -> Result<(u32, Vec<u32>), Error> {
        if GroupType::try_from(g.group_type).is_err() {
            return Err(Error::InvalidArgument(format!(
                "group type {}",
                g.group_type
            )));
        }
        if g.name.is_empty() || g.name.chars().count() > GROUP_TEXT_MAX_CHARS {
            return Err(Error::InvalidArgument(format!(
                "a group name has 1 to {GROUP_TEXT_MAX_CHARS} characters"
            )));
        }
        if g.avatar.chars().count() > GROUP_TEXT_MAX_CHARS {
            return Err(Error::InvalidArgument(format!(
                "a group avatar has at most {GROUP_TEXT_MAX_CHARS} characters"
            )));
        }
        let members = id_set(g.members.iter().copied().chain([g.creator]));
        let t = now();
        let group = with_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            let group = sqlx::query(
                "INSERT INTO IMGroup (name, avatar, creator, type, userCnt, status, version, \
                 lastChated, updated, created) VALUES (?, ?, ?, ?, ?, 0, 1, 0, ?, ?)",
            )
            .bind(g.name)
            .bind(g.avatar)
            .bind(g.creator)
            .bind(g.group_type)
            .bind(members.len() as u32)
            .bind(t)
            .bind(t)
            .execute(&mut *tx)
            .await?
            .insert_id()?;
            for user in &members {
                sqlx::query(
                    "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) \
                     VALUES (?, ?, 0, ?, ?)",
                )
                .bind(group)
                .bind(*user)
                .bind(t)
                .bind(t)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            group
        });
        self.cache_members(group, &members, &[], t).await;
        Ok((group, members))
    }

    /// Mirrors a committed membership change into `group_member_<groupId>`.
    pub(super) async fn cache_members(&self, group: u32, added: &[u32], removed: &[u32], t: u32) {
        let Some(redis) = &self.redis else { return };
        let key = member_key(group);
        let add: Vec<(String, i64)> = added
            .iter()
            .map(|u| (u.to_string(), i64::from(t)))
            .collect();
        let del: Vec<String> = removed.iter().map(u32::to_string).collect();
        let result = match redis.hset_many(&key, &add).await {
            Ok(()) => redis.hdel_many(&key, &del).await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, key, "group membership stored but not cached in redis");
        }
    }
}
