//! `ferry relay`: the file server, configured by the `[relay]` section
//! (`ferry_relay::Config`) and the offline store by `[offline]`, with the
//! environment and flags on top; runs
//! until SIGTERM or SIGINT, then drains and exits 0.

use anyhow::{Context, Result};
use clap::Args;
use ferry_relay::Relay;

use crate::cli::ConfigArgs;

/// Each named flag sets the `[relay]` key of the same name; any key can be
/// set with `--set KEY=VALUE`. `ferry config check` prints the defaults.
#[derive(Debug, Args)]
pub(crate) struct RelayArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Shared client port, on every core (relay.client_listen)
    #[arg(long, value_name = "ADDR")]
    client_listen: Option<String>,
    /// The msg-server link (relay.msg_listen)
    #[arg(long, value_name = "ADDR")]
    msg_listen: Option<String>,
    /// Worker threads, one runtime each; 0 = all available cores (relay.cores)
    #[arg(long, value_name = "N")]
    cores: Option<String>,
    /// Per-core client ports PORT..PORT+N-1; 0 turns them off (relay.core_port_base)
    #[arg(long, value_name = "PORT")]
    core_port_base: Option<String>,
    /// The IP put in IP_RSP, which clients connect to; never 0.0.0.0 (relay.advertise)
    #[arg(long, value_name = "IP")]
    advertise: Option<String>,
    /// Prometheus endpoint, GET /metrics and /health (relay.metrics_listen)
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
}

pub(crate) fn run(args: RelayArgs) -> Result<()> {
    let loaded = args.config.load(
        "relay",
        &[
            ("client_listen", args.client_listen),
            ("msg_listen", args.msg_listen),
            ("cores", args.cores),
            ("core_port_base", args.core_port_base),
            ("advertise", args.advertise),
            ("metrics_listen", args.metrics_listen),
        ],
    )?;
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("cannot install the SIGTERM/SIGINT handler")?;
    let mut config = loaded.config.relay;
    config.offline = loaded.config.offline.relay_store();
    let relay = Relay::start(config)?;
    let _ = stop_rx.recv();
    tracing::info!("signal received: draining");
    relay.shutdown();
    Ok(())
}
