// SPDX-License-Identifier: GPL-2.0 OR MIT

//! On-disk formats the built-in storage functions read, with deterministic
//! builders, verifiers and user-space reference implementations. Each
//! format's layout is also a C header in `bpf/include/`.

pub mod aligned;
pub mod bptree;
pub mod chain;
pub mod records;
pub mod verify;

/// A small deterministic generator (xorshift64*), so files are reproducible
/// from their seed without a dependency.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Shuffles `v` (Fisher–Yates).
    pub(crate) fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// A reader over `bytes` for the reference walks (`chain::walk`,
/// `bptree::lookup`, `records::scan`): reads past the end fail.
pub fn memory_reader(bytes: &[u8]) -> impl FnMut(u64, &mut [u8]) -> bool + '_ {
    |off, buf| match usize::try_from(off)
        .ok()
        .and_then(|o| bytes.get(o..o.checked_add(buf.len())?))
    {
        Some(src) => {
            buf.copy_from_slice(src);
            true
        }
        None => false,
    }
}

/// Little-endian field access in a block.
pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

pub(crate) fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

pub(crate) fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// How [`write_file`] lays a file out on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Written in one go: usually one extent.
    Contiguous,
    /// Fragmented on purpose: each 4 KiB block is written with
    /// O_DIRECT|O_SYNC alternately with a block of a spacer file (removed
    /// afterwards), so the allocator interleaves the two.
    Fragmented,
}

/// Writes `bytes` to a new file at `path` (replacing it), flushed to disk.
/// A fragmented file is padded to whole 4 KiB blocks.
pub fn write_file(path: &std::path::Path, bytes: &[u8], layout: Layout) -> std::io::Result<()> {
    use std::{
        fs::OpenOptions,
        io::Write,
        os::unix::fs::{FileExt, OpenOptionsExt},
    };
    if layout == Layout::Contiguous {
        let mut f = std::fs::File::create(path)?;
        f.write_all(bytes)?;
        return f.sync_all();
    }
    let spacer = path.with_extension("spacer");
    let open = |p: &std::path::Path| {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT | libc::O_SYNC)
            .open(p)
    };
    let (f, s) = (open(path)?, open(&spacer)?);
    let mut aligned = aligned::Aligned::new(4096);
    for (i, block) in bytes.chunks(4096).enumerate() {
        let buf = aligned.as_mut_slice();
        buf.fill(0);
        buf[..block.len()].copy_from_slice(block);
        f.write_all_at(buf, (i * 4096) as u64)?;
        buf.fill(0xee);
        s.write_all_at(buf, (i * 4096) as u64)?;
    }
    drop(s);
    std::fs::remove_file(&spacer)
}
