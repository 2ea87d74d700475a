// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Chain reads against pread and the reference walkers: chains of every
//! shape on every namespace, interrupt-driven and polled, reads split across
//! extents, the hop limit, ABORT, B+-tree lookups and record scans.

use std::{fs, path::Path};

use anyhow::{bail, ensure, Result};
use rnvme::{
    format::{
        bptree::{self, Shape, TreeSpec},
        chain::{self, ChainResult, ChainSpec},
        records::{self, RecordSpec},
    },
    Control, Error, StorageFunction, Verdict, DEFAULT_DEVICE,
};

use crate::{
    expect::expect_errno,
    files::{self, MOUNTS},
    fixtures::{fixture, jump_scratch, write_test_file},
};

/// Chains of 1, 2, 8 and 31 hops, 512 B and 4 KiB blocks, contiguous and
/// fragmented files, on both namespaces: the function's result and the last
/// block equal a user-space O_DIRECT walk, byte for byte.
pub fn chain_correct() -> Result<()> {
    let (reads, irqs) = chains_match_pread(false)?;
    println!("ok: {reads} reads, {irqs} NVMe interrupts during the chain reads");
    // The interrupt count below is a valid witness: here each read raises one.
    ensure!(
        irqs * 2 >= reads,
        "only {irqs} interrupts for {reads} interrupt-driven reads"
    );
    Ok(())
}

/// The same, with polled reads on the namespaces' poll queues: the storage
/// function runs and the driver resubmits from the polling task. Polled
/// completions raise no interrupt, so the NVMe interrupt counts barely move
/// while hundreds of reads complete (in interrupt mode each read raises one).
pub fn chain_polled() -> Result<()> {
    let (reads, irqs) = chains_match_pread(true)?;
    println!("ok: {reads} polled reads, {irqs} NVMe interrupts during the chain reads");
    ensure!(
        irqs * 4 < reads,
        "polled reads raised {irqs} interrupts for {reads} reads"
    );
    Ok(())
}

/// Interrupts of the NVMe queue vectors so far, all CPUs.
fn nvme_interrupts() -> Result<u64> {
    let text = fs::read_to_string("/proc/interrupts")?;
    Ok(text
        .lines()
        .filter(|l| l.contains("nvme"))
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .map_while(|w| w.parse::<u64>().ok())
        })
        .sum())
}

/// Runs the chain matrix; returns the number of reads done and the NVMe
/// interrupts counted during the chain reads themselves.
fn chains_match_pread(polled: bool) -> Result<(u64, u64)> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let mut driver_hops = 0;
    let mut cases = 0;
    let mut reads = 0;
    let mut irqs = 0;
    for (mount, lba) in MOUNTS {
        for bs in [512u32, 4096] {
            if bs < lba {
                continue;
            }
            for fragmented in [false, true] {
                for (i, hops) in [1u32, 2, 8, 31].into_iter().enumerate() {
                    let spec = ChainSpec {
                        hops,
                        block_size: bs,
                        file_blocks: (hops * 4).max(64) * 4096 / bs,
                        seed: u64::from(hops) * 1000 + u64::from(bs) + u64::from(fragmented),
                    };
                    let file = chain::build(&spec);
                    let path = files::fresh(mount, &format!("chain-{bs}-{hops}-{fragmented}"));
                    if fragmented {
                        files::write_fragmented(&path, &file.bytes)?;
                    } else {
                        files::write_contiguous(&path, &file.bytes)?;
                    }
                    let reference = chain::walk(direct_reader(&path), file.start, bs, 256)
                        .map_err(|e| anyhow::anyhow!("reference walk: {e:?}"))?;
                    let fd = files::open_ro(&path)?;
                    let tag = control.attach(&fd, &f, 0)?;
                    if fragmented && i == 0 && files::fragments(mount) {
                        ensure!(
                            tag.extents() > 1,
                            "{}: not fragmented ({} extent)",
                            path.display(),
                            tag.extents()
                        );
                    }
                    let mut scratch = vec![0u8; ChainResult::SIZE];
                    let mut last = vec![0u8; 4096];
                    let irqs_before = nvme_interrupts()?;
                    let out = if polled {
                        tag.chain_read_polled(file.start, bs, &mut scratch, Some(&mut last))?
                    } else {
                        tag.chain_read(file.start, bs, &mut scratch, Some(&mut last))?
                    };
                    irqs += nvme_interrupts()? - irqs_before;
                    let got = ChainResult::from_scratch(&scratch);
                    ensure!(
                        got == reference,
                        "{}: kernel {got:?} != pread {reference:?}",
                        path.display()
                    );
                    ensure!(out.verdict == Verdict::Done && out.hops == hops, "{out:?}");
                    let want_last =
                        files::pread_direct(&path, out.last_offset, out.last_len as usize)?;
                    ensure!(
                        last[..out.last_len as usize] == want_last[..],
                        "last block differs"
                    );
                    driver_hops += out.driver_hops;
                    reads += u64::from(out.hops);
                    cases += 1;
                    println!(
                        "ok: {mount} {bs} B x {hops} hops, {} extents: {} reads in the driver",
                        tag.extents(),
                        out.driver_hops
                    );
                    drop(tag);
                    fs::remove_file(&path)?;
                }
            }
        }
    }
    // Every chain with more than one hop could be resubmitted in the driver;
    // if none was, the hook is not doing its job.
    ensure!(driver_hops > 0, "no read was resubmitted by the driver");
    println!("ok: {cases} chains, {reads} reads, {driver_hops} resubmitted in the driver");
    Ok((reads, irqs))
}

