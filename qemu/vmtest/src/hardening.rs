// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Hardening scenarios: device errors mid-chain, a slow device, and a
//! bounded stress run with tags coming and going.

use std::{
    collections::BTreeMap,
    fs::{self, File, OpenOptions},
    os::fd::AsRawFd,
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};
use rnvme::{
    format::{
        bptree::{self, Shape, TreeSpec},
        chain::{self, ChainResult, ChainSpec},
        memory_reader,
    },
    Control, Error, StorageFunction, Verdict, DEFAULT_DEVICE,
};

use crate::{files, scenarios::jump_scratch};

fn cmdline(name: &str) -> Option<String> {
    let c = fs::read_to_string("/proc/cmdline").ok()?;
    c.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_string))
}

/// A read error of the device (QEMU blkdebug fails one sector of the fault
/// disk) ends the chain that hits it with EIO — on its first read, on a read
/// the driver resubmitted, and polled — while other chains go on and the
/// counters show the errors.
pub fn device_error() -> Result<()> {
    let sector: u64 = cmdline("rnvme.fault_sector")
        .context("no rnvme.fault_sector")?
        .parse()?;
    // 56 MiB over a 64 MiB file system: some block lands on the bad sector.
    let path = files::fresh("/mnt/fault", "big.db");
    let blocks = 56 * 256u64;
    let mut bytes = vec![0u8; (blocks * 4096) as usize];
    for (i, b) in bytes.chunks_mut(4096).enumerate() {
        b[..8].copy_from_slice(&(i as u64).to_le_bytes());
    }
    files::write_contiguous(&path, &bytes)?;
    drop(bytes);
    // Find the block whose read fails: 1 MiB reads, then 4 KiB ones.
    let mut bad = None;
    'outer: for chunk in 0..blocks / 256 {
        if files::pread_direct(&path, chunk << 20, 1 << 20).is_err() {
            for b in 0..256 {
                let off = (chunk << 20) + b * 4096;
                if files::pread_direct(&path, off, 4096).is_err() {
                    bad = Some(off);
                    break 'outer;
                }
            }
        }
    }
    let bad =
        bad.with_context(|| format!("no block of the file maps to the failing sector {sector}"))?;
    let good = if bad >= 8192 { bad - 8192 } else { bad + 8192 };
    println!("ok: file offset {bad} maps to the failing sector {sector}");

    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::from_object("jump", rnvme::fixture("jump").context("fixture")?)?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    let errors_before = control.stats()?.errors;
    let eio = |what: &str, r: Result<rnvme::ChainOutcome, Error>| -> Result<()> {
        match r {
            Err(Error::Chain { cause, .. }) if cause.raw_os_error() == Some(libc::EIO) => {
                println!("ok: {what}: EIO");
                Ok(())
            }
            other => bail!("{what}: {other:?}"),
        }
    };
    eio(
        "first read on the bad block",
        tag.chain_read(bad, 4096, &mut jump_scratch(good, 4096, 1), None),
    )?;
    eio(
        "second read, resubmitted by the driver, on the bad block",
        tag.chain_read(good, 4096, &mut jump_scratch(bad, 4096, 1), None),
    )?;
    eio(
        "the same, polled",
        tag.chain_read_polled(good, 4096, &mut jump_scratch(bad, 4096, 1), None),
    )?;
    // Chains around it go on.
    let mut s = jump_scratch(good + 4096, 4096, 1);
    let out = tag.chain_read(good, 4096, &mut s, None)?;
    ensure!(out.hops == 2, "{out:?}");
    ensure!(
        s[16..24] == (good / 4096).to_le_bytes() && s[24..32] == (good / 4096 + 1).to_le_bytes(),
        "data around the bad block"
    );
    let errors = control.stats()?.errors - errors_before;
    ensure!(errors == 3, "errors counter moved by {errors}, want 3");
    println!("ok: chains around the bad block are correct; the errors counter moved by 3");
    drop(tag);
    fs::remove_file(&path)?;
    Ok(())
}

