//! Worker threads: one per core, pinned, each running its own monoio
//! runtime (io_uring, or epoll where the kernel lacks io_uring) and serving
//! its listeners, its task table and its inbox. Nothing is shared between
//! workers but the inboxes and the counters.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_proto::extension::OfflineDeleteResult;
use monoio::io::Canceller;
use monoio::time::TimeDriver;
use monoio::{FusionRuntime, IoUringDriver, LegacyDriver, RuntimeBuilder};

use crate::config::{Driver, TaskRun};
use crate::core_state::{Core, CoreMsg, Shared};
use crate::expiry;
use crate::{listener, metrics, msg_link, session};

/// The sockets one worker serves.
pub(crate) struct Listeners {
    pub shared: std::net::TcpListener,
    pub own: Option<std::net::TcpListener>,
    /// Core 0 only.
    pub msg: Option<std::net::TcpListener>,
    pub metrics: Option<std::net::TcpListener>,
}

type Runtime = FusionRuntime<TimeDriver<IoUringDriver>, TimeDriver<LegacyDriver>>;

pub(crate) fn spawn(
    id: usize,
    shared: Arc<Shared>,
    inbox: flume::Receiver<CoreMsg>,
    listeners: Listeners,
    store: Option<ferry_storage::Store>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("ferry-relay-{id}"))
        .spawn(move || {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            if shared.config.pin_cores
                && let Err(e) = monoio::utils::bind_to_cpu_set([id % cpus])
            {
                tracing::warn!(core = id, error = ?e, "cannot pin worker to a cpu");
            }
            let want_uring = shared.config.driver == Driver::Auto;
            let uring = want_uring && monoio::utils::detect_uring();
            if want_uring && !uring {
                tracing::warn!(
                    core = id,
                    "io_uring is unavailable here: falling back to epoll"
                );
            }
            let mut rt = match build_runtime(uring, shared.config.uring_taskrun) {
                Ok(rt) => rt,
                Err(e) => return tracing::error!(core = id, error = %e, "cannot build runtime"),
            };
            let core = Core::new(id, &shared, shared.config.zero_copy, store);
            if let Some(offline) = &core.offline {
                offline.publish(&core.stats);
            }
            rt.block_on(run(core, inbox, listeners));
        })
}

/// io_uring when `uring` (its ring set up for `taskrun`; a kernel that
/// refuses the flags gets a plain ring), else epoll.
fn build_runtime(uring: bool, taskrun: TaskRun) -> std::io::Result<Runtime> {
    const ENTRIES: u32 = 1024;
    if uring {
        let build = |taskrun| {
            let mut urb = io_uring::IoUring::builder();
            match taskrun {
                TaskRun::Default => {}
                TaskRun::Coop => {
                    urb.setup_coop_taskrun();
                }
                TaskRun::Defer => {
                    urb.setup_single_issuer().setup_defer_taskrun();
                }
            }
            RuntimeBuilder::<IoUringDriver>::new()
                .uring_builder(urb)
                .with_entries(ENTRIES)
                .enable_timer()
                .build()
        };
        let rt = match build(taskrun) {
            Err(e) if taskrun != TaskRun::Default => {
                tracing::warn!(?taskrun, error = %e, "the kernel refuses relay.uring_taskrun: a plain ring instead");
                build(TaskRun::Default)?
            }
            rt => rt?,
        };
        return Ok(rt.into());
    }
    let rt = RuntimeBuilder::<LegacyDriver>::new()
        .with_entries(ENTRIES)
        .enable_timer()
        .build()?;
    Ok(rt.into())
}

