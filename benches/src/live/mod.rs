// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Lookups in a file that is written meanwhile (`--workloads live`): a
//! B+-tree of depth 4 with 4 KiB nodes (the `bptree` workload's tree, value
//! log included), looked up from one thread for `--live-seconds` per
//! repetition while a writer thread rewrites random nodes in place with
//! O_DIRECT at `--live-write-rate` writes per second, each with the bytes it
//! already holds (so every answer stays checkable); and the same with the
//! writer off. Two ways: rnvme chains (blocking ioctl) and the user-space
//! `pread(O_DIRECT)` walk. Every answer is checked; wrong and failed
//! lookups are counted and reported, not fatal. For rnvme, the module's
//! counters over the timed runs: reads it re-translated in process context
//! (fallback `remapped`), remaps, write-backs.

mod report;

use std::{
    fs::{File, OpenOptions},
    os::unix::fs::{FileExt, OpenOptionsExt},
    path::Path,
    sync::mpsc::{self, Receiver, RecvTimeoutError},
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use rnvme::{
    format::{
        aligned::Aligned,
        bptree::{self, NODE_MAGIC},
    },
    Control,
};

use crate::{
    measure::Runs,
    paths::{Answer, Kind, Way, Workload},
    readers::PreadReader,
    windows::fallbacks,
};
pub use report::{Live, LiveRow, Remapping};

/// Levels of the tree.
const DEPTH: u32 = 4;
/// Bytes of a node.
const NODE_SIZE: u32 = 4096;
/// Keys looked up in turn (random, present), and nodes written in turn.
const DRAWS: usize = 4096;

/// What to run.
pub struct Plan<'a> {
    pub dir: &'a Path,
    /// In-place node writes per second while the lookups run (the
    /// workload also runs without writes first).
    pub write_rate: u32,
    /// Seconds of lookups per repetition.
    pub seconds: f64,
    pub warmup: usize,
    pub reps: usize,
}

/// Runs both ways without writes and at `plan.write_rate`.
pub fn run(control: &Control, plan: &Plan) -> Result<Live> {
    let w = Workload::create(plan.dir, Kind::Bptree, NODE_SIZE, DEPTH, DRAWS, 0x11fe)?;
    let mut rewriter = Rewriter::open(&w.path)?;
    let rates: &[u32] = if plan.write_rate == 0 {
        &[0]
    } else {
        &[0, plan.write_rate]
    };
    let mut rows = Vec::new();
    for &rate in rates {
        for way in [Way::Pread, Way::Rnvme] {
            let row = measure(control, &w, &mut rewriter, way, rate, plan)
                .with_context(|| format!("live {way:?} at {rate} writes/s"))?;
            eprintln!(
                "live {way:?} at {rate} writes/s ({:.0} done): {:.0} lookups/s, p99 {:.1} us, {} wrong, {} failed, {:?}",
                row.writes_per_s,
                row.measured.lookups_per_s,
                row.measured.latency_ns.p99 as f64 / 1e3,
                row.wrong,
                row.failed,
                row.module
            );
            rows.push(row);
        }
    }
    drop(rewriter);
    std::fs::remove_file(&w.path)?;
    Ok(Live::new(rows))
}

/// The offsets of the node blocks in a tree file of `node_size`-byte
/// blocks (block 0, the superblock, is none).
fn node_offsets(bytes: &[u8], node_size: usize) -> Vec<u64> {
    bytes
        .chunks_exact(node_size)
        .enumerate()
        .skip(1)
        .filter(|(_, b)| b[..4] == NODE_MAGIC.to_le_bytes())
        .map(|(i, _)| (i * node_size) as u64)
        .collect()
}

/// Rewrites random nodes of the tree in place with O_DIRECT, each with
/// the bytes it holds.
struct Rewriter {
    file: File,
    /// The whole file as written.
    bytes: Vec<u8>,
    /// Offsets of the nodes to write, in turn (drawn at random, repeats
    /// allowed).
    order: Vec<u64>,
    next: usize,
    buf: Aligned,
}

impl Rewriter {
    fn open(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)?;
        let nodes = node_offsets(&bytes, NODE_SIZE as usize);
        if nodes.is_empty() {
            bail!("{}: no nodes", path.display());
        }
        let file = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(path)
            .with_context(|| format!("open {} for O_DIRECT writes", path.display()))?;
        Ok(Self {
            file,
            bytes,
            order: bptree::sample(&nodes, DRAWS, 0x5eed),
            next: 0,
            buf: Aligned::new(NODE_SIZE as usize),
        })
    }

    /// Writes the next node of the order.
    fn write_next(&mut self) -> Result<()> {
        let at = self.order[self.next % self.order.len()];
        self.next += 1;
        let node = &self.bytes[at as usize..][..NODE_SIZE as usize];
        self.buf.as_mut_slice().copy_from_slice(node);
        self.file
            .write_all_at(self.buf.as_slice(), at)
            .with_context(|| format!("O_DIRECT write of the node at {at}"))
    }

    /// Writes at `rate` nodes per second (on a fixed schedule: a writer
    /// that falls behind catches up) until `stop`'s sender is dropped; the
    /// writes done.
    fn run(&mut self, rate: u32, stop: &Receiver<()>) -> Result<u64> {
        let t0 = Instant::now();
        let mut done = 0u64;
        loop {
            let due = t0 + Duration::from_secs_f64(done as f64 / f64::from(rate));
            match stop.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Err(RecvTimeoutError::Timeout) => {
                    self.write_next()?;
                    done += 1;
                }
                _ => return Ok(done),
            }
        }
    }
}

