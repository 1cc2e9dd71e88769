//! Values a config file writes as text, for `#[serde(with = "…")]` on the
//! fields of a service's settings. Each reads the text form a person writes
//! and prints the same form back, so a printed config loads to itself; a
//! value that does not read says what is wrong with it (the loader names
//! the key).
//!
//! | module       | field type              | text                              |
//! |--------------|-------------------------|-----------------------------------|
//! | [`size`]     | any unsigned integer    | `"4MiB"`, `"64KiB"`, `"512"`, 512 |
//! | [`duration`] | `Duration`              | `"10s"`, `"2m"`, `"1h 30m"`       |
//! | [`addr`]     | `SocketAddr`            | `"0.0.0.0:8600"`, `"[::1]:9"`     |
//! | [`opt_addr`] | `Option<SocketAddr>`    | as `addr`; `""` is none           |
//! | [`addrs`]    | `Vec<SocketAddr>`       | a list of `addr`                  |
//! | [`opt_ip`]   | `Option<IpAddr>`        | `"10.0.0.5"`; `""` is none        |
//! | [`opt_text`] | `Option<String>`        | any text; `""` is none            |

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serializer};

/// `IP:PORT` with an IPv4 or bracketed IPv6 literal. The port is read on
/// its own so an out-of-range port is named as such.
pub fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!("{text:?} is not an IP:PORT address"));
    };
    let port: u64 = port
        .parse()
        .map_err(|_| format!("{text:?}: port {port:?} is not a number"))?;
    if port > u64::from(u16::MAX) {
        return Err(format!("port {port} is out of range (0-65535)"));
    }
    let ip: IpAddr = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| format!("{host:?} is not an IP address (in {text:?})"))?;
    Ok(SocketAddr::new(ip, port as u16))
}

/// Bytes in the largest unit that divides them: `4194304` -> `"4MiB"`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, scale) in UNITS {
        if bytes >= scale && bytes.is_multiple_of(scale) {
            return format!("{}{unit}", bytes / scale);
        }
    }
    format!("{bytes}B")
}

/// Sizes: `"4MiB"`, `"64KiB"`, `"512B"` or a bare number of bytes.
pub mod size {
    use super::*;

    pub fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<u64>,
    {
        struct V;
        impl Visitor<'_> for V {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"64KiB\" or \"4MiB\", or a number of bytes")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
                Ok(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
                u64::try_from(v).map_err(|_| E::custom(format!("{v} is not a size")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
                bytesize::ByteSize::from_str(v.trim())
                    .map(|s| s.as_u64())
                    .map_err(|_| {
                        E::custom(format!("{v:?} is not a size (e.g. \"64KiB\", \"4MiB\")"))
                    })
            }
        }
        let bytes = d.deserialize_any(V)?;
        T::try_from(bytes)
            .map_err(|_| de::Error::custom(format!("{bytes} bytes is too large here")))
    }

    pub fn serialize<S, T>(v: &T, s: S) -> Result<S::Ok, S::Error>
    where
        S: Serializer,
        T: Copy + Into<u64>,
    {
        s.serialize_str(&format_size((*v).into()))
    }
}

/// Durations: `"10s"`, `"2m"`, `"1h 30m"` (humantime's forms).
pub mod duration {
    use super::*;
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            de::Error::custom(format!(
                "{text:?} is not a duration (e.g. \"10s\", \"2m\"): {e}"
            ))
        })
    }

    pub fn serialize<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*v).to_string())
    }
}

/// `IP:PORT`, see [`parse_addr`].
pub mod addr {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        let text = String::deserialize(d)?;
        parse_addr(&text).map_err(de::Error::custom)
    }

    pub fn serialize<S: Serializer>(v: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }
}

/// An optional `IP:PORT`: `""` is none.
pub mod opt_addr {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        parse_addr(&text).map(Some).map_err(de::Error::custom)
    }

    pub fn serialize<S: Serializer>(v: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(a) => s.collect_str(a),
            None => s.serialize_str(""),
        }
    }
}

/// A list of `IP:PORT`.
pub mod addrs {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| parse_addr(t).map_err(de::Error::custom))
            .collect()
    }

    pub fn serialize<S: Serializer>(v: &[SocketAddr], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for a in v {
            seq.serialize_element(&a.to_string())?;
        }
        seq.end()
    }
}

/// An optional IP address: `""` is none.
pub mod opt_ip {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
        let text = String::deserialize(d)?;
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("{text:?} is not an IP address")))
    }

    pub fn serialize<S: Serializer>(v: &Option<IpAddr>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ip) => s.collect_str(ip),
            None => s.serialize_str(""),
        }
    }
}

/// Optional text (a URL, a path): `""` is none. TOML has no null, so a
/// printed config shows an unset value as `""`.
pub mod opt_text {
    use super::*;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let text = String::deserialize(d)?;
        Ok((!text.is_empty()).then_some(text))
    }

    pub fn serialize<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_deref().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use std::time::Duration;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        #[serde(with = "size")]
        frame: u32,
        #[serde(with = "duration")]
        idle: Duration,
        #[serde(with = "addr")]
        listen: SocketAddr,
        #[serde(with = "opt_addr")]
        metrics: Option<SocketAddr>,
        #[serde(with = "addrs")]
        peers: Vec<SocketAddr>,
        #[serde(with = "opt_ip")]
        advertise: Option<IpAddr>,
    }

    #[test]
    fn text_reads_and_prints_back_to_itself() {
        let text = "frame = \"4MiB\"\nidle = \"2m\"\nlisten = \"0.0.0.0:8600\"\nmetrics = \"\"\n\
                    peers = [\"10.0.0.1:10600\", \"[::1]:9\"]\nadvertise = \"10.0.0.5\"\n";
        let s: Sample = toml::from_str(text).unwrap();
        assert_eq!(s.frame, 4 << 20);
        assert_eq!(s.idle, Duration::from_secs(120));
        assert_eq!(s.metrics, None);
        assert_eq!(s.peers.len(), 2);
        let printed = toml::to_string(&s).unwrap();
        assert_eq!(toml::from_str::<Sample>(&printed).unwrap(), s);
        assert!(printed.contains("frame = \"4MiB\""), "{printed}");
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        let bad = |field: &str| {
            let mut text = String::from(
                "frame = 1\nidle = \"1s\"\nlisten = \"1.2.3.4:5\"\nmetrics = \"\"\npeers = []\nadvertise = \"\"\n",
            );
            let key = field.split(" = ").next().unwrap();
            text = text
                .lines()
                .map(|l| {
                    if l.starts_with(&format!("{key} =")) {
                        field.to_string()
                    } else {
                        l.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            toml::from_str::<Sample>(&text)
                .unwrap_err()
                .message()
                .to_string()
        };
        assert_eq!(
            bad("listen = \"0.0.0.0:70000\""),
            "port 70000 is out of range (0-65535)"
        );
        assert!(bad("frame = \"lots\"").contains("is not a size"));
        assert!(bad("frame = \"8GiB\"").contains("too large"));
        assert!(bad("idle = \"soon\"").contains("is not a duration"));
        assert!(bad("advertise = \"host\"").contains("is not an IP address"));
    }

    #[test]
    fn sizes_print_in_their_largest_unit() {
        assert_eq!(format_size(4 << 20), "4MiB");
        assert_eq!(format_size(1536), "1536B");
        assert_eq!(format_size(64 << 10), "64KiB");
        assert_eq!(format_size(1 << 40), "1TiB");
        assert_eq!(format_size(0), "0B");
    }
}
