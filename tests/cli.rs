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
