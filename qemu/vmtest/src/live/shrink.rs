// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Changes that free or move a tagged file's blocks while chains run: hole
//! punching, truncation and collapse (ext4 and XFS), extent moves (ext4),
//! extent swaps and reflink (XFS). Chains over a changed range end with
//! ENODATA or ENXIO or complete with the data from before the change;
//! chains over unchanged ranges do not fail; the freed blocks, refilled
//! with a marker, never come back.

use std::{
    fs,
    os::{fd::AsRawFd, unix::fs::FileExt},
    path::Path,
};

use anyhow::{ensure, Context, Result};
use rnvme::{format::chain::ChainResult, Control, StorageFunction, DEFAULT_DEVICE};

use super::{
    open_rw, remap_counters, run_chain, under_chains, write_direct, LiveChain, BS, LIVE_MOUNTS,
};
use crate::files;

/// The marker's value: a chain that read a marker block would sum it.
const MARKER_VALUE: u64 = 1 << 40;

/// Fills `mb` MiB of a new file next to `c` with chain blocks that end a
/// chain with [`MARKER_VALUE`], flushed: blocks `c`'s file freed are likely
/// among them.
fn fill_marker(c: &LiveChain, mb: usize) -> Result<()> {
    let last = *c.hops.last().context("no hops")?;
    let mut block = c.block(last).to_vec();
    block[16..24].copy_from_slice(&MARKER_VALUE.to_le_bytes());
    let bytes = block.repeat(mb * 256);
    let path = c.path.with_extension("marker");
    files::write_contiguous(&path, &bytes)?;
    fs::remove_file(&path)?;
    Ok(())
}

/// `fallocate(2)` of `path` with `mode`.
fn fallocate(path: &Path, mode: i32, offset: u64, len: u64) -> Result<()> {
    let f = open_rw(path)?;
    // SAFETY: `f` is open for the whole call; fallocate(2) takes integers.
    let r = unsafe { libc::fallocate(f.as_raw_fd(), mode, offset as i64, len as i64) };
    ensure!(
        r == 0,
        "fallocate mode {mode:#x}: {}",
        std::io::Error::last_os_error()
    );
    Ok(())
}

/// Every completed chain read each block at its only version (value 0).
fn unchanged(c: &LiveChain, r: &ChainResult) -> Result<()> {
    c.check(r)?;
    ensure!(
        r.sum == 0,
        "sum {:#x}: a block that is not the file's",
        r.sum
    );
    Ok(())
}

/// A chain that read the file unchanged, or ended with one of `errnos`
/// (`Ok(true)`).
fn unchanged_or(c: &LiveChain, errnos: &[i32], o: Result<ChainResult, i32>) -> Result<bool> {
    match o {
        Ok(r) => unchanged(c, &r).map(|()| false),
        Err(e) if errnos.contains(&e) => Ok(true),
        Err(e) => anyhow::bail!("a chain failed with errno {e}"),
    }
}

