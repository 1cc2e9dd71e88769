//! A plain splice(2) relay: the cheapest a user-space relay can be. Each
//! connection first sends an 8-byte pairing id (the only thing the relay
//! reads); two connections with the same id are joined, and bytes move in
//! both directions through pipes, never into user space and without being
//! looked at (no framing, no checks): the baseline ferry's relay, which
//! parses and checks every PDU, is compared against.

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

pub(crate) struct SpliceRelay {
    pub(crate) addr: SocketAddr,
}

impl SpliceRelay {
    pub(crate) fn start() -> SpliceRelay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let waiting: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
        std::thread::Builder::new()
            .name("splice-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    let mut stream = stream.unwrap();
                    stream.set_nodelay(true).unwrap(); // small PDUs (pulls) leave at once
                    let mut id = [0u8; 8];
                    stream.read_exact(&mut id).unwrap();
                    let other = waiting.lock().unwrap().remove(&u64::from_be_bytes(id));
                    match other {
                        None => {
                            waiting
                                .lock()
                                .unwrap()
                                .insert(u64::from_be_bytes(id), stream);
                        }
                        Some(other) => {
                            for (from, to) in [
                                (other.try_clone().unwrap(), stream.try_clone().unwrap()),
                                (stream, other),
                            ] {
                                std::thread::Builder::new()
                                    .name("splice-relay".into())
                                    .spawn(move || pump(from, to))
                                    .unwrap();
                            }
                        }
                    }
                }
            })
            .unwrap();
        SpliceRelay { addr }
    }
}

/// from -> pipe -> to, until either end closes.
#[allow(unsafe_code)]
pub(crate) fn pump(from: TcpStream, to: TcpStream) {
    let mut pipe = [0i32; 2];
    // SAFETY: plain syscalls on fds owned by this function's sockets and the
    // pipe it creates and closes.
    unsafe {
        assert_eq!(libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC), 0);
        libc::fcntl(pipe[1], libc::F_SETPIPE_SZ, 1 << 20);
        let flags = libc::SPLICE_F_MOVE;
        'outer: loop {
            let n = libc::splice(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                pipe[1],
                std::ptr::null_mut(),
                1 << 20,
                flags,
            );
            if n <= 0 {
                break;
            }
            let mut left = n;
            while left > 0 {
                let m = libc::splice(
                    pipe[0],
                    std::ptr::null_mut(),
                    to.as_raw_fd(),
                    std::ptr::null_mut(),
                    left as usize,
                    flags,
                );
                if m <= 0 {
                    break 'outer;
                }
                left -= m;
            }
        }
        libc::close(pipe[0]);
        libc::close(pipe[1]);
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}
