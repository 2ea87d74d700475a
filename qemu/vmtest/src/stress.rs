// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A bounded stress run: chains and lookups on several tags while tags come
//! and go and the tagged files refuse holes and truncation.

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
    Control, StorageFunction, DEFAULT_DEVICE,
};

use crate::{files, fixtures::cmdline};

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
/// map anew: the module's analogue of cache eviction), tags a copy of a chain, punches a hole into it (its
/// chain then ends with ENODATA) and truncates it (ENXIO). Every
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
    // The copy of the 8-hop chain (4 KiB blocks: a punched block
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
    let (churn, truncated, holes) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
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
                    t.detach()?;
                    churn.fetch_add(1, Ordering::Relaxed);
                }
                // A copy, tagged, then punched and truncated under its tag.
                files::write_contiguous(&copy, &holey.bytes)?;
                let t = control.attach(&files::open_ro(&copy)?, &chain_fn, 0)?;
                let mut sc = vec![0u8; ChainResult::SIZE];
                ensure!(
                    t.chain_read(holey.start, holey.bs, &mut sc, None).is_ok(),
                    "chain on the copy before the punch"
                );
                punch_hole(&copy, hole_at, 4096).context("punch a hole into the tagged copy")?;
                match t.chain_read(holey.start, holey.bs, &mut sc, None) {
                    Err(e) if e.errno() == Some(libc::ENODATA) => {
                        holes.fetch_add(1, Ordering::Relaxed)
                    }
                    other => bail!("chain over a punched hole: {other:?}"),
                };
                files::truncate(&copy).context("truncate the tagged copy")?;
                match t.chain_read(holey.start, holey.bs, &mut sc, None) {
                    Err(e) if e.errno() == Some(libc::ENXIO) => {
                        truncated.fetch_add(1, Ordering::Relaxed)
                    }
                    other => bail!("chain of a truncated file: {other:?}"),
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
         {} attach/detach cycles ({maps} extent maps built), {} holes punched in a tagged copy -> \
         ENODATA, {} truncations of it -> ENXIO",
        chains.len() + 1,
        done.load(Ordering::Relaxed),
        wrong.load(Ordering::Relaxed),
        errors,
        churn.load(Ordering::Relaxed),
        holes.load(Ordering::Relaxed),
        truncated.load(Ordering::Relaxed)
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
