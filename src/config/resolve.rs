//! From what the user wrote ([`FileConfig`]) to what the services run with
//! ([`Config`]): addresses parsed, sizes and durations read, ranges and
//! cross-key rules checked. Every problem is collected, not just the first.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use super::env::Origins;
use super::schema::FileConfig;
use super::{ConfigError, Problem};

/// Room a pull response needs beside its payload: the 16-byte header, the
/// 36-byte task id and the other fields, rounded up generously.
const PULL_RSP_OVERHEAD: u64 = 128;

#[derive(Debug, Clone)]
pub struct Config {
    pub relay: RelayConfig,
    pub msg_server: MsgServerConfig,
    pub route_server: RouteServerConfig,
    pub db_proxy: DbProxyConfig,
    pub login_server: LoginServerConfig,
    pub storage: StorageConfig,
}

#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub client_listen: SocketAddr,
    pub msg_listen: SocketAddr,
    pub msg_allow: Vec<IpAddr>,
    pub link_secret: Option<ferry_relay::LinkSecret>,
    /// 0: one per available core.
    pub cores: usize,
    pub core_port_base: Option<u16>,
    pub advertise: Option<IpAddr>,
    pub metrics_listen: Option<SocketAddr>,
    pub max_frame: u32,
    pub max_chunk: u32,
    pub window: u32,
    pub task_buffer: u64,
    pub login_timeout: Duration,
    pub idle_timeout: Duration,
    pub task_timeout: Duration,
    pub zero_copy: bool,
    pub splice_above: usize,
}

#[derive(Debug, Clone)]
pub struct MsgServerConfig {
    pub listen: SocketAddr,
    pub advertise: Option<IpAddr>,
    pub max_connections: u32,
    pub db_proxy: Vec<SocketAddr>,
    pub route_server: Vec<SocketAddr>,
    pub login_server: Vec<SocketAddr>,
    pub file_server: Vec<SocketAddr>,
}

#[derive(Debug, Clone)]
pub struct RouteServerConfig {
    pub listen: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct DbProxyConfig {
    pub listen: SocketAddr,
    pub db: Option<String>,
    pub db_read: Option<String>,
    pub redis: Option<String>,
    pub pool_size: u32,
    pub queue_limit: u32,
    /// 0: one per available core.
    pub hash_concurrency: usize,
    pub hash_queue: usize,
    pub heavy_concurrency: u32,
}

#[derive(Debug, Clone)]
pub struct LoginServerConfig {
    pub http_listen: SocketAddr,
    pub client_listen: SocketAddr,
    pub msg_server_listen: SocketAddr,
    pub msfs_url: String,
    pub discovery_url: String,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
}

/// Collects problems while reading values; each reader returns a harmless
/// stand-in after recording a problem so checking can go on.
struct Reader<'a> {
    origins: &'a Origins,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn fail(&mut self, key: &str, problem: impl Into<String>) {
        let origin = self.origins.get(key).cloned();
        self.problems.push(Problem {
            key: key.into(),
            problem: problem.into(),
            origin,
        });
    }

    fn addr(&mut self, key: &str, text: &str) -> SocketAddr {
        parse_addr(text).unwrap_or_else(|p| {
            self.fail(key, p);
            SocketAddr::from(([0, 0, 0, 0], 0))
        })
    }

    fn opt_addr(&mut self, key: &str, text: &str) -> Option<SocketAddr> {
        (!text.is_empty()).then(|| self.addr(key, text))
    }

    fn addrs(&mut self, key: &str, list: &[String]) -> Vec<SocketAddr> {
        list.iter().map(|a| self.addr(key, a)).collect()
    }

    fn ip(&mut self, key: &str, text: &str) -> Option<IpAddr> {
        if text.is_empty() {
            return None;
        }
        match text.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => {
                self.fail(
                    key,
                    format!(
                        "{ip} cannot be advertised: give the address clients reach this host at"
                    ),
                );
                None
            }
            Ok(ip) => Some(ip),
            Err(_) => {
                self.fail(key, format!("{text:?} is not an IP address"));
                None
            }
        }
    }

    fn int(&mut self, key: &str, value: u64, range: RangeInclusive<u64>) -> u64 {
        if range.contains(&value) {
            value
        } else {
            self.fail(
                key,
                format!(
                    "{value} is out of range ({}-{})",
                    range.start(),
                    range.end()
                ),
            );
            *range.start()
        }
    }

    fn size(&mut self, key: &str, text: &str, range: RangeInclusive<u64>) -> u64 {
        match text.parse::<bytesize::ByteSize>() {
            Ok(size) => self.int(key, size.as_u64(), range),
            Err(_) => {
                self.fail(
                    key,
                    format!("{text:?} is not a size (e.g. \"64KiB\", \"4MiB\")"),
                );
                *range.start()
            }
        }
    }

    fn duration(&mut self, key: &str, text: &str) -> Duration {
        match humantime::parse_duration(text) {
            Ok(d) if !d.is_zero() => d,
            Ok(_) => {
                self.fail(key, "must be longer than zero");
                Duration::from_secs(1)
            }
            Err(e) => {
                self.fail(
                    key,
                    format!("{text:?} is not a duration (e.g. \"10s\", \"2m\"): {e}"),
                );
                Duration::from_secs(1)
            }
        }
    }

    fn url(&mut self, key: &str, text: &str, schemes: &[&str]) -> Option<String> {
        if text.is_empty() {
            return None;
        }
        if !schemes.iter().any(|s| text.starts_with(s)) {
            self.fail(
                key,
                format!("{text:?} must start with one of {}", schemes.join(", ")),
            );
        }
        Some(text.to_string())
    }
}