/// Wrong and failed lookups so far.
#[derive(Default)]
struct Checks {
    wrong: u64,
    failed: u64,
}

/// One lookup of a key: its answer.
type Look<'a> = Box<dyn FnMut(u64) -> Result<Answer> + 'a>;

/// Looks `w`'s keys up in turn with `look` until `count` lookups are done
/// or `seconds` have passed: the latencies of the lookups that answered.
/// Every answer is checked; the first wrong or failed one is printed.
fn lookups(w: &Workload, look: &mut Look, count: usize, seconds: f64, c: &mut Checks) -> Vec<u64> {
    let t0 = Instant::now();
    let mut lat = Vec::new();
    let mut i = 0;
    while i < count && t0.elapsed().as_secs_f64() < seconds {
        let k = i % w.keys.len();
        i += 1;
        let start = Instant::now();
        let answer = look(w.keys[k]);
        let took = start.elapsed().as_nanos() as u64;
        match answer {
            Ok(a) if a == w.answers[k] => lat.push(took),
            Ok(a) => {
                if c.wrong == 0 {
                    eprintln!(
                        "live: key {} gave {a:?}, want {:?}",
                        w.keys[k], w.answers[k]
                    );
                }
                c.wrong += 1;
                lat.push(took);
            }
            Err(e) => {
                if c.failed == 0 {
                    eprintln!("live: key {} failed: {e:#}", w.keys[k]);
                }
                c.failed += 1;
            }
        }
    }
    lat
}

/// One way at one write rate: warm-up lookups without writes, then
/// `plan.reps` timed runs of `plan.seconds` with the writer on.
fn measure(
    control: &Control,
    w: &Workload,
    rewriter: &mut Rewriter,
    way: Way,
    rate: u32,
    plan: &Plan,
) -> Result<LiveRow> {
    let mut look: Look = match way {
        Way::Pread => {
            let mut r = PreadReader::new(&w.path, w.align)?;
            Box::new(move |key| w.lookup_user(&mut r, key))
        }
        Way::Rnvme => {
            let tag = w.attach(control, &w.function()?)?;
            Box::new(move |key| w.lookup_rnvme(&tag, key, false))
        }
        _ => bail!("the live workload runs pread and rnvme only"),
    };
    let mut checks = Checks::default();
    lookups(w, &mut look, plan.warmup, f64::INFINITY, &mut checks);
    let before = control.metrics()?;
    let (mut runs, mut done, mut writes, mut secs) = (Runs::default(), 0, 0, 0.0);
    for _ in 0..plan.reps {
        runs.time(|| {
            thread::scope(|s| {
                let t0 = Instant::now();
                let (stop, stopped) = mpsc::channel();
                let r = &mut *rewriter;
                let writer = (rate > 0).then(|| s.spawn(move || r.run(rate, &stopped)));
                let lat = lookups(w, &mut look, usize::MAX, plan.seconds, &mut checks);
                drop(stop);
                if let Some(h) = writer {
                    writes += h.join().expect("the writer panicked")?;
                }
                secs += t0.elapsed().as_secs_f64();
                done += lat.len() as u64;
                Ok(lat)
            })
        })?;
    }
    let after = control.metrics()?;
    drop(look);
    let module = (way == Way::Rnvme)
        .then(|| -> Result<Remapping> {
            let remapped = *fallbacks(&before, &after)
                .get("remapped")
                .context("the module counts no remapped fallback")?;
            Ok(Remapping {
                remapped,
                remapped_per_1000: remapped as f64 * 1000.0 / done.max(1) as f64,
                remaps: after.remaps.saturating_sub(before.remaps),
                write_backs: after.write_backs.saturating_sub(before.write_backs),
            })
        })
        .transpose()?;
    Ok(LiveRow {
        way,
        write_rate: rate,
        writes_per_s: writes as f64 / secs.max(f64::MIN_POSITIVE),
        wrong: checks.wrong,
        failed: checks.failed,
        module,
        measured: runs.measured(),
    })
}

#[cfg(test)]
mod tests {
    use rnvme::format::bptree::{build, Shape, TreeSpec};

    use super::node_offsets;

    #[test]
    fn the_nodes_of_a_tree_are_found_and_nothing_else() {
        let spec = TreeSpec {
            keys: 256,
            node_size: 4096,
            shape: Shape::Fanout(4),
            value_log: true,
            seed: 3,
        };
        let tree = build(&spec).unwrap();
        let nodes = node_offsets(&tree.bytes, 4096);
        // 1 + 4 + 16 + 64 nodes, in blocks 1..=85 (the value log after).
        assert_eq!(nodes.len(), 85);
        assert!(nodes.contains(&tree.sup.root));
        assert_eq!(nodes, (1..=85).map(|b| b * 4096).collect::<Vec<u64>>());
    }
}
