// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The system calls the benchmark makes through libc: the calling
//! thread's CPU clock, dropping a file's pages from the page cache, and
//! where a file's blocks are on its device (FIEMAP).

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

/// The sysfs directory of block device `dev` (a disk or a partition).
pub fn block_sysfs(dev: u64) -> String {
    format!("/sys/dev/block/{}:{}", libc::major(dev), libc::minor(dev))
}

/// One extent of a file: `len` bytes at file offset `logical` are at byte
/// `physical` of the device (of the partition, for a file system on one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub logical: u64,
    pub physical: u64,
    pub len: u64,
}

/// `file`'s extents in file order (FS_IOC_FIEMAP with FIEMAP_FLAG_SYNC: dirty
/// pages are written first), at most 256.
pub fn extents(file: &File) -> std::io::Result<Vec<Extent>> {
    const FS_IOC_FIEMAP: libc::c_ulong = 0xc020_660b;
    const FIEMAP_FLAG_SYNC: u32 = 1;
    const COUNT: usize = 256;
    // struct fiemap (32 bytes), then COUNT struct fiemap_extent (56 each).
    let mut arg = vec![0u8; 32 + 56 * COUNT];
    arg[8..16].copy_from_slice(&u64::MAX.to_ne_bytes()); // fm_length
    arg[16..20].copy_from_slice(&FIEMAP_FLAG_SYNC.to_ne_bytes()); // fm_flags
    arg[24..28].copy_from_slice(&(COUNT as u32).to_ne_bytes()); // fm_extent_count
                                                                // SAFETY: `arg` is a struct fiemap followed by room for the
                                                                // fm_extent_count extents it asks for; the kernel writes no further, and
                                                                // the descriptor is open while `file` is borrowed.
    if unsafe { libc::ioctl(file.as_raw_fd(), FS_IOC_FIEMAP, arg.as_mut_ptr()) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let u64_at = |b: &[u8], at: usize| u64::from_ne_bytes(b[at..at + 8].try_into().unwrap());
    let mapped = u32::from_ne_bytes(arg[20..24].try_into().unwrap()) as usize;
    Ok(arg[32..]
        .chunks(56)
        .take(mapped)
        .map(|e| Extent {
            logical: u64_at(e, 0),
            physical: u64_at(e, 8),
            len: u64_at(e, 16),
        })
        .collect())
}