async fn run(core: Rc<Core>, inbox: flume::Receiver<CoreMsg>, listeners: Listeners) {
    let accepting = Canceller::new();
    monoio::spawn(listener::accept_clients(
        core.clone(),
        listeners.shared,
        accepting.handle(),
    ));
    if let Some(own) = listeners.own {
        monoio::spawn(listener::accept_clients(
            core.clone(),
            own,
            accepting.handle(),
        ));
    }
    if let Some(msg) = listeners.msg {
        monoio::spawn(msg_link::accept_links(
            core.clone(),
            msg,
            accepting.handle(),
        ));
    }
    if let Some(m) = listeners.metrics {
        monoio::spawn(metrics::serve(core.clone(), m, accepting.handle()));
    }
    if !core.config.busy_poll.is_zero() {
        monoio::spawn(core.spin.clone().run(0));
        monoio::spawn(core.spin.clone().run(1));
    }
    monoio::spawn(expiry::sweep(core.clone()));
    monoio::spawn(expiry::sweep_offline(core.clone()));

    while let Ok(msg) = inbox.recv_async().await {
        match msg {
            CoreMsg::CreateTask { spec, ack } => {
                core.insert_task(spec);
                let _ = ack.send(());
            }
            CoreMsg::CreateOffline { task, ack } => {
                let created = match &core.offline {
                    Some(offline) => {
                        let created = offline.create(task).map(drop);
                        offline.publish(&core.stats);
                        created.map_err(|e| crate::offline::refusal(&e))
                    }
                    None => Err(ferry_proto::extension::FileServerError::NoStore),
                };
                let _ = ack.send(created);
            }
            CoreMsg::Locate { ids, ack } => {
                let held = match &core.offline {
                    Some(offline) => {
                        let store = offline.store.borrow();
                        ids.into_iter()
                            .filter(|id| store.stat(&id[..]).is_ok())
                            .collect()
                    }
                    None => Vec::new(),
                };
                let _ = ack.send(held);
            }
            CoreMsg::DeleteOffline { id, user, ack } => {
                let _ = ack.send(delete_offline(&core, &id, user));
            }
            CoreMsg::Handoff { stream, buffered } => match monoio::net::TcpStream::from_std(stream)
            {
                Ok(stream) => {
                    crate::stats::CoreStats::add(&core.stats.handoffs_in, 1);
                    monoio::spawn(session::serve(core.clone(), stream, buffered));
                }
                Err(e) => {
                    tracing::warn!(core = core.id, error = %e, "cannot adopt a handed-off connection")
                }
            },
            CoreMsg::Shutdown => break,
        }
    }
    drain(&core, accepting).await;
}

/// Stops accepting, then waits (bounded) for this core's connections to end.
async fn drain(core: &Core, accepting: Canceller) {
    core.draining.set(true);
    accepting.cancel();
    let deadline = Instant::now() + core.config.drain_timeout;
    let connections = || {
        core.stats
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    while connections() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(core = core.id, left = connections(), "core drained");
}

/// Deletes offline task `id` from this core's store if `user` is its
/// receiver (the data files go at once: a blocking unlink per file, as the
/// expiry sweep does). A connection still on it is closed at its next step.
fn delete_offline(core: &Core, id: &[u8], user: u32) -> OfflineDeleteResult {
    let Some(offline) = &core.offline else {
        return OfflineDeleteResult::NoStore;
    };
    let mut store = offline.store.borrow_mut();
    let result = match store.stat(id) {
        Err(ferry_storage::Error::NotFound(_)) => OfflineDeleteResult::UnknownTask,
        Err(ferry_storage::Error::InvalidArgument(_)) => OfflineDeleteResult::BadTaskId,
        Err(e) => {
            tracing::warn!(error = %e, "offline delete: the store cannot look the task up");
            OfflineDeleteResult::Failed
        }
        Ok(info) if info.to_user != user => OfflineDeleteResult::NotReceiver,
        Ok(_) => match store.delete(id) {
            Ok(()) => OfflineDeleteResult::Deleted,
            Err(e) => {
                tracing::warn!(error = %e, "offline delete failed");
                OfflineDeleteResult::Failed
            }
        },
    };
    drop(store);
    offline.publish(&core.stats);
    result
}