/// Punches a hole over a middle hop, then truncates the file before a later
/// one, while chains run; refills the freed space with a marker after each.
/// The file's other tag, dropped before, leaves the chains' tag watched.
pub fn punch_and_truncate() -> Result<()> {
    for (m, mount) in LIVE_MOUNTS.iter().enumerate() {
        let control = Control::open(DEFAULT_DEVICE)?;
        let f = StorageFunction::builtin("chain")?;
        let c = LiveChain::create(mount, "live-punch", 16, 256, 41 + m as u64)?;
        let fd = files::open_ro(&c.path)?;
        // Both tags of the file share one watch of its inode; the one left
        // must still be told of the punch below once the first is gone.
        let first = control.attach(&fd, &f, 0)?;
        let tag = control.attach(&fd, &f, 0)?;
        drop(first);
        let before = remap_counters(&control)?;
        let hole = c.hops[8];
        let (runs, ended) = under_chains(
            &tag,
            c.start,
            &|o| unchanged_or(&c, &[libc::ENODATA], o),
            || {
                fallocate(
                    &c.path,
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    hole,
                    u64::from(BS),
                )
            },
        )?;
        ensure!(
            run_chain(&tag, c.start, false).err() == Some(libc::ENODATA),
            "a chain over the punched hole did not end with ENODATA"
        );
        fill_marker(&c, 16)?;
        let r = run_chain(&tag, c.start, true).err();
        ensure!(r == Some(libc::ENODATA), "after the marker: {r:?}");
        println!(
            "ok: {mount}: punch under {runs} chains: {ended} ended ENODATA, the others read the \
             file before the punch; the refilled space never came back"
        );
        let cut = c.hops[12] & !u64::from(BS - 1);
        let (runs, ended) = under_chains(
            &tag,
            c.start,
            &|o| unchanged_or(&c, &[libc::ENODATA, libc::ENXIO], o),
            || {
                let w = open_rw(&c.path)?;
                w.set_len(cut).context("truncate")
            },
        )?;
        fill_marker(&c, 16)?;
        let r = run_chain(&tag, c.start, false).err();
        ensure!(
            matches!(r, Some(libc::ENODATA | libc::ENXIO)),
            "after truncate and the marker: {r:?}"
        );
        let after = remap_counters(&control)?;
        ensure!(after.0 > before.0, "the file system drained no direct I/O");
        println!(
            "ok: {mount}: truncate under {runs} chains: {ended} ended ENODATA/ENXIO; remaps +{}, \
             re-translated reads +{}, maps built +{}",
            after.0 - before.0,
            after.1 - before.1,
            after.3 - before.3
        );
        drop(tag);
        fs::remove_file(&c.path)?;
    }
    Ok(())
}

/// Changes past every chain block — a buffered write, a punched hole, a
/// zeroed range, a truncation and a collapse, each draining direct I/O —
/// leave the chains' hops alone: chains under them all complete with the
/// file's data, and no hop re-translates (the drains name their ranges).
pub fn unchanged_ranges() -> Result<()> {
    for (m, mount) in LIVE_MOUNTS.iter().enumerate() {
        let control = Control::open(DEFAULT_DEVICE)?;
        let f = StorageFunction::builtin("chain")?;
        let mut c = LiveChain::create(mount, "live-unchanged", 16, 16, 51 + m as u64)?;
        c.bytes
            .extend(std::iter::repeat_n(0x33u8, 112 * BS as usize));
        files::write_contiguous(&c.path, &c.bytes)?;
        let fd = files::open_ro(&c.path)?;
        let tag = control.attach(&fd, &f, 0)?;
        let judge = |o| unchanged_or(&c, &[], o);
        let bs = u64::from(BS);
        let before = remap_counters(&control)?;
        let (runs, _) = under_chains(&tag, c.start, &judge, || {
            let w = open_rw(&c.path)?;
            w.write_all_at(&[0x44; 4096], 120 * bs)
                .context("buffered write")?;
            let keep = libc::FALLOC_FL_KEEP_SIZE;
            fallocate(&c.path, libc::FALLOC_FL_PUNCH_HOLE | keep, 100 * bs, 8 * bs)?;
            fallocate(&c.path, libc::FALLOC_FL_ZERO_RANGE | keep, 90 * bs, 4 * bs)?;
            w.set_len(112 * bs).context("truncate")?;
            fallocate(&c.path, libc::FALLOC_FL_COLLAPSE_RANGE, 24 * bs, 16 * bs)
        })?;
        ensure!(
            fs::metadata(&c.path)?.len() == 96 * bs,
            "not truncated and collapsed"
        );
        let after = remap_counters(&control)?;
        ensure!(
            after.0 >= before.0 + 4,
            "the file system drained direct I/O {} times, not at least 4",
            after.0 - before.0
        );
        ensure!(
            after.1 == before.1,
            "{} hops re-translated though no change touched their range",
            after.1 - before.1
        );
        println!(
            "ok: {mount}: write, punch, zero, truncate and collapse past the chain under {runs} \
             chains: none failed, none re-translated (drains +{}, maps built +{})",
            after.0 - before.0,
            after.3 - before.3
        );
        drop(tag);
        fs::remove_file(&c.path)?;
    }
    Ok(())
}

