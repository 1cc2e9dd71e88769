//! Storing a message (CID_MSG_DATA): checked here, stored in batches by
//! [`super::message_writer`] (pair and group messages alike).

use super::Store;
use super::message_writer::NewMessage;
use crate::Error;

/// A message as db_proxy is asked to store it.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub from: u32,
    /// The peer user, or the group.
    pub to: u32,
    /// TeamTalk's MsgType value (0x01, 0x02, 0x11, 0x12).
    pub msg_type: i32,
    pub data: &'a [u8],
    pub create_time: u32,
}

impl Store {
    /// Stores a 1:1 message; returns its msg_id.
    pub async fn send_single(&self, msg: &Outgoing<'_>) -> Result<u32, Error> {
        if msg.from == msg.to || msg.from == 0 || msg.to == 0 {
            return Err(Error::InvalidArgument(format!(
                "message {} -> {}: not a pair of users",
                msg.from, msg.to
            )));
        }
        self.queue(msg, false).await
    }

    /// Stores a group message from a current member; returns its msg_id.
    pub async fn send_group(&self, msg: &Outgoing<'_>) -> Result<u32, Error> {
        self.queue(msg, true).await
    }

    async fn queue(&self, msg: &Outgoing<'_>, group: bool) -> Result<u32, Error> {
        let text = self.stored_content(msg).await?;
        self.messages
            .store(NewMessage {
                group,
                from: msg.from,
                to: msg.to,
                msg_type: msg.msg_type,
                text,
                create_time: msg.create_time,
            })
            .await
    }
}

/// Attempts at a message transaction the database rolled back to break a
/// deadlock (InnoDB may pick one when first messages of many new pairs insert
/// neighbouring FerryPair keys at once).
const ATTEMPTS: u32 = 5;

pub(super) async fn retry<T, F, Fut>(mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut n = 1;
    loop {
        match attempt().await {
            Err(Error::Db(sqlx::Error::Database(e)))
                if n < ATTEMPTS && e.code().as_deref() == Some("40001") =>
            {
                tracing::debug!(error = %e, attempt = n, "message transaction rolled back; retrying");
                n += 1;
            }
            other => return other,
        }
    }
}

/// One constant statement per shard: `$head` + shard digit + `$tail`. Table
/// names cannot be parameters; a fixed table keeps every statement a
/// compile-time constant.
macro_rules! per_shard {
    ($head:literal, $tail:literal) => {
        [
            concat!($head, "0", $tail),
            concat!($head, "1", $tail),
            concat!($head, "2", $tail),
            concat!($head, "3", $tail),
            concat!($head, "4", $tail),
            concat!($head, "5", $tail),
            concat!($head, "6", $tail),
            concat!($head, "7", $tail),
        ]
    };
}
pub(crate) use per_shard;

pub(super) const INSERT_MESSAGE: [&str; 8] = per_shard!(
    "INSERT INTO IMMessage_",
    " (relateId, fromId, toId, msgId, content, type, status, updated, created) \
     VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)"
);
pub(super) const INSERT_GROUP_MESSAGE: [&str; 8] = per_shard!(
    "INSERT INTO IMGroupMessage_",
    " (groupId, userId, msgId, content, type, status, updated, created) \
     VALUES (?, ?, ?, ?, ?, 0, ?, ?)"
);
pub(super) const MAX_MSG_ID: [&str; 8] = per_shard!(
    "SELECT MAX(msgId) AS m FROM IMMessage_",
    " WHERE relateId = ?"
);
pub(super) const MAX_GROUP_MSG_ID: [&str; 8] = per_shard!(
    "SELECT MAX(msgId) AS m FROM IMGroupMessage_",
    " WHERE groupId = ?"
);
