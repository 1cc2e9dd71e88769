//! Task ids: their one accepted text form, and the core that owns a task.
//!
//! ## Placement
//!
//! A task lives on exactly one relay core. The relay (to route a login) and
//! the control plane (to hand a client the owning core's address) must agree,
//! so the function is fixed here and documented well enough to re-implement:
//!
//! ```text
//! h    = FNV-1a 64 over the task_id's bytes exactly as sent (no case folding):
//!        h = 0xcbf29ce484222325; for each byte b: h = (h XOR b) * 0x100000001b3
//! h    = MurmurHash3's fmix64 finalizer of h:
//!        h ^= h >> 33; h *= 0xff51afd7ed558ccd; h ^= h >> 33;
//!        h *= 0xc4ceb9fe1a85ec53; h ^= h >> 33
//! core = (h * cores) >> 64        (the high 64 bits of the 128-bit product)
//! ```
//! (all arithmetic on u64, wrapping)
//!
//! FNV alone spreads ids that differ only in their last characters badly
//! (16,000 such ids over 3 cores split 5120/6400/4480); the finalizer fixes
//! that. The multiply-shift reduction avoids a division and uses every bit.
//! [`PLACEMENT_VECTORS`] holds test vectors.

use thiserror::Error;

/// Text length of a task id: a UUID in its 8-4-4-4-12 hex form.
pub const TASK_ID_LEN: usize = 36;

/// A task id that is not a UUID's canonical text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("task id is not a lowercase hyphenated UUID ({len} bytes)")]
pub struct InvalidTaskId {
    pub len: usize,
}

/// Accepts only the text TeamTalk and ferry generate: 36 bytes, lowercase
/// hex, hyphens at 8, 13, 18 and 23. Anything else (`../../etc/passwd`,
/// upper case, braces, bytes that are not UTF-8) is refused before it can
/// touch a path or a query. Returns the id as `str`.
pub fn validate_task_id<T: AsRef<[u8]> + ?Sized>(task_id: &T) -> Result<&str, InvalidTaskId> {
    let bytes = task_id.as_ref();
    let well_formed = bytes.len() == TASK_ID_LEN
        && bytes.iter().enumerate().all(|(i, &b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    if well_formed {
        // Only ASCII digits, a-f and '-' passed.
        Ok(std::str::from_utf8(bytes).expect("ASCII"))
    } else {
        Err(InvalidTaskId { len: bytes.len() })
    }
}

/// FNV-1a, 64 bits, over `bytes`.
pub const fn fnv1a_64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h = (h ^ bytes[i] as u64).wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// MurmurHash3's 64-bit finalizer: every input bit flips about half of the
/// output bits.
pub const fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The placement hash of a task id: `fmix64(fnv1a_64(task_id))`.
pub const fn task_hash(task_id: &[u8]) -> u64 {
    fmix64(fnv1a_64(task_id))
}

/// The core, in `0..cores`, that owns `task_id` (its bytes as sent).
/// `cores == 0` is treated as 1.
pub fn core_for_task<T: AsRef<[u8]> + ?Sized>(task_id: &T, cores: usize) -> usize {
    let cores = cores.max(1) as u128;
    ((u128::from(task_hash(task_id.as_ref())) * cores) >> 64) as usize
}

/// (task_id, placement hash, core for 1, 2, 3, 4, 8, 16 and 64 cores), computed by
/// an independent implementation: any port of [`core_for_task`] must agree.
pub const PLACEMENT_VECTORS: &[(&str, u64, [usize; 7])] = &[
    ("", 0xefd01f60ba992926, [0, 1, 2, 3, 7, 14, 59]),
    ("a", 0x82a2a958a9bece5b, [0, 1, 1, 2, 4, 8, 32]),
    (
        "00000000-0000-0000-0000-000000000000",
        0x1e2dfea2dc3b4b04,
        [0, 0, 0, 0, 0, 1, 7],
    ),
    (
        "6f9619ff-8b86-4d11-b42d-00c04fc964ff",
        0x22110f8e97c48186,
        [0, 0, 0, 0, 1, 2, 8],
    ),
    (
        "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
        0x6fbb8c99bae16aa6,
        [0, 0, 1, 1, 3, 6, 27],
    ),
    (
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        0x56e94ed209feb386,
        [0, 0, 1, 1, 2, 5, 21],
    ),
    (
        "c9bf9e57-1685-4c89-bafb-ff5af830be8a",
        0x3a80fcf439f93ea3,
        [0, 0, 0, 0, 1, 3, 14],
    ),
    (
        "7d444840-9dc0-11d1-b245-5ffdce74fad2",
        0x36d2e709c6e97e03,
        [0, 0, 0, 0, 1, 3, 13],
    ),
];

/// The core counts the vectors' columns are for.
pub const PLACEMENT_VECTOR_CORES: [usize; 7] = [1, 2, 3, 4, 8, 16, 64];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_matches_the_vectors() {
        for (task_id, hash, cores) in PLACEMENT_VECTORS {
            assert_eq!(task_hash(task_id.as_bytes()), *hash, "{task_id:?}");
            for (n, want) in PLACEMENT_VECTOR_CORES.iter().zip(cores) {
                assert_eq!(
                    core_for_task(task_id, *n),
                    *want,
                    "{task_id:?} over {n} cores"
                );
            }
        }
        assert_eq!(core_for_task("a", 0), 0);
    }

    #[test]
    fn placement_spreads_sequential_ids_evenly() {
        // Ids differing only in their last hex digits, the worst case for a
        // weak hash; every core gets within 10% of its share.
        for cores in [2usize, 3, 8, 16] {
            let mut counts = vec![0u32; cores];
            for i in 0..16_000u32 {
                counts[core_for_task(&format!("7d444840-9dc0-11d1-b245-5ffdce{i:06x}"), cores)] +=
                    1;
            }
            let share = 16_000 / cores as u32;
            assert!(
                counts.iter().all(|&c| c.abs_diff(share) < share / 10),
                "{cores} cores: {counts:?}"
            );
        }
    }

    #[test]
    fn only_canonical_uuid_text_is_a_task_id() {
        assert_eq!(
            validate_task_id("6f9619ff-8b86-4d11-b42d-00c04fc964ff"),
            Ok("6f9619ff-8b86-4d11-b42d-00c04fc964ff")
        );
        assert!(validate_task_id(&b"6f9619ff-8b86-4d11-b42d-00c04fc964f\xff"[..]).is_err());
        for bad in [
            "",
            "../../etc/passwd",
            "6F9619FF-8B86-4D11-B42D-00C04FC964FF",
            "6f9619ff8b864d11b42d00c04fc964ff",
            "{6f9619ff-8b86-4d11-b42d-00c04fc964f}",
            "6f9619ff-8b86-4d11-b42d-00c04fc964fg",
            "6f9619ff-8b86-4d11-b42d-00c04fc964ff/",
            "../9619ff-8b86-4d11-b42d-00c04fc964ff",
            "x' or '1'='1",
        ] {
            assert!(validate_task_id(bad).is_err(), "{bad:?}");
        }
    }
}
