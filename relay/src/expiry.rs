//! Task expiry: a task that nobody joined, or that only one side joined,
//! within `task_timeout` of its creation is freed (TeamTalk's TaskTimeout
//! never fires). A side that is waiting is told CANCEL and closed.
//! Offline tasks expire by the store's TTLs ([`sweep_offline`]).

use std::rc::Rc;
use std::time::Duration;

use ferry_proto::frame::encode_to_bytes;
use ferry_proto::pb::im::base_define::ClientFileState;
use ferry_proto::pb::im::file::ImFileState;

use crate::core_state::Core;

pub(crate) async fn sweep(core: Rc<Core>) {
    let period =
        (core.config.task_timeout / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
    loop {
        monoio::time::sleep(period).await;
        if core.draining.get() {
            return;
        }
        let expired: Vec<_> = core
            .tasks
            .borrow()
            .values()
            .filter(|t| {
                let t = t.borrow();
                !t.started && t.created.elapsed() >= core.config.task_timeout
            })
            .cloned()
            .collect();
        for task in expired {
            let mut t = task.borrow_mut();
            // The waiting side is told CANCEL in the name of the absent one.
            let waiting = [
                (t.sender.take(), t.spec.to_user),
                (t.receiver.take(), t.spec.from_user),
            ];
            for (peer, absent_user) in waiting {
                let Some(mut peer) = peer else { continue };
                let cancel = ImFileState {
                    state: ClientFileState::ClientFileCancel as i32,
                    task_id: t.id.to_string().into(),
                    user_id: absent_user,
                    sha256: None,
                };
                let _ = peer
                    .outbox
                    .send(encode_to_bytes(&cancel, 0, u32::MAX).expect("small PDU"));
                peer.close();
            }
            let id = t.id.clone();
            drop(t);
            core.remove_task(&id);
            tracing::info!(task = %id, "task expired: not joined by both sides within task_timeout");
        }
    }
}

/// Offline files do not live forever: every [`OFFLINE_SWEEP`] (or sooner
/// for short TTLs) the core's shard deletes tasks past `offline_ttl`, and
/// uploads nobody finished past `incomplete_ttl`. A connection still on a
/// deleted task finds it gone at its next step and is closed.
pub(crate) async fn sweep_offline(core: Rc<Core>) {
    let Some(offline) = &core.offline else {
        return;
    };
    let ttl = offline.store.borrow().config().incomplete_ttl;
    let period = (ttl / 10).clamp(Duration::from_millis(10), OFFLINE_SWEEP);
    loop {
        monoio::time::sleep(period).await;
        if core.draining.get() {
            return;
        }
        let swept = offline.store.borrow_mut().sweep(crate::offline::unix_now());
        offline.publish(&core.stats);
        match swept {
            Ok(s) if s.expired.is_empty() && s.orphans == 0 => {}
            Ok(s) => {
                tracing::info!(
                    core = core.id,
                    expired = s.expired.len(),
                    orphans = s.orphans,
                    "offline store swept"
                )
            }
            Err(e) => tracing::error!(core = core.id, error = %e, "offline store sweep failed"),
        }
    }
}

/// The longest wait between two sweeps of a core's offline shard.
const OFFLINE_SWEEP: Duration = Duration::from_secs(60);
