// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Tagged files that change under their chains, on ext4 and XFS: O_DIRECT
//! and buffered overwrites, appends (`live.rs`); hole punching, truncation,
//! collapse, ext4 extent moves and XFS reflink (`live/shrink.rs`); a B+-tree
//! updated by copy-on-write under lookups (`live/tree.rs`); large sparse
//! files (`live/sparse.rs`).
//!
//! The files are chains whose hop `i` holds value 0 (its old version) or
//! `1 << i` (its new one): a completed chain's sum says which version of
//! each block it read, so a result outside the blocks' two versions (or a
//! chain that fails) shows a read of anything else.

mod shrink;
mod sparse;
mod tree;

pub use shrink::{
    move_extent, punch_and_truncate, reflink_refused, swap_extents, unchanged_ranges,
};
pub use sparse::large_sparse;
pub use tree::cow_stress;

use std::{
    fs::{File, OpenOptions},
    os::unix::fs::{FileExt, OpenOptionsExt},
    path::PathBuf,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};
use rnvme::{
    format::chain::{self, ChainResult, ChainSpec},
    Control, StorageFunction, Tag, DEFAULT_DEVICE,
};

use crate::{
    files::{self, Aligned},
    random::Rng,
};

/// The file systems the live tests run on: ext4 (512 B LBA) and XFS.
pub const LIVE_MOUNTS: [&str; 2] = ["/mnt/nvme", "/mnt/xfs"];

/// Bytes of a chain block (a file-system block on both file systems).
pub const BS: u32 = 4096;

/// A chain file whose hop blocks have two versions each.
pub struct LiveChain {
    pub path: PathBuf,
    pub start: u64,
    /// File offset of each hop's block, in chain order.
    pub hops: Vec<u64>,
    /// The file's bytes, as this test last wrote them.
    pub bytes: Vec<u8>,
}

impl LiveChain {
    /// A chain of `hops` (at most 32) blocks in a file of `file_blocks`
    /// blocks on `mount`, all hops at their old version, written in one
    /// extent.
    pub fn create(mount: &str, name: &str, hops: u32, file_blocks: u32, seed: u64) -> Result<Self> {
        ensure!(hops <= 32);
        let spec = ChainSpec {
            hops,
            block_size: BS,
            file_blocks,
            seed,
        };
        let file = chain::build(&spec);
        let mut offsets = Vec::new();
        chain::walk(
            |off, buf| {
                offsets.push(off);
                buf.copy_from_slice(&file.bytes[off as usize..off as usize + buf.len()]);
                true
            },
            file.start,
            BS,
            hops,
        )
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut c = Self {
            path: files::fresh(mount, name),
            start: file.start,
            hops: offsets,
            bytes: file.bytes,
        };
        for i in 0..c.hops.len() {
            c.set_value(i, false);
        }
        files::write_contiguous(&c.path, &c.bytes)?;
        Ok(c)
    }

    /// Sets hop `i`'s block to its new or old version in [`Self::bytes`];
    /// returns its offset.
    pub fn set_value(&mut self, i: usize, new: bool) -> u64 {
        let at = self.hops[i] as usize;
        let v: u64 = if new { 1 << i } else { 0 };
        self.bytes[at + 16..at + 24].copy_from_slice(&v.to_le_bytes());
        self.hops[i]
    }

    /// The block at `offset` in [`Self::bytes`].
    pub fn block(&self, offset: u64) -> &[u8] {
        &self.bytes[offset as usize..offset as usize + BS as usize]
    }

    /// The sum a chain returns now.
    pub fn want(&self) -> u64 {
        self.hops
            .iter()
            .map(|&o| {
                u64::from_le_bytes(
                    self.bytes[o as usize + 16..o as usize + 24]
                        .try_into()
                        .unwrap(),
                )
            })
            .sum()
    }

    /// Checks a chain result: every hop read, each at one of its versions.
    pub fn check(&self, r: &ChainResult) -> Result<u64> {
        let n = self.hops.len() as u64;
        ensure!(r.count == n, "{} hops, want {n}", r.count);
        ensure!(r.last_index == n - 1, "last index {}", r.last_index);
        ensure!(
            r.sum & !((1u64 << n) - 1) == 0,
            "sum {:#x}: a block that is neither version",
            r.sum
        );
        Ok(r.sum)
    }
}

/// Writes `data` at `offset` of `path` with O_DIRECT (whole blocks).
pub fn write_direct(path: &std::path::Path, offset: u64, data: &[u8]) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    let mut buf = Aligned::new(data.len());
    buf.as_mut_slice().copy_from_slice(data);
    f.write_all_at(buf.as_slice(), offset)
        .with_context(|| format!("O_DIRECT write at {offset}"))
}

