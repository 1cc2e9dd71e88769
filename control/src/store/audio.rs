//! Audio messages (MsgType 0x02 single, 0x12 group) kept as TeamTalk keeps
//! them, with the bytes in the database instead of on msfs.
//!
//! ```text
//! msg_data (wire) = { duration: u32 BE, seconds } { audio bytes }
//!
//! stored:  IMAudio        { id, fromId, toId (peer or group),
//!                           path = "ferry:audio/<id>", size = audio length,
//!                           duration, created = the message's create time }
//!          FerryAudioData { audioId = id, data = audio bytes }
//!          IMMessage_x / IMGroupMessage_x .content = "<id>" (decimal text)
//! ```
//!
//! Reading rebuilds msg_data as duration (4 bytes BE) + bytes. TeamTalk's
//! own rows name an msfs URL in `path` and have no FerryAudioData row: ferry
//! cannot fetch them, so they read back as the 4-byte duration alone, with a
//! warning logged (TeamTalk itself, when msfs fails, sends the id text as
//! msg_data, which a client cannot play either). Audio rows ferry stored
//! before this module existed (the marked text of `content`) still decode.
//!
//! Refused (InvalidArgument, nothing stored): msg_data with no audio after
//! the duration (4 bytes or fewer: TeamTalk refuses those too), or audio
//! over [`MAX_BYTES`]. The IMAudio row is written in its own transaction
//! before the message's, as TeamTalk does; a message that then fails leaves
//! an unreferenced audio row behind.

use std::collections::HashMap;

use ferry_proto::pb::im::base_define::{MsgInfo, MsgType};
use sqlx::Row;

use super::Store;
use super::group_member::member_of;
use super::message::Outgoing;
use super::pool::{InsertId, RowExt, with_pool};
use super::sql_text::marks;
use crate::Error;

/// Audio bytes per message at most (after the 4-byte duration). 1 MiB is
/// minutes of the speech codecs TeamTalk clients record, and keeps a page of
/// history inside db_proxy's default 4 MiB frame (see `history::PAGE_BYTES`).
pub const MAX_BYTES: usize = 1 << 20;
/// IMAudio.path of the audio ferry stores; the id follows.
pub const PATH_PREFIX: &str = "ferry:audio/";
/// Length of the duration in front of the audio bytes.
const HEADER: usize = 4;

pub(super) fn is_audio(msg_type: i32) -> bool {
    msg_type == MsgType::SingleAudio as i32 || msg_type == MsgType::GroupAudio as i32
}

/// The IMAudio id an audio message's `content` names: decimal digits only,
/// as TeamTalk writes it.
pub(super) fn audio_id(content: &str) -> Option<u32> {
    if content.is_empty() || !content.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    content.parse().ok()
}

/// The duration and the audio bytes of a message's msg_data.
fn split(data: &[u8]) -> Result<(u32, &[u8]), Error> {
    if data.len() <= HEADER {
        return Err(Error::InvalidArgument(format!(
            "audio msg_data of {} bytes: a 4-byte duration and audio bytes are needed",
            data.len()
        )));
    }
    let (head, audio) = data.split_at(HEADER);
    if audio.len() > MAX_BYTES {
        return Err(Error::InvalidArgument(format!(
            "audio of {} bytes is over the {MAX_BYTES}-byte limit",
            audio.len()
        )));
    }
    let duration = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    Ok((duration, audio))
}

/// A message row read from a shard table; `audio` is the IMAudio id its
/// content names, whose bytes are still to be read into `info.msg_data`.
pub(super) struct Pending {
    pub info: MsgInfo,
    pub audio: Option<u32>,
}

/// What a list does with a message whose msg_data would take it past its
/// byte budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Overflow {
    /// The list ends before it (a page of history: the client asks for the
    /// next page from the last msg_id it got). The first message is always
    /// kept.
    Stop,
    /// The message stays, its audio cut to the duration (a preview: the
    /// latest message of a session or an unread count).
    HeaderOnly,
}

/// IMAudio's facts about one audio, and how many bytes ferry holds for it.
struct Meta {
    path: String,
    duration: u32,
    stored: Option<u32>,
}

