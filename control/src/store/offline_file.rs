//! IMTransmitFile: offline files waiting for their receiver
//! (CID_FILE_HAS_OFFLINE_REQ / ADD / DEL). TeamTalk pastes task_id into its
//! delete; here every value is a parameter, and a delete removes only the
//! row whose sender, receiver and task id all match the request, so a user
//! who is neither its sender nor its receiver cannot name it. ADD and DEL
//! have no answer, so both are idempotent: one row per (from, to, task_id)
//! (migration 0005's unique key), a repeated ADD changes nothing and a
//! repeated DEL finds nothing.

use ferry_proto::extension::split_u64;
use ferry_proto::pb::im::base_define::OfflineFileInfo;

use super::pool::{RowExt, with_pool};
use super::{Store, now, utf8_arg};
use crate::Error;

/// Pending files listed per answer at most.
const MAX_LISTED: u32 = 1000;
/// Bytes of a file name at most (IMTransmitFile.fileName varbinary(2048):
/// what varchar(512) in utf8mb4 held).
pub const FILE_NAME_MAX_BYTES: usize = 2048;
/// Characters of a task id at most (IMTransmitFile.taskId varchar(128)).
const TASK_ID_MAX_CHARS: usize = 128;

impl Store {
    /// Files waiting for `user`, oldest first; names byte for byte as sent.
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
                // Past u32 (migration 0006 widened the column): the stock
                // field carries the sentinel and the extension the size.
                let (file_size, file_size_u64) = split_u64(r.u64("size")?);
                Ok(OfflineFileInfo {
                    from_user_id: r.u32("fromId")?,
                    task_id: r.bytes("taskId")?.into(),
                    file_name: r.bytes("fileName")?.into(),
                    file_size,
                    file_size_u64,
                })
            })
            .collect()
        })
    }

    /// Records a finished offline upload for its receiver. Idempotent: one
    /// row per (from, to, task_id), a repeat changes nothing (the request
    /// has no answer, so a sender may repeat it). `file_name` is stored as
    /// the bytes sent, whatever their encoding; `size` in bytes, past 4 GiB
    /// too (a ferry peer's `file_size_u64`). Errors: `InvalidArgument` for
    /// an empty or over-long task id or name, or a size past i64 (the
    /// column's range on SQLite).
    pub async fn add_offline_file(
        &self,
        from: u32,
        to: u32,
        task_id: &[u8],
        file_name: &[u8],
        size: u64,
    ) -> Result<(), Error> {
        let task_id = utf8_arg("task_id", task_id)?;
        let size = i64::try_from(size)
            .map_err(|_| Error::InvalidArgument(format!("file size {size} is past i64")))?;
        if task_id.is_empty()
            || task_id.chars().count() > TASK_ID_MAX_CHARS
            || file_name.len() > FILE_NAME_MAX_BYTES
        {
            return Err(Error::InvalidArgument(format!(
                "task_id has 1 to {TASK_ID_MAX_CHARS} characters, file_name at most \
                 {FILE_NAME_MAX_BYTES} bytes"
            )));
        }
        let t = now();
        let insert = if self.write.is_mysql() {
            "INSERT INTO IMTransmitFile (fromId, toId, fileName, size, taskId, status, created, updated) \
             VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON DUPLICATE KEY UPDATE id = id"
        } else {
            "INSERT INTO IMTransmitFile (fromId, toId, fileName, size, taskId, status, created, updated) \
             VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (fromId, toId, taskId) DO NOTHING"
        };
        with_pool!(&self.write, p => {
            sqlx::query(insert)
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
    /// rows went (0 when the ids do not name a stored file, so a repeat
    /// changes nothing).
    pub async fn delete_offline_file(
        &self,
        from: u32,
        to: u32,
        task_id: &[u8],
    ) -> Result<u64, Error> {
        let Some(task_id) = ferry_proto::text::utf8(task_id) else {
            return Ok(0); // every stored task id is UTF-8
        };
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
