//! Push device tokens: CID_LOGIN_REQ_DEVICETOKEN (set) and
//! CID_OTHER_GET_DEVICE_TOKEN_REQ (the tokens msg_server pushes to).
//!
//! With Redis they are TeamTalk's keys: `device_<userId>` = "ios:<token>",
//! "android:<token>" or "<token>" (other client types), and the reverse
//! `device_<token>` = "<userId>". Without Redis, FerryDeviceToken (migration
//! 0003) holds the same, one row per user.
//!
//! As TeamTalk, a user's new token replaces the reverse key of the old one,
//! and only iOS and Android tokens are handed out, each with the user's
//! total unread count and push type 1; an iOS token of a user whose push
//! shield is on is left out during quiet hours (22:00–07:59, see
//! [`quiet_hours`]). Beyond TeamTalk, a token belongs to one user at a time:
//! when it moves to another user (a phone logged in with a new account) the
//! previous user loses it, so one device is not pushed another's messages.

use ferry_proto::pb::im::base_define::{ClientType, UserTokenInfo};

use super::pool::{RowExt, with_pool};
use super::sql_text::marks;
use super::{Store, now};
use crate::Error;

/// Longest token accepted (FerryDeviceToken.token varchar(255)).
pub const TOKEN_MAX_CHARS: usize = 255;

/// TeamTalk's quiet hours, on the hour of the day: from 22 to 7 inclusive.
/// ferry reads the hour in UTC (TeamTalk: the server's local time); the
/// crate carries no time zone database.
pub fn quiet_hours(hour: u32) -> bool {
    hour >= 22 || hour <= 7
}

fn user_key(user: u32) -> String {
    format!("device_{user}")
}

fn token_key(token: &str) -> String {
    format!("device_{token}")
}

/// TeamTalk's `device_<userId>` value for a client type.
fn redis_value(client_type: i32, token: &str) -> String {
    match ClientType::try_from(client_type) {
        Ok(ClientType::Ios) => format!("ios:{token}"),
        Ok(ClientType::Android) => format!("android:{token}"),
        _ => token.to_owned(),
    }
}

/// A `device_<userId>` value back to (client type, token); the client type
/// is 0 for a bare token.
fn parse_value(value: &str) -> (i32, &str) {
    match value.split_once(':') {
        Some(("ios", token)) => (ClientType::Ios as i32, token),
        Some(("android", token)) => (ClientType::Android as i32, token),
        Some((_, token)) => (0, token),
        None => (0, value),
    }
}

impl Store {
    /// Forgets `user`'s device token: `device_<user>` and its reverse
    /// `device_<token>` (if it still names this user), or the SQL row.
    async fn clear_device_token(&self, user: u32) -> Result<(), Error> {
        if let Some(redis) = &self.redis {
            if let Some(old) = redis.get(&user_key(user)).await? {
                let (_, old_token) = parse_value(&old);
                if !old_token.is_empty()
                    && redis.get(&token_key(old_token)).await?.as_deref()
                        == Some(user.to_string().as_str())
                {
                    redis.del(&token_key(old_token)).await?;
                }
            }
            return redis.del(&user_key(user)).await;
        }
        with_pool!(&self.write, p => {
            sqlx::query("DELETE FROM FerryDeviceToken WHERE userId = ?")
                .bind(user)
                .execute(p)
                .await?;
            Ok(())
        })
    }

