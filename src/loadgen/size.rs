//! `--size`: one size for every file, or a range `LO..HI` drawn
//! log-uniformly (every power of two between the bounds equally likely:
//! as many 64–128 KiB files as 512 MiB–1 GiB ones), from a seeded
//! generator so a run with the same `--seed` sends the same sizes. Sizes
//! past 4 GiB - 1 move on ferry's u64 fields (a ferry relay; a TeamTalk
//! file_server refuses them at the client's login).

use std::fmt;

use bytesize::ByteSize;

/// What `--size` asked for (bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SizeSpec {
    /// Every file has this many bytes.
    Fixed(u64),
    /// Sizes from `lo` to `hi` bytes inclusive, log-uniform.
    LogUniform { lo: u64, hi: u64 },
}

impl SizeSpec {
    /// Parses `SIZE` or `LO..HI` (each a byte size: "96KiB", "1MiB",
    /// "1000000"). The error says what is wrong; clap names the flag.
    pub(crate) fn parse(text: &str) -> Result<SizeSpec, String> {
        let one = |part: &str, what: &str| -> Result<u64, String> {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!(
                    "{what} is missing: give SIZE (\"1MiB\") or LO..HI (\"64KiB..1GiB\")"
                ));
            }
            let size = part
                .parse::<ByteSize>()
                .map_err(|e| {
                    format!("{what} {part:?} is not a size ({e}); e.g. 64KiB, 1MiB, 1GiB")
                })?
                .as_u64();
            Ok(size)
        };
        match text.split_once("..") {
            None => Ok(SizeSpec::Fixed(one(text, "the size")?)),
            Some((lo, hi)) => {
                let (lo, hi) = (one(lo, "the lower bound")?, one(hi, "the upper bound")?);
                if lo == 0 {
                    return Err("a range starts at 1 byte at least (log-uniform)".into());
                }
                if lo > hi {
                    return Err(format!(
                        "the lower bound {} is above the upper bound {}",
                        ByteSize(lo).display().iec(),
                        ByteSize(hi).display().iec()
                    ));
                }
                Ok(if lo == hi {
                    SizeSpec::Fixed(lo)
                } else {
                    SizeSpec::LogUniform { lo, hi }
                })
            }
        }
    }

    /// The smallest size it gives (bytes).
    pub(crate) fn lo(&self) -> u64 {
        match *self {
            SizeSpec::Fixed(n) => n,
            SizeSpec::LogUniform { lo, .. } => lo,
        }
    }

    /// The largest size it gives (bytes).
    pub(crate) fn hi(&self) -> u64 {
        match *self {
            SizeSpec::Fixed(n) => n,
            SizeSpec::LogUniform { hi, .. } => hi,
        }
    }

    /// "fixed" or "log-uniform".
    pub(crate) fn distribution(&self) -> &'static str {
        match self {
            SizeSpec::Fixed(_) => "fixed",
            SizeSpec::LogUniform { .. } => "log-uniform",
        }
    }

    /// The next size (bytes).
    pub(crate) fn sample(&self, rng: &mut Rng) -> u64 {
        match *self {
            SizeSpec::Fixed(n) => n,
            SizeSpec::LogUniform { lo, hi } => {
                // exp of a uniform point in [ln lo, ln (hi + 1)), floored:
                // each integer in [lo, hi] is reached.
                let (a, b) = ((lo as f64).ln(), ((hi + 1) as f64).ln());
                let x = (a + rng.unit() * (b - a)).exp().floor() as u64;
                x.clamp(lo, hi)
            }
        }
    }
}

impl fmt::Display for SizeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SizeSpec::Fixed(n) => write!(f, "{}", ByteSize(n).display().iec()),
            SizeSpec::LogUniform { lo, hi } => write!(
                f,
                "{}..{} log-uniform",
                ByteSize(lo).display().iec(),
                ByteSize(hi).display().iec()
            ),
        }
    }
}

/// splitmix64: small, fast, and the same sequence everywhere for a seed
/// (sizes and pattern seeds; nothing secret).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// The generator of `seed` for `stream` (one per worker: workers'
    /// sequences do not overlap in practice).
    pub(crate) fn new(seed: u64, stream: u64) -> Rng {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03));
        rng.next_u64();
        rng
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_size_or_a_range_and_says_what_is_wrong() {
        assert_eq!(SizeSpec::parse("96KiB"), Ok(SizeSpec::Fixed(96 << 10)));
        assert_eq!(SizeSpec::parse("1000"), Ok(SizeSpec::Fixed(1000)));
        assert_eq!(
            SizeSpec::parse("64KiB..1GiB"),
            Ok(SizeSpec::LogUniform {
                lo: 64 << 10,
                hi: 1 << 30
            })
        );
        assert_eq!(
            SizeSpec::parse(" 1MiB .. 1MiB "),
            Ok(SizeSpec::Fixed(1 << 20))
        );
        for (bad, says) in [
            ("", "missing"),
            ("..1MiB", "lower bound is missing"),
            ("1MiB..", "upper bound is missing"),
            ("lots", "not a size"),
            ("1MiB..2parsecs", "upper bound \"2parsecs\" is not a size"),
            ("2MiB..1MiB", "above the upper bound"),
            ("0..1MiB", "1 byte"),
        ] {
            let e = SizeSpec::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn log_uniform_stays_in_bounds_and_spreads_by_powers_of_two() {
        let spec = SizeSpec::parse("64KiB..1GiB").unwrap();
        let (lo, hi) = (64u64 << 10, 1u64 << 30);
        let mut rng = Rng::new(1, 0);
        let mut v: Vec<u64> = (0..20_000).map(|_| spec.sample(&mut rng)).collect();
        assert!(v.iter().all(|&s| (lo..=hi).contains(&s)));
        v.sort_unstable();
        // The median is near the geometric mean (8 MiB), far below the
        // arithmetic mean of a uniform draw (512 MiB).
        let median = v[v.len() / 2] as f64;
        let geo = ((lo as f64) * (hi as f64)).sqrt();
        assert!(
            (median / geo - 1.0).abs() < 0.15,
            "median {median} vs geometric mean {geo}"
        );
        // Each of the 14 doublings 64 KiB..1 GiB holds about 1/14th.
        for k in 0..14 {
            let (a, b) = (lo << k, lo << (k + 1));
            let n = v.iter().filter(|&&s| s >= a && s < b).count() as f64;
            let share = n / v.len() as f64;
            assert!((share - 1.0 / 14.0).abs() < 0.015, "[{a}, {b}): {share}");
        }
        assert!(
            v[0] < lo * 2 && v[v.len() - 1] > hi / 2,
            "reaches both ends"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_sizes() {
        let spec = SizeSpec::parse("1KiB..1MiB").unwrap();
        let draw = |seed, stream| {
            let mut rng = Rng::new(seed, stream);
            (0..50).map(|_| spec.sample(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(7, 0), draw(7, 0));
        assert_ne!(draw(7, 0), draw(8, 0));
        assert_ne!(draw(7, 0), draw(7, 1));
        assert_eq!(SizeSpec::Fixed(5).sample(&mut Rng::new(1, 0)), 5);
    }
}