/// A 4 KiB read at a 2 KiB offset over two blocks that are not contiguous on
/// disk is read in pieces in process context, and matches pread.
pub fn split_read() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("jump")?;
    let mut bytes = vec![0u8; 64 * 4096];
    for (i, c) in bytes.chunks_mut(8).enumerate() {
        c.copy_from_slice(&(i as u64).to_le_bytes());
    }
    let path = files::fresh("/mnt/nvme", "split");
    files::write_fragmented(&path, &bytes)?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    ensure!(tag.extents() > 1, "file not fragmented");
    let mut checked = 0;
    for block in 0..63u64 {
        let offset = block * 4096 + 2048;
        // jump: read 4 KiB at `offset`, then stop; seen[1] = first 8 bytes.
        let mut scratch = jump_scratch(offset, 4096, 1);
        let mut last = vec![0u8; 4096];
        let out = tag.chain_read(0, 4096, &mut scratch, Some(&mut last))?;
        ensure!(out.hops == 2 && out.last_offset == offset, "{out:?}");
        ensure!(
            last == files::pread_direct(&path, offset, 4096)?,
            "block at {offset} differs"
        );
        checked += 1;
    }
    let stats = control.stats()?;
    ensure!(
        stats.cache_misses > 0,
        "no read needed splitting: {stats:?}"
    );
    println!(
        "ok: {checked} reads across block boundaries match pread; cache misses so far {}",
        stats.cache_misses
    );
    drop(tag);
    fs::remove_file(&path)?;
    Ok(())
}

/// A function that never stops ends at the hop limit with ELOOP.
pub fn hop_limit() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("loop")?;
    let path = files::fresh("/mnt/nvme", "loop");
    files::write_contiguous(&path, &vec![7u8; 8192])?;
    let fd = files::open_ro(&path)?;
    for (max_hops, want) in [(0u32, rnvme::abi::DEFAULT_MAX_HOPS), (5, 5), (256, 256)] {
        let tag = control.attach(&fd, &f, max_hops)?;
        match tag.chain_read(0, 512, &mut [], None) {
            Err(Error::Chain { hops, cause }) => {
                ensure!(cause.raw_os_error() == Some(libc::ELOOP), "errno {cause}");
                ensure!(hops == want, "stopped after {hops} reads, limit {want}");
                println!("ok: max_hops {max_hops}: ELOOP after {hops} reads");
            }
            other => bail!("endless chain returned {other:?}"),
        }
    }
    expect_errno("max_hops 257", control.attach(&fd, &f, 257), libc::EINVAL)?;
    drop(fd);
    fs::remove_file(&path)?;
    Ok(())
}

/// ABORT ends the chain with ECANCELED after its first read.
pub fn abort() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = fixture("abort")?;
    let path = files::fresh("/mnt/nvme", "abort");
    files::write_contiguous(&path, &[1u8; 4096])?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    match tag.chain_read(0, 4096, &mut [], None) {
        Err(Error::Chain { hops: 1, cause }) if cause.raw_os_error() == Some(libc::ECANCELED) => {}
        other => bail!("abort returned {other:?}"),
    }
    println!("ok: ABORT -> ECANCELED after 1 read");
    drop(tag);
    fs::remove_file(&path)?;
    Ok(())
}

/// A reader of `path` for the reference implementations (O_DIRECT).
fn direct_reader(path: &Path) -> impl FnMut(u64, &mut [u8]) -> bool + '_ {
    move |off, buf| match files::pread_direct(path, off, buf.len()) {
        Ok(b) => {
            buf.copy_from_slice(&b);
            true
        }
        Err(e) => {
            println!("reference read of {} B at {off}: {e:#}", buf.len());
            false
        }
    }
}

