//! Moving a socket from one core's runtime to another's. The fd leaves the
//! accepting runtime as a `std::net::TcpStream` (sent over the owner's
//! channel) and is adopted with `TcpStream::from_std` on the owner.

use std::os::fd::{FromRawFd as _, IntoRawFd as _};

/// Takes the socket out of this core's runtime. No I/O may be in flight on
/// it (there is none: the login has been read and nothing else started).
pub(crate) fn into_std(stream: monoio::net::TcpStream) -> std::net::TcpStream {
    let fd = stream.into_raw_fd();
    // SAFETY: `into_raw_fd` released ownership of an open TCP socket fd to
    // us and nothing else refers to it; the std stream becomes its one owner.
    #[allow(unsafe_code)]
    unsafe {
        std::net::TcpStream::from_raw_fd(fd)
    }
}
