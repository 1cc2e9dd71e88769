//! Configuration: one TOML file with a section per service, environment
//! overrides (`FERRY_<SECTION>__<KEY>`), then command-line flags on top.
//!
//! Each section is its service's own settings struct, defined once in its
//! crate (`ferry_relay::Config`, `ferry_control::db_proxy::Config`, …; see
//! `ferry-config`), and every layer works on it: the file is read into it,
//! an environment variable or a flag sets one of its keys (typed by the
//! key's default), `config check` prints it. Adding a key to a service is
//! adding a field to its struct. Loading: [`load_from`].

mod env;
mod schema;

use std::path::{Path, PathBuf};

use thiserror::Error;
use toml::{Table, Value};

pub use ferry_config::Problem;
pub use schema::{FileConfig, OfflineFile, StorageFile};

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
    /// File, environment and flags merged, checked: what the services run
    /// with and what `config check` prints.
    pub config: FileConfig,
    /// Environment variables (and flags) that set a key.
    pub overrides: Vec<String>,
}

/// A key set on the command line: `section.key` and its text, typed like
/// an environment override (by the key's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagValue {
    pub key: String,
    pub value: String,
    /// How the user wrote it, for problems: `--advertise`, `--set`.
    pub flag: String,
}

impl FlagValue {
    pub fn new(key: impl Into<String>, value: impl Into<String>, flag: impl Into<String>) -> Self {
        FlagValue {
            key: key.into(),
            value: value.into(),
            flag: flag.into(),
        }
    }
}

/// Reads `path` (if any), applies the process environment and `flags`,
/// validates.
pub fn load(path: Option<&Path>, flags: &[FlagValue]) -> Result<Loaded, ConfigError> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
            path: p.into(),
            source,
        })?,
        None => String::new(),
    };
    let path = path.unwrap_or(Path::new("(none)"));
    load_from(&text, path, std::env::vars(), flags)
}

/// File text -> table -> environment overrides -> flags -> unknown keys
/// refused -> each section's struct (a key of the wrong type is named and
/// left at its default so the rest is still read) -> each section's own
/// checks. Every problem is reported, each named by its key.
pub fn load_from(
    text: &str,
    path: &Path,
    vars: impl IntoIterator<Item = (String, String)>,
    flags: &[FlagValue],
) -> Result<Loaded, ConfigError> {
    let mut table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: path.into(),
            message: e.to_string(),
        })?;
    let defaults = Table::try_from(FileConfig::default()).expect("defaults serialize");
    let mut origins =
        env::apply(&mut table, &defaults, vars).map_err(|p| ConfigError::Invalid(vec![p]))?;
    for f in flags {
        let (section, key) = f.key.split_once('.').unwrap_or(("", &f.key));
        env::set(&mut table, &defaults, section, key, &f.value, &f.flag)
            .map_err(|p| ConfigError::Invalid(vec![p]))?;
        origins.insert(f.key.clone(), f.flag.clone());
    }
    let origin = |key: &str| origins.get(key).cloned();
    let mut problems = unknown_keys(&mut table, &defaults, &origin);
    let config: FileConfig = loop {
        match serde_path_to_error::deserialize::<_, FileConfig>(table.clone()) {
            Ok(config) => break config,
            Err(e) => {
                let key = e.path().to_string();
                // toml's message alone, without its "in `section`" context line.
                let problem = e.into_inner().message().to_string();
                problems.push(Problem {
                    origin: origin(&key),
                    key: key.clone(),
                    problem,
                });
                if !remove_key(&mut table, &key) {
                    return Err(ConfigError::Invalid(problems));
                }
            }
        }
    };
    for mut p in config.validate() {
        p.origin = origin(&p.key);
        problems.push(p);
    }
    if !problems.is_empty() {
        problems.sort_by(|a, b| a.key.cmp(&b.key));
        return Err(ConfigError::Invalid(problems));
    }
    Ok(Loaded {
        config,
        overrides: origins.into_values().collect(),
    })
}

/// Takes every section and key the defaults do not have out of `table`,
/// each a problem naming what was expected.
fn unknown_keys(
    table: &mut Table,
    defaults: &Table,
    origin: &dyn Fn(&str) -> Option<String>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let sections: Vec<String> = table.keys().cloned().collect();
    for section in sections {
        let Some(Value::Table(known)) = defaults.get(&section) else {
            problems.push(Problem {
                problem: format!(
                    "unknown section `{section}`, expected one of {}",
                    names(defaults)
                ),
                origin: origin(&section),
                key: section.clone(),
            });
            table.remove(&section);
            continue;
        };
        let Some(Value::Table(given)) = table.get_mut(&section) else {
            continue; // not a table: the struct's deserializer says so
        };
        let keys: Vec<String> = given.keys().cloned().collect();
        for key in keys {
            if !known.contains_key(&key) {
                let path = format!("{section}.{key}");
                problems.push(Problem {
                    problem: format!("unknown key `{key}`, expected one of {}", names(known)),
                    origin: origin(&path),
                    key: path,
                });
                given.remove(&key);
            }
        }
    }
    problems
}

