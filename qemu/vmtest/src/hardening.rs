// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Hardening scenarios: device errors mid-chain, and a bounded stress run
//! with tags coming and going.

use std::{
    collections::BTreeMap,
    fs::{self, OpenOptions},
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
    Control, Error, StorageFunction, DEFAULT_DEVICE,
};

use crate::{files, scenarios::jump_scratch};

fn cmdline(name: &str) -> Option<String> {
    let c = fs::read_to_string("/proc/cmdline").ok()?;
    c.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_string))
}

/// A read error of the device (QEMU blkdebug fails one sector of the fault
/// disk) ends the chain that hits it with EIO — on its first read, on a read
/// the driver resubmitted, and polled — while other chains go on and the
/// counters show the errors.
pub fn device_error() -> Result<()> {
    let sector: u64 = cmdline("rnvme.fault_sector").context("no rnvme.fault_sector")?.parse()?;
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
    let bad = bad.with_context(|| format!("no block of the file maps to the failing sector {sector}"))?;
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
    eio("first read on the bad block", tag.chain_read(bad, 4096, &mut jump_scratch(good, 4096, 1), None))?;
    eio("second read, resubmitted by the driver, on the bad block", tag.chain_read(good, 4096, &mut jump_scratch(bad, 4096, 1), None))?;
    eio("the same, polled", tag.chain_read_polled(good, 4096, &mut jump_scratch(bad, 4096, 1), None))?;
    // Chains around it go on.
    let mut s = jump_scratch(good + 4096, 4096, 1);
    let out = tag.chain_read(good, 4096, &mut s, None)?;
    ensure!(out.hops == 2, "{out:?}");
    ensure!(s[16..24] == (good / 4096).to_le_bytes() && s[24..32] == (good / 4096 + 1).to_le_bytes(), "data around the bad block");
    let errors = control.stats()?.errors - errors_before;
    ensure!(errors == 3, "errors counter moved by {errors}, want 3");
    println!("ok: chains around the bad block are correct; the errors counter moved by 3");
    drop(tag);
    fs::remove_file(&path)?;
    Ok(())
}

/// Threads running chains and B+-tree lookups of mixed depths on several
/// tags for a bounded time, while another thread attaches and detaches tags
/// and tries to truncate the files: every completed lookup is checked; the
/// only errors allowed are ENOENT for a tag detached under a lookup.
pub fn stress() -> Result<()> {
    const SECONDS: u64 = 20;
    let chain_fn = StorageFunction::builtin("chain")?;
    let tree_fn = StorageFunction::builtin("bptree")?;
    struct ChainFile {
        path: std::path::PathBuf,
        start: u64,
        bs: u32,
        want: ChainResult,
    }
    let mut chains = Vec::new();
    for (i, (hops, bs)) in [(1u32, 4096u32), (3, 512), (8, 4096), (16, 512), (30, 4096)].into_iter().enumerate() {
        let c = chain::build(&ChainSpec { hops, block_size: bs, file_blocks: hops * 8, seed: 900 + i as u64 });
        let want = chain::walk(memory_reader(&c.bytes), c.start, bs, 64)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let path = files::fresh("/mnt/nvme", &format!("stress-chain-{i}"));
        files::write_contiguous(&path, &c.bytes)?;
        chains.push(ChainFile { path, start: c.start, bs, want });
    }
    let spec = TreeSpec { keys: 3000, node_size: 512, shape: Shape::Depth(4), value_log: true, seed: 77 };
    let tree = bptree::build(&spec).map_err(anyhow::Error::msg)?;
    let keys = bptree::present_keys(&spec);
    let tree_path = files::fresh("/mnt/nvme", "stress-tree");
    files::write_contiguous(&tree_path, &tree.bytes)?;

    let stop = AtomicBool::new(false);
    let (done, wrong) = (AtomicU64::new(0), AtomicU64::new(0));
    let errors: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let churn = AtomicU64::new(0);
    let end = Instant::now() + Duration::from_secs(SECONDS);
    thread::scope(|s| -> Result<()> {
        let mut workers = Vec::new();
        for w in 0..3u64 {
            let (chains, tree, keys, stop, done, wrong, errors) = (&chains, &tree, &keys, &stop, &done, &wrong, &errors);
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
                        tree_tag.lookup(&tree.sup, key, polled).map(|(f, _)| f == want)
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
                            *errors.lock().unwrap().entry(e.to_string()).or_default() += 1;
                            0
                        }
                    };
                }
                Ok(())
            }));
        }
        // Churn: tags attached and detached on the same files, truncation
        // attempts that must be refused.
        let control = Control::open(DEFAULT_DEVICE)?;
        while Instant::now() < end {
            for c in &chains {
                let t = control.attach(&files::open_ro(&c.path)?, &chain_fn, 0)?;
                let e = OpenOptions::new().write(true).open(&c.path).unwrap_err();
                ensure!(e.raw_os_error() == Some(libc::ETXTBSY), "open for write during stress: {e}");
                t.detach()?;
                churn.fetch_add(1, Ordering::Relaxed);
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap()?;
        }
        Ok(())
    })?;
    let errors = errors.into_inner().unwrap();
    println!(
        "ok: {SECONDS} s, 3 threads x 6 tags: {} lookups checked, {} wrong, errors {:?}, {} attach/detach cycles",
        done.load(Ordering::Relaxed),
        wrong.load(Ordering::Relaxed),
        errors,
        churn.load(Ordering::Relaxed)
    );
    ensure!(wrong.load(Ordering::Relaxed) == 0, "wrong results");
    ensure!(errors.is_empty(), "unexpected errors");
    ensure!(done.load(Ordering::Relaxed) > 0, "nothing done");
    for c in &chains {
        fs::remove_file(&c.path)?;
    }
    fs::remove_file(&tree_path)?;
    Ok(())
}
