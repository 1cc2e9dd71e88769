//! Per-member push mute of a group: CID_GROUP_SHIELD_GROUP_REQUEST (set, by
//! a current member) and CID_OTHER_GET_SHIELD_REQ (msg_server asks before
//! pushing a group message; a user who never set it reads 0).
//!
//! With Redis it is TeamTalk's `group_set_<groupId>` hash. Its field is
//! `<userId>_1`, as TeamTalk's code writes it (the `_1` is
//! IM_GROUP_SETTING_PUSH; some descriptions of the key leave it out), so a
//! TeamTalk db_proxy sharing the Redis reads what ferry writes. Without
//! Redis, FerryGroupShield (migration 0003).

use std::collections::HashMap;

use ferry_proto::pb::im::base_define::ShieldStatus;

use super::pool::{RowExt, with_pool};
use super::{Store, now};
use crate::Error;

fn shield_key(group: u32) -> String {
    format!("group_set_{group}")
}

/// TeamTalk's field: user id and IM_GROUP_SETTING_PUSH (1).
fn shield_field(user: u32) -> String {
    format!("{user}_1")
}

impl Store {
    /// Sets `user`'s shield of `group` (0 off, 1 on); `false` when `user` is
    /// not a current member (or the group does not exist).
    pub async fn set_group_shield(
        &self,
        user: u32,
        group: u32,
        status: u32,
    ) -> Result<bool, Error> {
        if status > 1 {
            return Err(Error::InvalidArgument(format!(
                "group shield status {status} is neither 0 nor 1"
            )));
        }
        let member = with_pool!(&self.read, p => {
            sqlx::query(
                "SELECT m.id FROM IMGroupMember m JOIN IMGroup g ON g.id = m.groupId \
                 WHERE m.groupId = ? AND m.userId = ? AND m.status = 0 LIMIT 1",
            )
            .bind(group)
            .bind(user)
            .fetch_optional(p)
            .await?
            .is_some()
        });
        if !member {
            return Ok(false);
        }
        if let Some(redis) = &self.redis {
            redis
                .hset(&shield_key(group), &shield_field(user), i64::from(status))
                .await?;
            return Ok(true);
        }
        let upsert = if self.write.is_mysql() {
            "INSERT INTO FerryGroupShield (groupId, userId, status, updated) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE status = VALUES(status), updated = VALUES(updated)"
        } else {
            "INSERT INTO FerryGroupShield (groupId, userId, status, updated) VALUES (?, ?, ?, ?) \
             ON CONFLICT (groupId, userId) DO UPDATE SET status = excluded.status, updated = excluded.updated"
        };
        let t = now();
        with_pool!(&self.write, p => {
            sqlx::query(upsert)
                .bind(group)
                .bind(user)
                .bind(status)
                .bind(t)
                .execute(p)
                .await?;
        });
        Ok(true)
    }

    /// The shield status of each of `users` in `group`, in the asked order.
    pub async fn group_shields(
        &self,
        group: u32,
        users: &[u32],
    ) -> Result<Vec<ShieldStatus>, Error> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let set: HashMap<u32, u32> = match &self.redis {
            Some(redis) => redis
                .hgetall(&shield_key(group))
                .await?
                .into_iter()
                .filter_map(|(field, v)| {
                    let user = field.strip_suffix("_1")?.parse().ok()?;
                    Some((user, u32::try_from(v).ok()?))
                })
                .collect(),
            None => with_pool!(&self.read, p => {
                sqlx::query("SELECT userId, status FROM FerryGroupShield WHERE groupId = ?")
                    .bind(group)
                    .fetch_all(p)
                    .await?
                    .iter()
                    .map(|r| Ok((r.u32("userId")?, r.u32("status")?)))
                    .collect::<Result<_, Error>>()?
            }),
        };
        Ok(users
            .iter()
            .map(|&user| ShieldStatus {
                user_id: user,
                group_id: group,
                shield_status: set.get(&user).copied().unwrap_or(0),
            })
            .collect())
    }
}
