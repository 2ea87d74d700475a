// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Chains under what the block layer and the controller do to every read:
//! controller resets in the middle of chains, a controller without poll
//! queues, disk statistics, and a cgroup's io.max read limit.

use std::{
    fs,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{ensure, Context, Result};
use rnvme::{
    format::{
        chain::{self, ChainFile, ChainResult, ChainSpec},
        memory_reader,
    },
    Control, StorageFunction, Tag, Verdict, DEFAULT_DEVICE,
};

use crate::files;

/// A chain file of `hops` 4 KiB blocks on `mount`, and its reference result.
fn chain_file(
    mount: &str,
    name: &str,
    hops: u32,
    seed: u64,
) -> Result<(PathBuf, ChainFile, ChainResult)> {
    let file = chain::build(&ChainSpec {
        hops,
        block_size: 4096,
        file_blocks: hops + 8,
        seed,
    });
    let want = chain::walk(memory_reader(&file.bytes), file.start, 4096, hops + 8)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let path = files::fresh(mount, name);
    files::write_contiguous(&path, &file.bytes)?;
    Ok((path, file, want))
}

/// Runs one chain and checks it against the reference; returns the reads
/// the driver resubmitted.
fn checked_chain(
    tag: &Tag<'_>,
    file: &ChainFile,
    want: &ChainResult,
    hops: u32,
    polled: bool,
) -> Result<u32> {
    let mut scratch = vec![0u8; ChainResult::SIZE];
    let out = if polled {
        tag.chain_read_polled(file.start, 4096, &mut scratch, None)?
    } else {
        tag.chain_read(file.start, 4096, &mut scratch, None)?
    };
    ensure!(out.verdict == Verdict::Done && out.hops == hops, "{out:?}");
    ensure!(
        ChainResult::from_scratch(&scratch) == *want,
        "result differs from the reference"
    );
    Ok(out.driver_hops)
}

/// The block device behind a serial's link (`/dev/rnvmeslow` → `nvme4n1`).
fn namespace(serial: &str) -> Result<String> {
    let dev = fs::read_link(format!("/dev/{serial}")).with_context(|| format!("/dev/{serial}"))?;
    Ok(dev
        .file_name()
        .context("name")?
        .to_string_lossy()
        .into_owned())
}

/// Controller resets (`reset_controller`) while threads of this process run
/// 31-hop chains on the slow disk, interrupt-driven and polled, all the
/// time: every chain gives the reference result, none ends with EIO, and
/// chains were in flight during every reset. The debug kernel makes 3: each
/// of its resets takes about 30 s under TCG (the PCI enable evaluates the
/// ACPI _PRT method, whose loop runs into the interpreter's time limit).
pub fn reset_under_chains() -> Result<()> {
    let rounds: u32 = if crate::engine_files::debug_kernel() {
        3
    } else {
        8
    };
    let ns = namespace("rnvmeslow")?;
    let ctrl = fs::canonicalize(format!("/sys/block/{ns}/device"))?;
    let reset = ctrl.join("reset_controller");
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let (path, file, want) = chain_file("/mnt/slow", "reset-chain", 31, 700)?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    let stop = AtomicBool::new(false);
    let mut spans: Vec<(Instant, Instant)> = Vec::new();
    let mut polled_chains = 0;
    let mut resets: Vec<(Instant, Instant)> = Vec::new();
    thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = [false, false, true, true]
            .into_iter()
            .map(|polled| {
                let (tag, file, want, stop) = (&tag, &file, &want, &stop);
                s.spawn(move || -> Result<Vec<(Instant, Instant)>> {
                    let mut spans = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t = Instant::now();
                        checked_chain(tag, file, want, 31, polled).with_context(|| {
                            format!(
                                "{} chain {}",
                                if polled { "polled" } else { "irq" },
                                spans.len()
                            )
                        })?;
                        spans.push((t, Instant::now()));
                    }
                    Ok(spans)
                })
            })
            .collect();
        thread::sleep(Duration::from_millis(700));
        for _ in 0..rounds {
            let t = Instant::now();
            fs::write(&reset, "1").context("reset_controller")?;
            resets.push((t, Instant::now()));
            thread::sleep(Duration::from_millis(400));
        }
        stop.store(true, Ordering::Relaxed);
        for (i, w) in workers.into_iter().enumerate() {
            let done = w.join().expect("worker panicked")?;
            if i >= 2 {
                polled_chains += done.len();
            }
            spans.extend(done);
        }
        Ok(())
    })?;
    let hit = resets
        .iter()
        .filter(|(rs, re)| spans.iter().any(|(cs, ce)| cs < re && rs < ce))
        .count();
    let in_flight = spans
        .iter()
        .filter(|(cs, ce)| resets.iter().any(|(rs, re)| cs < re && rs < ce))
        .count();
    println!(
        "ok: {} chains of 31 reads ({polled_chains} polled) correct, none failed, across {rounds} resets of {}; {in_flight} chains were in flight during a reset",
        spans.len(),
        ctrl.file_name().unwrap_or_default().to_string_lossy()
    );
    ensure!(
        hit == rounds as usize,
        "only {hit} of {rounds} resets hit a chain in flight"
    );
    ensure!(
        polled_chains > 0 && polled_chains < spans.len(),
        "both interrupt-driven and polled chains must have run"
    );
    drop(tag);
    fs::remove_file(&path)?;
    Ok(())
}