/// Writes `data` at `offset` of `path` through the page cache, no fsync.
pub fn write_buffered(path: &std::path::Path, offset: u64, data: &[u8]) -> Result<()> {
    let f = OpenOptions::new().write(true).open(path)?;
    f.write_all_at(data, offset)
        .with_context(|| format!("buffered write at {offset}"))
}

/// Runs one chain from `start` on `tag` (polled or not): its result or
/// errno.
pub fn run_chain(tag: &Tag, start: u64, polled: bool) -> Result<ChainResult, i32> {
    let mut scratch = vec![0u8; ChainResult::SIZE];
    let r = if polled {
        tag.chain_read_polled(start, BS, &mut scratch, None)
    } else {
        tag.chain_read(start, BS, &mut scratch, None)
    };
    match r {
        Ok(_) => Ok(ChainResult::from_scratch(&scratch)),
        Err(e) => Err(e.errno().unwrap_or(-1)),
    }
}

/// The module's counters of remaps, re-translated reads and write-backs.
pub fn remap_counters(control: &Control) -> Result<(u64, u64, u64, u64)> {
    let m = control.metrics()?;
    let remapped = rnvme::abi::FALLBACKS
        .iter()
        .position(|&r| r == "remapped")
        .context("no remapped fallback")?;
    Ok((
        m.remaps,
        m.fallbacks[remapped],
        m.write_backs,
        m.extent_maps,
    ))
}

/// What a test makes of a chain's outcome: an error fails the test,
/// `Ok(true)` counts an allowed failure (an errno the change explains).
pub type Judge<'a> = &'a (dyn Fn(Result<ChainResult, i32>) -> Result<bool> + Sync);

