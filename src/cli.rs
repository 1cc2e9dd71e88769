//! The command line. Only subcommands that work are listed; each later
//! service adds its own (`ferry relay`, `ferry db-proxy`, `ferry up`, …).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the file server (TeamTalk's file_server): online relay.
    Relay(crate::relay_cmd::RelayArgs),
    /// Run db_proxy (TeamTalk's db_proxy_server): SQL and Redis behind a PDU port.
    DbProxy(crate::db_cmd::DbProxyArgs),
    /// Database maintenance.
    #[command(subcommand)]
    Db(crate::db_cmd::DbCommand),
    /// Users a deployment logs in with.
    #[command(subcommand)]
    User(crate::db_cmd::UserCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the config file and FERRY_<SECTION>__<KEY> overrides, then
    /// print the resolved configuration as TOML.
    Check {
        /// The TOML config file; without one, defaults and environment only.
        #[arg(long, value_name = "FILE", env = "FERRY_CONFIG")]
        config: Option<PathBuf>,
    },
}

pub(crate) fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Config(ConfigCommand::Check { config }) => config_check(config),
        Command::Relay(args) => crate::relay_cmd::run(args),
        Command::DbProxy(args) => crate::db_cmd::db_proxy(args),
        Command::Db(command) => crate::db_cmd::db(command),
        Command::User(command) => crate::db_cmd::user(command),
    }
}

fn config_check(path: Option<PathBuf>) -> Result<()> {
    let loaded = config::load(path.as_deref())?;
    print!("{}", loaded.file.to_toml_redacted());
    let source = path.map_or_else(|| "defaults".to_string(), |p| p.display().to_string());
    let cores = loaded.config.relay.cores;
    let cores = if cores == 0 {
        "all available".to_string()
    } else {
        cores.to_string()
    };
    eprintln!("config OK: {source}; relay cores: {cores}");
    if !loaded.overrides.is_empty() {
        eprintln!("environment overrides: {}", loaded.overrides.join(", "));
    }
    Ok(())
}
