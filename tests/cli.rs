//! The `ferry` binary as a user runs it: `--version` and `config check`.

use std::path::PathBuf;
use std::process::{Command, Output};

fn ferry(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(args).env_remove("FERRY_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run ferry")
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ferry-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_names_the_crate_version() {
    let out = ferry(&["--version"], &[]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("ferry {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn config_check_prints_the_resolved_config_with_overrides() {
    let file = temp_file("ok.toml", "[relay]\ncores = 2\nwindow = 4\n");
    let out = ferry(
        &["config", "check", "--config", file.to_str().unwrap()],
        &[("FERRY_RELAY__WINDOW", "32")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: toml::Table = text(&out.stdout).parse().expect("stdout is TOML");
    assert_eq!(printed["relay"]["cores"].as_integer(), Some(2));
    assert_eq!(printed["relay"]["window"].as_integer(), Some(32));
    assert_eq!(
        printed["db_proxy"]["listen"].as_str(),
        Some("127.0.0.1:10600")
    );
    assert!(text(&out.stderr).contains("FERRY_RELAY__WINDOW"));
}

#[test]
fn config_check_fails_with_every_problem_named() {
    let file = temp_file(
        "bad.toml",
        "[relay]\nclient_listen = \"0.0.0.0:99999\"\nspeed = 1\n",
    );
    let out = ferry(
        &["config", "check", "--config", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("relay.speed: unknown key `speed`"),
        "{}",
        text(&out.stderr)
    );

    let file = temp_file("port.toml", "[relay]\nclient_listen = \"0.0.0.0:99999\"\n");
    let out = ferry(
        &["config", "check"],
        &[("FERRY_CONFIG", file.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("relay.client_listen: port 99999 is out of range (0-65535)")
    );

    let out = ferry(
        &["config", "check", "--config", "/nonexistent/ferry.toml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot read config file /nonexistent/ferry.toml: No such file")
    );
}

#[test]
fn the_example_config_in_deploy_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/ferry.toml");
    let out = ferry(&["config", "check", "--config", example], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// README's example, in full: a bad port and a misspelt key are both named
/// in one run, not the first one found.
#[test]
fn config_check_names_every_problem_in_one_run() {
    let file = temp_file(
        "two.toml",
        "[relay]\nclient_listen = \"0.0.0.0:70000\"\nwindw = 4\n",
    );
    let out = ferry(
        &["config", "check", "--config", file.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("relay.client_listen: port 70000 is out of range (0-65535)"),
        "{err}"
    );
    assert!(err.contains("relay.windw: unknown key `windw`"), "{err}");
}

/// Logs written to a pipe (or a file) are plain text: no colour codes.
#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = std::env::temp_dir().join(format!("ferry-cli-{}-logs", std::process::id()));
    let db = format!("sqlite:{}", dir.join("ferry.db").display());
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
    cmd.args(["db-proxy", "--db", &db, "--listen", &addr])
        .env_remove("FERRY_CONFIG")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info");
    let out = cmd.output().unwrap();
    let err = text(&out.stderr);
    assert!(err.contains("database ready"), "logged something: {err}");
    assert!(
        !err.contains('\u{1b}'),
        "escape codes in piped logs: {err:?}"
    );
}

/// `ferry relay` offers no `--data-dir`: it keeps nothing on disk yet, and a
/// flag that does nothing only misleads.
#[test]
fn relay_has_no_data_dir_flag_until_it_stores_files() {
    let out = ferry(&["relay", "--help"], &[]);
    assert!(out.status.success());
    assert!(!text(&out.stdout).contains("--data-dir"));
}
