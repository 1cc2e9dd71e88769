//! File signalling with msg_server: asking for a task, the offline list,
//! recording and removing offline files; and the two calls that do a whole
//! transfer, [`Session::send_file`] and [`Session::receive_file`].

use std::path::Path;

use bytes::Bytes;
use ferry_proto::pb::im::buddy::{ImAllUserReq, ImAllUserRsp};
use ferry_proto::pb::im::file::{
    ImFileAddOfflineReq, ImFileDelOfflineReq, ImFileHasOfflineReq, ImFileHasOfflineRsp, ImFileReq,
    ImFileRsp,
};

use super::{FileTask, Mode, Options, relays, task_id, wide_size};
use crate::error::Error;
use crate::session::Session;
use ferry_proto::extension::split_u64;

/// How [`Session::send_file`] sends.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Online (msg_server turns it offline when the receiver has no PC
    /// client online, as TeamTalk does) or offline. Past
    /// [`super::MAX_FILE_SIZE`] either way needs a ferry relay and a ferry
    /// receiver (the u64 fields); a stock receiver is refused by the relay.
    pub mode: Mode,
    /// The name the receiver is told; default: the file's own name.
    pub file_name: Option<Bytes>,
    /// Offline: send the file's SHA-256 with the request (one read of the
    /// file first), so a relay already holding these bytes from this
    /// sender completes the upload at once and nothing is sent (instant
    /// upload; a stock relay ignores it). Default on.
    pub instant_upload: bool,
    pub transfer: Options,
}

impl Default for SendOptions {
    fn default() -> SendOptions {
        SendOptions {
            mode: Mode::Online,
            file_name: None,
            instant_upload: true,
            transfer: Options::default(),
        }
    }
}

impl Session {
    /// Asks msg_server for a task sending `size` bytes named `file_name`
    /// to user `to` (CID_FILE_REQUEST). The answer's mode may differ from
    /// `mode`: an online request to a user with no PC client online comes
    /// back offline.
    ///
    /// Errors: `is_refused` when msg_server
    /// answers a failure (no relay up, the relay refused: result 1);
    /// `is_protocol` when the answer lacks a task id or relay address.
    pub async fn request_file(
        &self,
        to: u32,
        file_name: impl Into<Bytes>,
        size: u64,
        mode: Mode,
    ) -> Result<FileTask, Error> {
        self.request_known_file(to, file_name, size, mode, None)
            .await
    }

    /// [`Session::request_file`] naming the file's SHA-256 (offline: the
    /// relay completes the task at once when it holds these bytes from
    /// this sender; the upload then gets DONE without a pull).
    ///
    /// Errors: as [`Session::request_file`].
    pub async fn request_known_file(
        &self,
        to: u32,
        file_name: impl Into<Bytes>,
        size: u64,
        mode: Mode,
        sha256: Option<[u8; 32]>,
    ) -> Result<FileTask, Error> {
        // Past 4 GiB - 1 the size rides in the u64 twin (a ferry extension).
        let (file_size, file_size_u64) = split_u64(size);
        let file_name = file_name.into();
        let rsp: ImFileRsp = self
            .call(&ImFileReq {
                file_size_u64,
                sha256: sha256.map(|d| Bytes::copy_from_slice(&d)),
                from_user_id: self.user_id(),
                to_user_id: to,
                file_name: file_name.clone(),
                file_size,
                trans_mode: mode.wire(),
            })
            .await?;
        if rsp.result_code != 0 {
            return Err(Error::refused_because(
                rsp.result_code,
                "file request refused",
                rsp.file_server_error,
            ));
        }
        let relays = relays(&rsp.ip_addr_list)?;
        if relays.is_empty() {
            return Err(Error::protocol("a file task without a relay address"));
        }
        Ok(FileTask {
            task_id: task_id(&rsp.task_id)?,
            from_user_id: self.user_id(),
            to_user_id: to,
            file_name,
            size,
            relays,
            mode: Mode::from_wire(rsp.trans_mode)?,
            offline_ready: false,
        })
    }

    /// The offline files waiting for this user (CID_FILE_HAS_OFFLINE_REQ),
    /// each with the relay addresses msg_server gave.
    ///
    /// Errors: `is_protocol` for an unreadable entry; the session's.
    pub async fn offline_files(&self) -> Result<Vec<FileTask>, Error> {
        let rsp: ImFileHasOfflineRsp = self
            .call(&ImFileHasOfflineReq {
                user_id: self.user_id(),
                attach_data: None,
            })
            .await?;
        let relays = relays(&rsp.ip_addr_list)?;
        rsp.offline_file_list
            .iter()
            .map(|f| {
                Ok(FileTask {
                    task_id: task_id(&f.task_id)?,
                    from_user_id: f.from_user_id,
                    to_user_id: self.user_id(),
                    file_name: f.file_name.clone(),
                    size: wide_size(f.file_size, f.file_size_u64)?,
                    relays: relays.clone(),
                    mode: Mode::Offline,
                    offline_ready: true,
                })
            })
            .collect()
    }

