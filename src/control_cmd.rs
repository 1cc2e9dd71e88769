//! `ferry msg-server`, `ferry route-server`, `ferry login-server`: each
//! service alone in its process, configured by its section with the
//! environment and flags on top; SIGTERM or SIGINT drains and exits 0.

use anyhow::Result;
use clap::Args;
use ferry_control::login_server::LoginServer;
use ferry_control::msg_server::MsgServer;
use ferry_control::route_server::RouteServer;

use crate::cli::ConfigArgs;
use crate::db_cmd::{runtime, shutdown_signal, until_stopped};

/// Each named flag sets the `[msg_server]` key of the same name; any key
/// can be set with `--set KEY=VALUE`.
#[derive(Debug, Args)]
pub(crate) struct MsgServerArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The client port (msg_server.listen)
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// The IP login_server hands to clients (msg_server.advertise)
    #[arg(long, value_name = "IP")]
    advertise: Option<String>,
    /// db_proxy addresses, comma separated (msg_server.db_proxy)
    #[arg(long, value_name = "ADDRS")]
    db_proxy: Option<String>,
    /// route_server addresses (msg_server.route_server)
    #[arg(long, value_name = "ADDRS")]
    route_server: Option<String>,
    /// login_server registration addresses; "" for none (msg_server.login_server)
    #[arg(long, value_name = "ADDRS")]
    login_server: Option<String>,
    /// Relay msg-link addresses (msg_server.file_server)
    #[arg(long, value_name = "ADDRS")]
    file_server: Option<String>,
    /// GET /health and /metrics for operators (msg_server.metrics_listen)
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
}

pub(crate) fn msg_server(args: MsgServerArgs) -> Result<()> {
    let loaded = args.config.load(
        "msg_server",
        &[
            ("listen", args.listen),
            ("advertise", args.advertise),
            ("db_proxy", args.db_proxy),
            ("route_server", args.route_server),
            ("login_server", args.login_server),
            ("file_server", args.file_server),
            ("metrics_listen", args.metrics_listen),
        ],
    )?;
    runtime()?.block_on(async {
        let stop = shutdown_signal();
        tokio::pin!(stop);
        let Some(server) =
            until_stopped(MsgServer::bind(loaded.config.msg_server), &mut stop).await
        else {
            return Ok(());
        };
        server?.run(stop).await?;
        Ok(())
    })
}

#[derive(Debug, Args)]
pub(crate) struct RouteServerArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The port msg_servers connect to (route_server.listen)
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// redis://… shared by several route_servers (route_server.redis)
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// GET /health and /metrics for operators (route_server.metrics_listen)
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
}

pub(crate) fn route_server(args: RouteServerArgs) -> Result<()> {
    let loaded = args.config.load(
        "route_server",
        &[
            ("listen", args.listen),
            ("redis", args.redis),
            ("metrics_listen", args.metrics_listen),
        ],
    )?;
    runtime()?.block_on(async {
        let stop = shutdown_signal();
        tokio::pin!(stop);
        let Some(server) =
            until_stopped(RouteServer::bind(loaded.config.route_server), &mut stop).await
        else {
            return Ok(());
        };
        server?.run(stop).await?;
        Ok(())
    })
}

#[derive(Debug, Args)]
pub(crate) struct LoginServerArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// HTTP GET /msg_server (login_server.http_listen)
    #[arg(long, value_name = "ADDR")]
    http_listen: Option<String>,
    /// Binary discovery for clients (login_server.client_listen)
    #[arg(long, value_name = "ADDR")]
    client_listen: Option<String>,
    /// Where msg_servers register (login_server.msg_server_listen)
    #[arg(long, value_name = "ADDR")]
    msg_server_listen: Option<String>,
}

pub(crate) fn login_server(args: LoginServerArgs) -> Result<()> {
    let loaded = args.config.load(
        "login_server",
        &[
            ("http_listen", args.http_listen),
            ("client_listen", args.client_listen),
            ("msg_server_listen", args.msg_server_listen),
        ],
    )?;
    runtime()?.block_on(async {
        let stop = shutdown_signal();
        tokio::pin!(stop);
        let Some(server) =
            until_stopped(LoginServer::bind(loaded.config.login_server), &mut stop).await
        else {
            return Ok(());
        };
        server?.run(stop).await?;
        Ok(())
    })
}
