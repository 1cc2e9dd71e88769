//! IMTransmitFile: offline files waiting for their receiver
//! (CID_FILE_HAS_OFFLINE_REQ / ADD / DEL). TeamTalk pastes task_id into its
//! delete; here every value is a parameter, and a delete removes only the
//! row whose sender, receiver and task id all match the request, so a user
//! who is neither its sender nor its receiver cannot name it.

use ferry_proto::pb::im::base_define::OfflineFileInfo;

use super::pool::{RowExt, with_pool};
use super::{Store, now};
use crate::Error;

/// Pending files listed per answer at most.
const MAX_LISTED: u32 = 1000;

impl Store {
    /// Files waiting for `user`, oldest first.
    pub async fn offline_files(&self, user: u32) -> Result<Vec<OfflineFileInfo>, Error> {
        with_pool!(&self.read, p => {
            sqlx::query(
                "SELECT fromId, taskId, fileName, size FROM IMTransmitFile \
                 WHERE toId = ? AND status = 0 ORDER BY created, id LIMIT ?",
            )
            .bind(user)
            .bind(MAX_LISTED)
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| {
                Ok(OfflineFileInfo {
                    from_user_id: r.u32("fromId")?,
                    task_id: r.text("taskId")?,
                    file_name: r.text("fileName")?,
                    file_size: r.u32("size")?,
                })
            })
            .collect()
        })
    }

    pub async fn add_offline_file(
        &self,
        from: u32,
        to: u32,
        task_id: &str,
        file_name: &str,
        size: u32,
    ) -> Result<(), Error> {
        if task_id.is_empty() || task_id.chars().count() > 128 || file_name.chars().count() > 512 {
            return Err(Error::InvalidArgument(
                "task_id has 1 to 128 characters, file_name at most 512".into(),
            ));
        }
        let t = now();
        with_pool!(&self.write, p => {
            sqlx::query(
                "INSERT INTO IMTransmitFile (fromId, toId, fileName, size, taskId, status, created, updated) \
                 VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
            )
            .bind(from)
            .bind(to)
            .bind(file_name)
            .bind(size)
            .bind(task_id)
            .bind(t)
            .bind(t)
            .execute(p)
            .await?;
            Ok(())
        })
    }

    /// Deletes the file `task_id` sent by `from` to `to`; returns how many
    /// rows went (0 when the ids do not name a stored file).
    pub async fn delete_offline_file(
        &self,
        from: u32,
        to: u32,
        task_id: &str,
    ) -> Result<u64, Error> {
        with_pool!(&self.write, p => {
            Ok(sqlx::query("DELETE FROM IMTransmitFile WHERE fromId = ? AND toId = ? AND taskId = ?")
                .bind(from)
                .bind(to)
                .bind(task_id)
                .execute(p)
                .await?
                .rows_affected())
        })
    }
}
