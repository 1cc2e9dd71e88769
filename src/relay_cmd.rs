//! `ferry relay`: the file server, configured by the `[relay]` section with
//! flags on top; runs until SIGTERM or SIGINT, then drains and exits 0.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use ferry::config;
use ferry_relay::{Config, CorePorts, Driver, Relay};

#[derive(Debug, Args)]
pub(crate) struct RelayArgs {
    /// The TOML config file (its [relay] section); flags override it.
    #[arg(long, value_name = "FILE", env = "FERRY_CONFIG")]
    config: Option<PathBuf>,
    /// Shared client port, on every core [default: 0.0.0.0:8600]
    #[arg(long, value_name = "ADDR")]
    client_listen: Option<SocketAddr>,
    /// msg-server link [default: 127.0.0.1:8601]
    #[arg(long, value_name = "ADDR")]
    msg_listen: Option<SocketAddr>,
    /// Worker threads, one runtime each [default: all available cores]
    #[arg(long, value_name = "N")]
    cores: Option<usize>,
    /// Per-core client ports PORT..PORT+N-1; 0 turns them off [default: 8610]
    #[arg(long, value_name = "PORT")]
    core_port_base: Option<u16>,
    /// The IP put in IP_RSP, which clients connect to (never 0.0.0.0)
    #[arg(long, value_name = "IP")]
    advertise: Option<IpAddr>,
    /// Prometheus endpoint (GET /metrics, /health) [default: off]
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
}

pub(crate) fn run(args: RelayArgs) -> Result<()> {
    let loaded = config::load(args.config.as_deref())?;
    let file = loaded.config.relay;
    let client_listen = args.client_listen.unwrap_or(file.client_listen);
    let advertise = match args.advertise.or(file.advertise) {
        Some(ip) => ip,
        None if !client_listen.ip().is_unspecified() => client_listen.ip(),
        None => bail!(
            "the relay listens on {client_listen}, which clients cannot be sent to: \
             give --advertise IP (or relay.advertise) with the address clients reach this host at"
        ),
    };
    let cores = match args.cores.unwrap_or(file.cores) {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let core_ports = match args.core_port_base.or(file.core_port_base) {
        Some(0) | None => CorePorts::Off,
        Some(base) => CorePorts::Base(base),
    };
    let config = Config {
        client_listen,
        msg_listen: args.msg_listen.unwrap_or(file.msg_listen),
        msg_allow: file.msg_allow,
        link_secret: file.link_secret,
        cores,
        core_ports,
        advertise,
        metrics_listen: args.metrics_listen.or(file.metrics_listen),
        max_frame: file.max_frame,
        max_chunk: file.max_chunk,
        window: file.window,
        task_buffer: file.task_buffer,
        login_timeout: file.login_timeout,
        idle_timeout: file.idle_timeout,
        task_timeout: file.task_timeout,
        drain_timeout: Duration::from_secs(10),
        link_heartbeat: Duration::from_secs(5),
        driver: Driver::Auto,
        zero_copy: file.zero_copy,
        splice_above: file.splice_above,
    };

    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })
    .context("cannot install the SIGTERM/SIGINT handler")?;
    let relay = Relay::start(config)?;
    let _ = stop_rx.recv();
    tracing::info!("signal received: draining");
    relay.shutdown();
    Ok(())
}
