// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The two system calls the engine benchmark makes through libc: the
//! calling thread's CPU clock, and dropping a file's pages from the page
//! cache.

use std::{fs::File, os::fd::AsRawFd};

/// CPU time of the calling thread, nanoseconds (CLOCK_THREAD_CPUTIME_ID:
/// the scheduler's exact runtime, user and system).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the
    // call; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID is always there on Linux");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Drops `file`'s clean pages from the page cache, so that the next
/// buffered read of it goes to the disk.
pub fn drop_cached(file: &File) -> std::io::Result<()> {
    // SAFETY: the descriptor is open for as long as `file` is borrowed;
    // posix_fadvise reads no memory of ours.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    match rc {
        0 => Ok(()),
        e => Err(std::io::Error::from_raw_os_error(e)),
    }
}