/// The slow disk: QEMU throttles its reads to `rnvme.slow_iops` per second
/// (tens of ms each). Plain O_DIRECT reads show the throttle applies; deep
/// chains, interrupt-driven and polled, one at a time and several at once,
/// equal the reference byte for byte; a process killed mid-chain leaves no
/// tag behind; the counters add up.
pub fn slow_device() -> Result<()> {
    let iops: u64 = cmdline("rnvme.slow_iops")
        .context("no rnvme.slow_iops")?
        .parse()?;
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    struct Slow {
        path: std::path::PathBuf,
        file: chain::ChainFile,
        hops: u32,
        want: ChainResult,
    }
    let mut slow = Vec::new();
    for (i, hops) in [31u32, 31, 16, 16].into_iter().enumerate() {
        let file = chain::build(&ChainSpec {
            hops,
            block_size: 4096,
            file_blocks: 64,
            seed: 600 + i as u64,
        });
        let want = chain::walk(memory_reader(&file.bytes), file.start, 4096, 64)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let path = files::fresh("/mnt/slow", &format!("slow-{i}"));
        files::write_contiguous(&path, &file.bytes)?;
        slow.push(Slow {
            path,
            file,
            hops,
            want,
        });
    }
    let stats_before = control.stats()?;

    // The throttle applies: count plain O_DIRECT reads for 2 s. Unthrottled,
    // the emulated disk does thousands a second; only an upper bound is
    // checked (a slow host makes fewer reads, never more).
    let window = Duration::from_secs(2);
    let t = Instant::now();
    let mut reads = 0u64;
    while t.elapsed() < window {
        let off = (reads % 64) * 4096;
        let got = files::pread_direct(&slow[0].path, off, 4096)?;
        ensure!(
            got[..] == slow[0].file.bytes[off as usize..off as usize + 4096],
            "pread at {off}"
        );
        reads += 1;
    }
    let elapsed = t.elapsed();
    println!(
        "ok: {reads} O_DIRECT reads in {elapsed:.2?}: {:.1} ms per read (throttle: {iops} reads/s)",
        elapsed.as_secs_f64() * 1000.0 / reads as f64
    );
    ensure!(
        reads <= 2 * iops * window.as_secs(),
        "{reads} reads in {window:?}: the throttle did not apply"
    );

    // Deep chains, one at a time: the driver's resubmitted reads wait for
    // the throttle too (a chain of n reads takes at least about n/iops s;
    // half of that is checked).
    let s0 = &slow[0];
    let fd = files::open_ro(&s0.path)?;
    let tag = control.attach(&fd, &f, 0)?;
    for polled in [false, true] {
        let mut scratch = vec![0u8; ChainResult::SIZE];
        let mut last = vec![0u8; 4096];
        let t = Instant::now();
        let out = if polled {
            tag.chain_read_polled(s0.file.start, 4096, &mut scratch, Some(&mut last))?
        } else {
            tag.chain_read(s0.file.start, 4096, &mut scratch, Some(&mut last))?
        };
        let elapsed = t.elapsed();
        let mode = if polled { "polled" } else { "irq" };
        ensure!(
            out.verdict == Verdict::Done && out.hops == s0.hops,
            "{mode}: {out:?}"
        );
        ensure!(
            ChainResult::from_scratch(&scratch) == s0.want,
            "{mode}: result differs from the reference"
        );
        let at = out.last_offset as usize;
        ensure!(
            last[..] == s0.file.bytes[at..at + 4096],
            "{mode}: last block differs"
        );
        println!(
            "ok: {mode}: {} reads ({} resubmitted by the driver) in {elapsed:.2?}: {:.1} ms per read",
            out.hops,
            out.driver_hops,
            elapsed.as_secs_f64() * 1000.0 / f64::from(out.hops)
        );
        let floor = Duration::from_secs_f64(f64::from(out.hops) / (2.0 * iops as f64));
        ensure!(
            elapsed >= floor,
            "{mode}: {} reads in {elapsed:?}, under {floor:?}: not throttled",
            out.hops
        );
    }
    drop(tag);
    drop(fd);

    // Several at once, each on its own tag, half of them polled.
    let t = Instant::now();
    thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = slow
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (control, f) = (&control, &f);
                s.spawn(move || -> Result<()> {
                    let fd = files::open_ro(&c.path)?;
                    let tag = control.attach(&fd, f, 0)?;
                    let mut scratch = vec![0u8; ChainResult::SIZE];
                    let out = if i % 2 == 1 {
                        tag.chain_read_polled(c.file.start, 4096, &mut scratch, None)?
                    } else {
                        tag.chain_read(c.file.start, 4096, &mut scratch, None)?
                    };
                    ensure!(
                        out.hops == c.hops && ChainResult::from_scratch(&scratch) == c.want,
                        "chain {i}: {out:?}"
                    );
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap()?;
        }
        Ok(())
    })?;
    let total: u32 = slow.iter().map(|c| c.hops).sum();
    println!(
        "ok: {} chains at once ({total} reads) correct in {:.2?}",
        slow.len(),
        t.elapsed()
    );
    let after = control.stats()?;
    let chains = (slow.len() + 2) as u64;
    let hops = u64::from(total + 2 * s0.hops);
    ensure!(
        after.chains - stats_before.chains == chains
            && after.done - stats_before.done == chains
            && after.hops - stats_before.hops == hops
            && (after.driver_hops - stats_before.driver_hops)
                + (after.process_hops - stats_before.process_hops)
                == hops,
        "counters {stats_before:?} -> {after:?}, want {chains} chains, {hops} reads"
    );
    println!("ok: counters moved by exactly {chains} chains, {hops} reads");

    // SIGKILL mid-chain: a chain of 31 slow reads takes over a second.
    for mode in ["irq", "polled"] {
        let mut child = crate::scenarios::spawn_chain_loop(&s0.path, s0.file.start, mode)?;
        thread::sleep(Duration::from_millis(300));
        child.kill()?;
        let status = child.wait()?;
        ensure!(status.code().is_none(), "child exited by itself: {status}");
        let t = Instant::now();
        while control.stats()?.tags != stats_before.tags {
            ensure!(
                t.elapsed() < Duration::from_secs(10),
                "tag of a killed process still alive after 10 s"
            );
            thread::sleep(Duration::from_millis(10));
        }
        OpenOptions::new()
            .write(true)
            .open(&s0.path)
            .context("writable after the killed tag ended")?;
        println!(
            "ok: {mode}: killed mid-chain, tag released {:.2?} after the kill",
            t.elapsed()
        );
    }
    let end = control.stats()?;
    let d = |a: u64, b: u64| a - b;
    ensure!(
        d(end.chains, stats_before.chains)
            == d(end.done, stats_before.done)
                + d(end.aborts, stats_before.aborts)
                + d(end.errors, stats_before.errors),
        "chains started != chains ended: {stats_before:?} -> {end:?}"
    );
    ensure!(
        d(end.hops, stats_before.hops)
            == d(end.driver_hops, stats_before.driver_hops)
                + d(end.process_hops, stats_before.process_hops),
        "reads issued != driver + process reads: {stats_before:?} -> {end:?}"
    );
    println!(
        "ok: counters consistent: {} chains started = {} done + {} errors (the killed ones)",
        d(end.chains, stats_before.chains),
        d(end.done, stats_before.done),
        d(end.errors, stats_before.errors)
    );
    for c in &slow {
        fs::remove_file(&c.path)?;
    }
    Ok(())
}

