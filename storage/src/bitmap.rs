//! A fixed-length set of block indexes: which blocks a record says are
//! committed. Stored in records as `ceil(len / 8)` bytes, block `i` in bit
//! `i % 8` (least significant first) of byte `i / 8`; bits past `len` are 0.

use crate::error::{Error, Result};

/// A bitmap of `len` bits, all clear at first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitmap {
    len: u32,
    bytes: Vec<u8>,
}

impl Bitmap {
    /// `len` clear bits.
    pub fn new(len: u32) -> Bitmap {
        Bitmap {
            len,
            bytes: vec![0; Self::encoded_len(len)],
        }
    }

    /// Bytes the encoding of `len` bits takes.
    pub fn encoded_len(len: u32) -> usize {
        (len as usize).div_ceil(8)
    }

    /// Reads `len` bits from `bytes` (exactly [`Bitmap::encoded_len`] long).
    /// Errors: `Corruption` if the length is wrong or a bit past `len` is set.
    pub fn decode(len: u32, bytes: &[u8]) -> Result<Bitmap> {
        if bytes.len() != Self::encoded_len(len) {
            return Err(Error::Corruption("bitmap length".into()));
        }
        let tail = len % 8;
        if tail != 0 && bytes[bytes.len() - 1] >> tail != 0 {
            return Err(Error::Corruption("bitmap bits past the last block".into()));
        }
        Ok(Bitmap {
            len,
            bytes: bytes.to_vec(),
        })
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of bits.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True when the bitmap has no bits at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether bit `i` is set (false past the end).
    pub fn get(&self, i: u32) -> bool {
        i < self.len && self.bytes[(i / 8) as usize] & (1 << (i % 8)) != 0
    }

    /// Sets or clears bit `i` (`i < len`).
    pub fn set(&mut self, i: u32, on: bool) {
        assert!(i < self.len, "bit {i} of {}", self.len);
        let byte = &mut self.bytes[(i / 8) as usize];
        if on {
            *byte |= 1 << (i % 8);
        } else {
            *byte &= !(1 << (i % 8));
        }
    }

    /// Number of set bits.
    pub fn count(&self) -> u32 {
        self.bytes.iter().map(|b| b.count_ones()).sum()
    }

    /// True when every bit is set.
    pub fn is_full(&self) -> bool {
        self.count() == self.len
    }

    /// Indexes of the set bits, ascending.
    pub fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&i| self.get(i))
    }

    /// Indexes of the clear bits, ascending.
    pub fn zeros(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(|&i| !self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count_and_round_trip() {
        let mut b = Bitmap::new(11);
        assert_eq!(b.as_bytes().len(), 2);
        b.set(0, true);
        b.set(10, true);
        b.set(3, true);
        b.set(3, false);
        assert!(b.get(0) && b.get(10) && !b.get(3) && !b.get(11));
        assert_eq!(b.count(), 2);
        assert_eq!(b.ones().collect::<Vec<_>>(), [0, 10]);
        let d = Bitmap::decode(11, b.as_bytes()).unwrap();
        assert_eq!(d, b);
        assert!(Bitmap::decode(11, &[0, 0x08]).is_err());
        assert!(Bitmap::decode(11, &[0]).is_err());
        assert!(Bitmap::new(0).is_full());
    }
}