    /// Records `token` as `user`'s device (`client_type` TeamTalk's
    /// ClientType; absent is 0, a bare token). An empty token clears the
    /// user's device, as TeamTalk does: msg_server sends one at every logout
    /// so a logged-out phone is pushed nothing.
    pub async fn set_device_token(
        &self,
        user: u32,
        client_type: i32,
        token: &[u8],
    ) -> Result<(), Error> {
        if token.is_empty() {
            return self.clear_device_token(user).await;
        }
        let token = super::utf8_arg("device_token", token)?;
        if token.chars().count() > TOKEN_MAX_CHARS {
            return Err(Error::InvalidArgument(format!(
                "a device token has at most {TOKEN_MAX_CHARS} characters"
            )));
        }
        if let Some(redis) = &self.redis {
            let me = user.to_string();
            if let Some(old) = redis.get(&user_key(user)).await? {
                let (_, old_token) = parse_value(&old);
                if !old_token.is_empty() && old_token != token {
                    redis.del(&token_key(old_token)).await?;
                }
            }
            if let Some(owner) = redis.get(&token_key(token)).await?
                && let Ok(owner) = owner.parse::<u32>()
                && owner != user
                && let Some(theirs) = redis.get(&user_key(owner)).await?
                && parse_value(&theirs).1 == token
            {
                redis.del(&user_key(owner)).await?;
            }
            redis
                .set_str(&user_key(user), &redis_value(client_type, token))
                .await?;
            return redis.set_str(&token_key(token), &me).await;
        }
        let upsert = if self.write.is_mysql() {
            "INSERT INTO FerryDeviceToken (userId, clientType, token, updated) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE clientType = VALUES(clientType), token = VALUES(token), updated = VALUES(updated)"
        } else {
            "INSERT INTO FerryDeviceToken (userId, clientType, token, updated) VALUES (?, ?, ?, ?) \
             ON CONFLICT (userId) DO UPDATE SET clientType = excluded.clientType, token = excluded.token, updated = excluded.updated"
        };
        let t = now();
        with_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            sqlx::query("DELETE FROM FerryDeviceToken WHERE token = ? AND userId <> ?")
                .bind(token)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            sqlx::query(upsert)
                .bind(user)
                .bind(client_type)
                .bind(token)
                .bind(t)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// The pushable tokens of `users` (iOS and Android only), each with the
    /// user's unread total; during `quiet` hours iOS tokens of users with
    /// the push shield on are left out.
    pub async fn device_tokens(
        &self,
        users: &[u32],
        quiet: bool,
    ) -> Result<Vec<UserTokenInfo>, Error> {
        let mut ids: Vec<u32> = users.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut found: Vec<(u32, i32, String)> = Vec::new();
        match &self.redis {
            Some(redis) => {
                let keys: Vec<String> = ids.iter().map(|u| user_key(*u)).collect();
                for (user, value) in ids.iter().zip(redis.mget(&keys).await?) {
                    if let Some(value) = value {
                        let (kind, token) = parse_value(&value);
                        found.push((*user, kind, token.to_owned()));
                    }
                }
            }
            None => {
                for chunk in ids.chunks(super::user::ID_CHUNK) {
                    // Only `?` placeholders are generated: no value is pasted into SQL.
                    let marks = marks(chunk.len());
                    let sql = format!(
                        "SELECT userId, clientType, token FROM FerryDeviceToken WHERE userId IN ({marks})"
                    );
                    with_pool!(&self.read, p => {
                        let mut q = sqlx::query(&sql);
                        for id in chunk {
                            q = q.bind(*id);
                        }
                        for r in q.fetch_all(p).await? {
                            found.push((r.u32("userId")?, r.u32("clientType")? as i32, r.text("token")?));
                        }
                    });
                }
            }
        }
        let mut out = Vec::with_capacity(found.len());
        for (user, kind, token) in found {
            let ios = kind == ClientType::Ios as i32;
            if !(ios || kind == ClientType::Android as i32) || token.is_empty() {
                continue;
            }
            if ios && quiet && self.push_shield(user).await? == Some(1) {
                continue;
            }
            let (unread, _) = self.unread(user).await?;
            out.push(UserTokenInfo {
                user_id: user,
                user_type: kind,
                token: token.into(),
                push_count: unread,
                push_type: 1,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_as_teamtalk_writes_them() {
        let ios = redis_value(ClientType::Ios as i32, "abc:1");
        assert_eq!(ios, "ios:abc:1");
        assert_eq!(parse_value(&ios), (ClientType::Ios as i32, "abc:1"));
        assert_eq!(redis_value(ClientType::Android as i32, "t"), "android:t");
        assert_eq!(redis_value(ClientType::Windows as i32, "t"), "t");
        assert_eq!(parse_value("t"), (0, "t"));
    }

    #[test]
    fn quiet_hours_run_from_22_to_7() {
        let quiet: Vec<u32> = (0..24).filter(|h| quiet_hours(*h)).collect();
        assert_eq!(quiet, [0, 1, 2, 3, 4, 5, 6, 7, 22, 23]);
    }
}