/// On a controller with one I/O queue pair there are no poll queues:
/// polled chains fall back to interrupt-driven reads and give the right
/// answer.
pub fn no_poll_queues() -> Result<()> {
    let ns = namespace("rnvmenopoll")?;
    let io_poll = fs::read_to_string(format!("/sys/block/{ns}/queue/io_poll"))?;
    ensure!(
        io_poll.trim() == "0",
        "{ns} has poll queues (io_poll {io_poll})"
    );
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let (path, file, want) = chain_file("/mnt/nopoll", "nopoll-chain", 16, 710)?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    for _ in 0..5 {
        checked_chain(&tag, &file, &want, 16, true)?;
    }
    println!("ok: {ns} has no poll queues; 5 polled chains of 16 reads fell back to interrupts and are correct");
    drop(tag);
    fs::remove_file(&path)?;
    Ok(())
}

/// Reads completed on `ns` so far (/proc/diskstats, field 4).
fn disk_reads(ns: &str) -> Result<u64> {
    let stats = fs::read_to_string("/proc/diskstats")?;
    let line = stats
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some(ns))
        .with_context(|| format!("{ns} not in /proc/diskstats"))?;
    Ok(line.split_whitespace().nth(3).context("field")?.parse()?)
}

/// Every read of a chain, also those the driver resubmitted, shows in
/// /proc/diskstats.
pub fn disk_statistics() -> Result<()> {
    let ns = namespace("rnvme512")?;
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let (path, file, want) = chain_file("/mnt/nvme", "diskstats-chain", 16, 720)?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    let before = disk_reads(&ns)?;
    let mut driver = 0;
    for _ in 0..10 {
        driver += checked_chain(&tag, &file, &want, 16, false)?;
    }
    let counted = disk_reads(&ns)? - before;
    println!("ok: 10 chains, 160 reads ({driver} resubmitted by the driver): /proc/diskstats counted {counted} reads on {ns}");
    ensure!(driver > 0, "no read was resubmitted by the driver");
    ensure!(counted >= 160, "diskstats missed reads: {counted} of 160");
    drop(tag);
    fs::remove_file(&path)?;
    Ok(())
}

/// Writes `what` to cgroup file `path`.
fn cg_write(path: &Path, what: &str) -> Result<()> {
    fs::write(path, what).with_context(|| format!("echo {what} > {}", path.display()))
}

/// A chain run from a cgroup with an io.max read limit on the device has
/// every read go through the block layer (none resubmitted by the driver),
/// and the cgroup's io.stat counts each; outside it, the driver resubmits.
pub fn io_max() -> Result<()> {
    let root = Path::new("/sys/fs/cgroup");
    if !root.join("cgroup.controllers").exists() {
        fs::create_dir_all(root)?;
        let r = std::process::Command::new("mount")
            .args(["-t", "cgroup2", "none", "/sys/fs/cgroup"])
            .status()?;
        ensure!(r.success(), "mount cgroup2");
    }
    cg_write(&root.join("cgroup.subtree_control"), "+io")?;
    let cg = root.join("rnvme-iomax");
    let _ = fs::create_dir(&cg);
    let ns = namespace("rnvme512")?;
    let dev = fs::read_to_string(format!("/sys/block/{ns}/dev"))?
        .trim()
        .to_string();
    cg_write(&cg.join("io.max"), &format!("{dev} riops=200"))?;

    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("chain")?;
    let (path, file, want) = chain_file("/mnt/nvme", "iomax-chain", 16, 730)?;
    let fd = files::open_ro(&path)?;
    let tag = control.attach(&fd, &f, 0)?;
    let outside = checked_chain(&tag, &file, &want, 16, false)?;
    ensure!(
        outside > 0,
        "outside the cgroup no read was resubmitted by the driver"
    );

    let pid = std::process::id().to_string();
    cg_write(&cg.join("cgroup.procs"), &pid)?;
    let t = Instant::now();
    let limited: Result<Vec<u32>> = (0..5)
        .map(|_| checked_chain(&tag, &file, &want, 16, false))
        .collect();
    let elapsed = t.elapsed();
    cg_write(&root.join("cgroup.procs"), &pid)?;
    let limited = limited?;
    let stat = fs::read_to_string(cg.join("io.stat"))?;
    let rios: u64 = stat
        .lines()
        .find(|l| l.starts_with(&format!("{dev} ")))
        .and_then(|l| l.split_whitespace().find_map(|kv| kv.strip_prefix("rios=")))
        .context("no rios in io.stat")?
        .parse()?;
    println!(
        "ok: outside the cgroup {outside} of 16 reads resubmitted by the driver; inside (io.max riops=200) {limited:?}; 80 reads in {elapsed:.2?}; io.stat rios={rios}"
    );
    ensure!(
        limited.iter().all(|&d| d == 0),
        "reads bypassed io.max: {limited:?}"
    );
    ensure!(rios >= 80, "io.stat counted {rios} reads of 80");
    drop(tag);
    fs::remove_file(&path)?;
    let _ = fs::remove_dir(&cg);
    Ok(())
}