/// `IP:PORT` with an IPv4 or bracketed IPv6 literal; the port is checked
/// separately so an out-of-range port is named as such.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
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

/// Validates `file` into the runtime [`Config`], or lists every problem.
pub fn resolve(file: &FileConfig, origins: &Origins) -> Result<Config, ConfigError> {
    let mut r = Reader {
        origins,
        problems: Vec::new(),
    };
    let f = &file.relay;
    let cores = r.int("relay.cores", f.cores, 0..=1024) as usize;
    let core_port_base = r.int("relay.core_port_base", f.core_port_base, 0..=65535) as u16;
    let effective_cores = if cores == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        cores
    };
    if core_port_base != 0 && u64::from(core_port_base) + effective_cores as u64 - 1 > 65535 {
        r.fail(
            "relay.core_port_base",
            format!("{core_port_base} + {effective_cores} cores runs past port 65535"),
        );
    }
    let before = r.problems.len();
    let max_frame = r.size("relay.max_frame", &f.max_frame, 1024..=(256 << 20));
    let max_chunk = r.size("relay.max_chunk", &f.max_chunk, 1..=(256 << 20));
    let task_buffer = r.size("relay.task_buffer", &f.task_buffer, 1..=(1 << 40));
    // Cross-key rules only when each key read well, so one typo is one problem.
    if r.problems.len() == before {
        if max_chunk + PULL_RSP_OVERHEAD > max_frame {
            let msg = format!(
                "{max_chunk} bytes plus the pull response's fields do not fit relay.max_frame ({max_frame})"
            );
            r.fail("relay.max_chunk", msg);
        }
        if task_buffer < max_frame {
            let msg = format!(
                "{task_buffer} bytes cannot hold one frame of relay.max_frame ({max_frame})"
            );
            r.fail("relay.task_buffer", msg);
        }
    }
    let link_secret = match f.link_secret.as_str() {
        "" => None,
        s => ferry_relay::LinkSecret::new(s.as_bytes()).or_else(|| {
            let min = ferry_relay::LinkSecret::MIN_LEN;
            r.fail(
                "relay.link_secret",
                format!("at least {min} bytes, or empty for none"),
            );
            None
        }),
    };
    let relay = RelayConfig {
        link_secret,
        client_listen: r.addr("relay.client_listen", &f.client_listen),
        msg_listen: r.addr("relay.msg_listen", &f.msg_listen),
        msg_allow: f
            .msg_allow
            .iter()
            .filter_map(|ip| {
                ip.parse()
                    .map_err(|_| r.fail("relay.msg_allow", format!("{ip:?} is not an IP address")))
                    .ok()
            })
            .collect(),
        cores,
        core_port_base: (core_port_base != 0).then_some(core_port_base),
        advertise: r.ip("relay.advertise", &f.advertise),
        metrics_listen: r.opt_addr("relay.metrics_listen", &f.metrics_listen),
        max_frame: max_frame as u32,
        max_chunk: max_chunk as u32,
        window: r.int("relay.window", f.window, 1..=1024) as u32,
        task_buffer,
        login_timeout: r.duration("relay.login_timeout", &f.login_timeout),
        idle_timeout: r.duration("relay.idle_timeout", &f.idle_timeout),
        task_timeout: r.duration("relay.task_timeout", &f.task_timeout),
        zero_copy: f.zero_copy,
        splice_above: r.int("relay.splice_above", f.splice_above, 0..=1_000_000) as usize,
    };

    let m = &file.msg_server;
    let msg_server = MsgServerConfig {
        listen: r.addr("msg_server.listen", &m.listen),
        advertise: r.ip("msg_server.advertise", &m.advertise),
        max_connections: r.int(
            "msg_server.max_connections",
            m.max_connections,
            1..=10_000_000,
        ) as u32,
        db_proxy: r.addrs("msg_server.db_proxy", &m.db_proxy),
        route_server: r.addrs("msg_server.route_server", &m.route_server),
        login_server: r.addrs("msg_server.login_server", &m.login_server),
        file_server: r.addrs("msg_server.file_server", &m.file_server),
    };
    let route_server = RouteServerConfig {
        listen: r.addr("route_server.listen", &file.route_server.listen),
    };

    let d = &file.db_proxy;
    const DB_SCHEMES: &[&str] = &["sqlite:", "mysql://", "mariadb://"];
    const REDIS_SCHEMES: &[&str] = &["redis://", "rediss://", "redis+unix://"];
    let db_proxy = DbProxyConfig {
        listen: r.addr("db_proxy.listen", &d.listen),
        db: r.url("db_proxy.db", &d.db, DB_SCHEMES),
        db_read: r.url("db_proxy.db_read", &d.db_read, DB_SCHEMES),
        redis: r.url("db_proxy.redis", &d.redis, REDIS_SCHEMES),
        pool_size: r.int("db_proxy.pool_size", d.pool_size, 1..=1024) as u32,
        queue_limit: r.int("db_proxy.queue_limit", d.queue_limit, 1..=1_000_000) as u32,
        hash_concurrency: r.int("db_proxy.hash_concurrency", d.hash_concurrency, 0..=1024) as usize,
        hash_queue: r.int("db_proxy.hash_queue", d.hash_queue, 0..=1_000_000) as usize,
        heavy_concurrency: r.int(
            "db_proxy.heavy_concurrency",
            d.heavy_concurrency,
            1..=100_000,
        ) as u32,
    };

    let l = &file.login_server;
    let login_server = LoginServerConfig {
        http_listen: r.addr("login_server.http_listen", &l.http_listen),
        client_listen: r.addr("login_server.client_listen", &l.client_listen),
        msg_server_listen: r.addr("login_server.msg_server_listen", &l.msg_server_listen),
        msfs_url: l.msfs_url.clone(),
        discovery_url: l.discovery_url.clone(),
    };

    if file.storage.data_dir.is_empty() {
        r.fail("storage.data_dir", "must not be empty");
    }
    let storage = StorageConfig {
        data_dir: PathBuf::from(&file.storage.data_dir),
    };

    r.problems.sort_by(|a, b| a.key.cmp(&b.key));
    if r.problems.is_empty() {
        Ok(Config {
            relay,
            msg_server,
            route_server,
            db_proxy,
            login_server,
            storage,
        })
    } else {
        Err(ConfigError::Invalid(r.problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_their_problem() {
        assert_eq!(
            parse_addr("0.0.0.0:8600").unwrap(),
            SocketAddr::from(([0, 0, 0, 0], 8600))
        );
        assert_eq!(parse_addr("[::1]:9").unwrap(), "[::1]:9".parse().unwrap());
        assert_eq!(
            parse_addr("0.0.0.0:70000").unwrap_err(),
            "port 70000 is out of range (0-65535)"
        );
        assert!(
            parse_addr("localhost:80")
                .unwrap_err()
                .contains("is not an IP address")
        );
        assert!(parse_addr("8600").unwrap_err().contains("not an IP:PORT"));
    }
}
