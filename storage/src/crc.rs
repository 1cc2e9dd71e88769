//! CRC-32C (Castagnoli, the iSCSI polynomial) of blocks, pieces and
//! records, through the crc-fast crate: it folds with VPCLMULQDQ where the
//! CPU has it (70 GB/s on the bench machine's AVX-512 EPYC against the
//! crc32c crate's 34 with SSE4.2), and every byte the store writes, reads
//! back or serves passes through here. Values are the standard CRC-32C
//! (check value of "123456789": 0xe3069283), the same the crc32c crate
//! gives, so stores written before this module read unchanged (test below).

use crc_fast::CrcAlgorithm::Crc32Iscsi;

/// CRC-32C of `bytes`.
pub(crate) fn crc32c(bytes: &[u8]) -> u32 {
    crc_fast::checksum(Crc32Iscsi, bytes) as u32
}

/// CRC-32C of `a` followed by `b`, from `crc32c(a)`, `crc32c(b)` and
/// `b`'s length in bytes.
pub(crate) fn combine(a: u32, b: u32, b_len: usize) -> u32 {
    crc_fast::checksum_combine(Crc32Iscsi, u64::from(a), u64::from(b), b_len as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(9))
            .collect()
    }

    /// The check value, and the crc32c crate's values (what older stores
    /// hold) at any length and alignment: the SIMD paths split a buffer at
    /// 64-byte boundaries.
    #[test]
    fn is_the_crc32c_older_stores_hold() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        let data = data((1 << 20) + 77);
        for len in [0, 1, 7, 8, 63, 64, 65, 255, 4096, 4099, 65_536, 1 << 20] {
            for start in [0, 1, 13] {
                let b = &data[start..start + len];
                assert_eq!(crc32c(b), ::crc32c::crc32c(b), "{len} bytes at {start}");
            }
        }
    }

    #[test]
    fn combine_joins_two_pieces() {
        let data = data(10_000);
        for cut in [0, 1, 4096, 9_999, 10_000] {
            let (a, b) = data.split_at(cut);
            assert_eq!(
                combine(crc32c(a), crc32c(b), b.len()),
                crc32c(&data),
                "cut at {cut}"
            );
        }
    }
}
