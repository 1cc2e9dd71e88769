//! Configuration: one TOML file with a section per service, environment
//! overrides (`FERRY_<SECTION>__<KEY>`), then CLI flags on top (applied by
//! each subcommand to the resolved values).
//!
//! Loading goes file text -> `toml::Table` -> env overrides -> [`FileConfig`]
//! (the schema, unknown keys refused) -> [`resolve`] into [`Config`] (typed,
//! validated, every problem reported with its key).

mod env;
mod resolve;
mod schema;

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;
use toml::Table;

pub use resolve::{
    Config, DbProxyConfig, LoginServerConfig, MsgServerConfig, RelayConfig, RouteServerConfig,
    StorageConfig, resolve,
};
pub use schema::{
    DbProxyFile, FileConfig, LoginServerFile, MsgServerFile, RelayFile, RouteServerFile,
    StorageFile,
};

/// One thing wrong with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `section.key`.
    pub key: String,
    pub problem: String,
    /// The environment variable the value came from, if not the file.
    pub origin: Option<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)?;
        if let Some(var) = &self.origin {
            write!(f, " (from {var})")?;
        }
        Ok(())
    }
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {} is not valid TOML: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}", list(.0))]
    Invalid(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    format!("invalid configuration:\n{}", lines.join("\n"))
}

/// The effective settings and where they came from.
#[derive(Debug)]
pub struct Loaded {
    /// After file and environment, before validation: what `config check` prints.
    pub file: FileConfig,
    pub config: Config,
    /// Environment variables that set a key.
    pub overrides: Vec<String>,
}

/// Reads `path` (if any), applies the process environment, validates.
pub fn load(path: Option<&Path>) -> Result<Loaded, ConfigError> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
            path: p.into(),
            source,
        })?,
        None => String::new(),
    };
    let path = path.unwrap_or(Path::new("(none)"));
    load_from(&text, path, std::env::vars())
}

pub fn load_from(
    text: &str,
    path: &Path,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    let mut table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.into(),
            message: e.to_string(),
        })?;
    let defaults = Table::try_from(FileConfig::default()).expect("defaults serialize");
    let origins =
        env::apply(&mut table, &defaults, vars).map_err(|p| ConfigError::Invalid(vec![p]))?;
    // Every problem in one run: a key the schema refuses (unknown, or of
    // the wrong type) is recorded and taken out, and the rest is read again
    // (serde stops at the first); then the values are validated.
    let mut problems = Vec::new();
    let file: FileConfig = loop {
        match serde_path_to_error::deserialize::<_, FileConfig>(table.clone()) {
            Ok(file) => break file,
            Err(e) => {
                let key = e.path().to_string();
                let origin = origins.get(&key).cloned();
                // toml's message alone, without its "in `section`" context line.
                let problem = e
                    .into_inner()
                    .message()
                    .replacen("unknown field", "unknown key", 1);
                problems.push(Problem {
                    key: key.clone(),
                    problem,
                    origin,
                });
                if !remove_key(&mut table, &key) {
                    return Err(ConfigError::Invalid(problems));
                }
            }
        }
    };
    let config = match resolve(&file, &origins) {
        Ok(config) if problems.is_empty() => config,
        Ok(_) => return Err(ConfigError::Invalid(problems)),
        Err(ConfigError::Invalid(more)) => {
            problems.extend(more);
            problems.sort_by(|a, b| a.key.cmp(&b.key));
            return Err(ConfigError::Invalid(problems));
        }
        Err(other) => return Err(other),
    };
    Ok(Loaded {
        file,
        config,
        overrides: origins.into_values().collect(),
    })
}

/// Removes `section.key` (a path as serde_path_to_error prints it; an index
/// such as `[0]` removes the whole key) from `table`; false if not there.
fn remove_key(table: &mut Table, path: &str) -> bool {
    let path = path.split('[').next().unwrap_or(path);
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else {
        return false;
    };
    let mut t = table;
    for part in parts {
        match t.get_mut(part) {
            Some(toml::Value::Table(inner)) => t = inner,
            _ => return false,
        }
    }
    t.remove(last).is_some()
}

