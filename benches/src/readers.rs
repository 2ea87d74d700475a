// SPDX-License-Identifier: GPL-2.0 OR MIT

//! User-space read backends for the baselines: `pread(O_DIRECT)` and one
//! io_uring SQE per read. A read of a window that is not aligned reads the
//! covering range of blocks (O_DIRECT asks for it) and keeps the bytes asked
//! for, as the kernel does for a storage function.

use std::{
    fs::{File, OpenOptions},
    os::{
        fd::AsRawFd,
        unix::fs::{FileExt, OpenOptionsExt},
    },
    path::Path,
};

use anyhow::{Context, Result};
use io_uring::{opcode, types, IoUring};
use rnvme::abi::MAX_WINDOW;

/// A 4 KiB-aligned buffer for O_DIRECT, large enough for the covering
/// range of any window.
pub struct Aligned {
    buf: Vec<u8>,
    start: usize,
}

impl Aligned {
    pub fn new() -> Self {
        let buf = vec![0u8; MAX_WINDOW as usize + 3 * 4096];
        let start = buf.as_ptr().align_offset(4096);
        Self { buf, start }
    }

    pub fn get(&mut self, len: usize) -> &mut [u8] {
        &mut self.buf[self.start..self.start + len]
    }

    /// The aligned bytes there are.
    pub fn capacity(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// A user-space read backend.
pub trait Reader {
    /// Reads `buf.len()` bytes at `offset` (O_DIRECT, of the covering range).
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> bool;
}

/// The range of whole `align`-byte blocks that covers `len` bytes at
/// `offset`: its start and its length.
pub fn covering(offset: u64, len: usize, align: u64) -> (u64, usize) {
    let start = offset / align * align;
    let end = (offset + len as u64).div_ceil(align) * align;
    (start, (end - start) as usize)
}

pub fn open_direct(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .with_context(|| format!("open {} O_DIRECT", path.display()))
}

/// `pread` of the covering range of blocks of `align` bytes.
pub struct PreadReader {
    file: File,
    buf: Aligned,
    align: u64,
}

impl PreadReader {
    pub fn new(path: &Path, align: u64) -> Result<Self> {
        Ok(Self {
            file: open_direct(path)?,
            buf: Aligned::new(),
            align,
        })
    }
}

impl Reader for PreadReader {
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> bool {
        let (start, len) = covering(offset, buf.len(), self.align);
        let b = self.buf.get(len);
        if self.file.read_exact_at(b, start).is_err() {
            return false;
        }
        let skip = (offset - start) as usize;
        buf.copy_from_slice(&b[skip..skip + buf.len()]);
        true
    }
}

/// io_uring, one SQE per read of the covering range of blocks of `align`
/// bytes; `polled` sets up an IOPOLL ring (the device floor: completions
/// polled on an NVMe poll queue). [`UringReader::fixed`] adds a registered
/// file and a registered buffer.
pub struct UringReader {
    ring: IoUring,
    file: File,
    buf: Aligned,
    align: u64,
    /// The file and the buffer are registered with the ring (index 0).
    fixed: bool,
    /// Why the last failed read failed.
    pub last_error: Option<std::io::Error>,
}

impl UringReader {
    pub fn new(path: &Path, polled: bool, align: u64) -> Result<Self> {
        let mut builder = IoUring::builder();
        if polled {
            builder.setup_iopoll();
        }
        Ok(Self {
            ring: builder.build(8).context("io_uring setup")?,
            file: open_direct(path)?,
            buf: Aligned::new(),
            align,
            fixed: false,
            last_error: None,
        })
    }

    /// The strongest io_uring path for one read at a time: an IOPOLL ring,
    /// the file registered (no fget per read) and the buffer registered (no
    /// page pinning per read), reads with `IORING_OP_READ_FIXED`.
    pub fn fixed(path: &Path, align: u64) -> Result<Self> {
        let mut r = Self::new(path, true, align)?;
        let submitter = r.ring.submitter();
        submitter
            .register_files(&[r.file.as_raw_fd()])
            .context("IORING_REGISTER_FILES")?;
        let whole = r.buf.get(r.buf.capacity());
        let iov = libc::iovec {
            iov_base: whole.as_mut_ptr().cast(),
            iov_len: whole.len(),
        };
        // SAFETY: the registered range is `r.buf`'s, which lives as long as
        // the ring (both are fields of `r`, the ring dropped first) and does
        // not move (a Vec's heap block).
        unsafe { submitter.register_buffers(&[iov]) }.context("IORING_REGISTER_BUFFERS")?;
        r.fixed = true;
        Ok(r)
    }
}

impl Reader for UringReader {
    /// Retries a read the kernel answered with EAGAIN (an IOPOLL read that
    /// could not be issued without blocking), a few times.
    fn read(&mut self, offset: u64, buf: &mut [u8]) -> bool {
        for _ in 0..8 {
            if self.read_once(offset, buf) {
                return true;
            }
            if self
                .last_error
                .as_ref()
                .and_then(std::io::Error::raw_os_error)
                != Some(libc::EAGAIN)
            {
                return false;
            }
        }
        false
    }
}

impl UringReader {
    fn read_once(&mut self, offset: u64, buf: &mut [u8]) -> bool {
        let (start, len) = covering(offset, buf.len(), self.align);
        let b = self.buf.get(len);
        let sqe = if self.fixed {
            opcode::ReadFixed::new(types::Fixed(0), b.as_mut_ptr(), b.len() as u32, 0)
                .offset(start)
                .build()
        } else {
            opcode::Read::new(
                types::Fd(self.file.as_raw_fd()),
                b.as_mut_ptr(),
                b.len() as u32,
            )
            .offset(start)
            .build()
        };
        // SAFETY: `b` stays valid and unused until the completion is reaped
        // below (we wait for it before touching the buffer again).
        if unsafe { self.ring.submission().push(&sqe) }.is_err() {
            return false;
        }
        if let Err(e) = self.ring.submit_and_wait(1) {
            self.last_error = Some(e);
            return false;
        }
        // A polled ring may return before the read completed (the kernel
        // stops polling when it should reschedule): wait again, as liburing
        // does.
        let mut waits = 0;
        let cqe = loop {
            if let Some(cqe) = self.ring.completion().next() {
                break cqe;
            }
            waits += 1;
            if waits > 100_000 {
                self.last_error = Some(std::io::Error::other("no completion"));
                return false;
            }
            if let Err(e) = self.ring.submit_and_wait(1) {
                self.last_error = Some(e);
                return false;
            }
        };
        if cqe.result() != len as i32 {
            self.last_error = Some(if cqe.result() < 0 {
                std::io::Error::from_raw_os_error(-cqe.result())
            } else {
                std::io::Error::other(format!("short read: {} bytes", cqe.result()))
            });
            return false;
        }
        let skip = (offset - start) as usize;
        buf.copy_from_slice(&b[skip..skip + buf.len()]);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::covering;

    #[test]
    fn covering_ranges_are_whole_blocks_around_the_window() {
        assert_eq!(covering(4096, 4096, 4096), (4096, 4096));
        assert_eq!(covering(4101, 4101, 512), (4096, 9 * 512));
        assert_eq!(covering(4604, 4101, 512), (4608 - 512, 10 * 512));
        assert_eq!(covering(16389, 16384, 4096), (16384, 5 * 4096));
        assert_eq!(covering(7, 3, 1), (7, 3));
    }
}
