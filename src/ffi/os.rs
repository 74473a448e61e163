//! The libc calls of the module.

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

/// Cut a connection: shut the socket down in both directions, so that a read blocked on it
/// returns at once, and make its close abortive (SO_LINGER 0: an RST), so that the server
/// learns at once too. A plain close after a shutdown sends nothing more: a server blocked
/// writing into a full window (a table or binlog read the module stopped taking) would wait
/// for its `net_write_timeout`, keeping its read view open, since a zero-window probe is
/// answered without an RST. No memory is touched, whatever `fd` is; the caller must know `fd`
/// is still its socket (not a number reused by another file since), or it cuts that one.
pub fn cut_socket(fd: RawFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads a linger struct we own, of the size we pass; shutdown(2) only
    // takes a descriptor number. On a bad descriptor both fail with EBADF or ENOTSOCK, which
    // we ignore (the caller's read then ends its own way).
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}
