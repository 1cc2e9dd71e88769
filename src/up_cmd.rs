//! `ferry up`: the whole stack in one process on the embedded default:
//! db_proxy on SQLite under the data directory, route_server in process
//! (no Redis), login_server, msg_server and the relay, wired to each
//! other's bound addresses. Each service reads its own section of the
//! config (file, environment, `--set`), so `ferry up` runs what the
//! separate commands would, but for two ports: route_server's and
//! login_server's registration port (server-to-server, unauthenticated)
//! listen on loopback when left at their 0.0.0.0 defaults. With
//! `[offline] enabled` the relay keeps offline files under
//! `<data dir>/offline` (unless `offline.root` is set). SIGINT or SIGTERM
//! drains every service and exits 0.
//!
//! ```text
//! client ──HTTP──> login_server ──which msg_server──> client ──PDU──> msg_server
//!   msg_server ──> db_proxy (SQLite) · route_server · relay (file bytes, monoio threads)
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use anyhow::{Context, Result};
use clap::Args;
use ferry_control::db_proxy::DbProxy;
use ferry_control::login_server::LoginServer;
use ferry_control::msg_server::MsgServer;
use ferry_control::route_server::RouteServer;
use ferry_relay::Relay;
use tokio::sync::watch;

use crate::cli::ConfigArgs;
use crate::db_cmd::{runtime, sqlite_under};

#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Where the SQLite database (and, with the offline store, its blocks)
    /// live (storage.data_dir)
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// The IP clients reach this machine at, handed out by login_server and
    /// the relay (msg_server.advertise, relay.advertise); default 127.0.0.1
    #[arg(long, value_name = "IP")]
    advertise: Option<String>,
    /// Every port on 127.0.0.1, chosen by the system: for tests and a second
    /// stack beside a first; the addresses are printed.
    #[arg(long)]
    any_port: bool,
    /// Refuse offline files instead of keeping them in the block store
    /// under the data directory (offline.enabled, on for `ferry up`)
    #[arg(long)]
    no_offline: bool,
}

/// `addr` as a peer in this process dials it: an unspecified IP becomes
/// loopback.
fn dial(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
    } else {
        addr
    }
}

/// The server-to-server ports (route_server's, login_server's
/// registrations) carry TeamTalk's unauthenticated link protocol, and in
/// one process only this process dials them: left at their 0.0.0.0
/// defaults, they listen on loopback instead. An address set to anything
/// else is kept.
fn links_on_loopback(c: &mut ferry::config::FileConfig) {
    let defaults = ferry::config::FileConfig::default();
    for (listen, default) in [
        (&mut c.route_server.listen, defaults.route_server.listen),
        (
            &mut c.login_server.msg_server_listen,
            defaults.login_server.msg_server_listen,
        ),
    ] {
        if *listen == default && listen.ip().is_unspecified() {
            listen.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
    }
}

pub(crate) fn run(args: UpArgs) -> Result<()> {
    let advertise = args.advertise.clone().unwrap_or_else(|| "127.0.0.1".into());
    let loaded = args.config.load(
        "",
        &[
            ("storage.data_dir", args.data_dir.clone()),
            ("msg_server.advertise", Some(advertise.clone())),
            ("relay.advertise", Some(advertise.clone())),
            (
                "offline.enabled",
                Some((if args.no_offline { "false" } else { "true" }).into()),
            ),
        ],
    )?;
    let mut c = loaded.config;
    links_on_loopback(&mut c);
    if args.any_port {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        c.db_proxy.listen = any;
        c.route_server.listen = any;
        c.msg_server.listen = any;
        c.login_server.http_listen = any;
        c.login_server.client_listen = any;
        c.login_server.msg_server_listen = any;
        c.relay.client_listen = any;
        c.relay.msg_listen = any;
        c.relay.core_ports = ferry_relay::config::CorePorts::Ephemeral;
    }
    if c.db_proxy.store.db.is_empty() {
        c.db_proxy.store.db = sqlite_under(&c.storage.data_dir)?;
    }
    c.route_server.redis = None;
    let data_dir = c.storage.data_dir.clone();

    let rt = runtime()?;
    rt.block_on(async move {
        // Before anything listens: a signal that comes as soon as the
        // banner is out drains the stack instead of killing it, and one
        // during start-up (a database that does not answer) ends it.
        let stop = crate::db_cmd::shutdown_signal();
        tokio::pin!(stop);
        let Some(started) = crate::db_cmd::until_stopped(start(c), &mut stop).await else {
            return Ok(());
        };
        let Started {
            db,
            route,
            login,
            login_addrs,
            relay,
            relay_offline_root,
            msg,
            msg_addr,
        } = started?;

        println!("ferry is up; data in {}", data_dir.display());
        println!(
            "  login_server   http://{}/msg_server  (clients start here; binary discovery {}, msg_server registrations {})",
            dial(login_addrs.http),
            login_addrs.client,
            login_addrs.msg_server
        );
        println!("  msg_server     {msg_addr}");
        let relay_addrs = relay.addresses();
        let cores: Vec<String> = relay_addrs.cores.iter().map(|a| a.to_string()).collect();
        println!(
            "  relay          {}  (per-core ports {}; msg link {}: ferry loadgen --relay/--msg-link loads it alone)",
            relay_addrs.client,
            if cores.is_empty() {
                "off".to_string()
            } else {
                cores.join(", ")
            },
            relay_addrs.msg
        );
        if let Some(store) = &relay_offline_root {
            println!("  offline files  {}", store.display());
        }
        println!("  db_proxy       {} (SQLite)", db.local_addr()?);
        println!("  route_server   {}", route.local_addr()?);
        println!(
            "add users:  ferry user add alice --password secret --data-dir {0}  (and bob: ferry user add bob --password secret2 --data-dir {0})",
            data_dir.display()
        );
        println!(
            "then log in with a TeamTalk client at http://{advertise}:{}/msg_server",
            login_addrs.http.port()
        );
        println!(
            "or send a file:  ferry send FILE --to bob --user alice --server http://{advertise}:{}  (ferry recv --user bob receives; each asks for its password, or reads FERRY_PASSWORD or --password-file)",
            login_addrs.http.port()
        );
        println!("Ctrl-C stops everything.");

        // msg_server drains first, while what it calls is still up.
        let (stop_front, front) = watch::channel(false);
        let (stop_back, back) = watch::channel(false);
        let until = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let msg = tokio::spawn(msg.run(until(front.clone())));
        let login = tokio::spawn(login.run(until(front)));
        let back = [
            tokio::spawn(route.run(until(back.clone()))),
            tokio::spawn(db.run(until(back))),
        ];
        (&mut stop).await;
        let _ = stop_front.send(true);
        let mut failed = None;
        let front = [msg, login];
        for s in front {
            match s.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed = Some(anyhow::Error::new(e)),
                Err(e) => failed = Some(anyhow::Error::new(e)),
            }
        }
        let _ = stop_back.send(true);
        for s in back {
            match s.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed = Some(anyhow::Error::new(e)),
                Err(e) => failed = Some(anyhow::Error::new(e)),
            }
        }
        relay.shutdown();
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })
}

