//! The deploy kit kept honest against the real binary: every ferry command
//! line in deploy/systemd/*.service, deploy/compose.yaml and the ```sh
//! blocks of docs/deploy/*.md is given to `ferry` (with `--help` appended,
//! so clap checks the subcommand and every flag name without starting
//! anything), and each unit's and each compose service's settings (file,
//! environment, `--set` and named flags) are run through `ferry config
//! check`. The units must carry their limits (LimitNOFILE above what the
//! config lets the service hold, LimitMEMLOCK=infinity where the relay runs
//! on io_uring) and stop timeouts above the drain they wait for; the
//! compose services must point at each other's addresses; every
//! `section.key` and `FERRY_<SECTION>__<KEY>` the kit names must exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const UNITS: [&str; 6] = [
    "ferry-relay.service",
    "ferry-db-proxy.service",
    "ferry-msg-server.service",
    "ferry-route-server.service",
    "ferry-login-server.service",
    "ferry-up.service",
];

/// What the units and compose.yaml call the config file; the test reads
/// deploy/ferry.toml in its place (the file the guides copy there and the
/// one compose.yaml mounts there).
const INSTALLED_CONFIG: &str = "/etc/ferry/ferry.toml";
const INSTALLED_BINARY: &str = "/usr/local/bin/ferry";
const INSTALLED_ENV_FILE: &str = "/etc/ferry/ferry.env";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs the binary with `env` as its only FERRY_ variables.
fn ferry(args: &[String], env: &[(String, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    for (name, _) in std::env::vars() {
        if name.starts_with("FERRY_") {
            cmd.env_remove(name);
        }
    }
    cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    cmd.output().expect("run ferry")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `ferry ARGS --help`: clap reads the arguments in order, so an unknown
/// subcommand or flag fails (exit 2) before `--help` is reached.
fn help_accepts(args: &[String]) -> Result<(), String> {
    let mut with_help = args.to_vec();
    with_help.push("--help".into());
    let out = ferry(&with_help, &[]);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ferry {}` is refused: {}",
            args.join(" "),
            text(&out.stderr).trim()
        ))
    }
}

/// The resolved configuration `ferry config check` prints for `args`
/// (`--config FILE`, `--set KEY=VALUE`…) and `env`.
fn config_check(args: &[String], env: &[(String, String)]) -> Result<toml::Table, String> {
    let mut all = vec!["config".to_string(), "check".to_string()];
    all.extend_from_slice(args);
    let out = ferry(&all, env);
    if !out.status.success() {
        return Err(format!(
            "`ferry {}` with {env:?} fails: {}",
            all.join(" "),
            text(&out.stderr).trim()
        ));
    }
    Ok(text(&out.stdout).parse().expect("config check prints TOML"))
}

fn defaults() -> toml::Table {
    config_check(&[], &[]).expect("the defaults check")
}

fn has_key(defaults: &toml::Table, section: &str, key: &str) -> bool {
    defaults
        .get(section)
        .and_then(toml::Value::as_table)
        .is_some_and(|t| t.contains_key(key))
}

/// `FERRY_<SECTION>__<KEY>` as (section, key), lowercased.
fn env_key(name: &str) -> Option<(String, String)> {
    let (section, key) = name.strip_prefix("FERRY_")?.split_once("__")?;
    Some((section.to_ascii_lowercase(), key.to_ascii_lowercase()))
}

// ---------------------------------------------------------------- words

/// A command line split as a POSIX shell would (quotes, backslashes,
/// comments), with the operators `; | & > <` as words of their own. Words
/// are returned with whether they were quoted (an operator never is).
fn shell_words(line: &str) -> Vec<(String, bool)> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut in_word, mut quoted) = (false, false);
    let mut chars = line.chars().peekable();
    let flush =
        |words: &mut Vec<(String, bool)>, word: &mut String, in_word: &mut bool, q: &mut bool| {
            if *in_word {
                words.push((std::mem::take(word), *q));
            }
            *in_word = false;
            *q = false;
        };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                quoted = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                quoted = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => {
                            if let Some(&n) = chars.peek()
                                && matches!(n, '"' | '\\' | '$' | '`')
                            {
                                word.push(n);
                                chars.next();
                            } else {
                                word.push('\\');
                            }
                        }
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            '#' if !in_word => break,
            c if c.is_whitespace() => flush(&mut words, &mut word, &mut in_word, &mut quoted),
            ';' | '|' | '&' | '>' | '<' => {
                // `2>` redirects: the digits belong to the operator.
                let fd = in_word && !quoted && word.chars().all(|d| d.is_ascii_digit());
                if fd && matches!(c, '>' | '<') {
                    word.clear();
                    in_word = false;
                } else {
                    flush(&mut words, &mut word, &mut in_word, &mut quoted);
                }
                let mut op = c.to_string();
                while let Some(&n) = chars.peek() {
                    if matches!(n, '|' | '&' | '>') {
                        op.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                words.push((op, false));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    flush(&mut words, &mut word, &mut in_word, &mut quoted);
    words
}

fn is_operator(word: &(String, bool)) -> bool {
    !word.1 && word.0.starts_with([';', '|', '&', '>', '<'])
}

/// The simple commands of a shell line: split at `; && || | &`, with
/// redirections (`> file`, `2>&1`) taken out.
fn simple_commands(line: &str) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    let mut words = shell_words(line).into_iter();
    while let Some(w) = words.next() {
        if !is_operator(&w) {
            commands.last_mut().unwrap().push(w.0);
        } else if w.0.starts_with(['>', '<']) {
            if !w.0.ends_with('&') {
                words.next(); // the file
            } else {
                words.next(); // the fd: `>&` 1
            }
        } else if w.0 == ">&" || w.0 == "2>&" {
            words.next();
        } else {
            commands.push(Vec::new());
        }
    }
    commands.retain(|c| !c.is_empty());
    commands
}

// ---------------------------------------------------------------- flags

/// `ferry SUBCOMMAND… FLAGS` as config check arguments: `--config` and
/// `--set` as they are, each named flag as the `--set section.key=value` it
/// stands for (src/cli.rs: a flag `--foo-bar` of a service's subcommand sets
/// `<section>.foo_bar`). Flags without a value are left out.
fn as_config_check(args: &[String]) -> Vec<String> {
    let sub: Vec<&str> = args
        .iter()
        .take_while(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let section = match sub.first().copied() {
        Some("relay") => "relay",
        Some("msg-server") => "msg_server",
        Some("route-server") => "route_server",
        Some("login-server") => "login_server",
        Some("db-proxy") | Some("db") | Some("user") => "db_proxy",
        Some("store") => "offline",
        _ => "",
    };
    let mut out = Vec::new();
    let mut rest = args[sub.len()..].iter();
    while let Some(flag) = rest.next() {
        let Some(name) = flag.strip_prefix("--") else {
            continue; // a positional (a user name, a directory)
        };
        let (name, inline) = match name.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (name, None),
        };
        if matches!(
            name,
            "any-port" | "no-offline" | "dry-run" | "help" | "version"
        ) {
            continue;
        }
        let Some(value) = inline.or_else(|| rest.next().cloned()) else {
            continue;
        };
        let keys: Vec<String> = match (sub.first().copied(), name) {
            (_, "config") => {
                out.extend(["--config".to_string(), value]);
                continue;
            }
            (_, "set") => {
                let value = if value.split_once('=').is_some_and(|(k, _)| !k.contains('.'))
                    && !section.is_empty()
                {
                    format!("{section}.{value}")
                } else {
                    value
                };
                out.extend(["--set".to_string(), value]);
                continue;
            }
            (Some("store"), "data-dir") => vec!["offline.root".into()],
            (_, "data-dir") => vec!["storage.data_dir".into()],
            (_, "db") => vec!["db_proxy.db".into()],
            (Some("up"), "advertise") => {
                vec!["msg_server.advertise".into(), "relay.advertise".into()]
            }
            // ferry user add's own flags are not configuration.
            (Some("user"), "password" | "nick" | "depart") => continue,
            (_, name) => vec![format!("{section}.{}", name.replace('-', "_"))],
        };
        for key in keys {
            out.extend(["--set".to_string(), format!("{key}={value}")]);
        }
    }
    out
}

/// A unit's or a service's `ferry` arguments with the installed paths
/// replaced by the repository's.
fn localise(args: &[String]) -> Vec<String> {
    let config = root().join("deploy/ferry.toml");
    args.iter()
        .map(|a| {
            if a == INSTALLED_CONFIG {
                config.display().to_string()
            } else {
                a.clone()
            }
        })
        .collect()
}

// ---------------------------------------------------------------- units

struct Unit {
    name: String,
    /// `[Service]` keys in order (a key may repeat).
    service: Vec<(String, String)>,
}

impl Unit {
    fn load(name: &str) -> Unit {
        let body = read(&root().join("deploy/systemd").join(name));
        let mut service = Vec::new();
        let mut section = String::new();
        let mut pending = String::new();
        for raw in body.lines() {
            let line = raw.trim();
            if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
                continue;
            }
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
                continue;
            }
            let line = format!("{pending}{line}");
            pending.clear();
            if line.starts_with('[') {
                section = line;
            } else if section == "[Service]"
                && let Some((k, v)) = line.split_once('=')
            {
                service.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Unit {
            name: name.to_string(),
            service,
        }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.service
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<&str> {
        self.service
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The environment systemd gives the process: Environment= and the
    /// EnvironmentFile= (/etc/ferry/ferry.env is deploy/systemd/ferry.env).
    fn environment(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        for file in self.all("EnvironmentFile") {
            let file = file.trim_start_matches('-');
            assert_eq!(
                file, INSTALLED_ENV_FILE,
                "{}: an EnvironmentFile this test does not know",
                self.name
            );
            env.extend(env_file_assignments(&read(
                &root().join("deploy/systemd/ferry.env"),
            )));
        }
        for value in self.all("Environment") {
            for (w, _) in shell_words(value) {
                if let Some((k, v)) = w.split_once('=') {
                    env.push((k.to_string(), v.to_string()));
                }
            }
        }
        env
    }

    /// ExecStart's words after the binary, variables expanded.
    fn ferry_args(&self) -> Vec<String> {
        let exec = self
            .get("ExecStart")
            .unwrap_or_else(|| panic!("{}: no ExecStart", self.name));
        let env: BTreeMap<String, String> = self.environment().into_iter().collect();
        let words: Vec<String> = shell_words(exec)
            .into_iter()
            .map(|(w, _)| {
                let mut w = w;
                for (k, v) in &env {
                    w = w.replace(&format!("${{{k}}}"), v);
                }
                assert!(
                    !w.contains("${"),
                    "{}: {w} names a variable the environment file does not set",
                    self.name
                );
                w
            })
            .collect();
        assert_eq!(
            words.first().map(String::as_str),
            Some(INSTALLED_BINARY),
            "{}: ExecStart runs {INSTALLED_BINARY}",
            self.name
        );
        words[1..].to_vec()
    }

    fn seconds(&self, key: &str) -> f64 {
        let v = self
            .get(key)
            .unwrap_or_else(|| panic!("{}: {key} is missing", self.name));
        seconds(v).unwrap_or_else(|| panic!("{}: {key}={v} is not a duration", self.name))
    }
}

/// `KEY=value` lines of an environment file (comments and blanks skipped).
fn env_file_assignments(body: &str) -> Vec<(String, String)> {
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// "10s", "2m", "1min 30s", "7days", "45" (seconds) as seconds.
fn seconds(text: &str) -> Option<f64> {
    let mut total = 0.0;
    for part in text.split_whitespace() {
        let split = part
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(part.len());
        let (n, unit) = part.split_at(split);
        let n: f64 = n.parse().ok()?;
        let scale = match unit {
            "" | "s" | "sec" => 1.0,
            "ms" | "msec" => 0.001,
            "m" | "min" => 60.0,
            "h" | "hr" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            _ => return None,
        };
        total += n * scale;
    }
    Some(total)
}

fn resolved_seconds(config: &toml::Table, section: &str, key: &str) -> f64 {
    let v = config[section][key].as_str().expect("a duration is text");
    seconds(v).unwrap_or_else(|| panic!("{section}.{key} = {v}"))
}

fn resolved_int(config: &toml::Table, section: &str, key: &str) -> i64 {
    config[section][key].as_integer().expect("an integer")
}

/// What a unit runs with, as `ferry config check` resolves it.
fn unit_config(unit: &Unit) -> toml::Table {
    let args = localise(&unit.ferry_args());
    config_check(&as_config_check(&args), &unit.environment())
        .unwrap_or_else(|e| panic!("{}: {e}", unit.name))
}

#[test]
fn help_refuses_an_unknown_flag_so_the_checks_below_mean_something() {
    let ok = |a: &[&str]| help_accepts(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert!(ok(&["relay", "--config", "x.toml", "--cores", "2"]).is_ok());
    assert!(ok(&["relay", "--config", "x.toml", "--no-such-flag", "2"]).is_err());
    assert!(ok(&["no-such-subcommand"]).is_err());
    assert!(ok(&["store", "import-teamtalk", "/srv/offline_file"]).is_ok());
}

#[test]
fn every_unit_runs_a_real_subcommand_with_real_flags_and_a_valid_config() {
    for name in UNITS {
        let unit = Unit::load(name);
        let args = localise(&unit.ferry_args());
        if let Err(e) = help_accepts(&args) {
            panic!("{name}: {e}");
        }
        unit_config(&unit);
        assert!(
            args.iter()
                .any(|a| a == &root().join("deploy/ferry.toml").display().to_string()),
            "{name}: ExecStart reads {INSTALLED_CONFIG} with --config"
        );
    }
}

#[test]
fn every_unit_has_its_limits_user_restart_and_stop_timeout() {
    for name in UNITS {
        let unit = Unit::load(name);
        let user = unit.get("User").unwrap_or("root");
        assert!(
            user != "root" && !user.is_empty(),
            "{name}: a dedicated User="
        );
        assert_eq!(unit.get("Restart"), Some("on-failure"), "{name}");
        assert_eq!(unit.get("NoNewPrivileges"), Some("yes"), "{name}");
        assert_eq!(unit.get("ProtectSystem"), Some("strict"), "{name}");
        let nofile: u64 = unit
            .get("LimitNOFILE")
            .unwrap_or_else(|| panic!("{name}: LimitNOFILE is missing"))
            .parse()
            .unwrap_or_else(|_| panic!("{name}: LimitNOFILE is not a number"));
        let io_uring = matches!(name, "ferry-relay.service" | "ferry-up.service");
        if io_uring {
            assert_eq!(
                unit.get("LimitMEMLOCK"),
                Some("infinity"),
                "{name}: io_uring rings are charged to RLIMIT_MEMLOCK on older kernels"
            );
        }

        let c = unit_config(&unit);
        let conns = |s: &str| resolved_int(&c, s, "max_connections") as u64;
        let drain = |s: &str| resolved_seconds(&c, s, "drain_timeout");
        // login_server's drain is fixed (control/src/login_server/mod.rs).
        let login_drain = 5.0;
        let (needs_files, longest_drain) = match name {
            "ferry-relay.service" => (0, drain("relay")),
            "ferry-msg-server.service" => (conns("msg_server"), drain("msg_server")),
            "ferry-route-server.service" => (conns("route_server"), drain("route_server")),
            "ferry-login-server.service" => (3 * conns("login_server"), login_drain),
            "ferry-db-proxy.service" => (
                conns("db_proxy") + 2 * resolved_int(&c, "db_proxy", "pool_size") as u64,
                drain("db_proxy"),
            ),
            // Front (msg_server, login_server), then route_server and
            // db_proxy, then the relay: src/up_cmd.rs.
            "ferry-up.service" => (
                conns("msg_server")
                    + 3 * conns("login_server")
                    + conns("route_server")
                    + conns("db_proxy"),
                drain("msg_server").max(login_drain)
                    + drain("route_server").max(drain("db_proxy"))
                    + drain("relay"),
            ),
            _ => unreachable!(),
        };
        assert!(
            nofile > needs_files,
            "{name}: LimitNOFILE={nofile} cannot hold the {needs_files} connections the config allows"
        );
        assert!(nofile >= 4096, "{name}: LimitNOFILE={nofile}");
        let stop = unit.seconds("TimeoutStopSec");
        assert!(
            stop > longest_drain,
            "{name}: TimeoutStopSec={stop}s would cut the {longest_drain}s drain short"
        );
    }
}

#[test]
fn units_write_only_where_they_may() {
    for name in UNITS {
        let unit = Unit::load(name);
        let mut writable: Vec<String> = unit
            .all("ReadWritePaths")
            .iter()
            .flat_map(|v| v.split_whitespace())
            .map(|p| p.trim_start_matches(['-', '+']).to_string())
            .collect();
        writable.extend(
            unit.all("StateDirectory")
                .iter()
                .flat_map(|v| v.split_whitespace())
                .map(|d| format!("/var/lib/{d}")),
        );
        let args = unit.ferry_args();
        let mut paths = Vec::new();
        for (i, a) in args.iter().enumerate() {
            if a == "--data-dir" {
                paths.push(args[i + 1].clone());
            }
            if let Some(root) = a.strip_prefix("offline.root=") {
                paths.push(root.to_string());
            }
        }
        if let Some(dir) = unit.get("WorkingDirectory") {
            paths.push(dir.to_string());
        }
        for p in paths {
            assert!(
                p.starts_with('/'),
                "{name}: {p} should be absolute (it would follow the working directory)"
            );
            assert!(
                writable.iter().any(|w| Path::new(&p).starts_with(w)),
                "{name}: {p} is written to but is not under ReadWritePaths= {writable:?}"
            );
        }
    }
}

// ---------------------------------------------------------------- compose

#[derive(Debug, Default)]
struct Service {
    ferry: bool,
    command: Vec<String>,
    environment: Vec<(String, String)>,
    ipv4: Option<String>,
    lines: Vec<String>,
}

/// compose.yaml's values of `${VAR}` for the test (what deploy/.env holds).
fn compose_var(name: &str, default: Option<&str>) -> String {
    match (name, default) {
        (_, Some(d)) => d.to_string(),
        ("MARIADB_PASSWORD", None) => "0123456789abcdef".into(),
        ("FERRY_LINK_SECRET", None) => "0123456789abcdef0123456789abcdef".into(),
        (other, None) => panic!("compose.yaml: ${{{other}}} has no value in the test"),
    }
}

/// `${VAR}`, `${VAR:-default}` and `${VAR:?message}` interpolated.
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        let inner = &rest[start + 2..end];
        let expanded = if let Some((name, d)) = inner.split_once(":-") {
            compose_var(name, Some(d))
        } else if let Some((name, _)) = inner.split_once(":?") {
            compose_var(name, None)
        } else {
            compose_var(inner, None)
        };
        out.push_str(&expanded);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    if v.len() >= 2
        && (v.starts_with('"') && v.ends_with('"') || v.starts_with('\'') && v.ends_with('\''))
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// The services of compose.yaml, read as far as this test needs (the file
/// keeps to that shape: `command:` a one-line list, `environment:` a map
/// with one `KEY: value` per line, ferry services merge `<<: *ferry`).
fn compose_services() -> BTreeMap<String, Service> {
    let body = read(&root().join("deploy/compose.yaml"));
    let mut services = BTreeMap::new();
    let mut in_services = false;
    let mut current: Option<String> = None;
    let mut block = "";
    for line in body.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if indent == 0 {
            in_services = trimmed == "services:";
            current = None;
            continue;
        }
        if !in_services {
            continue;
        }
        if indent == 2 {
            let name = trimmed.trim_end_matches(':').to_string();
            services.insert(name.clone(), Service::default());
            current = Some(name);
            block = "";
            continue;
        }
        let s = services.get_mut(current.as_ref().unwrap()).unwrap();
        s.lines.push(trimmed.to_string());
        if indent == 4 {
            block = "";
            if trimmed == "<<: *ferry" {
                s.ferry = true;
            } else if let Some(list) = trimmed.strip_prefix("command:") {
                let list: Vec<String> =
                    serde_json::from_str(list.trim()).expect("command: a one-line list");
                s.command = list;
            } else if trimmed == "environment:" {
                block = "environment";
            } else if trimmed.starts_with("networks:") {
                block = "networks";
            }
        } else if block == "environment" && indent == 6 {
            let (k, v) = trimmed.split_once(':').expect("KEY: value");
            s.environment
                .push((k.trim().to_string(), interpolate(&unquote(v))));
        } else if block == "networks"
            && let Some(ip) = trimmed.strip_prefix("ipv4_address:")
        {
            s.ipv4 = Some(ip.trim().to_string());
        }
    }
    services
}

#[test]
fn every_compose_service_runs_a_real_subcommand_with_a_valid_config() {
    let services = compose_services();
    let ferry_services: Vec<&String> = services
        .iter()
        .filter(|(_, s)| s.ferry)
        .map(|(n, _)| n)
        .collect();
    for name in [
        "db-migrate",
        "db-proxy",
        "route-server",
        "login-server",
        "msg-server",
        "relay",
    ] {
        assert!(
            ferry_services.iter().any(|n| *n == name),
            "compose.yaml: no ferry service {name}"
        );
    }
    for name in ferry_services {
        let s = &services[name];
        let args = localise(&s.command);
        if let Err(e) = help_accepts(&args) {
            panic!("compose.yaml {name}: {e}");
        }
        assert!(
            args.iter()
                .any(|a| a == &root().join("deploy/ferry.toml").display().to_string()),
            "compose.yaml {name}: reads {INSTALLED_CONFIG} (./ferry.toml mounted) with --config"
        );
        if let Err(e) = config_check(&as_config_check(&args), &s.environment) {
            panic!("compose.yaml {name}: {e}");
        }
    }
    let body = read(&root().join("deploy/compose.yaml"));
    assert!(
        body.contains(&format!("./ferry.toml:{INSTALLED_CONFIG}:ro")),
        "compose.yaml mounts deploy/ferry.toml as the config"
    );
}

#[test]
fn compose_services_point_at_each_other() {
    let services = compose_services();
    let env = |svc: &str, key: &str| -> String {
        services[svc]
            .environment
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("compose.yaml {svc}: {key} is not set"))
    };
    let ip = |svc: &str| services[svc].ipv4.clone().expect("a fixed address");
    let port = |addr: String| addr.rsplit_once(':').unwrap().1.to_string();
    let msg = |key: &str| env("msg-server", key);
    assert_eq!(
        msg("FERRY_MSG_SERVER__DB_PROXY"),
        format!(
            "{}:{}",
            ip("db-proxy"),
            port(env("db-proxy", "FERRY_DB_PROXY__LISTEN"))
        )
    );
    assert_eq!(
        msg("FERRY_MSG_SERVER__FILE_SERVER"),
        format!(
            "{}:{}",
            ip("relay"),
            port(env("relay", "FERRY_RELAY__MSG_LISTEN"))
        )
    );
    let defaults = defaults();
    let default_port = |s: &str, k: &str| port(defaults[s][k].as_str().unwrap().to_string());
    assert_eq!(
        msg("FERRY_MSG_SERVER__ROUTE_SERVER"),
        format!(
            "{}:{}",
            ip("route-server"),
            default_port("route_server", "listen")
        )
    );
    assert_eq!(
        msg("FERRY_MSG_SERVER__LOGIN_SERVER"),
        format!(
            "{}:{}",
            ip("login-server"),
            default_port("login_server", "msg_server_listen")
        )
    );
    assert_eq!(env("relay", "FERRY_RELAY__MSG_ALLOW"), ip("msg-server"));
    assert_eq!(
        env("relay", "FERRY_RELAY__LINK_SECRET"),
        msg("FERRY_MSG_SERVER__FILE_SERVER_SECRET")
    );
    assert_eq!(
        env("db-migrate", "FERRY_DB_PROXY__DB"),
        env("db-proxy", "FERRY_DB_PROXY__DB"),
        "db migrate prepares the database db-proxy uses"
    );
    // Every relay core's port is published: cores fixed, 8610.. mapped.
    let cores: u16 = env("relay", "FERRY_RELAY__CORES").parse().unwrap();
    let base = defaults["relay"]["core_port_base"].as_integer().unwrap() as u16;
    let range = format!(
        "\"{base}-{}:{base}-{}\"",
        base + cores - 1,
        base + cores - 1
    );
    assert!(
        services["relay"].lines.iter().any(|l| l.contains(&range)),
        "compose.yaml relay: publish {range} for {cores} cores"
    );
    let relay = services["relay"].lines.join("\n");
    assert!(
        relay.contains("memlock: -1"),
        "compose.yaml relay: memlock ulimit"
    );
    assert!(
        relay.contains("nofile:"),
        "compose.yaml relay: nofile ulimit"
    );
}

// ---------------------------------------------------------------- docs

fn guides() -> Vec<(PathBuf, String)> {
    let dir = root().join("docs/deploy");
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| {
            let body = read(&p);
            (p, body)
        })
        .collect();
    out.sort();
    out
}

/// The lines of the ```sh blocks, continuation lines joined.
fn sh_lines(body: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in body.lines() {
        let fence = line.trim_start();
        if fence.starts_with("```") {
            in_sh = !in_sh && fence.trim_start_matches('`').trim() == "sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            pending.push_str(cont);
            pending.push(' ');
            continue;
        }
        lines.push(format!("{pending}{line}"));
        pending.clear();
    }
    lines
}

/// The `ferry` arguments of a simple command, if it runs ferry directly
/// or through env, sudo, runuser or `docker compose exec SERVICE`.
fn ferry_invocation(words: &[String]) -> Option<Vec<String>> {
    let is_ferry = |w: &str| w == "ferry" || w == INSTALLED_BINARY || w == "target/release/ferry";
    // Options of the wrappers that take a value.
    let takes_value =
        |w: &str| matches!(w, "-u" | "-g" | "-f" | "-e" | "-w" | "--user" | "--workdir");
    let mut i = 0;
    // VAR=value prefixes.
    while words
        .get(i)
        .is_some_and(|w| !w.starts_with('-') && w.contains('='))
    {
        i += 1;
    }
    let first = words.get(i)?.as_str();
    if is_ferry(first) {
        return Some(words[i + 1..].to_vec());
    }
    match first {
        "sudo" | "runuser" | "env" => {
            i += 1;
            while let Some(w) = words.get(i) {
                if w == "--" {
                    i += 1;
                    break;
                } else if takes_value(w) {
                    i += 2;
                } else if w.starts_with('-') {
                    i += 1;
                } else {
                    break;
                }
            }
            ferry_invocation(&words[i..])
        }
        "docker" => {
            let at = words.iter().position(|w| w == "exec")?;
            let mut i = at + 1;
            while let Some(w) = words.get(i) {
                if takes_value(w) {
                    i += 2;
                } else if w.starts_with('-') {
                    i += 1;
                } else {
                    break;
                }
            }
            // The service, then the command run in it.
            words.get(i + 1).filter(|w| is_ferry(w))?;
            Some(words[i + 2..].to_vec())
        }
        _ => None,
    }
}

#[test]
fn every_ferry_command_in_the_guides_is_accepted() {
    let mut checked = 0;
    let mut problems = Vec::new();
    for (path, body) in guides() {
        for line in sh_lines(&body) {
            for command in simple_commands(&line) {
                let Some(args) = ferry_invocation(&command) else {
                    continue;
                };
                checked += 1;
                if let Err(e) = help_accepts(&args) {
                    problems.push(format!("{}: {e}", path.display()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        checked >= 12,
        "only {checked} ferry commands found in docs/deploy: is the ```sh parsing broken?"
    );
}

/// The ```toml blocks of the guides, each a config file of its own.
fn toml_blocks(body: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in body.lines() {
        let fence = line.trim_start();
        if fence.starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None if fence.trim_start_matches('`').trim() == "toml" => {
                    current = Some(String::new())
                }
                None => {}
            }
            continue;
        }
        if let Some(block) = &mut current {
            block.push_str(line);
            block.push('\n');
        }
    }
    blocks
}

#[test]
fn every_toml_snippet_in_the_guides_is_a_valid_config() {
    let dir = std::env::temp_dir().join(format!("ferry-deploy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut checked = 0;
    let mut problems = Vec::new();
    for (path, body) in guides() {
        for (i, block) in toml_blocks(&body).iter().enumerate() {
            let file = dir.join(format!("snippet-{checked}.toml"));
            std::fs::write(&file, block).unwrap();
            checked += 1;
            if let Err(e) = config_check(&["--config".into(), file.display().to_string()], &[]) {
                problems.push(format!("{} (toml block {}): {e}", path.display(), i + 1));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        checked >= 5,
        "only {checked} toml blocks found in docs/deploy"
    );
}

#[test]
fn every_key_the_kit_names_exists() {
    let defaults = defaults();
    let mut files: Vec<(PathBuf, String)> = guides();
    for extra in [
        "deploy/systemd/ferry.env",
        "deploy/compose.yaml",
        "README.md",
    ] {
        files.push((root().join(extra), read(&root().join(extra))));
    }
    for name in UNITS {
        let p = root().join("deploy/systemd").join(name);
        files.push((p.clone(), read(&p)));
    }
    let sections: Vec<&String> = defaults.keys().collect();
    let mut problems = Vec::new();
    let mut seen = 0;
    for (path, body) in &files {
        // FERRY_<SECTION>__<KEY>, anywhere.
        for word in body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if let Some((section, key)) = env_key(word)
                && !key.is_empty()
                && word == word.to_ascii_uppercase()
            {
                seen += 1;
                if !has_key(&defaults, &section, &key) {
                    problems.push(format!("{}: {word} is not a key", path.display()));
                }
            }
        }
        // `section.key` in backquotes, for the config's sections.
        for quoted in body.split('`').skip(1).step_by(2) {
            let Some((section, key)) = quoted.split_once('.') else {
                continue;
            };
            if !sections.iter().any(|s| *s == section) {
                continue;
            }
            let key = key.split(['=', ' ']).next().unwrap_or(key);
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                continue;
            }
            seen += 1;
            if !has_key(&defaults, section, key) {
                problems.push(format!("{}: `{quoted}` is not a key", path.display()));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(seen >= 30, "only {seen} keys found: is the scan broken?");
}

#[test]
fn the_shell_splitter_reads_what_the_guides_write() {
    let c = simple_commands(
        "sudo -u ferry ferry user add alice --password 'a b' --data-dir /var/lib/ferry 2>&1 | tail -1 # note",
    );
    assert_eq!(c.len(), 2);
    assert_eq!(
        ferry_invocation(&c[0]).unwrap(),
        [
            "user",
            "add",
            "alice",
            "--password",
            "a b",
            "--data-dir",
            "/var/lib/ferry"
        ]
    );
    let c =
        simple_commands("FERRY_OFFLINE__ENABLED=true ferry relay --advertise 10.0.0.5 > log; ls");
    assert_eq!(
        ferry_invocation(&c[0]).unwrap(),
        ["relay", "--advertise", "10.0.0.5"]
    );
    assert_eq!(ferry_invocation(&c[1]), None);
    let c = simple_commands("install -d /etc/ferry && cp deploy/ferry.toml /etc/ferry/");
    assert!(c.iter().all(|c| ferry_invocation(c).is_none()));
    let c = simple_commands(
        "docker compose exec db-proxy ferry user list --config /etc/ferry/ferry.toml",
    );
    assert_eq!(
        ferry_invocation(&c[0]).unwrap(),
        ["user", "list", "--config", "/etc/ferry/ferry.toml"]
    );
    assert_eq!(
        as_config_check(&[
            "up".into(),
            "--config".into(),
            "f.toml".into(),
            "--advertise".into(),
            "10.0.0.5".into(),
            "--data-dir".into(),
            "/d".into()
        ]),
        [
            "--config",
            "f.toml",
            "--set",
            "msg_server.advertise=10.0.0.5",
            "--set",
            "relay.advertise=10.0.0.5",
            "--set",
            "storage.data_dir=/d"
        ]
    );
    assert_eq!(seconds("1min 30s"), Some(90.0));
    assert_eq!(seconds("7days"), Some(604800.0));
}
