//! A byte budget: how much payload may be queued toward one connection.
//! Senders take permits before queueing; the writer's permits go back once
//! the bytes are on the socket, waking whoever waits.
//!
//! Hand-written rather than local-sync's semaphore: that one wakes waiters
//! while holding its own `RefCell`, and a woken task that is dropped there
//! (releasing a permit) re-enters it and panics ("already borrowed"), which
//! the epoll-driver back-pressure test hit. Here wakers are always called
//! after the borrow ends.

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

pub(crate) struct Budget {
    inner: RefCell<Inner>,
}

struct Inner {
    available: u64,
    closed: bool,
    waiters: Vec<Waker>,
}

/// The budget is closed: its connection is gone.
#[derive(Debug)]
pub(crate) struct Closed;

/// Bytes taken from a budget, given back on drop.
pub(crate) struct Permit {
    budget: Rc<Budget>,
    bytes: u64,
}

impl Budget {
    pub(crate) fn new(bytes: u64) -> Rc<Budget> {
        Rc::new(Budget {
            inner: RefCell::new(Inner {
                available: bytes,
                closed: false,
                waiters: Vec::new(),
            }),
        })
    }

    /// Waits until `bytes` are available (callers never ask for more than
    /// the budget's size) and takes them.
    pub(crate) async fn acquire(self: &Rc<Self>, bytes: u64) -> Result<Permit, Closed> {
        poll_fn(|cx| {
            let mut inner = self.inner.borrow_mut();
            if inner.closed {
                return Poll::Ready(Err(Closed));
            }
            if inner.available >= bytes {
                inner.available -= bytes;
                return Poll::Ready(Ok(Permit {
                    budget: self.clone(),
                    bytes,
                }));
            }
            if !inner.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                inner.waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Refuses every later acquire and wakes the waiting ones.
    pub(crate) fn close(&self) {
        let waiters = {
            let mut inner = self.inner.borrow_mut();
            inner.closed = true;
            std::mem::take(&mut inner.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    fn release(&self, bytes: u64) {
        let waiters = {
            let mut inner = self.inner.borrow_mut();
            inner.available += bytes;
            std::mem::take(&mut inner.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}
