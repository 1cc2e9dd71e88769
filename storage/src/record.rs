//! The commit record: everything the store knows about one task, written
//! whole at every commit into one of the manifest's two slots
//! (manifest.rs). Framed by its length and a CRC32C so that a torn or
//! flipped record is detected and never believed.
//!
//! ```text
//! record {                                  all integers little-endian
//!   body_len   u32        bytes of `body`
//!   body_crc   u32        CRC32C of `body`
//!   body {
//!     magic       [u8; 4]   "FRYR"
//!     version     u16       FORMAT_VERSION (1)
//!     state       u8        0 uploading, 1 complete, 2 damaged
//!     flags       u8        bit 0: sha256 present
//!     seq         u64       +1 per commit; the valid slot with the higher seq wins
//!     task_id     [u8; 36]  UUID text, equal to the task's directory name
//!     file_size   u64       bytes
//!     block_size  u32       bytes
//!     block_count u32       ceil(file_size / block_size), checked on decode
//!     from_user   u32       uploader's user id
//!     to_user     u32       receiver's user id
//!     created     u64       unix seconds
//!     sha256      [u8; 32]  SHA-256 of the whole file (zeros unless flag)
//!     name_len    u16       <= MAX_NAME (4096)
//!     name        [u8; name_len]   the peer's file name, bytes as sent
//!     committed   [u8; ceil(block_count / 8)]   bitmap.rs
//!     block_crc   [u32; block_count]   CRC32C of each committed block, 0 otherwise
//!   }
//! }
//! ```
//!
//! The length is fixed for a task's life (nothing in it grows), so both
//! manifest slots have one size decided at create.

use crate::bitmap::Bitmap;
use crate::error::{Error, Result};
use crate::geometry::Geometry;
use crate::layout::TaskId;

/// Record magic.
pub const MAGIC: [u8; 4] = *b"FRYR";
/// Version written; decode refuses others.
pub const FORMAT_VERSION: u16 = 1;
/// Longest file name kept, in bytes.
pub const MAX_NAME: usize = 4096;
/// `body_len` + `body_crc`.
pub const FRAME_HEADER: usize = 8;
/// Bytes of the body before `name`.
const FIXED_BODY: usize = 4 + 2 + 1 + 1 + 8 + 36 + 8 + 4 + 4 + 4 + 4 + 8 + 32 + 2;

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Blocks are still missing, or the SHA-256 is not computed yet.
    Uploading,
    /// Every block is committed and the SHA-256 recorded: downloadable.
    Complete,
    /// A committed block of a complete file failed its CRC: downloads are
    /// refused (the uploader is gone, the bytes cannot be asked again).
    Damaged,
}

impl State {
    fn code(self) -> u8 {
        match self {
            State::Uploading => 0,
            State::Complete => 1,
            State::Damaged => 2,
        }
    }

    fn from_code(c: u8) -> Result<State> {
        Ok(match c {
            0 => State::Uploading,
            1 => State::Complete,
            2 => State::Damaged,
            _ => return Err(Error::Corruption(format!("record state {c}"))),
        })
    }

    /// Lowercase name for listings and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Uploading => "uploading",
            State::Complete => "complete",
            State::Damaged => "damaged",
        }
    }
}

/// One task's record (see the module's diagram).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Commit sequence number: +1 per commit, picks the slot.
    pub seq: u64,
    /// The task this record belongs to (its directory name).
    pub task_id: TaskId,
    /// Upload state.
    pub state: State,
    /// File size and block size.
    pub geometry: Geometry,
    /// The uploader's user id.
    pub from_user: u32,
    /// The receiver's user id.
    pub to_user: u32,
    /// Unix seconds.
    pub created: u64,
    /// SHA-256 of the whole file, once complete.
    pub sha256: Option<[u8; 32]>,
    /// The peer's file name, bytes as sent (never a path).
    pub name: Vec<u8>,
    /// Committed blocks.
    pub committed: Bitmap,
    /// CRC32C per block; meaningful where `committed` is set.
    pub block_crc: Vec<u32>,
}

impl Record {
    /// A fresh record (seq 0, nothing committed).
    pub fn new(
        task_id: TaskId,
        geometry: Geometry,
        from_user: u32,
        to_user: u32,
        created: u64,
        name: Vec<u8>,
    ) -> Record {
        let n = geometry.block_count();
        Record {
            seq: 0,
            task_id,
            state: State::Uploading,
            geometry,
            from_user,
            to_user,
            created,
            sha256: None,
            name,
            committed: Bitmap::new(n),
            block_crc: vec![0; n as usize],
        }
    }

