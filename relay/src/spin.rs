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
//! Spinning pays only while a transfer is latency-bound and its peers are
//! quick: [`Pace`] (one per task) asks for it only when the forward leaves
//! that task with at most one pull in flight (a stock client's pattern; a
//! windowed transfer keeps the core busy anyway) and the side that answers
//! next answered its last turn within `busy_poll` (a client behind a slow
//! link costs no spinning: its answer would not come in time).
//!
//! Two tasks, not one: monoio puts a task that wakes itself at the front of
//! its run queue, so a lone spinner would run again and again before any
//! task it woke (found by benches/echo.rs, which hung). A task woken by
//! another goes to the back.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

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

/// One task's turn-taking, for deciding whether a forward is worth a spin
/// (module docs). Both sides start out taken as quick.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    /// When the task's only pull was forwarded to the sender.
    asked: Option<Instant>,
    /// When the last response left the task with no pull in flight.
    answered: Option<Instant>,
    /// The sender's last answer came later than `busy_poll`.
    slow_sender: bool,
    /// The receiver's last pull came later than `busy_poll`.
    slow_receiver: bool,
}

impl Pace {
    /// A pull was forwarded to the sender at `now`; `alone`: it is the only
    /// one in flight. Whether to spin for the sender's answer (`limit`:
    /// `busy_poll`).
    pub(crate) fn pull_forwarded(&mut self, now: Instant, alone: bool, limit: Duration) -> bool {
        if let Some(at) = self.answered.take() {
            self.slow_receiver = now - at > limit;
        }
        self.asked = alone.then_some(now);
        alone && !self.slow_sender
    }

    /// A response was forwarded to the receiver at `now`; `none_left`: no
    /// pull is in flight after it. Whether to spin for the next pull.
    pub(crate) fn answer_forwarded(
        &mut self,
        now: Instant,
        none_left: bool,
        limit: Duration,
    ) -> bool {
        if let Some(at) = self.asked.take() {
            self.slow_sender = now - at > limit;
        }
        self.answered = none_left.then_some(now);
        none_left && !self.slow_receiver
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_micros(50);

    #[test]
    fn a_lone_pull_between_quick_peers_spins() {
        let mut p = Pace::default();
        let t0 = Instant::now();
        assert!(p.pull_forwarded(t0, true, LIMIT));
        assert!(p.answer_forwarded(t0 + LIMIT / 2, true, LIMIT));
        assert!(p.pull_forwarded(t0 + LIMIT, true, LIMIT));
    }

    #[test]
    fn a_windowed_transfer_never_spins() {
        let mut p = Pace::default();
        let t0 = Instant::now();
        assert!(!p.pull_forwarded(t0, false, LIMIT));
        assert!(!p.answer_forwarded(t0, false, LIMIT));
    }

    #[test]
    fn a_slow_side_stops_the_spin_for_its_turn_only_until_it_is_quick_again() {
        let mut p = Pace::default();
        let t0 = Instant::now();
        p.pull_forwarded(t0, true, LIMIT);
        // The sender took 10 ms: the next pull does not spin for it...
        let t1 = t0 + Duration::from_millis(10);
        assert!(
            p.answer_forwarded(t1, true, LIMIT),
            "the receiver is still quick"
        );
        assert!(!p.pull_forwarded(t1 + LIMIT / 2, true, LIMIT));
        // ...until it answers in time again.
        let t2 = t1 + LIMIT;
        p.answer_forwarded(t2, true, LIMIT);
        assert!(p.pull_forwarded(t2 + LIMIT / 2, true, LIMIT));
        // A receiver that waits 1 s before its next pull is not spun for.
        let t3 = t2 + LIMIT;
        p.answer_forwarded(t3, true, LIMIT);
        p.pull_forwarded(t3 + Duration::from_secs(1), true, LIMIT);
        assert!(!p.answer_forwarded(t3 + Duration::from_secs(1), true, LIMIT));
    }
}
