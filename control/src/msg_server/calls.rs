//! Requests msg_server sends on a link and awaits the answer to (a login's
//! validation, a message's store, a group's members, a relay's task): the
//! call id travels in the `service_type` word of the attach cookie, which
//! db_proxy, route_server and the relay all echo, and brings the answer
//! back to the task that waits for it. Plain forwards of a client's request
//! use call id 0 and are routed to the client by the cookie's handle.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ferry_proto::Frame;
use tokio::sync::oneshot;

/// Why a call got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(super) enum CallError {
    #[error("no link is up")]
    Down,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug, Default)]
pub(super) struct Calls {
    next: AtomicU32,
    waiting: Mutex<HashMap<u32, oneshot::Sender<(usize, Frame)>>>,
}

/// A call in flight: its id, and where its answer arrives. Dropping it
/// forgets the call (a late answer is then dropped).
pub(super) struct Pending<'a> {
    pub id: u32,
    calls: &'a Calls,
    answer: Option<oneshot::Receiver<(usize, Frame)>>,
}

impl Calls {
    pub(super) fn start(&self) -> Pending<'_> {
        let id = loop {
            let id = self.next.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if id != 0 {
                break id;
            }
        };
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, tx);
        Pending {
            id,
            calls: self,
            answer: Some(rx),
        }
    }

    /// Hands `frame`, which came on link `index`, to the call `id` waits
    /// on; false if none does.
    pub(super) fn complete(&self, id: u32, index: usize, frame: Frame) -> bool {
        match self.lock().remove(&id) {
            Some(tx) => tx.send((index, frame)).is_ok(),
            None => false,
        }
    }

    pub(super) fn in_flight(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, oneshot::Sender<(usize, Frame)>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Pending<'_> {
    /// Waits for the answer and the link it came on, at most `timeout`.
    pub(super) async fn answer(mut self, timeout: Duration) -> Result<(usize, Frame), CallError> {
        let rx = self.answer.take().expect("awaited once");
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(CallError::Down),
            Err(_) => Err(CallError::Timeout(timeout)),
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.calls.lock().remove(&self.id);
    }
}
