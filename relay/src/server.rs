//! Starting and stopping a relay: sockets bound, one worker per core,
//! addresses and counters for the caller.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Config, CorePorts};
use crate::core_state::{CoreMsg, Shared};
use crate::error::RelayError;
use crate::listener::bind;
use crate::stats::{self, CoreStats, Snapshot};
use crate::worker::{self, Listeners};

/// The addresses a started relay serves.
#[derive(Debug, Clone)]
pub struct Addresses {
    /// The shared client port (every core).
    pub client: SocketAddr,
    /// Each core's own client port, in core order (empty when off).
    pub cores: Vec<SocketAddr>,
    pub msg: SocketAddr,
    pub metrics: Option<SocketAddr>,
    /// What IP_RSP lists: the cores' ports, then the shared one, at the
    /// advertised IP.
    pub advertised: Vec<SocketAddr>,
}

/// A running relay. Dropping it does not stop it: call [`Relay::shutdown`].
pub struct Relay {
    addresses: Addresses,
    inboxes: Vec<flume::Sender<CoreMsg>>,
    stats: Arc<Vec<Arc<CoreStats>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    zero_copy: bool,
}

impl Relay {
    /// Binds every socket, then starts one worker per core.
    /// `cores` 0 starts one worker per available core; `advertise` unset
    /// advertises client_listen's IP, which then must not be 0.0.0.0.
    pub fn start(mut config: Config) -> Result<Relay, RelayError> {
        let mut problems = ferry_config::Problems::new("relay");
        ferry_config::Validate::validate(&config, &mut problems);
        if let Some(p) = problems.into_vec().into_iter().next() {
            return Err(RelayError::Config(p.to_string()));
        }
        config.cores = config.effective_cores();
        let Some(advertise) = config.advertised_ip() else {
            return Err(RelayError::Config(format!(
                "the relay listens on {}, which clients cannot be sent to: give relay.advertise \
                 (--advertise IP), the address clients reach this host at",
                config.client_listen
            )));
        };
        config.advertise = Some(advertise);
        let bind_err = |what, addr| move |source| RelayError::Bind { what, addr, source };
        let mut shared_listeners = Vec::with_capacity(config.cores);
        let mut client = config.client_listen;
        for _ in 0..config.cores {
            let l = bind(client, true).map_err(bind_err("the shared client port", client))?;
            client = l
                .local_addr()
                .map_err(bind_err("the shared client port", client))?;
            shared_listeners.push(l);
        }
        let mut own_listeners = Vec::new();
        for core in 0..config.cores {
            let port = match config.core_ports {
                CorePorts::Off => break,
                CorePorts::Base(base) => base + core as u16,
                CorePorts::Ephemeral => 0,
            };
            let addr = SocketAddr::new(config.client_listen.ip(), port);
            own_listeners.push(bind(addr, false).map_err(bind_err("a core's client port", addr))?);
        }
        let msg = bind(config.msg_listen, false)
            .map_err(bind_err("the msg-server link", config.msg_listen))?;
        let metrics = match config.metrics_listen {
            Some(addr) => Some(bind(addr, false).map_err(bind_err("the metrics endpoint", addr))?),
            None => None,
        };
        let local =
            |l: &std::net::TcpListener| l.local_addr().expect("bound listener has an address");
        let cores: Vec<SocketAddr> = own_listeners.iter().map(local).collect();
        let mut advertised: Vec<SocketAddr> = cores
            .iter()
            .map(|a| SocketAddr::new(advertise, a.port()))
            .collect();
        advertised.push(SocketAddr::new(advertise, client.port()));
        let addresses = Addresses {
            client,
            cores,
            msg: local(&msg),
            metrics: metrics.as_ref().map(local),
            advertised,
        };

        let (store_lock, stores) = open_stores(&config)?;
        let mut stores = stores.into_iter();
        let zero_copy = config.zero_copy;
        let (inboxes, receivers): (Vec<_>, Vec<_>) =
            (0..config.cores).map(|_| flume::unbounded()).unzip();
        let stats: Arc<Vec<Arc<CoreStats>>> =
            Arc::new((0..config.cores).map(|_| Arc::default()).collect());
        let shared = Arc::new(Shared {
            config: Arc::new(config),
            inboxes: inboxes.clone(),
            advertised: Arc::new(addresses.advertised.clone()),
            stats: stats.clone(),
            _store_lock: store_lock,
        });
        let mut own_listeners = own_listeners.into_iter();
        let (mut msg, mut metrics) = (Some(msg), metrics);
        let mut threads = Vec::new();
        for (core, (shared_listener, inbox)) in
            shared_listeners.into_iter().zip(receivers).enumerate()
        {
            let listeners = Listeners {
                shared: shared_listener,
                own: own_listeners.next(),
                msg: msg.take(),
                metrics: metrics.take(),
            };
            let store = stores.next().flatten();
            let thread = worker::spawn(core, shared.clone(), inbox, listeners, store)
                .map_err(|source| RelayError::Worker { core, source })?;
            threads.push(thread);
        }
        tracing::info!(
            client = %addresses.client,
            cores = ?addresses.cores,
            msg = %addresses.msg,
            metrics = %addresses.metrics.map_or_else(|| "off".to_string(), |a| a.to_string()),
            advertised = ?addresses.advertised,
            "relay started on {} cores",
            threads.len()
        );
        Ok(Relay {
            addresses,
            inboxes,
            stats,
            threads,
            zero_copy,
        })
    }