    /// Encoded length in bytes, frame included.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER
            + FIXED_BODY
            + self.name.len()
            + Bitmap::encoded_len(self.geometry.block_count())
            + 4 * self.geometry.block_count() as usize
    }

    /// The framed record. Panics if `name` is longer than [`MAX_NAME`]
    /// (checked where names come in).
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.name.len() <= MAX_NAME);
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&[0; FRAME_HEADER]);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.push(self.state.code());
        out.push(u8::from(self.sha256.is_some()));
        out.extend_from_slice(&self.seq.to_le_bytes());
        out.extend_from_slice(self.task_id.as_bytes());
        out.extend_from_slice(&self.geometry.file_size.to_le_bytes());
        out.extend_from_slice(&self.geometry.block_size.to_le_bytes());
        out.extend_from_slice(&self.geometry.block_count().to_le_bytes());
        out.extend_from_slice(&self.from_user.to_le_bytes());
        out.extend_from_slice(&self.to_user.to_le_bytes());
        out.extend_from_slice(&self.created.to_le_bytes());
        out.extend_from_slice(&self.sha256.unwrap_or([0; 32]));
        out.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.name);
        out.extend_from_slice(self.committed.as_bytes());
        for crc in &self.block_crc {
            out.extend_from_slice(&crc.to_le_bytes());
        }
        let body_len = (out.len() - FRAME_HEADER) as u32;
        let crc = crate::crc::crc32c(&out[FRAME_HEADER..]);
        out[0..4].copy_from_slice(&body_len.to_le_bytes());
        out[4..8].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a framed record from the start of `buf` (trailing bytes are
    /// ignored). Errors: `Corruption` for a short buffer, a bad CRC, magic,
    /// version, state or sizes that disagree.
    pub fn decode(buf: &[u8]) -> Result<Record> {
        let mut r = Reader::new(buf);
        let body_len = r.u32()? as usize;
        let crc = r.u32()?;
        let body = r.take(body_len)?;
        if crate::crc::crc32c(body) != crc {
            return Err(Error::Corruption("record CRC mismatch".into()));
        }
        let mut r = Reader::new(body);
        if r.take(4)? != MAGIC {
            return Err(Error::Corruption("record magic".into()));
        }
        let version = r.u16()?;
        if version != FORMAT_VERSION {
            return Err(Error::Corruption(format!("record version {version}")));
        }
        let state = State::from_code(r.u8()?)?;
        let flags = r.u8()?;
        let seq = r.u64()?;
        let task_id =
            TaskId::parse(r.take(36)?).map_err(|_| Error::Corruption("record task id".into()))?;
        let file_size = r.u64()?;
        let block_size = r.u32()?;
        let block_count = r.u32()?;
        let geometry = Geometry::new(file_size, block_size)
            .map_err(|e| Error::Corruption(format!("record geometry: {e}")))?;
        if geometry.block_count() != block_count {
            return Err(Error::Corruption("record block count".into()));
        }
        let from_user = r.u32()?;
        let to_user = r.u32()?;
        let created = r.u64()?;
        let mut sha = [0u8; 32];
        sha.copy_from_slice(r.take(32)?);
        let name_len = r.u16()? as usize;
        if name_len > MAX_NAME {
            return Err(Error::Corruption("record name length".into()));
        }
        let name = r.take(name_len)?.to_vec();
        let committed = Bitmap::decode(block_count, r.take(Bitmap::encoded_len(block_count))?)?;
        let crcs = r.take(4 * block_count as usize)?;
        let block_crc = crcs
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        if !r.rest().is_empty() {
            return Err(Error::Corruption("record trailing bytes".into()));
        }
        if state != State::Uploading && (!committed.is_full() || flags & 1 == 0) {
            return Err(Error::Corruption(
                "complete record without every block".into(),
            ));
        }
        Ok(Record {
            seq,
            task_id,
            state,
            geometry,
            from_user,
            to_user,
            created,
            sha256: (flags & 1 != 0).then_some(sha),
            name,
            committed,
            block_crc,
        })
    }
}

/// Bounds-checked little-endian reads; running short is corruption.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::Corruption("record truncated".into()));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    fn rest(&self) -> &'a [u8] {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Record {
        let id = TaskId::parse("6f9619ff-8b86-4d11-b42d-00c04fc964ff").unwrap();
        let mut r = Record::new(
            id,
            Geometry::new(10_000, 4096).unwrap(),
            7,
            9,
            1_700_000_000,
            b"../a/b\0c.txt".to_vec(),
        );
        r.seq = 5;
        r.committed.set(1, true);
        r.block_crc[1] = 0xdead_beef;
        r
    }

    #[test]
    fn round_trip_and_length() {
        let r = sample();
        let bytes = r.encode();
        assert_eq!(bytes.len(), r.encoded_len());
        assert_eq!(Record::decode(&bytes).unwrap(), r);
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0; 100]);
        assert_eq!(Record::decode(&padded).unwrap(), r);
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_corruption() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(Record::decode(&b).unwrap_err().is_corruption(), "byte {i}");
        }
        for n in 0..bytes.len() {
            assert!(Record::decode(&bytes[..n]).is_err(), "len {n}");
        }
        assert!(Record::decode(&vec![0; bytes.len()]).is_err());
    }

    #[test]
    fn complete_requires_every_block_and_a_digest() {
        let mut r = sample();
        r.state = State::Complete;
        r.sha256 = Some([1; 32]);
        assert!(Record::decode(&r.encode()).is_err());
        for b in 0..3 {
            r.committed.set(b, true);
        }
        assert_eq!(Record::decode(&r.encode()).unwrap(), r);
    }
}
