//! The two libc calls of the module.

use std::os::fd::RawFd;

/// CPU time of the calling thread, µs (0 when the clock is unavailable).
pub fn thread_cpu_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes the calling thread's CPU clock into a timespec we own.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// Shut a socket down in both directions: a read blocked on it returns at once. No memory is
/// touched, whatever `fd` is; the caller must know `fd` is still its socket (not a number
/// reused by another file since), or it shuts that one down instead.
pub fn shutdown_socket(fd: RawFd) {
    // SAFETY: shutdown(2) only takes a descriptor number; on a bad one it fails with EBADF or
    // ENOTSOCK, which we ignore (the caller's read then ends its own way).
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}
