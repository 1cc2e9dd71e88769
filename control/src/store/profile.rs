//! What a user sets about themselves in IMUser: the push shield
//! (CID_LOGIN_REQ_PUSH_SHIELD / CID_LOGIN_REQ_QUERY_PUSH_SHIELD,
//! `push_shield_status`: 1 = no iOS pushes from 22:00 to 07:59) and the
//! signature (CID_BUDDY_LIST_CHANGE_SIGN_INFO_REQUEST, `sign_info`).
//!
//! A new signature stamps `updated`, as TeamTalk does, so the next
//! CID_BUDDY_LIST_ALL_USER_REQUEST of every client carries it. The text is
//! bound as a parameter and stored exactly as sent (TeamTalk pastes it into
//! the UPDATE); longer than the column is refused, never cut.

use super::pool::{RowExt, with_pool};
use super::{Store, now};
use crate::Error;

/// IMUser.sign_info is varchar(128): characters, not bytes, in utf8mb4.
pub const SIGN_INFO_MAX_CHARS: usize = 128;

impl Store {
    /// Sets `user`'s push shield (0 off, 1 on); `false` when no such user.
    pub async fn set_push_shield(&self, user: u32, status: u32) -> Result<bool, Error> {
        if status > 1 {
            return Err(Error::InvalidArgument(format!(
                "push shield status {status} is neither 0 nor 1"
            )));
        }
        let changed = with_pool!(&self.write, p => {
            sqlx::query("UPDATE IMUser SET push_shield_status = ? WHERE id = ?")
                .bind(status)
                .bind(user)
                .execute(p)
                .await?
                .rows_affected()
        });
        // MySQL counts changed rows only: setting the same value again is 0.
        Ok(changed > 0 || self.push_shield(user).await?.is_some())
    }

    /// `user`'s push shield, or `None` when no such user.
    pub async fn push_shield(&self, user: u32) -> Result<Option<u32>, Error> {
        with_pool!(&self.read, p => {
            match sqlx::query("SELECT push_shield_status FROM IMUser WHERE id = ?")
                .bind(user)
                .fetch_optional(p)
                .await?
            {
                Some(r) => Ok(Some(r.u32("push_shield_status")?)),
                None => Ok(None),
            }
        })
    }

    /// Stores `user`'s signature literally; `false` when no such user.
    /// Text that is not UTF-8 cannot go in IMUser.sign_info (utf8mb4):
    /// [`Error::InvalidArgument`], the request's failure answer.
    pub async fn set_sign_info(&self, user: u32, sign_info: &[u8]) -> Result<bool, Error> {
        let sign_info = super::utf8_arg("sign_info", sign_info)?;
        if sign_info.chars().count() > SIGN_INFO_MAX_CHARS {
            return Err(Error::InvalidArgument(format!(
                "sign_info has more than {SIGN_INFO_MAX_CHARS} characters (IMUser.sign_info varchar(128))"
            )));
        }
        let t = now();
        with_pool!(&self.write, p => {
            let changed = sqlx::query("UPDATE IMUser SET sign_info = ?, updated = ? WHERE id = ?")
                .bind(sign_info)
                .bind(t)
                .bind(user)
                .execute(p)
                .await?
                .rows_affected();
            if changed > 0 {
                return Ok(true);
            }
            let found = sqlx::query("SELECT id FROM IMUser WHERE id = ?")
                .bind(user)
                .fetch_optional(p)
                .await?;
            Ok(found.is_some())
        })
    }
}
