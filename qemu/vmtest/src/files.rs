// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Test files on the VM's ext4 file systems, and O_DIRECT reference reads.

use std::{
    fs::{self, File, OpenOptions},
    os::unix::fs::{FileExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use rnvme::format::{write_file, Layout};

/// The file systems: (mount point, logical block size of the namespace).
/// `/mnt/part` is in a partition starting 1 MiB into its namespace.
pub const MOUNTS: [(&str, u32); 3] = [
    ("/mnt/nvme", 512),
    ("/mnt/nvme4k", 4096),
    ("/mnt/part", 512),
];

/// A 4 KiB-aligned buffer for O_DIRECT.
pub struct Aligned {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    pub fn new(len: usize) -> Self {
        let buf = vec![0u8; len + 4096];
        let start = buf.as_ptr().align_offset(4096);
        Self { buf, start, len }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// A path under `mount`, removed first if it exists.
pub fn fresh(mount: &str, name: &str) -> PathBuf {
    let p = Path::new(mount).join(name);
    let _ = fs::remove_file(&p);
    p
}

/// Writes `bytes` to a new file, flushed, in one extent if it can.
pub fn write_contiguous(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, bytes, Layout::Contiguous).with_context(|| format!("write {}", path.display()))
}

/// Writes `bytes` to a new file fragmented on purpose (see
/// [`rnvme::format::Layout::Fragmented`]).
pub fn write_fragmented(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file(path, bytes, Layout::Fragmented).with_context(|| format!("write {}", path.display()))
}

/// Reads `len` bytes at `offset` of `path` with O_DIRECT: the user-space
/// reference every chain result is compared with.
pub fn pread_direct(path: &Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    let mut buf = Aligned::new(len);
    f.read_exact_at(buf.as_mut_slice(), offset)
        .with_context(|| format!("pread {len} at {offset}"))?;
    Ok(buf.as_slice().to_vec())
}

/// Opens `path` read-only.
pub fn open_ro(path: &Path) -> Result<File> {
    File::open(path).with_context(|| format!("open {}", path.display()))
}

/// truncate(2) of `path` to 0 bytes (by path: no open file is needed, so a
/// refusal comes from truncate itself).
pub fn truncate(path: &Path) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: `c` is a valid C string; truncate(2) only reads it.
    if unsafe { libc::truncate(c.as_ptr(), 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