impl FileConfig {
    /// The settings as a TOML document a user could save and edit.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serializes")
    }

    /// [`Self::to_toml`] with secrets masked, for printing: the link secret
    /// and the passwords in database and Redis URLs.
    pub fn to_toml_redacted(&self) -> String {
        let mut shown = self.clone();
        if !shown.relay.link_secret.is_empty() {
            shown.relay.link_secret = "***".into();
        }
        let db = &mut shown.db_proxy;
        for url in [&mut db.db, &mut db.db_read, &mut db.redis] {
            *url = ferry_control::store::redact(url);
        }
        shown.to_toml()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        load_from(text, Path::new("test.toml"), vars)
    }

    fn problems(err: ConfigError) -> Vec<String> {
        match err {
            ConfigError::Invalid(list) => list.iter().map(ToString::to_string).collect(),
            other => panic!("expected problems, got {other}"),
        }
    }

    #[test]
    fn defaults_are_teamtalks_ports() {
        let c = load("", &[]).unwrap().config;
        let ports = [
            c.relay.client_listen.port(),
            c.relay.msg_listen.port(),
            c.msg_server.listen.port(),
            c.route_server.listen.port(),
            c.db_proxy.listen.port(),
            c.login_server.http_listen.port(),
            c.login_server.client_listen.port(),
            c.login_server.msg_server_listen.port(),
        ];
        assert_eq!(ports, [8600, 8601, 8000, 8200, 10600, 8080, 8008, 8100]);
        assert!(
            c.relay.msg_listen.ip().is_loopback(),
            "the msg-server link is not open to the world by default"
        );
        assert_eq!(
            (c.relay.max_frame, c.relay.window, c.relay.task_buffer),
            (4 << 20, 16, 8 << 20)
        );
        assert_eq!(c.relay.task_timeout, std::time::Duration::from_secs(60));
    }

    #[test]
    fn environment_overrides_the_file() {
        let text = "[relay]\ncores = 2\nwindow = 8\n[db_proxy]\npool_size = 4\n";
        let loaded = load(
            text,
            &[
                ("FERRY_RELAY__CORES", "3"),
                ("FERRY_DB_PROXY__REDIS", "redis://127.0.0.1:6379"),
            ],
        )
        .unwrap();
        assert_eq!(
            (loaded.config.relay.cores, loaded.config.relay.window),
            (3, 8)
        );
        assert_eq!(loaded.config.db_proxy.pool_size, 4);
        assert_eq!(
            loaded.config.db_proxy.redis.as_deref(),
            Some("redis://127.0.0.1:6379")
        );
        assert_eq!(
            loaded.overrides,
            ["FERRY_DB_PROXY__REDIS", "FERRY_RELAY__CORES"]
        );
    }

    #[test]
    fn sizes_and_durations_are_read_from_text() {
        let text = "[relay]\nmax_frame = \"2MiB\"\nmax_chunk = \"64KiB\"\nidle_timeout = \"2m\"\n";
        let relay = load(text, &[]).unwrap().config.relay;
        assert_eq!((relay.max_frame, relay.max_chunk), (2 << 20, 64 << 10));
        assert_eq!(relay.idle_timeout, std::time::Duration::from_secs(120));
    }

    #[test]
    fn unknown_keys_and_sections_are_named() {
        let err = problems(load("[relay]\nwindw = 4\n", &[]).unwrap_err());
        assert!(
            err[0].starts_with("relay.windw: unknown key `windw`"),
            "{err:?}"
        );
        let err = problems(load("[relya]\nwindow = 4\n", &[]).unwrap_err());
        assert!(err[0].starts_with("relya: unknown key `relya`"), "{err:?}");
        let err = problems(load("[relay]\nwindow = \"many\"\n", &[]).unwrap_err());
        assert!(err[0].starts_with("relay.window: invalid type"), "{err:?}");
    }

    #[test]
    fn every_problem_is_listed_with_its_key() {
        let text = "[relay]\nclient_listen = \"0.0.0.0:70000\"\nwindow = 0\nadvertise = \"0.0.0.0\"\n\
                    max_frame = \"lots\"\n[db_proxy]\ndb = \"postgres://x\"\n[msg_server]\nfile_server = [\"1.2.3.4\"]\n";
        let err = problems(load(text, &[]).unwrap_err());
        let keys: Vec<&str> = err.iter().map(|p| p.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "db_proxy.db",
                "msg_server.file_server",
                "relay.advertise",
                "relay.client_listen",
                "relay.max_frame",
                "relay.window"
            ]
        );
        assert!(
            err.contains(&"relay.client_listen: port 70000 is out of range (0-65535)".to_string())
        );
    }

    #[test]
    fn schema_and_value_problems_are_listed_together() {
        // README's example: a bad port and a misspelt key, both reported.
        let text = "[relay]\nclient_listen = \"0.0.0.0:70000\"\nwindw = 4\nwindow = \"many\"\n\
                    [relya]\nx = 1\n";
        let err = problems(load(text, &[]).unwrap_err());
        let keys: Vec<&str> = err.iter().map(|p| p.split(':').next().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "relay.client_listen",
                "relay.window",
                "relay.windw",
                "relya"
            ],
            "{err:?}"
        );
    }

    #[test]
    fn cross_key_rules_are_checked() {
        let err = problems(load("[relay]\nmax_chunk = \"4MiB\"\n", &[]).unwrap_err());
        assert!(
            err[0].starts_with("relay.max_chunk: 4194304 bytes plus"),
            "{err:?}"
        );
        let err = problems(load("[relay]\ncores = 8\ncore_port_base = 65530\n", &[]).unwrap_err());
        assert!(
            err[0].starts_with("relay.core_port_base: 65530 + 8 cores"),
            "{err:?}"
        );
    }

    #[test]
    fn link_secret_is_checked_and_never_printed() {
        let err = problems(load("[relay]\nlink_secret = \"short\"\n", &[]).unwrap_err());
        assert!(
            err[0].starts_with("relay.link_secret: at least 16 bytes"),
            "{err:?}"
        );
        let vars = [(
            "FERRY_RELAY__LINK_SECRET",
            "from the environment, long enough",
        )];
        let loaded = load("", &vars).unwrap();
        let secret = loaded.config.relay.link_secret.expect("secret set");
        assert_eq!(secret.bytes(), b"from the environment, long enough");
        assert_eq!(format!("{secret:?}"), "LinkSecret(***)");
        assert!(load("", &[]).unwrap().config.relay.link_secret.is_none());
        let text = "[relay]\nlink_secret = \"0123456789abcdef\"\n\
                    [db_proxy]\ndb = \"mysql://tt:pw@10.0.0.1/teamtalk\"\n";
        let shown = load(text, &[]).unwrap().file.to_toml_redacted();
        assert!(
            !shown.contains("0123456789abcdef") && !shown.contains(":pw@"),
            "{shown}"
        );
        assert!(
            shown.contains("mysql://tt:***@10.0.0.1/teamtalk"),
            "{shown}"
        );
    }

    #[test]
    fn unreadable_and_malformed_files_say_so() {
        let err = super::load(Some(Path::new("/nonexistent/ferry.toml"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read config file /nonexistent/ferry.toml"
        );
        let err = load("[relay\n", &[]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("config file test.toml is not valid TOML"),
            "{err}"
        );
    }

    #[test]
    fn printed_config_loads_back_to_itself() {
        let first = load("[relay]\ncores = 2\nmsg_allow = [\"10.1.1.1\"]\n", &[])
            .unwrap()
            .file
            .to_toml();
        let second = load(&first, &[]).unwrap().file.to_toml();
        assert_eq!(first, second);
        assert!(first.contains("msg_allow = [\"10.1.1.1\"]"));
    }
}