/// Every service of `ferry up` bound and the relay started, not serving yet.
struct Started {
    db: DbProxy,
    route: RouteServer,
    login: LoginServer,
    login_addrs: ferry_control::login_server::Addresses,
    relay: Relay,
    relay_offline_root: Option<std::path::PathBuf>,
    msg: MsgServer,
    msg_addr: SocketAddr,
}

/// Binds every service of `c` and starts the relay (the relay's offline
/// store under the data directory unless configured elsewhere).
async fn start(c: ferry::config::FileConfig) -> Result<Started> {
    let db = DbProxy::bind(c.db_proxy).await.context("db_proxy")?;
    let route = RouteServer::bind(c.route_server)
        .await
        .context("route_server")?;
    let login = LoginServer::bind(c.login_server)
        .await
        .context("login_server")?;
    let mut relay_config = c.relay;
    let mut offline = c.offline;
    if offline.store.root == ferry_storage::Config::default().root {
        // The store goes with the rest of the data (--data-dir).
        offline.store.root = c.storage.data_dir.join("offline");
    }
    relay_config.offline = offline.relay_store();
    let relay_offline_root = relay_config.offline.as_ref().map(|s| s.root.clone());
    let relay = Relay::start(relay_config).context("relay")?;
    let mut m = c.msg_server;
    m.db_proxy = vec![dial(db.local_addr()?)];
    m.route_server = vec![dial(route.local_addr()?)];
    let login_addrs = login.addresses()?;
    m.login_server = vec![dial(login_addrs.msg_server)];
    m.file_server = vec![dial(relay.addresses().msg)];
    let msg = MsgServer::bind(m).await.context("msg_server")?;
    let msg_addr = msg.addresses()?.client;
    Ok(Started {
        db,
        route,
        login,
        login_addrs,
        relay,
        relay_offline_root,
        msg,
        msg_addr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_ports_left_at_their_defaults_listen_on_loopback() {
        let mut c = ferry::config::FileConfig::default();
        assert!(c.route_server.listen.ip().is_unspecified());
        links_on_loopback(&mut c);
        assert_eq!(c.route_server.listen, "127.0.0.1:8200".parse().unwrap());
        assert_eq!(
            c.login_server.msg_server_listen,
            "127.0.0.1:8100".parse().unwrap()
        );
        // Client ports stay open to clients.
        assert!(c.msg_server.listen.ip().is_unspecified());
        let mut set = ferry::config::FileConfig::default();
        set.route_server.listen = "10.0.0.5:8200".parse().unwrap();
        links_on_loopback(&mut set);
        assert_eq!(set.route_server.listen, "10.0.0.5:8200".parse().unwrap());
    }
}