/// B+-tree lookups (512 B and 4 KiB nodes, depths 1 to 6, inline values and
/// a value log, contiguous and fragmented files, three namespaces) equal the
/// user-space reference lookup: found or not, value, record data, depth;
/// reads per lookup = depth (+1 with a value log).
pub fn bptree_correct() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("bptree")?;
    let mut lookups = 0;
    let shapes = [
        (512u32, 30u64, 1u32),
        (512, 400, 2),
        (512, 2000, 6),
        (512, 5000, 3),
        (4096, 200, 1),
        (4096, 20_000, 2),
        (4096, 30_000, 3),
    ];
    for (mount, lba) in MOUNTS {
        for (i, (ns, keys, depth)) in shapes.into_iter().enumerate() {
            if ns < lba {
                continue;
            }
            let value_log = i % 2 == 1;
            let fragmented = i % 3 == 0;
            let spec = TreeSpec {
                keys,
                node_size: ns,
                shape: Shape::Depth(depth),
                value_log,
                seed: i as u64 + 40,
            };
            let tree = bptree::build(&spec).map_err(anyhow::Error::msg)?;
            let path = files::fresh(mount, &format!("tree-{ns}-{depth}"));
            write_test_file(&path, &tree.bytes, fragmented)?;
            let fd = files::open_ro(&path)?;
            let tag = control.attach(&fd, &f, 0)?;
            let present = bptree::present_keys(&spec);
            let step = (present.len() / 12).max(1);
            let probes = present
                .iter()
                .step_by(step)
                .copied()
                .chain([0, 4 * (keys / 2), u64::MAX]);
            for (j, key) in probes.enumerate() {
                let (got, out) = tag.lookup(&tree.sup, key, j % 2 == 1)?;
                let want = bptree::lookup(direct_reader(&path), &tree.sup, key)
                    .map_err(anyhow::Error::msg)?;
                ensure!(
                    got == want,
                    "{} key {key}: kernel {got:?} != reference {want:?}",
                    path.display()
                );
                let reads = want.depth + u32::from(want.found && value_log);
                ensure!(
                    out.hops == reads && want.depth == tree.sup.depth,
                    "key {key}: {out:?}, depth {}",
                    want.depth
                );
                lookups += 1;
            }
            println!(
                "ok: {mount} {ns} B nodes, depth {depth}, {keys} keys{}{}",
                if value_log { ", value log" } else { "" },
                if fragmented { ", fragmented" } else { "" }
            );
            drop(tag);
            fs::remove_file(&path)?;
        }
    }
    println!("ok: {lookups} lookups equal the reference");
    Ok(())
}

/// Scans over record files (512 B and 4 KiB blocks, ranges longer than one
/// chain's hop limit, contiguous and fragmented) equal the reference scan.
pub fn scan_correct() -> Result<()> {
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("scan")?;
    for (mount, lba) in MOUNTS {
        for (i, bs) in [512u32, 4096].into_iter().enumerate() {
            if bs < lba {
                continue;
            }
            let spec = RecordSpec {
                blocks: 300,
                block_size: bs,
                key_space: 10_000,
                seed: 70 + i as u64,
            };
            let bytes = records::build(&spec).map_err(anyhow::Error::msg)?;
            let path = files::fresh(mount, &format!("records-{bs}"));
            write_test_file(&path, &bytes, i == 1)?;
            let fd = files::open_ro(&path)?;
            let tag = control.attach(&fd, &f, 0)?;
            let b = u64::from(bs);
            for (start, end, lo, hi) in [
                (0, 300, 0, u64::MAX),
                (10, 50, 2000, 2999),
                (0, 300, 5000, 5000),
                (299, 300, 0, 9999),
                (0, 1, 1, 0),
            ] {
                let got = tag.scan(bs, start * b, end * b, lo, hi)?;
                let want = records::scan(direct_reader(&path), bs, start * b, end * b, lo, hi)
                    .map_err(anyhow::Error::msg)?;
                ensure!(
                    got == want,
                    "{}: blocks {start}..{end} keys {lo}..={hi}: {got:?} != {want:?}",
                    path.display()
                );
            }
            println!("ok: {mount} {bs} B blocks: 5 scans (up to 300 blocks, {} chains) equal the reference", 300u32.div_ceil(tag.max_hops()));
            drop(tag);
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}
