//! IMUser: login validation (CID_OTHER_VALIDATE_REQ), user info by id, users
//! changed since a time, and the admin path (`ferry user add|list`).

use ferry_proto::pb::im::base_define::UserInfo;

use super::password::{self, ARGON2_MARKER};
use super::pool::{InsertId, RowExt, with_pool};
use super::sql_text::marks;
use super::{Store, now};
use crate::Error;

/// Ids per IN (…) list at most; longer lists are queried in chunks.
pub(super) const ID_CHUNK: usize = 500;

/// The columns of IMUser that UserInfo carries.
const USER_COLUMNS: &str = "u.id, u.sex, u.name, u.domain, u.nick, u.phone, u.email, u.avatar, \
     u.departId, u.status, u.sign_info, u.updated";

/// The outcome of a login check, with TeamTalk's IMValidateRsp result codes.
#[derive(Debug, Clone, PartialEq)]
pub enum Validation {
    /// 0.
    Ok(Box<UserInfo>),
    /// 1: unknown name, wrong password, or IMUser.status != 0.
    Refused,
    /// 6: more than 10 failures for this name in 30 minutes.
    Locked,
}

/// How `ferry user add` stores a password.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PasswordScheme {
    /// argon2id of md5hex(plain) in `FerryPassword.hash` (the default).
    #[default]
    Argon2,
    /// TeamTalk's own row: `IMUser.password = md5hex(md5hex(plain) + salt)`,
    /// what a migrated deployment holds. A check costs microseconds where
    /// argon2 costs milliseconds, so a login storm against such users
    /// measures the servers, not the hashing (`ferry loadgen
    /// --password-scheme teamtalk-md5`). Weak against a stolen database:
    /// for tests and migrations, not new accounts.
    TeamTalkMd5,
}

/// A user for `ferry user add`.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub name: String,
    /// The plain password, stored as `scheme` says.
    pub password: String,
    pub nick: String,
    pub depart_id: u32,
    pub scheme: PasswordScheme,
}

/// One row of `ferry user list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: u32,
    pub name: String,
    pub nick: String,
    pub depart_id: u32,
    pub status: u32,
    /// "argon2" or "md5".
    pub scheme: &'static str,
}

fn user_info(r: &impl RowExt) -> Result<UserInfo, Error> {
    Ok(UserInfo {
        user_id: r.u32("id")?,
        user_gender: r.u32("sex")?,
        user_nick_name: r.text("nick")?.into(),
        avatar_url: r.text("avatar")?.into(),
        department_id: r.u32("departId")?,
        email: r.text("email")?.into(),
        user_real_name: r.text("name")?.into(),
        user_tel: r.text("phone")?.into(),
        user_domain: r.text("domain")?.into(),
        status: r.opt_u32("status")?.unwrap_or(0),
        sign_info: Some(r.text("sign_info")?.into()),
    })
}

impl Store {
    /// TeamTalk's login check, keyed on the name: the lockout first, then the
    /// `status = 0` row by name (parameterised), then MD5 or argon2. Names
    /// and passwords are the bytes the client sent: one that is not UTF-8
    /// matches no row (IMUser.name is utf8mb4) and is refused like an
    /// unknown name. argon2 checks run under the hashing gate: a burst waits,
    /// and past its queue gets [`Error::Busy`].
    pub async fn validate(&self, name: &[u8], client_password: &[u8]) -> Result<Validation, Error> {
        let t = u64::from(now());
        if self.lockout.is_locked(name, t) {
            return Ok(Validation::Locked);
        }
        let (Some(name_text), Some(client_password)) = (
            ferry_proto::text::utf8(name),
            ferry_proto::text::utf8(client_password),
        ) else {
            self.lockout.record_failure(name, t);
            return Ok(Validation::Refused);
        };
        let found = with_pool!(&self.read, p => {
            let sql = format!(
                "SELECT {USER_COLUMNS}, u.password, u.salt, f.hash AS hash FROM IMUser u \
                 LEFT JOIN FerryPassword f ON f.userId = u.id \
                 WHERE u.name = ? AND u.status = 0 ORDER BY u.id LIMIT 1"
            );
            match sqlx::query(&sql).bind(name_text).fetch_optional(p).await? {
                Some(r) => Some((
                    user_info(&r)?,
                    r.text("password")?,
                    r.text("salt")?,
                    r.text("hash")?,
                )),
                None => None,
            }
        });
        let ok = match found {
            None => None,
            Some((info, stored, salt, hash)) => {
                let matches = if hash.is_empty() {
                    password::md5_matches(client_password, &salt, &stored)
                } else {
                    let given = client_password.to_owned();
                    self.hashing
                        .run_blocking(move || password::argon2_matches(&given, &hash))
                        .await?
                };
                matches.then_some(info)
            }
        };
        Ok(match ok {
            Some(mut info) => {
                self.lockout.clear(name);
                info.status = 0;
                Validation::Ok(Box::new(info))
            }
            None => {
                self.lockout.record_failure(name, t);
                Validation::Refused
            }
        })
    }