/// Punches a hole of `len` bytes at `offset` into `path`, which must first
/// be opened for writing (the step a tagged file refuses).
fn punch_hole(path: &Path, offset: u64, len: u64) -> std::io::Result<()> {
    let f: File = OpenOptions::new().write(true).open(path)?;
    // SAFETY: `f` is an open descriptor for the whole call; fallocate(2)
    // takes plain integers.
    let r = unsafe {
        libc::fallocate(
            f.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            offset as libc::off_t,
            len as libc::off_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    f.sync_all()
}

/// Threads running chains and B+-tree lookups of mixed depths on several
/// tags for a bounded time (`rnvme.stress_secs`, default 120), while another
/// thread attaches and detaches tags (each attach builds the file's extent
/// map anew: the module's analogue of cache eviction, since a tagged file's
/// map cannot change), tries to punch holes into and truncate the tagged
/// files (refused, ETXTBSY), and punches a hole into an untagged copy, which
/// then attaches and ends the chain over the hole with ENODATA. Every
/// completed lookup is checked; no lookup may fail.
pub fn stress() -> Result<()> {
    let seconds: u64 = cmdline("rnvme.stress_secs")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(120);
    const THREADS: u64 = 4;
    let chain_fn = StorageFunction::builtin("chain")?;
    let tree_fn = StorageFunction::builtin("bptree")?;
    struct ChainFile {
        path: std::path::PathBuf,
        bytes: Vec<u8>,
        start: u64,
        bs: u32,
        want: ChainResult,
    }
    let mut chains = Vec::new();
    for (i, (hops, bs)) in [(1u32, 4096u32), (3, 512), (8, 4096), (16, 512), (30, 4096)]
        .into_iter()
        .enumerate()
    {
        let c = chain::build(&ChainSpec {
            hops,
            block_size: bs,
            file_blocks: hops * 8,
            seed: 900 + i as u64,
        });
        let want = chain::walk(memory_reader(&c.bytes), c.start, bs, 64)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let path = files::fresh("/mnt/nvme", &format!("stress-chain-{i}"));
        files::write_contiguous(&path, &c.bytes)?;
        chains.push(ChainFile {
            path,
            bytes: c.bytes,
            start: c.start,
            bs,
            want,
        });
    }
    let spec = TreeSpec {
        keys: 3000,
        node_size: 512,
        shape: Shape::Depth(4),
        value_log: true,
        seed: 77,
    };
    let tree = bptree::build(&spec).map_err(anyhow::Error::msg)?;
    let keys = bptree::present_keys(&spec);
    let tree_path = files::fresh("/mnt/nvme", "stress-tree");
    files::write_contiguous(&tree_path, &tree.bytes)?;
    // The untagged copy of the 8-hop chain (4 KiB blocks: a punched block
    // becomes a hole) and the offset of its second block.
    let holey = &chains[2];
    let hole_at = u64::from_le_bytes(
        holey.bytes[holey.start as usize + 8..][..8]
            .try_into()
            .unwrap(),
    );
    let copy = files::fresh("/mnt/nvme", "stress-holey");

    let stop = AtomicBool::new(false);
    let (done, wrong) = (AtomicU64::new(0), AtomicU64::new(0));
    let errors: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let (churn, refusals, holes) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let control = Control::open(DEFAULT_DEVICE)?;
    let maps_before = control.metrics()?.extent_maps;
    let end = Instant::now() + Duration::from_secs(seconds);
    thread::scope(|s| -> Result<()> {
        let mut workers = Vec::new();
        for w in 0..THREADS {
            let (chains, tree, keys, stop, done, wrong, errors) =
                (&chains, &tree, &keys, &stop, &done, &wrong, &errors);
            let (chain_fn, tree_fn, tree_path) = (&chain_fn, &tree_fn, &tree_path);
            workers.push(s.spawn(move || -> Result<()> {
                let control = Control::open(DEFAULT_DEVICE)?;
                let mut tags = Vec::new();
                for c in chains {
                    tags.push(control.attach(&files::open_ro(&c.path)?, chain_fn, 64)?);
                }
                let tree_tag = control.attach(&files::open_ro(tree_path)?, tree_fn, 0)?;
                let mut x = 0x1234_5678 + w;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let polled = x % 5 == 0;
                    let i = (x % (chains.len() as u64 + 1)) as usize;
                    let ok = if i == chains.len() {
                        let key = keys[(x >> 8) as usize % keys.len()];
                        let want = bptree::lookup(memory_reader(&tree.bytes), &tree.sup, key)
                            .map_err(anyhow::Error::msg)?;
                        tree_tag
                            .lookup(&tree.sup, key, polled)
                            .map(|(f, _)| f == want)
                    } else {
                        let c = &chains[i];
                        let mut sc = vec![0u8; ChainResult::SIZE];
                        let r = if polled {
                            tags[i].chain_read_polled(c.start, c.bs, &mut sc, None)
                        } else {
                            tags[i].chain_read(c.start, c.bs, &mut sc, None)
                        };
                        r.map(|_| ChainResult::from_scratch(&sc) == c.want)
                    };
                    match ok {
                        Ok(true) => done.fetch_add(1, Ordering::Relaxed),
                        Ok(false) => wrong.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            let key = e.errno().map_or_else(
                                || e.to_string(),
                                |n| std::io::Error::from_raw_os_error(n).to_string(),
                            );
                            *errors.lock().unwrap().entry(key).or_default() += 1;
                            0
                        }
                    };
                }
                Ok(())
            }));
        }
        // Churn, until the time is up or a check fails; then the workers stop.
        let churned = (|| -> Result<()> {
            while Instant::now() < end {
                for c in &chains {
                    let t = control.attach(&files::open_ro(&c.path)?, &chain_fn, 0)?;
                    let e = punch_hole(&c.path, 0, 4096).unwrap_err();
                    ensure!(
                        e.raw_os_error() == Some(libc::ETXTBSY),
                        "punch hole in a tagged file: {e}"
                    );
                    refusals.fetch_add(1, Ordering::Relaxed);
                    let e = files::truncate(&c.path).unwrap_err();
                    ensure!(
                        e.raw_os_error() == Some(libc::ETXTBSY),
                        "truncate of a tagged file: {e}"
                    );
                    t.detach()?;
                    churn.fetch_add(1, Ordering::Relaxed);
                }
                files::write_contiguous(&copy, &holey.bytes)?;
                punch_hole(&copy, hole_at, 4096).context("punch a hole into the untagged copy")?;
                let t = control.attach(&files::open_ro(&copy)?, &chain_fn, 0)?;
                let mut sc = vec![0u8; ChainResult::SIZE];
                match t.chain_read(holey.start, holey.bs, &mut sc, None) {
                    Err(e) if e.errno() == Some(libc::ENODATA) => {
                        holes.fetch_add(1, Ordering::Relaxed)
                    }
                    other => bail!("chain over a punched hole: {other:?}"),
                };
                t.detach()?;
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap()?;
        }
        churned
    })?;
    let maps = control.metrics()?.extent_maps - maps_before;
    let errors = errors.into_inner().unwrap();
    println!(
        "stress: {seconds} s, {THREADS} threads x {} tags: {} lookups checked, {} wrong, errors by errno {:?}, \
         {} attach/detach cycles ({maps} extent maps built), {} punch-hole refusals (ETXTBSY), \
         {} holes punched in an untagged copy -> ENODATA",
        chains.len() + 1,
        done.load(Ordering::Relaxed),
        wrong.load(Ordering::Relaxed),
        errors,
        churn.load(Ordering::Relaxed),
        refusals.load(Ordering::Relaxed),
        holes.load(Ordering::Relaxed)
    );
    ensure!(wrong.load(Ordering::Relaxed) == 0, "wrong results");
    ensure!(errors.is_empty(), "unexpected errors");
    ensure!(done.load(Ordering::Relaxed) > 0, "nothing done");
    ensure!(holes.load(Ordering::Relaxed) > 0, "no hole punched");
    ensure!(
        maps >= churn.load(Ordering::Relaxed),
        "{maps} extent maps for {} attaches",
        churn.load(Ordering::Relaxed)
    );
    for c in &chains {
        fs::remove_file(&c.path)?;
    }
    fs::remove_file(&tree_path)?;
    fs::remove_file(&copy)?;
    Ok(())
}
