//! The command line. Only subcommands that work are listed; each later
//! service adds its own (`ferry relay`, `ferry db-proxy`, `ferry up`, …).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use ferry::config;

#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    about = "TeamTalk-compatible IM server with a thread-per-core io_uring file relay"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole stack in one process on the embedded default
    /// (SQLite under the data directory): login_server, msg_server,
    /// route_server, db_proxy and the relay.
    Up(crate::up_cmd::UpArgs),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the file server (TeamTalk's file_server): online relay and, with
    /// `[offline] enabled`, offline files kept in the block store.
    Relay(crate::relay_cmd::RelayArgs),
    /// Run db_proxy (TeamTalk's db_proxy_server): SQL and Redis behind a PDU port.
    DbProxy(crate::db_cmd::DbProxyArgs),
    /// Run msg_server: client sessions, messages, presence, file signalling.
    MsgServer(crate::control_cmd::MsgServerArgs),
    /// Run route_server: presence and delivery across msg_servers.
    RouteServer(crate::control_cmd::RouteServerArgs),
    /// Run login_server: which msg_server a client should use (HTTP and binary).
    LoginServer(crate::control_cmd::LoginServerArgs),
    /// Database maintenance.
    #[command(subcommand)]
    Db(crate::db_cmd::DbCommand),
    /// Users a deployment logs in with.
    #[command(subcommand)]
    User(crate::db_cmd::UserCommand),
    /// The relay's offline block store: check, repair, import TeamTalk's files.
    #[command(subcommand)]
    Store(crate::store_cmd::StoreCommand),
    /// Send a file to a user, as a TeamTalk client does (online, or kept
    /// on the relay for later).
    Send(crate::send_cmd::SendArgs),
    /// Receive the files sent to a user: those waiting, then each one
    /// offered while this runs.
    Recv(crate::recv_cmd::RecvArgs),
    /// Drive a running stack (--server), or a relay alone playing its
    /// msg_server (--relay --msg-link), as many clients at once and report
    /// throughput, latency and errors (table, --json, --svg).
    Loadgen(Box<crate::loadgen::LoadgenArgs>),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the config file, FERRY_<SECTION>__<KEY> overrides and
    /// --set flags, then print the resolved configuration as TOML.
    Check {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Where settings come from, for every subcommand that reads them: the
/// file, then the environment, then `--set` and the subcommand's own flags.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// The TOML config file; without one, defaults and environment only.
    #[arg(long, value_name = "FILE", env = "FERRY_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Set any key, over the file and the environment: `section.key=value`
    /// (or `key=value` for the subcommand's own section). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
}

impl ConfigArgs {
    /// Loads the config with `--set` and the subcommand's named flags
    /// (`(key, value)` in `section`, set when given) on top.
    pub(crate) fn load(
        &self,
        section: &str,
        named: &[(&str, Option<String>)],
    ) -> Result<config::Loaded> {
        let mut flags = Vec::new();
        for pair in &self.set {
            let Some((key, value)) = pair.split_once('=') else {
                anyhow::bail!("--set {pair:?}: expected KEY=VALUE");
            };
            let key = if key.contains('.') || section.is_empty() {
                key.to_string()
            } else {
                format!("{section}.{key}")
            };
            flags.push(config::FlagValue::new(key, value, format!("--set {pair}")));
        }
        for (key, value) in named {
            if let Some(value) = value {
                let flag = format!(
                    "--{}",
                    key.rsplit('.').next().unwrap_or(key).replace('_', "-")
                );
                let key = if key.contains('.') {
                    key.to_string()
                } else {
                    format!("{section}.{key}")
                };
                flags.push(config::FlagValue::new(key, value.clone(), flag));
            }
        }
        Ok(config::load(self.config.as_deref(), &flags)?)
    }
}

impl Cli {
    /// The log level when `RUST_LOG` is unset: `warn` for the commands a
    /// user runs and reads (`loadgen`, `send`, `recv`, `user`: their own
    /// lines report what happens; an INFO line would land in the middle of
    /// a progress bar), `info` for the servers and the operator's tools.
    pub(crate) fn default_log(&self) -> &'static str {
        match self.command {
            Command::Loadgen(_) | Command::Send(_) | Command::Recv(_) | Command::User(_) => "warn",
            _ => "info",
        }
    }
}

pub(crate) fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Config(ConfigCommand::Check { config }) => config_check(config),
        Command::Up(args) => crate::up_cmd::run(args),
        Command::Relay(args) => crate::relay_cmd::run(args),
        Command::DbProxy(args) => crate::db_cmd::db_proxy(args),
        Command::MsgServer(args) => crate::control_cmd::msg_server(args),
        Command::RouteServer(args) => crate::control_cmd::route_server(args),
        Command::LoginServer(args) => crate::control_cmd::login_server(args),
        Command::Db(command) => crate::db_cmd::db(command),
        Command::User(command) => crate::db_cmd::user(command),
        Command::Store(command) => crate::store_cmd::run(command),
        Command::Send(args) => crate::send_cmd::run(args),
        Command::Recv(args) => crate::recv_cmd::run(args),
        Command::Loadgen(args) => crate::loadgen::run(*args),
    }
}

fn config_check(args: ConfigArgs) -> Result<()> {
    let loaded = args.load("", &[])?;
    print!("{}", loaded.config.to_toml_redacted());
    let source = args
        .config
        .map_or_else(|| "defaults".to_string(), |p| p.display().to_string());
    let cores = loaded.config.relay.cores;
    let cores = if cores == 0 {
        "all available".to_string()
    } else {
        cores.to_string()
    };
    eprintln!("config OK: {source}; relay cores: {cores}");
    if !loaded.overrides.is_empty() {
        eprintln!("overrides: {}", loaded.overrides.join(", "));
    }
    Ok(())
}
