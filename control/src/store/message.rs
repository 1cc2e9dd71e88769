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
