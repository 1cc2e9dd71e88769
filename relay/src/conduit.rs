//! A conduit moves a payload from the sender's socket to the receiver's
//! through a kernel pipe with splice(2): the bytes never enter user space.
//!
//! ```text
//! sender socket ──splice──> pipe (1 MiB) ──splice──> receiver socket
//!        ^ sender's reader task (fill)    ^ whoever gets there first (pump)
//! ```
//!
//! Both ends run on the same core. The splices are non-blocking syscalls
//! made by the core's thread itself, waiting on socket readiness (the
//! runtime's poll) when the kernel says EAGAIN. io_uring's own splice op is
//! not used: it runs every splice on an io-wq worker thread, and monoio's
//! pipe is fixed at 64 KiB; measured, that path was slower than copying
//! (benches/relay.rs, first zero-copy attempt).
//!
//! The receiver's writer task opens the way out ([`Conduit::drain`]) once
//! it has written the PDU's head, naming its socket and how many bytes
//! belong to this PDU. From then on the filling task pumps the pipe into
//! that socket right after each fill, with no task switch per splice; the
//! writer only steps in when the receiver's socket is full (it waits for
//! room and pumps) and to see the PDU through. A pump never moves more than
//! the open PDU's bytes, so the next PDU's payload, already filling the
//! pipe, waits for its own head.
//!
//! When the receiver's writer is idle and the transfer has no other pull
//! in flight (a stock client), the filling task writes the head itself and opens the way out on its own ([`Conduit::open`]): the
//! payload then goes into the receiver's socket as it arrives, and the
//! writer, handed the [`Opened`] PDU to keep later PDUs behind it, has
//! nothing left to do unless the socket was full. No io_uring send and no
//! wait for its completion sit between a response and its receiver
//! (benches/relay.rs, round trips).
//!
//! The pipe's fill level is counted here, so each side knows whether an
//! EAGAIN means "the socket has nothing / no room" or "the pipe is full /
//! empty", and wakes the other side when it moves bytes.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Poll, Waker};

/// Bytes the pipe is asked to hold (the kernel may grant less).
const PIPE_SIZE: i32 = 1 << 20;

pub(crate) struct Conduit {
    read: OwnedFd,
    write: OwnedFd,
    /// Bytes in the pipe now.
    held: Cell<usize>,
    /// One side gave up: the other must stop waiting.
    broken: Cell<bool>,
    /// The filling side, waiting for the pipe to drain.
    filler: RefCell<Option<Waker>>,
    /// The draining side, waiting for bytes.
    drainer: RefCell<Option<Waker>>,
    /// The receiver's socket while a PDU is being drained into it.
    sink: Cell<Option<RawFd>>,
    /// Bytes of that PDU not yet in the socket.
    owed: Cell<usize>,
}