    /// Records a finished upload (CID_FILE_ADD_OFFLINE_REQ, no answer):
    /// msg_server stores it and notifies the receiver.
    pub async fn add_offline(&self, task: &FileTask) -> Result<(), Error> {
        let (file_size, file_size_u64) = split_u64(task.size);
        self.send(&ImFileAddOfflineReq {
            file_size_u64,
            from_user_id: self.user_id(),
            to_user_id: task.to_user_id,
            task_id: task.task_id.clone().into(),
            file_name: task.file_name.clone(),
            file_size,
        })
        .await
    }

    /// Removes an offline file's record once downloaded
    /// (CID_FILE_DEL_OFFLINE_REQ, no answer). The receiver's delete also
    /// drops the stored file on a ferry relay (msg_server tells it); the
    /// sender's removes the record only.
    pub async fn del_offline(&self, task: &FileTask) -> Result<(), Error> {
        self.send(&ImFileDelOfflineReq {
            from_user_id: task.from_user_id,
            to_user_id: task.to_user_id,
            task_id: task.task_id.clone().into(),
        })
        .await
    }

    /// The id of the user whose login name is `name`, from the all-users
    /// list; failing that, `name` read as a user id that the list holds
    /// (`None`: no such user either way).
    pub async fn user_id_by_name(&self, name: &str) -> Result<Option<u32>, Error> {
        let rsp: ImAllUserRsp = self
            .call(&ImAllUserReq {
                user_id: self.user_id(),
                latest_update_time: 0,
                attach_data: None,
            })
            .await?;
        let users = &rsp.user_list;
        let by_name = users.iter().find(|u| u.user_real_name == name.as_bytes());
        let by_id = || {
            let id: u32 = name.parse().ok()?;
            users.iter().find(|u| u.user_id == id)
        };
        Ok(by_name.or_else(by_id).map(|u| u.user_id))
    }

    /// Sends the file at `path` to user `to`: asks for a task, then sends
    /// it online, or uploads it and records it (when the task is offline).
    /// An offline request with `instant_upload` hashes the file first and
    /// names its SHA-256, so a relay holding it completes the upload at
    /// once. Returns the task as it ran.
    ///
    /// Errors: those of [`Session::request_file`] and [`super::send`];
    /// `is_file` when `path` cannot be read; `is_invalid` when it is not a
    /// regular file (asked before any task is made).
    pub async fn send_file(
        &self,
        to: u32,
        path: &Path,
        send: &SendOptions,
    ) -> Result<FileTask, Error> {
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|e| Error::file("reading the size of", path, e))?;
        // Before a task exists: a directory must not leave an upload
        // waiting on the relay until it expires.
        if !meta.is_file() {
            return Err(Error::invalid(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let size = meta.len();
        let name = match &send.file_name {
            Some(n) => n.clone(),
            None => own_name(path),
        };
        let mode = send.mode;
        let sha256 = if send.instant_upload && mode == Mode::Offline {
            Some(super::digest::file_sha256(path).await?)
        } else {
            None
        };
        let task = (self.request_known_file(to, name, size, mode, sha256)).await?;
        tracing::info!(task = %task.task_id, to, size, mode = ?task.mode, "file task");
        super::send(&task, self.user_id(), path, &send.transfer).await?;
        if task.mode == Mode::Offline {
            self.add_offline(&task).await?;
        }
        Ok(task)
    }

    /// Receives `task` (from a notify or [`Session::offline_files`]) into
    /// `path`: online, or as a download (continuing after what `path`
    /// holds) followed by removing the offline record.
    pub async fn receive_file(
        &self,
        task: &FileTask,
        path: &Path,
        opts: &Options,
    ) -> Result<(), Error> {
        super::receive(task, self.user_id(), path, opts).await?;
        if task.mode == Mode::Offline {
            self.del_offline(task).await?;
        }
        Ok(())
    }
}

/// The last component of `path` as bytes (as the file system holds it).
fn own_name(path: &Path) -> Bytes {
    let name = path.file_name().unwrap_or(path.as_os_str());
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        Bytes::copy_from_slice(name.as_bytes())
    }
    #[cfg(not(unix))]
    {
        Bytes::from(name.to_string_lossy().into_owned())
    }
}