    /// UserInfo of each existing id (any status, as TeamTalk's getUsers).
    pub async fn users_by_id(&self, ids: &[u32]) -> Result<Vec<UserInfo>, Error> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ID_CHUNK) {
            // Only `?` placeholders are generated: no value is pasted into SQL.
            let marks = marks(chunk.len());
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM IMUser u WHERE u.id IN ({marks}) ORDER BY u.id"
            );
            with_pool!(&self.read, p => {
                let mut q = sqlx::query(&sql);
                for id in chunk {
                    q = q.bind(*id);
                }
                for r in q.fetch_all(p).await? {
                    out.push(user_info(&r)?);
                }
            });
        }
        Ok(out)
    }

    /// Users updated after `since`, and the latest update time of any user
    /// (TeamTalk answers CID_BUDDY_LIST_ALL_USER_REQUEST with both; nothing
    /// changed means an empty list and the same time).
    pub async fn users_changed_since(&self, since: u32) -> Result<(u32, Vec<UserInfo>), Error> {
        with_pool!(&self.read, p => {
            let latest = sqlx::query("SELECT MAX(updated) AS m FROM IMUser")
                .fetch_one(p)
                .await?
                .opt_u32("m")?
                .unwrap_or(0);
            if latest <= since {
                return Ok((since.max(latest), Vec::new()));
            }
            let sql = format!("SELECT {USER_COLUMNS} FROM IMUser u WHERE u.updated > ? ORDER BY u.id");
            let rows = sqlx::query(&sql).bind(since).fetch_all(p).await?;
            let users = rows.iter().map(user_info).collect::<Result<_, _>>()?;
            Ok((latest, users))
        })
    }

    /// Creates a user that logs in with argon2 (see [`ARGON2_MARKER`]).
    pub async fn add_user(&self, user: &NewUser) -> Result<u32, Error> {
        if user.name.is_empty() || user.name.chars().count() > 32 {
            return Err(Error::InvalidArgument(
                "a user name has 1 to 32 characters (IMUser.name varchar(32))".into(),
            ));
        }
        if user.nick.chars().count() > 32 {
            return Err(Error::InvalidArgument(
                "a nick has at most 32 characters (IMUser.nick varchar(32))".into(),
            ));
        }
        let client = password::md5_hex(user.password.as_bytes());
        let salt = password::teamtalk_salt();
        // (IMUser.password, FerryPassword.hash): the hash row only for argon2.
        let (stored, hash) = match user.scheme {
            PasswordScheme::Argon2 => {
                let hash = self
                    .hashing
                    .run_blocking(move || password::argon2_hash(&client))
                    .await??;
                (ARGON2_MARKER.to_owned(), Some(hash))
            }
            PasswordScheme::TeamTalkMd5 => (password::teamtalk_row(&client, &salt), None),
        };
        let nick = if user.nick.is_empty() {
            &user.name
        } else {
            &user.nick
        };
        let t = now();
        with_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            let taken = sqlx::query("SELECT id FROM IMUser WHERE name = ? LIMIT 1")
                .bind(&user.name)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(Error::InvalidArgument(format!("user {:?} exists", user.name)));
            }
            let id = sqlx::query(
                "INSERT INTO IMUser (sex, name, domain, nick, password, salt, phone, email, avatar, \
                 departId, status, created, updated, push_shield_status, sign_info) \
                 VALUES (0, ?, ?, ?, ?, ?, '', '', '', ?, 0, ?, ?, 0, '')",
            )
            .bind(&user.name)
            .bind(&user.name)
            .bind(nick)
            .bind(&stored)
            .bind(&salt)
            .bind(user.depart_id)
            .bind(t)
            .bind(t)
            .execute(&mut *tx)
            .await?
            .insert_id()?;
            if let Some(hash) = &hash {
                sqlx::query("INSERT INTO FerryPassword (userId, hash, updated) VALUES (?, ?, ?)")
                    .bind(id)
                    .bind(hash)
                    .bind(t)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    pub async fn list_users(&self) -> Result<Vec<UserRow>, Error> {
        with_pool!(&self.read, p => {
            let rows = sqlx::query(
                "SELECT u.id, u.name, u.nick, u.departId, u.status, f.hash AS hash FROM IMUser u \
                 LEFT JOIN FerryPassword f ON f.userId = u.id ORDER BY u.id",
            )
            .fetch_all(p)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(UserRow {
                        id: r.u32("id")?,
                        name: r.text("name")?,
                        nick: r.text("nick")?,
                        depart_id: r.u32("departId")?,
                        status: r.opt_u32("status")?.unwrap_or(0),
                        scheme: if r.text("hash")?.is_empty() { "md5" } else { "argon2" },
                    })
                })
                .collect()
        })
    }
}
