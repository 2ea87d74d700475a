// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The windows workload: chains whose reads are not 4 KiB blocks at aligned
//! offsets. Each shape runs at every depth asked for, and always at depth 1
//! (one read: the floor of its size), in all four ways. The user-space ways
//! read the covering range of logical blocks per hop; for the storage
//! function's ways the run also counts the reads the driver resubmitted
//! (`ChainOutcome::driver_hops`) and, from the module's metrics, why the
//! others went to process context.

use std::{collections::BTreeMap, os::unix::fs::MetadataExt, path::Path};

use anyhow::{Context, Result};
use rnvme::{
    abi::{self, FALLBACKS},
    format::{
        chain::{self, ChainFile, SlotLayout},
        memory_reader,
    },
    Control,
};

use crate::{
    hop_cost::{WindowRun, Windows, TARGET_RATIO},
    measure,
    paths::{Kind, Way, Workload},
    readers::covering,
    report::{Floor, Report, Row},
};

/// Where the blocks of one shape go: slot `k` at `shift + k * stride`.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub kind: Kind,
    pub block_size: u32,
    pub stride: u32,
    pub shift: u64,
}

/// The shapes, in the order they run.
pub const SHAPES: [Shape; 3] = [
    // A 4 KiB block and its 5-byte trailer, packed: any byte offset. The
    // covering range is one logical block longer for a record that starts
    // in the last 4 bytes of a logical block.
    Shape {
        kind: Kind::Records,
        block_size: 4101,
        stride: 4101,
        shift: 0,
    },
    Shape {
        kind: Kind::Pages16k,
        block_size: 16384,
        stride: 16384,
        shift: 0,
    },
    // Every page 5 bytes past a boundary: unaligned, but every covering
    // range has the same length.
    Shape {
        kind: Kind::Pages16kUnaligned,
        block_size: 16384,
        stride: 16384,
        shift: 5,
    },
];

impl Shape {
    /// The layout of a chain of `depth` blocks among `64 * depth` slots.
    pub fn layout(&self, depth: u32, seed: u64) -> SlotLayout {
        SlotLayout {
            hops: depth,
            block_size: self.block_size,
            stride: self.stride,
            shift: self.shift,
            slots: depth * 64,
            seed,
        }
    }
}

/// What to run: the settings of the whole benchmark.
pub struct Plan<'a> {
    pub dir: &'a Path,
    pub depths: &'a [u32],
    pub lookups: usize,
    pub warmup: usize,
    pub reps: usize,
    pub floor_reads: usize,
}

/// The logical block size of the device holding `path`, from sysfs (the
/// disk's queue, or its parent's for a partition).
pub fn logical_block_size(path: &Path) -> Option<u32> {
    let dev = std::fs::metadata(path).ok()?.dev();
    let sys = crate::sys::block_sysfs(dev);
    ["queue", "../queue"].iter().find_map(|q| {
        std::fs::read_to_string(format!("{sys}/{q}/logical_block_size"))
            .ok()?
            .trim()
            .parse()
            .ok()
    })
}

/// Of the reads of `c`'s chain after its first, how many have a covering
/// range of `lba`-byte blocks as long as the read before's (the driver
/// reuses the request only for reads of one length; the module pads a
/// shorter read to the previous length where the file allows, so the driver
/// may resubmit more than these).
pub fn same_length_hops(c: &ChainFile, lba: u32) -> Result<u32> {
    let mut lens = Vec::new();
    let mut read = memory_reader(&c.bytes);
    chain::walk(
        |off, buf| {
            lens.push(covering(off, buf.len(), u64::from(lba)).1);
            read(off, buf)
        },
        c.start,
        c.block_size,
        256,
    )
    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(lens.windows(2).filter(|p| p[0] == p[1]).count() as u32)
}

/// `after - before` of the module's fallback counters, by reason.
pub fn fallbacks(before: &abi::Metrics, after: &abi::Metrics) -> BTreeMap<String, u64> {
    FALLBACKS
        .iter()
        .zip(before.fallbacks.iter().zip(&after.fallbacks))
        .map(|(name, (b, a))| (name.to_string(), a.saturating_sub(*b)))
        .collect()
}