impl Store {
    /// Stores the audio of `msg` (IMAudio + FerryAudioData, one transaction)
    /// and returns the message's content: the IMAudio id.
    pub(super) async fn store_audio(&self, msg: &Outgoing<'_>) -> Result<String, Error> {
        let (duration, audio) = split(msg.data)?;
        // message.rs checks membership inside the message's transaction, after
        // this; checking first keeps non-members from storing audio at all.
        if msg.msg_type == MsgType::GroupAudio as i32
            && !member_of(&self.write, msg.from, msg.to).await?
        {
            return Err(Error::InvalidArgument(format!(
                "user {} is not a member of group {}",
                msg.from, msg.to
            )));
        }
        let size = audio.len() as u32;
        let id = with_pool!(&self.write, p => {
            let mut tx = p.begin().await?;
            let id = sqlx::query(
                "INSERT INTO IMAudio (fromId, toId, path, size, duration, created) \
                 VALUES (?, ?, '', ?, ?, ?)",
            )
            .bind(msg.from)
            .bind(msg.to)
            .bind(size)
            .bind(duration)
            .bind(msg.create_time)
            .execute(&mut *tx)
            .await?
            .insert_id()?;
            sqlx::query("UPDATE IMAudio SET path = ? WHERE id = ?")
                .bind(format!("{PATH_PREFIX}{id}"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO FerryAudioData (audioId, data) VALUES (?, ?)")
                .bind(id)
                .bind(audio)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            id
        });
        Ok(id.to_string())
    }

    /// The messages of `rows` in order with their audio read, as many as
    /// `budget` bytes of msg_data allow (see [`Overflow`]).
    pub(super) async fn with_audio(
        &self,
        rows: Vec<Pending>,
        budget: usize,
        overflow: Overflow,
    ) -> Result<Vec<MsgInfo>, Error> {
        let mut ids: Vec<u32> = rows.iter().filter_map(|r| r.audio).collect();
        ids.sort_unstable();
        ids.dedup();
        let meta = self.audio_meta(&ids).await?;
        // Decide what fits before reading any bytes.
        let mut spent = 0usize;
        let mut kept: Vec<(MsgInfo, Option<(u32, bool)>)> = Vec::with_capacity(rows.len());
        for Pending { info, audio } in rows {
            let full = match audio {
                None => info.msg_data.len(),
                Some(id) => HEADER + meta.get(&id).and_then(|m| m.stored).unwrap_or(0) as usize,
            };
            let fits = spent.saturating_add(full) <= budget;
            let with_bytes = match (fits, overflow) {
                (true, _) => true,
                (false, Overflow::Stop) if kept.is_empty() => true,
                (false, Overflow::Stop) => break,
                (false, Overflow::HeaderOnly) => false,
            };
            spent = spent.saturating_add(if with_bytes || audio.is_none() {
                full
            } else {
                HEADER
            });
            kept.push((info, audio.map(|id| (id, with_bytes))));
        }
        let wanted: Vec<u32> = kept
            .iter()
            .filter_map(|(_, a)| match a {
                Some((id, true)) if meta.get(id).is_some_and(|m| m.stored.is_some()) => Some(*id),
                _ => None,
            })
            .collect();
        let bytes = self.audio_bytes(&wanted).await?;
        Ok(kept
            .into_iter()
            .map(|(mut info, audio)| {
                if let Some((id, with_bytes)) = audio {
                    let m = meta.get(&id);
                    if m.is_none() {
                        tracing::warn!(audio_id = id, "message names a missing IMAudio row");
                    } else if let Some(m) = m.filter(|m| m.stored.is_none()) {
                        tracing::warn!(
                            audio_id = id,
                            path = %m.path,
                            "audio bytes not held by ferry (TeamTalk msfs); sent as the duration only"
                        );
                    }
                    let mut data = m.map_or(0, |m| m.duration).to_be_bytes().to_vec();
                    if with_bytes && let Some(b) = bytes.get(&id) {
                        data.extend_from_slice(b);
                    }
                    info.msg_data = data.into();
                }
                info
            })
            .collect())
    }

    /// IMAudio rows by id, with the length of ferry's copy of their bytes.
    async fn audio_meta(&self, ids: &[u32]) -> Result<HashMap<u32, Meta>, Error> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        // Only `?` placeholders are generated: no value is pasted into SQL.
        let sql = format!(
            "SELECT a.id, a.path, a.duration, LENGTH(d.data) AS stored FROM IMAudio a \
             LEFT JOIN FerryAudioData d ON d.audioId = a.id WHERE a.id IN ({})",
            marks(ids.len())
        );
        with_pool!(&self.read, p => {
            let mut q = sqlx::query(&sql);
            for id in ids {
                q = q.bind(*id);
            }
            let mut out = HashMap::with_capacity(ids.len());
            for r in q.fetch_all(p).await? {
                out.insert(
                    r.u32("id")?,
                    Meta {
                        path: r.text("path")?,
                        duration: r.u32("duration")?,
                        stored: r.opt_u32("stored")?,
                    },
                );
            }
            Ok(out)
        })
    }

    /// ferry's copies of the audio bytes of `ids`.
    async fn audio_bytes(&self, ids: &[u32]) -> Result<HashMap<u32, Vec<u8>>, Error> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT audioId, data FROM FerryAudioData WHERE audioId IN ({})",
            marks(ids.len())
        );
        with_pool!(&self.read, p => {
            let mut q = sqlx::query(&sql);
            for id in ids {
                q = q.bind(*id);
            }
            let mut out = HashMap::with_capacity(ids.len());
            for r in q.fetch_all(p).await? {
                let data: Vec<u8> = r.try_get("data")?;
                out.insert(r.u32("audioId")?, data);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_data_splits_into_duration_and_audio() {
        let (d, a) = split(&[0, 0, 1, 2, 9, 8]).unwrap();
        assert_eq!((d, a), (258, &[9u8, 8][..]));
        for short in [&[][..], &[1], &[0, 0, 0], &[0, 0, 0, 7]] {
            assert!(matches!(split(short), Err(Error::InvalidArgument(_))));
        }
        let max = vec![0u8; HEADER + MAX_BYTES];
        assert_eq!(split(&max).unwrap().1.len(), MAX_BYTES);
        let over = vec![0u8; HEADER + MAX_BYTES + 1];
        assert!(matches!(split(&over), Err(Error::InvalidArgument(_))));
    }

    #[test]
    fn content_names_an_audio_id_only_as_plain_digits() {
        assert_eq!(audio_id("42"), Some(42));
        assert_eq!(audio_id("4294967295"), Some(u32::MAX));
        for other in [
            "",
            "+4",
            "-1",
            " 4",
            "4a",
            "4294967296",
            "\u{1}ferry-b64:AAAA",
        ] {
            assert_eq!(audio_id(other), None, "{other:?}");
        }
    }
}