/// Two threads run chains from `start` on `tag` (one interrupt-driven, one
/// polled) while `mutate` runs, and for a few chains more; `judge` checks
/// each outcome. Returns (chains, allowed failures).
pub fn under_chains(
    tag: &Tag,
    start: u64,
    judge: Judge<'_>,
    mutate: impl FnOnce() -> Result<()>,
) -> Result<(u64, u64)> {
    let stop = AtomicBool::new(false);
    let (runs, allowed) = (AtomicU64::new(0), AtomicU64::new(0));
    thread::scope(|s| -> Result<()> {
        let readers: Vec<_> = [false, true]
            .into_iter()
            .map(|polled| {
                let (stop, runs, allowed) = (&stop, &runs, &allowed);
                s.spawn(move || -> Result<()> {
                    while !stop.load(Ordering::Relaxed) {
                        let out = run_chain(tag, start, polled);
                        match judge(out) {
                            Ok(true) => {
                                allowed.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(false) => {}
                            Err(e) => bail!("chain {}: {e:#}", runs.load(Ordering::Relaxed)),
                        }
                        runs.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        // Let chains start before the change.
        let t = Instant::now();
        while runs.load(Ordering::Relaxed) < 4 && t.elapsed() < Duration::from_secs(10) {
            thread::sleep(Duration::from_millis(1));
        }
        let result = mutate();
        let after = runs.load(Ordering::Relaxed) + 8;
        let t = Instant::now();
        while runs.load(Ordering::Relaxed) < after && t.elapsed() < Duration::from_secs(10) {
            thread::sleep(Duration::from_millis(1));
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().expect("reader panicked")?;
        }
        result
    })?;
    Ok((runs.into_inner(), allowed.into_inner()))
}

/// Whole-block O_DIRECT overwrites of a tagged file's chain blocks while
/// chains run: every hop returns the block's old or new version, no chain
/// fails; once the writes stop, chains return exactly the file's content.
pub fn overwrite_direct() -> Result<()> {
    for (m, mount) in LIVE_MOUNTS.iter().enumerate() {
        let control = Control::open(DEFAULT_DEVICE)?;
        let f = StorageFunction::builtin("chain")?;
        let mut c = LiveChain::create(mount, "live-overwrite", 24, 96, 11 + m as u64)?;
        let fd = files::open_ro(&c.path)?;
        let tag = control.attach(&fd, &f, 0)?;
        let before = remap_counters(&control)?;
        let mut rng = Rng(0x0dd + m as u64);
        let mut written = 0u64;
        let shape = LiveChain {
            path: c.path.clone(),
            start: c.start,
            hops: c.hops.clone(),
            bytes: Vec::new(),
        };
        let judge = |o: Result<ChainResult, i32>| -> Result<bool> {
            let r = o.map_err(|e| anyhow::anyhow!("a chain failed with errno {e}"))?;
            shape.check(&r)?;
            Ok(false)
        };
        let (runs, _) = under_chains(&tag, c.start, &judge, || {
            let end = Instant::now() + Duration::from_secs(3);
            while Instant::now() < end {
                let i = rng.below(24) as usize;
                let new = rng.below(2) == 1;
                let at = c.set_value(i, new);
                write_direct(&c.path, at, c.block(at))?;
                written += 1;
            }
            Ok(())
        })?;
        let r = run_chain(&tag, c.start, false).map_err(|e| anyhow::anyhow!("errno {e}"))?;
        c.check(&r)?;
        ensure!(
            r.sum == c.want(),
            "after the writes: {:#x}, want {:#x}",
            r.sum,
            c.want()
        );
        let after = remap_counters(&control)?;
        println!(
            "ok: {mount}: {runs} chains under {written} O_DIRECT overwrites, none failed, each block \
             old or new; remaps +{}, re-translated reads +{}",
            after.0 - before.0,
            after.1 - before.1
        );
        drop(tag);
        std::fs::remove_file(&c.path)?;
    }
    Ok(())
}

/// Buffered writes without fsync: the next chain sees them (the module
/// writes the range back first, as O_DIRECT reads do).
pub fn buffered_seen() -> Result<()> {
    for (m, mount) in LIVE_MOUNTS.iter().enumerate() {
        let control = Control::open(DEFAULT_DEVICE)?;
        let f = StorageFunction::builtin("chain")?;
        let mut c = LiveChain::create(mount, "live-buffered", 16, 64, 21 + m as u64)?;
        let fd = files::open_ro(&c.path)?;
        let tag = control.attach(&fd, &f, 0)?;
        let before = remap_counters(&control)?;
        let mut rng = Rng(0xb0f + m as u64);
        for round in 0..40 {
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(16) as usize;
                let new = rng.below(2) == 1;
                let at = c.set_value(i, new);
                write_buffered(&c.path, at, c.block(at))?;
            }
            let r = run_chain(&tag, c.start, round % 2 == 1)
                .map_err(|e| anyhow::anyhow!("round {round}: errno {e}"))?;
            c.check(&r)?;
            ensure!(
                r.sum == c.want(),
                "round {round}: chain read {:#x}, the file holds {:#x}",
                r.sum,
                c.want()
            );
        }
        let after = remap_counters(&control)?;
        ensure!(after.2 > before.2, "no read wrote dirty pages back");
        println!(
            "ok: {mount}: 40 chains each saw the buffered writes before it (write-backs +{})",
            after.2 - before.2
        );
        drop(tag);
        std::fs::remove_file(&c.path)?;
    }
    Ok(())
}

/// Appends: a block written past the end of file, then linked from the old
/// last block, is reachable by the next chain (O_DIRECT and buffered).
pub fn append_reachable() -> Result<()> {
    for (m, mount) in LIVE_MOUNTS.iter().enumerate() {
        let control = Control::open(DEFAULT_DEVICE)?;
        let f = StorageFunction::builtin("chain")?;
        let mut c = LiveChain::create(mount, "live-append", 8, 16, 31 + m as u64)?;
        let fd = files::open_ro(&c.path)?;
        let tag = control.attach(&fd, &f, 0)?;
        for k in 0..16usize {
            let direct = k % 2 == 0;
            let at = c.bytes.len() as u64;
            let last = *c.hops.last().unwrap();
            // The new block: the old last one's header, value 1 << index.
            let mut block = c.block(last).to_vec();
            let i = c.hops.len();
            block[16..24].copy_from_slice(&(1u64 << i).to_le_bytes());
            block[24..28].copy_from_slice(&(i as u32).to_le_bytes());
            c.bytes.extend_from_slice(&block);
            c.hops.push(at);
            let mut link = c.block(last).to_vec();
            link[8..16].copy_from_slice(&at.to_le_bytes());
            c.bytes[last as usize..last as usize + BS as usize].copy_from_slice(&link);
            let write = if direct { write_direct } else { write_buffered };
            write(&c.path, at, &block)?;
            write(&c.path, last, &link)?;
            let r = run_chain(&tag, c.start, k % 4 == 1)
                .map_err(|e| anyhow::anyhow!("append {k}: errno {e}"))?;
            c.check(&r)?;
            ensure!(
                r.sum == c.want(),
                "append {k}: {:#x}, want {:#x}",
                r.sum,
                c.want()
            );
        }
        println!(
            "ok: {mount}: 16 appended blocks (O_DIRECT and buffered) reachable right after each write"
        );
        drop(tag);
        drop(fd);
        std::fs::remove_file(&c.path)?;
    }
    Ok(())
}

/// Opens `path` for writing (for ioctls that need a writable descriptor).
pub fn open_rw(path: &std::path::Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("open {} for writing", path.display()))
}
