// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Test files on the VM's ext4 file systems, and O_DIRECT reference reads.

use std::{
    fs::{self, File, OpenOptions},
    io::Write,
    os::unix::fs::{FileExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

use anyhow::{ensure, Context, Result};

/// The file systems: (mount point, logical block size of the namespace).
/// `/mnt/part` is in a partition starting 1 MiB into its namespace.
pub const MOUNTS: [(&str, u32); 3] = [("/mnt/nvme", 512), ("/mnt/nvme4k", 4096), ("/mnt/part", 512)];

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

/// Writes `bytes` to a new file, flushed to disk.
pub fn write_contiguous(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).with_context(|| format!("create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Writes `bytes` (a multiple of 4 KiB) to a new file fragmented on purpose:
/// each 4 KiB block is written with O_DIRECT|O_SYNC, alternating with a block
/// of a spacer file, so the allocator interleaves the two. Returns the
/// spacer's path (the caller may delete it).
pub fn write_fragmented(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    ensure!(bytes.len() % 4096 == 0, "fragmented files are whole 4 KiB blocks");
    let spacer = path.with_extension("spacer");
    let open = |p: &Path| {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT | libc::O_SYNC)
            .open(p)
            .with_context(|| format!("open {}", p.display()))
    };
    let (f, s) = (open(path)?, open(&spacer)?);
    let mut buf = Aligned::new(4096);
    for (i, block) in bytes.chunks(4096).enumerate() {
        buf.as_mut_slice().copy_from_slice(block);
        f.write_all_at(buf.as_slice(), (i * 4096) as u64)?;
        buf.as_mut_slice().fill(0xee);
        s.write_all_at(buf.as_slice(), (i * 4096) as u64)?;
    }
    Ok(spacer)
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