/// `EXT4_IOC_MOVE_EXT`: `_IOWR('f', 15, struct move_extent)`.
const EXT4_IOC_MOVE_EXT: libc::c_ulong = 0xc028_660f;

/// ext4 moves a tagged file's blocks (what e4defrag does) while chains run:
/// every chain completes with the file's data; the old blocks, freed with
/// the donor and refilled with a marker, never come back.
pub fn move_extent() -> Result<()> {
    moved_under_chains("/mnt/nvme", "live-move", 61, "moved", |orig, donor, len| {
        // struct move_extent: reserved, donor_fd, orig_start, donor_start,
        // len, moved_len (blocks).
        let mut arg = [0u8; 40];
        arg[4..8].copy_from_slice(&(donor.as_raw_fd() as u32).to_ne_bytes());
        arg[24..32].copy_from_slice(&(len / u64::from(BS)).to_ne_bytes());
        ioctl_struct(orig, EXT4_IOC_MOVE_EXT, "EXT4_IOC_MOVE_EXT", &mut arg)
    })
}

/// `XFS_IOC_SWAPEXT`: `_IOWR('X', 109, struct xfs_swapext)` (192 bytes).
const XFS_IOC_SWAPEXT: libc::c_ulong = 0xc0c0_586d;

/// XFS swaps a tagged file's blocks with a copy's (what `xfs_fsr` does)
/// while chains run: every chain completes with the file's data; the old
/// blocks, freed with the copy and refilled with a marker, never come back.
/// (6.12's extent swap did not drain direct I/O; kernel patch 14 makes it.)
pub fn swap_extents() -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    moved_under_chains(
        "/mnt/xfs",
        "live-swapext",
        81,
        "swapped",
        |target, tmp, len| {
            let st = target.metadata()?;
            // struct xfs_swapext: version, fdtarget, fdtmp, offset, length,
            // pad[16], then struct xfs_bstat (mtime at 56, ctime at 72 in it).
            let mut arg = [0u8; 192];
            arg[8..16].copy_from_slice(&i64::from(target.as_raw_fd()).to_ne_bytes());
            arg[16..24].copy_from_slice(&i64::from(tmp.as_raw_fd()).to_ne_bytes());
            arg[32..40].copy_from_slice(&(len as i64).to_ne_bytes());
            arg[112..120].copy_from_slice(&st.mtime().to_ne_bytes());
            arg[120..124].copy_from_slice(&(st.mtime_nsec() as i32).to_ne_bytes());
            arg[128..136].copy_from_slice(&st.ctime().to_ne_bytes());
            arg[136..140].copy_from_slice(&(st.ctime_nsec() as i32).to_ne_bytes());
            ioctl_struct(target, XFS_IOC_SWAPEXT, "XFS_IOC_SWAPEXT", &mut arg)
        },
    )
}

/// `ioctl(f, request, arg)` for a request whose argument is the struct
/// `arg` holds, which the kernel reads and may write back; `name` names
/// the request in the error.
fn ioctl_struct(f: &fs::File, request: libc::c_ulong, name: &str, arg: &mut [u8]) -> Result<()> {
    // _IOC_SIZE(request): the size of the struct the kernel copies.
    let size = (request >> 16) & 0x3fff;
    ensure!(
        arg.len() as libc::c_ulong == size,
        "{name}: {} bytes, not {size}",
        arg.len()
    );
    // SAFETY: `arg` is exactly as large as the struct `request` names
    // (checked above); the kernel reads and writes no further.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), request, arg.as_mut_ptr()) };
    ensure!(r == 0, "{name}: {}", std::io::Error::last_os_error());
    Ok(())
}

