//! Busy polling while an answer is due soon (`busy_poll`): after the relay
//! forwards a pull (or a response), the core keeps its event loop turning
//! for a short while instead of sleeping in the kernel, so the answer is
//! picked up without a wake-up of this thread.
//!
//! ```text
//! forward ─> Spin::request(until) ─> two spinner tasks wake each other until `until`
//!   a ready task keeps monoio from sleeping: each turn of its loop runs the
//!   other tasks, then polls the driver without blocking (io_uring_enter
//!   without waiting, or epoll_wait with 0 ms)
//! ```
//!
//! Two tasks, not one: monoio puts a task that wakes itself at the front of
//! its run queue, so a lone spinner would run again and again before any
//! task it woke (found by benches/echo.rs, which hung). A task woken by
//! another goes to the back.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

/// One per core.
#[derive(Default)]
pub(crate) struct Spin {
    /// Spin until then; `None`: sleep as usual.
    until: Cell<Option<Instant>>,
    /// The two spinners' wakers, while each waits for its turn.
    waiting: [RefCell<Option<Waker>>; 2],
}

impl Spin {
    /// Keeps the core polling until at least `until`.
    pub(crate) fn request(&self, until: Instant) {
        if self.until.get().is_none_or(|u| u < until) {
            self.until.set(Some(until));
        }
        wake(&self.waiting[0]);
    }

    /// Spinner `me` (0 or 1): runs for the core's lifetime.
    pub(crate) async fn run(self: Rc<Self>, me: usize) {
        let other = 1 - me;
        loop {
            let mut handed_over = false;
            poll_fn(|cx| {
                if handed_over {
                    return Poll::Ready(());
                }
                if self.spinning() {
                    // Pass the turn: the other spinner goes to the back of
                    // the run queue, behind whatever the poll woke.
                    handed_over = true;
                    wake(&self.waiting[other]);
                }
                *self.waiting[me].borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
        }
    }

    /// Whether the deadline is still ahead; clears it once passed.
    fn spinning(&self) -> bool {
        match self.until.get() {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                self.until.set(None);
                false
            }
            None => false,
        }
    }
}

fn wake(slot: &RefCell<Option<Waker>>) {
    let waker = slot.borrow_mut().take();
    if let Some(w) = waker {
        w.wake();
    }
}