    pub fn addresses(&self) -> &Addresses {
        &self.addresses
    }

    /// Whether large payloads are spliced (`zero_copy`).
    pub fn zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// Every core's counters, summed.
    pub fn stats(&self) -> Snapshot {
        stats::snapshot(&self.stats)
    }

    /// The metrics endpoint's text.
    pub fn metrics_text(&self) -> String {
        stats::prometheus(&self.stats)
    }

    /// Stops accepting, lets connections finish (up to the drain timeout)
    /// and joins every worker.
    pub fn shutdown(self) {
        for inbox in &self.inboxes {
            let _ = inbox.send(CoreMsg::Shutdown);
        }
        for thread in self.threads {
            let _ = thread.join();
        }
        tracing::info!("relay stopped");
    }
}

/// The offline store's owner lock and each core's shard, opened (and
/// recovered) before the workers start; no lock and `None` for every core
/// when offline transfers are off. Every shard shares one quota ledger and
/// one poison flag. Another relay (or a repair) holding the store is
/// refused here, before anything is read.
type Stores = (
    Option<ferry_storage::StoreLock>,
    Vec<Option<ferry_storage::Store>>,
);

fn open_stores(config: &Config) -> Result<Stores, RelayError> {
    let Some(store) = &config.offline else {
        return Ok((None, (0..config.cores).map(|_| None).collect()));
    };
    // A relative root is taken from the working directory now, once.
    let root = std::path::absolute(&store.root)
        .map_err(|e| RelayError::Config(format!("offline root {}: {e}", store.root.display())))?;
    let lock = ferry_storage::StoreLock::acquire(&root)
        .map_err(|source| RelayError::StoreLock { source })?;
    let store = &ferry_storage::Config {
        root,
        ..store.clone()
    };
    let now = crate::offline::unix_now();
    let mut stores = Vec::with_capacity(config.cores);
    for shard in ferry_storage::Shard::all(config.cores) {
        let core = shard.index;
        let (opened, report) = ferry_storage::Store::open_shard(
            ferry_storage::StdFs,
            store,
            ferry_storage::RecoveryMode::Quick,
            now,
            shard,
        )
        .map_err(|source| RelayError::Store { core, source })?;
        // Each issue was logged by the store as it was found.
        if report.is_sound() {
            tracing::info!(core, tasks = report.tasks, blocks = report.blocks, root = %store.root.display(), "offline store shard opened");
        } else {
            tracing::warn!(core, tasks = report.tasks, blocks = report.blocks, issues = report.issues.len(), root = %store.root.display(), "offline store shard opened with issues");
        }
        stores.push(Some(opened));
    }
    Ok((Some(lock), stores))
}