/// A tagged chain file on `mount` and a copy of it: while chains run,
/// `exchange(file, copy, length)` gives the file the copy's blocks (both
/// open for reading and writing). Every chain completes with the file's
/// data; the blocks must have moved, the operation must have drained direct
/// I/O, and once the copy (holding the old blocks) is removed and its
/// space refilled with a marker, chains still read the file's data.
fn moved_under_chains(
    mount: &str,
    name: &str,
    seed: u64,
    what: &str,
    exchange: impl FnOnce(&fs::File, &fs::File, u64) -> Result<()>,
) -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let c = LiveChain::create(mount, name, 16, 64, seed)?;
    let copy = c.path.with_extension("copy");
    files::write_contiguous(&copy, &c.bytes)?;
    let fd = files::open_ro(&c.path)?;
    let tag = control.attach(&fd, &f, 0)?;
    let old = files::physical_extents(&c.path)?;
    let before = remap_counters(&control)?;
    let (runs, _) = under_chains(&tag, c.start, &|o| unchanged_or(&c, &[], o), || {
        exchange(&open_rw(&c.path)?, &open_rw(&copy)?, c.bytes.len() as u64)
    })?;
    let new = files::physical_extents(&c.path)?;
    ensure!(new != old, "the blocks did not move ({old:?})");
    fs::remove_file(&copy)?;
    sync_all_fs();
    fill_marker(&c, 32)?;
    for polled in [false, true] {
        unchanged_or(&c, &[], run_chain(&tag, c.start, polled))?;
    }
    let after = remap_counters(&control)?;
    ensure!(after.0 > before.0, "the change drained no direct I/O");
    println!(
        "ok: {mount}: extents {what} ({old:?} -> {new:?}) under {runs} chains, none failed; the \
         old blocks freed and refilled never came back (remaps +{}, maps built +{})",
        after.0 - before.0,
        after.3 - before.3
    );
    drop(tag);
    fs::remove_file(&c.path)?;
    Ok(())
}

/// sync(2): freed blocks become reusable once the journal commits.
fn sync_all_fs() {
    // SAFETY: sync(2) takes no arguments.
    unsafe { libc::sync() };
}

/// `FICLONE`: `_IOW(0x94, 9, int)`.
const FICLONE: libc::c_ulong = 0x4004_9409;

/// XFS reflink of a tagged file: its blocks become shared, which tags
/// refuse (a copy-on-write would remap them without draining direct I/O):
/// chains end with EOPNOTSUPP from then on, also after a CoW write, and
/// neither file can be tagged.
pub fn reflink_refused() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let mut c = LiveChain::create("/mnt/xfs", "live-reflink", 16, 64, 71)?;
    let fd = files::open_ro(&c.path)?;
    let tag = control.attach(&fd, &f, 0)?;
    let clone = c.path.with_extension("clone");
    let judge = |o| unchanged_or(&c, &[libc::EOPNOTSUPP], o);
    let (runs, refused) = under_chains(&tag, c.start, &judge, || {
        let dst = fs::File::create(&clone)?;
        // SAFETY: Both descriptors are open; FICLONE takes the source fd.
        let r = unsafe { libc::ioctl(dst.as_raw_fd(), FICLONE, fd.as_raw_fd()) };
        ensure!(r == 0, "FICLONE: {}", std::io::Error::last_os_error());
        Ok(())
    })?;
    ensure!(
        run_chain(&tag, c.start, false).err() == Some(libc::EOPNOTSUPP),
        "a chain on a reflinked file did not end with EOPNOTSUPP"
    );
    let at = c.set_value(3, true);
    write_direct(&c.path, at, c.block(at))?;
    ensure!(
        run_chain(&tag, c.start, true).err() == Some(libc::EOPNOTSUPP),
        "after a CoW write"
    );
    for p in [&c.path, &clone] {
        let e = control
            .attach(&files::open_ro(p)?, &f, 0)
            .err()
            .and_then(|e| e.errno());
        ensure!(
            e == Some(libc::EOPNOTSUPP),
            "attach of {}: {e:?}",
            p.display()
        );
    }
    println!(
        "ok: /mnt/xfs: reflink under {runs} chains ({refused} ended EOPNOTSUPP, the others read \
         the file); chains and attaches refused after it, also after a CoW write"
    );
    drop(tag);
    fs::remove_file(&c.path)?;
    fs::remove_file(&clone)?;
    Ok(())
}