/// Runs the shapes of `kinds` as `plan` says, adding rows (and a floor per
/// window size not measured yet) to `report` and setting its `windows`.
pub fn run(control: &Control, kinds: &[Kind], plan: &Plan, report: &mut Report) -> Result<()> {
    let lba = logical_block_size(plan.dir).unwrap_or(4096);
    eprintln!("windows: logical blocks of {lba} B");
    let mut depths = plan.depths.to_vec();
    depths.push(1);
    depths.sort_unstable();
    depths.dedup();
    let mut runs = Vec::new();
    for &kind in kinds {
        let shape = SHAPES
            .iter()
            .find(|s| s.kind == kind)
            .with_context(|| format!("{kind:?} is not a window shape"))?;
        let bs = shape.block_size;
        for &depth in &depths {
            let c =
                chain::build_slots(&shape.layout(depth, u64::from(depth) * 7919 + u64::from(bs)));
            let path = plan.dir.join(format!("bench-{}-{depth}", kind.label()));
            let w = Workload::chain(kind, path, &c, depth, plan.lookups, u64::from(lba))?;
            if !report.floors.iter().any(|f| f.block_size == bs) {
                let latency_ns = measure::floor(&w, plan.floor_reads)?;
                eprintln!("floor {bs} B: mean {:.1} us", latency_ns.mean / 1e3);
                report.floors.push(Floor {
                    block_size: bs,
                    latency_ns,
                });
            }
            let same_length = same_length_hops(&c, lba)?;
            for way in Way::ALL {
                let before = control.metrics()?;
                w.counts.take();
                let measured =
                    measure::run(&w, way, control, 1, plan.lookups, plan.warmup, plan.reps)
                        .with_context(|| format!("{} depth {depth} {way:?}", kind.label()))?;
                let after = control.metrics()?;
                let (chains, hops, driver_hops) = w.counts.take();
                eprintln!(
                    "{} {bs} B depth {depth} {way:?}: mean {:.1} us",
                    kind.label(),
                    measured.latency_ns.mean / 1e3,
                );
                if matches!(way, Way::Rnvme | Way::RnvmePolled) {
                    eprintln!("  driver resubmitted {driver_hops} of {hops} reads");
                    runs.push(WindowRun::new(
                        (kind, bs, depth, way),
                        (chains, hops, driver_hops),
                        same_length,
                        fallbacks(&before, &after),
                    ));
                }
                report.rows.push(Row {
                    workload: kind,
                    block_size: bs,
                    depth,
                    reads: depth,
                    way,
                    threads: 1,
                    syscalls_per_lookup: way.syscalls(depth),
                    measured,
                });
            }
            std::fs::remove_file(&w.path)?;
        }
    }
    report.windows = Some(Windows {
        logical_block_size: lba,
        target_ratio: TARGET_RATIO,
        runs,
        hop_costs: Vec::new(),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_build_walkable_chains_at_their_offsets() {
        for s in SHAPES {
            let c = chain::build_slots(&s.layout(5, 9));
            assert_eq!(c.block_size, s.block_size);
            assert_eq!((c.start - s.shift) % u64::from(s.stride), 0);
            let r = chain::walk(memory_reader(&c.bytes), c.start, s.block_size, 16).unwrap();
            assert_eq!(r.count, 5);
        }
    }

    #[test]
    fn same_length_hops_follow_the_alignment() {
        // Shifted pages cover 33 sectors of 512 B (5 blocks of 4 KiB) every
        // time: every read after the first has the length of the one before.
        let pages = chain::build_slots(&SHAPES[2].layout(8, 1));
        assert_eq!(same_length_hops(&pages, 512).unwrap(), 7);
        assert_eq!(same_length_hops(&pages, 4096).unwrap(), 7);
        // Two records of 4101 B, at 0 (9 sectors, 2 blocks) and at 4604 or
        // 4608 (4604 starts 4 bytes before a sector's end: 10 sectors, but
        // still 2 blocks of 4 KiB).
        let two = |stride| {
            chain::build_slots(&SlotLayout {
                hops: 2,
                block_size: 4101,
                stride,
                shift: 0,
                slots: 2,
                seed: 1,
            })
        };
        assert_eq!(same_length_hops(&two(4604), 512).unwrap(), 0);
        assert_eq!(same_length_hops(&two(4604), 4096).unwrap(), 1);
        assert_eq!(same_length_hops(&two(4608), 512).unwrap(), 1);
    }

    #[test]
    fn fallbacks_are_counted_by_reason() {
        let before = abi::Metrics {
            fallbacks: [1, 2, 3, 4, 5, 6, 7, 8, 0],
            ..Default::default()
        };
        let after = abi::Metrics {
            fallbacks: [11, 2, 4, 4, 5, 6, 9, 8, 0],
            ..Default::default()
        };
        let f = fallbacks(&before, &after);
        assert_eq!(f.len(), FALLBACKS.len());
        assert_eq!(
            (f["length"], f["lock"], f["other"], f["extents"]),
            (10, 1, 2, 0)
        );
    }
}