impl Conduit {
    #[allow(unsafe_code)]
    pub(crate) fn new() -> io::Result<Rc<Conduit>> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two new fds into the array on success; each is
        // then owned by exactly one OwnedFd.
        let (read, write) = unsafe {
            if libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) != 0 {
                return Err(io::Error::last_os_error());
            }
            (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
        };
        // SAFETY: fcntl on a pipe fd we own; failure (a low pipe-max-size)
        // only leaves the default size.
        unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE) };
        let (held, broken) = (Cell::new(0), Cell::new(false));
        Ok(Rc::new(Conduit {
            read,
            write,
            held,
            broken,
            filler: RefCell::default(),
            drainer: RefCell::default(),
            sink: Cell::new(None),
            owed: Cell::new(0),
        }))
    }

    /// Marks the conduit unusable and wakes both sides.
    pub(crate) fn break_off(&self) {
        self.broken.set(true);
        wake(&self.filler);
        wake(&self.drainer);
    }

    /// Waits, as `who`, until `ready()` holds; fails once the conduit breaks.
    async fn wait_for(
        &self,
        who: &RefCell<Option<Waker>>,
        ready: impl Fn(&Conduit) -> bool,
    ) -> io::Result<()> {
        poll_fn(|cx| {
            if self.broken.get() {
                return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
            }
            if ready(self) {
                return Poll::Ready(Ok(()));
            }
            *who.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Moves `len` bytes from `socket` into the pipe, as the receiver's
    /// writer drains it. `readable` waits for the socket to have data.
    pub(crate) async fn fill<F, Fut>(
        &self,
        socket: RawFd,
        mut len: usize,
        readable: F,
    ) -> io::Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = io::Result<()>>,
    {
        while len > 0 {
            if self.broken.get() {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            match splice(socket, self.write.as_raw_fd(), len) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    len -= n;
                    self.held.set(self.held.get() + n);
                    match self.pump() {
                        // Pumped all it could: only an end needs the writer.
                        Ok(()) if self.owed.get() > 0 || self.sink.get().is_none() => {}
                        // Done, the receiver is full, or it failed: the
                        // writer takes over.
                        Ok(()) | Err(_) => wake(&self.drainer),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.held.get() > 0 {
                        // Maybe the pipe is full: wait for the writer to drain some.
                        let before = self.held.get();
                        self.wait_for(&self.filler, |c| c.held.get() < before)
                            .await?;
                    } else {
                        // The socket is empty: wait for data, or for the
                        // other side to give up.
                        monoio::select! {
                            r = readable() => r?,
                            r = self.wait_for(&self.filler, |_| false) => r?,
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sees `len` bytes out of the pipe into `socket` as they arrive: the
    /// filling side pumps them while it can; this waits for the receiver's
    /// socket when it is full, and for the end.
    pub(crate) async fn drain<F, Fut>(
        &self,
        socket: RawFd,
        len: usize,
        writable: F,
    ) -> io::Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = io::Result<()>>,
    {
        self.sink.set(Some(socket));
        self.owed.set(len);
        // Closes the PDU however this ends, dropped mid-way (a timeout) too:
        // no pump may reach this socket afterwards.
        let _open = OpenPdu(self);
        self.see_through(writable).await
    }

    /// Opens the way out for a PDU whose head the caller has written to
    /// `socket`: the next `len` bytes filled go straight into it. The
    /// receiver's writer must get the [`Opened`] PDU next, to see it
    /// through ([`Opened::finish`]); `socket` must stay open until then.
    pub(crate) fn open(self: &Rc<Self>, socket: RawFd, len: usize) -> Opened {
        debug_assert!(self.sink.get().is_none(), "one open PDU at a time");
        self.sink.set(Some(socket));
        self.owed.set(len);
        Opened(self.clone())
    }

    /// Pumps the open PDU until it is through, waiting with `writable`
    /// while its socket is full and for bytes while the pipe is empty.
    async fn see_through<F, Fut>(&self, writable: F) -> io::Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = io::Result<()>>,
    {
        loop {
            match self.pump() {
                Ok(()) if self.owed.get() == 0 => return Ok(()),
                Ok(()) => {
                    self.wait_for(&self.drainer, |c| c.held.get() > 0 || c.owed.get() == 0)
                        .await?
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => writable().await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves what the pipe holds of the open PDU into its socket until the
    /// pipe is empty or the PDU is through; `WouldBlock` when the socket is
    /// full. Nothing without an open PDU.
    fn pump(&self) -> io::Result<()> {
        let Some(sink) = self.sink.get() else {
            return Ok(());
        };
        while self.held.get() > 0 && self.owed.get() > 0 {
            let want = self.held.get().min(self.owed.get());
            match splice(self.read.as_raw_fd(), sink, want)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => {
                    self.held.set(self.held.get() - n);
                    self.owed.set(self.owed.get() - n);
                    wake(&self.filler);
                }
            }
        }
        Ok(())
    }
}

/// A PDU opened by the filling side ([`Conduit::open`]), queued to the
/// receiver's writer. Dropped before it is through (the writer ended), it
/// breaks the conduit off, so the filling side stops, and closes the PDU,
/// so no pump reaches the socket after the writer is gone.
pub(crate) struct Opened(Rc<Conduit>);

impl Opened {
    /// Sees the PDU through (as [`Conduit::drain`] after its start).
    pub(crate) async fn finish<F, Fut>(&self, writable: F) -> io::Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = io::Result<()>>,
    {
        self.0.see_through(writable).await
    }
}

impl Drop for Opened {
    fn drop(&mut self) {
        if self.0.owed.get() > 0 {
            self.0.break_off();
        }
        self.0.sink.set(None);
        self.0.owed.set(0);
    }
}

/// The PDU [`Conduit::drain`] has open; closed when dropped.
struct OpenPdu<'a>(&'a Conduit);

impl Drop for OpenPdu<'_> {
    fn drop(&mut self) {
        self.0.sink.set(None);
        self.0.owed.set(0);
    }
}

fn wake(who: &RefCell<Option<Waker>>) {
    let waker = who.borrow_mut().take();
    if let Some(w) = waker {
        w.wake();
    }
}

/// One non-blocking splice(2) of up to `len` bytes.
#[allow(unsafe_code)]
fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
    // SAFETY: a plain syscall on fds the caller keeps open for its duration;
    // null offsets mean "current position" for sockets and pipes.
    let n = unsafe {
        libc::splice(
            from,
            std::ptr::null_mut(),
            to,
            std::ptr::null_mut(),
            len,
            flags,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
