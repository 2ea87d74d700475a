// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A tagged B+-tree updated by copy-on-write while threads look keys up in
//! it through the kernel: new nodes are appended with O_DIRECT, then the
//! superblock is switched with one O_DIRECT write, so every lookup must
//! find either the old or the new value of its key.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{ensure, Context, Result};
use rnvme::{
    format::{
        bptree::{self, NewValue, Options, Shape, Super, TreeSpec, Writer},
        memory_reader, verify,
    },
    Control, StorageFunction, DEFAULT_DEVICE,
};

use super::{remap_counters, LIVE_MOUNTS};
use crate::{files, fixtures::cmdline};

/// Lookup threads.
const READERS: u64 = 4;

/// Keys per copy-on-write batch, and the pause between batches.
const BATCH: usize = 4;
const PAUSE: Duration = Duration::from_millis(100);

/// For `rnvme.stress_secs` seconds on each file system, half on each
/// (default 120: a minute on each), a writer updates 10% of a tagged tree's
/// keys by copy-on-write while 4 threads look keys up (interrupt-driven and
/// polled), reading the superblock before each lookup: 0 wrong answers, 0
/// failed lookups, and no hop re-translated (false aborts: no update changes
/// a range a hop reads — nodes are appended, the superblock is read with
/// pread — so a hop sent back to process context would be one); maps built
/// are counted against the updates.
pub fn cow_stress() -> Result<()> {
    let seconds: u64 = cmdline("rnvme.stress_secs")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(120);
    for (m, mount) in LIVE_MOUNTS.iter().enumerate() {
        run(mount, Duration::from_secs(seconds / 2), 90 + m as u64)?;
    }
    Ok(())
}

fn run(mount: &str, time: Duration, seed: u64) -> Result<()> {
    let spec = TreeSpec {
        keys: 3000,
        node_size: 4096,
        shape: Shape::Depth(3),
        value_log: false,
        seed,
    };
    let tree = bptree::build(&spec).map_err(anyhow::Error::msg)?;
    let keys = bptree::present_keys(&spec);
    let path = files::fresh(mount, "live-tree");
    files::write_contiguous(&path, &tree.bytes)?;
    // Every value each key ever had; a lookup must find one of them.
    let mut values = HashMap::new();
    for &k in &keys {
        let f =
            bptree::lookup(memory_reader(&tree.bytes), &tree.sup, k).map_err(anyhow::Error::msg)?;
        values.insert(k, vec![f.value]);
    }
    let values = Mutex::new(values);
    let updated: Vec<u64> = keys.iter().copied().step_by(10).collect();
    let control = Control::open(DEFAULT_DEVICE)?;
    let f = StorageFunction::builtin("bptree")?;
    let tag = control.attach(&files::open_ro(&path)?, &f, 0)?;
    let before = remap_counters(&control)?;
    let (stop, lookups, failed) = (AtomicBool::new(false), AtomicU64::new(0), AtomicU64::new(0));
    let mut writer = Writer::open(&path, Options { direct: true })?;
    let end = Instant::now() + time;
    thread::scope(|s| -> Result<()> {
        let readers: Vec<_> = (0..READERS)
            .map(|r| {
                let (tag, keys, values, path) = (&tag, &keys, &values, &path);
                let (stop, lookups, failed) = (&stop, &lookups, &failed);
                s.spawn(move || -> Result<()> {
                    let mut x = 0x9e37_79b9 + r;
                    while !stop.load(Ordering::Relaxed) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let key = keys[(x >> 8) as usize % keys.len()];
                        let sup = Super::parse(&files::pread_direct(path, 0, 4096)?)
                            .map_err(anyhow::Error::msg)?;
                        match tag.lookup(&sup, key, x % 3 == 0) {
                            Ok((found, _)) => {
                                let ok = found.found
                                    && values.lock().unwrap()[&key].contains(&found.value);
                                ensure!(ok, "key {key}: found {found:?}, not a value it had");
                            }
                            Err(e) => {
                                println!("    lookup of {key} failed: {e}");
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        lookups.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        let written = (|| -> Result<()> {
            let mut round = 0u64;
            while Instant::now() < end {
                let batch: Vec<(u64, NewValue)> = bptree::sample(&updated, BATCH, seed ^ round)
                    .into_iter()
                    .map(|k| (k, NewValue::seeded(false, k, round + 1)))
                    .collect();
                {
                    let mut v = values.lock().unwrap();
                    for (k, nv) in &batch {
                        let NewValue::Inline(x) = nv else {
                            unreachable!()
                        };
                        v.get_mut(k).context("no such key")?.push(*x);
                    }
                }
                writer.update_many(&batch)?;
                round += 1;
                thread::sleep(PAUSE);
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().expect("reader panicked")?;
        }
        written
    })?;
    let after = remap_counters(&control)?;
    let done = writer.appended();
    verify::check_tree_file(&path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let n = lookups.load(Ordering::Relaxed);
    println!(
        "ok: {mount}: {} s, {READERS} threads: {n} lookups, 0 wrong, {} failed; {} updates of 10% of \
         the keys in {} copy-on-write switches ({} nodes, {} KiB appended); re-translated reads +{} \
         ({:.1} per 1,000 lookups), maps built +{}, remaps +{}; chains restarted: none (the module \
         never restarts a chain)",
        time.as_secs(),
        failed.load(Ordering::Relaxed),
        done.updates,
        done.switches,
        done.nodes,
        done.bytes / 1024,
        after.1 - before.1,
        (after.1 - before.1) as f64 * 1000.0 / n.max(1) as f64,
        after.3 - before.3,
        after.0 - before.0
    );
    ensure!(failed.load(Ordering::Relaxed) == 0, "lookups failed");
    ensure!(
        after.1 == before.1,
        "{} hops re-translated, though no update changed a range a hop reads",
        after.1 - before.1
    );
    ensure!(n > 0 && done.switches > 0, "nothing ran");
    drop(tag);
    std::fs::remove_file(&path)?;
    Ok(())
}
