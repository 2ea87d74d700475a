// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Faulty and slow devices: a read error mid-chain, and a throttled disk.

use std::{
    fs::{self, OpenOptions},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context, Result};
use rnvme::{
    format::{
        chain::{self, ChainResult, ChainSpec},
        memory_reader,
    },
    Control, Error, StorageFunction, Verdict, DEFAULT_DEVICE,
};

use crate::{
    children::spawn_chain_loop,
    files,
    fixtures::{cmdline, jump_scratch},
};

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
        let mut child = spawn_chain_loop(&s0.path, s0.file.start, mode)?;
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
