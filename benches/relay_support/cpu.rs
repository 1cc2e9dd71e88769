//! CPU time of this whole process (every thread, living or gone, kernel
//! workers such as io_uring's included), from getrusage(2).

/// User + system CPU seconds used by this process so far.
#[allow(unsafe_code)]
pub(crate) fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct it is given; nothing else.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