fn names(table: &Table) -> String {
    let names: Vec<String> = table.keys().map(|k| format!("`{k}`")).collect();
    names.join(", ")
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
            Some(Value::Table(inner)) => t = inner,
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
        let mut table = Table::try_from(self).expect("config serializes");
        if let Some(Value::Table(relay)) = table.get_mut("relay")
            && let Some(Value::String(secret)) = relay.get_mut("link_secret")
            && !secret.is_empty()
        {
            *secret = "***".into();
        }
        if let Some(Value::Table(db)) = table.get_mut("db_proxy") {
            for key in ["db", "db_read", "redis"] {
                if let Some(Value::String(url)) = db.get_mut(key) {
                    *url = ferry_control::store::redact(url);
                }
            }
        }
        toml::to_string_pretty(&table).expect("config serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        load_from(text, Path::new("test.toml"), vars, &[])
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
    fn the_offline_store_is_off_unless_enabled() {
        let off = load("[offline]\nblock_size = \"3KiB\"\n", &[]).unwrap();
        assert_eq!(
            off.config.offline.relay_store(),
            None,
            "off: its keys are not checked"
        );
        let text = "[offline]\nenabled = true\nroot = \"/srv/offline\"\nblock_size = \"64KiB\"\n";
        let on = load(text, &[("FERRY_OFFLINE__QUOTA_BYTES", "10GiB")]).unwrap();
        let store = on.config.offline.relay_store().expect("enabled");
        assert_eq!(store.root, Path::new("/srv/offline"));
        assert_eq!((store.block_size, store.quota_bytes), (64 << 10, 10 << 30));
        let err =
            problems(load("[offline]\nenabled = true\nblock_size = \"3000B\"\n", &[]).unwrap_err());
        assert!(
            err[0].starts_with("offline.block_size: 3000 is not a power of two"),
            "{err:?}"
        );
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
        assert_eq!(loaded.config.db_proxy.store.pool_size, 4);
        assert_eq!(
            loaded.config.db_proxy.store.redis.as_deref(),
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
        assert!(
            err[0].starts_with("relya: unknown section `relya`"),
            "{err:?}"
        );
        let err = problems(load("[relay]\nwindow = \"many\"\n", &[]).unwrap_err());
        assert!(err[0].starts_with("relay.window: invalid type"), "{err:?}");
    }

    #[test]
    fn deferred_completions_refuse_busy_polling() {
        let both = "[relay]\nbusy_poll = \"50us\"\nuring_taskrun = \"defer\"\n";
        let err = problems(load(both, &[]).unwrap_err());
        assert!(err[0].starts_with("relay.uring_taskrun: "), "{err:?}");
        let coop = "[relay]\nbusy_poll = \"50us\"\nuring_taskrun = \"coop\"\n";
        let relay = load(coop, &[]).unwrap().config.relay;
        assert_eq!(relay.uring_taskrun, ferry_relay::TaskRun::Coop);
        let err = problems(load("[relay]\nuring_taskrun = \"often\"\n", &[]).unwrap_err());
        assert!(err[0].starts_with("relay.uring_taskrun: "), "{err:?}");
    }

    #[test]
    fn busy_polling_is_bounded() {
        let err = problems(load("[relay]\nbusy_poll = \"20ms\"\n", &[]).unwrap_err());
        assert!(
            err[0].starts_with("relay.busy_poll: at most 10ms"),
            "{err:?}"
        );
        let relay = load("[relay]\nbusy_poll = \"50us\"\n", &[])
            .unwrap()
            .config
            .relay;
        assert_eq!(relay.busy_poll, std::time::Duration::from_micros(50));
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
    fn flags_go_over_file_and_environment_and_name_themselves() {
        let flags = [
            FlagValue::new("relay.window", "32", "--set relay.window=32"),
            FlagValue::new("relay.advertise", "10.0.0.5", "--advertise"),
            FlagValue::new(
                "db_proxy.pool_size",
                "nine",
                "--set db_proxy.pool_size=nine",
            ),
        ];
        let vars = [("FERRY_RELAY__WINDOW".to_string(), "8".to_string())];
        let err = load_from(
            "[relay]\nwindow = 4\n",
            Path::new("t"),
            vars.clone(),
            &flags,
        )
        .unwrap_err();
        assert_eq!(
            problems(err),
            [
                "db_proxy.pool_size: expected a whole number, got \"nine\" (from --set db_proxy.pool_size=nine)"
            ]
        );
        let loaded = load_from("[relay]\nwindow = 4\n", Path::new("t"), vars, &flags[..2]).unwrap();
        assert_eq!(loaded.config.relay.window, 32);
        assert_eq!(loaded.config.relay.advertise, Some([10, 0, 0, 5].into()));
        let err = load_from(
            "",
            Path::new("t"),
            [],
            &[FlagValue::new("relay.windw", "1", "--set windw=1")],
        )
        .unwrap_err();
        assert!(problems(err)[0].starts_with("relay.windw: unknown key `windw`"));
    }

    /// deploy/ferry.toml lists every key with its default: it cannot fall
    /// behind the settings structs.
    #[test]
    fn the_example_file_has_every_key_at_its_default() {
        let example: Table = include_str!("../../deploy/ferry.toml").parse().unwrap();
        let defaults = Table::try_from(FileConfig::default()).unwrap();
        for (section, keys) in &defaults {
            let keys = keys.as_table().unwrap();
            let Some(Value::Table(given)) = example.get(section) else {
                panic!("deploy/ferry.toml lacks the [{section}] section");
            };
            for (key, value) in keys {
                assert_eq!(
                    given.get(key),
                    Some(value),
                    "deploy/ferry.toml: {section}.{key} should be {value}"
                );
            }
            for key in given.keys() {
                assert!(
                    keys.contains_key(key),
                    "deploy/ferry.toml: {section}.{key} is not a key"
                );
            }
        }
        assert_eq!(
            example.len(),
            defaults.len(),
            "deploy/ferry.toml has other sections"
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
        let shown = load(text, &[]).unwrap().config.to_toml_redacted();
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
        let err = super::load(Some(Path::new("/nonexistent/ferry.toml")), &[]).unwrap_err();
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
            .config
            .to_toml();
        let second = load(&first, &[]).unwrap().config.to_toml();
        assert_eq!(first, second);
        assert!(first.contains("msg_allow = [\"10.1.1.1\"]"));
    }
}
