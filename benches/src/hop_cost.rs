// SPDX-License-Identifier: GPL-2.0 OR MIT

//! What the windows workload reports beyond its rows: the cost of each
//! extra read against a one-read chain of the same size, and how many reads
//! the driver resubmitted, with the module's reasons for the others.

use std::{collections::BTreeMap, fmt::Write as _};

use anyhow::{ensure, Result};
use rnvme::abi::FALLBACKS;
use serde::{Deserialize, Serialize};

use crate::{
    paths::{Kind, Way},
    report::Row,
};

/// The goal of issue 12: with interrupts, an extra read of a chain costs at
/// most this many times a one-read chain of the same size.
pub const TARGET_RATIO: f64 = 1.1;

/// The windows workload's results beyond its rows.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Windows {
    /// Bytes of the device's logical blocks (what covering ranges are made of).
    pub logical_block_size: u32,
    /// [`TARGET_RATIO`].
    pub target_ratio: f64,
    pub runs: Vec<WindowRun>,
    pub hop_costs: Vec<HopCost>,
}

/// The reads of one configuration's storage-function way (warm-up and timed
/// lookups together).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WindowRun {
    pub workload: Kind,
    pub block_size: u32,
    pub depth: u32,
    pub way: Way,
    /// Chains run.
    pub chains: u64,
    /// Their reads (`ChainOutcome::hops`, summed).
    pub hops: u64,
    /// Of those, reads the driver resubmitted (`ChainOutcome::driver_hops`).
    pub driver_hops: u64,
    /// `driver_hops / hops`.
    pub driver_fraction: f64,
    /// `driver_hops / (hops - chains)`: the share of the reads after each
    /// chain's first (which the module issues); none at depth 1.
    pub driver_fraction_after_first: Option<f64>,
    /// Of the reads after the first, the share whose covering range of
    /// logical blocks is as long as the read before's: what the driver
    /// resubmits without the module's keeping of the read length (a longer
    /// read from the same block, where the file's extent allows).
    pub same_length_fraction: Option<f64>,
    /// The module's fallback counters over the run (module-wide), by reason.
    pub fallbacks: BTreeMap<String, u64>,
}

impl WindowRun {
    /// From `(workload, block size, depth, way)`, `(chains, hops, driver
    /// hops)`, the reads per chain after the first that keep their length,
    /// and the fallbacks.
    pub fn new(
        (workload, block_size, depth, way): (Kind, u32, u32, Way),
        (chains, hops, driver_hops): (u64, u64, u64),
        same_length_per_chain: u32,
        fallbacks: BTreeMap<String, u64>,
    ) -> Self {
        let after_first = hops.saturating_sub(chains);
        let share = |n: u64, of: u64| (of > 0).then(|| n as f64 / of as f64);
        Self {
            workload,
            block_size,
            depth,
            way,
            chains,
            hops,
            driver_hops,
            driver_fraction: share(driver_hops, hops).unwrap_or(0.0),
            driver_fraction_after_first: share(driver_hops, after_first),
            same_length_fraction: share(
                u64::from(same_length_per_chain),
                u64::from(depth.saturating_sub(1)),
            ),
            fallbacks,
        }
    }
}

/// The marginal cost of a read at one depth, against the floor of the same
/// way and size: the mean latency of a one-read chain (depth 1).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HopCost {
    pub workload: Kind,
    pub block_size: u32,
    pub depth: u32,
    pub way: Way,
    /// Mean latency at depth 1.
    pub floor_ns: f64,
    /// `(t(depth) - t(1)) / (depth - 1)`, mean latencies.
    pub per_hop_ns: f64,
    /// `per_hop_ns / floor_ns`.
    pub ratio: f64,
    /// The lowest and highest ratio of a repetition (repetition k at
    /// `depth` against repetition k at depth 1).
    pub ratio_min: f64,
    pub ratio_max: f64,
    /// For the interrupt-driven storage function: `ratio <= target_ratio`.
    pub target_met: Option<bool>,
}

/// `(t(n) - t(1)) / (n - 1) / t(1)`.
fn ratio(t1: f64, tn: f64, n: u32) -> f64 {
    (tn - t1) / f64::from(n - 1) / t1
}

/// The hop costs of every windowed row deeper than 1 that has a depth-1 row
/// of the same workload, size and way (1 thread).
pub fn hop_costs(rows: &[Row]) -> Vec<HopCost> {
    let one_thread = || {
        rows.iter()
            .filter(|r| r.threads == 1 && r.workload.windowed())
    };
    one_thread()
        .filter(|r| r.depth > 1)
        .filter_map(|r| {
            let base = one_thread().find(|b| {
                b.depth == 1
                    && (b.workload, b.block_size, b.way) == (r.workload, r.block_size, r.way)
            })?;
            let (t1, tn) = (base.measured.latency_ns.mean, r.measured.latency_ns.mean);
            let reps: Vec<f64> = base
                .measured
                .rep_mean_ns
                .iter()
                .zip(&r.measured.rep_mean_ns)
                .map(|(&a, &b)| ratio(a, b, r.depth))
                .collect();
            let ratio = ratio(t1, tn, r.depth);
            Some(HopCost {
                workload: r.workload,
                block_size: r.block_size,
                depth: r.depth,
                way: r.way,
                floor_ns: t1,
                per_hop_ns: (tn - t1) / f64::from(r.depth - 1),
                ratio,
                ratio_min: reps.iter().copied().fold(ratio, f64::min),
                ratio_max: reps.iter().copied().fold(ratio, f64::max),
                target_met: (r.way == Way::Rnvme).then_some(ratio <= TARGET_RATIO),
            })
        })
        .collect()
}

impl Windows {
    /// Checks what a report read back says.
    pub fn validate(&self) -> Result<()> {
        for r in &self.runs {
            ensure!(
                r.chains > 0 && r.hops >= r.chains && r.driver_hops <= r.hops,
                "{r:?}"
            );
            ensure!((0.0..=1.0).contains(&r.driver_fraction), "{r:?}");
        }
        for c in &self.hop_costs {
            ensure!(
                c.floor_ns > 0.0 && c.ratio.is_finite() && c.ratio_min <= c.ratio_max,
                "{c:?}"
            );
        }
        Ok(())
    }

    /// The text table's lines for the windows workload.
    pub fn table(&self, t: &mut String) {
        let _ = writeln!(
            t,
            "windows: per-hop cost (t(depth N) - t(depth 1)) / (N - 1) over the one-read chain t(depth 1) of the same way and size, all reps (lowest-highest rep); target for Rnvme (interrupt): <= {:.2}; last columns: Rnvme's cost per hop and floor",
            self.target_ratio
        );
        let _ = writeln!(
            t,
            "{:<18} {:>5} {:>5} {:<18} {:<18} {:<18} {:<18} {:<26} {:<18} {:>9} {:>9}",
            "work",
            "block",
            "depth",
            "Pread",
            "IoUring",
            "IoUringFixed",
            "NvmePassthru",
            "Rnvme",
            "RnvmePolled",
            "hop us",
            "floor us"
        );
        let mut at: Vec<(Kind, u32, u32)> = self
            .hop_costs
            .iter()
            .map(|c| (c.workload, c.block_size, c.depth))
            .collect();
        at.dedup();
        for (kind, bs, depth) in at {
            let cost = |way: Way| {
                self.hop_costs
                    .iter()
                    .find(|c| (c.workload, c.block_size, c.depth, c.way) == (kind, bs, depth, way))
            };
            let cells: Vec<String> = Way::ALL
                .iter()
                .map(|&way| {
                    cost(way).map_or("-".into(), |c| {
                        let target = match c.target_met {
                            Some(true) => " met",
                            Some(false) => " NOT met",
                            None => "",
                        };
                        format!(
                            "{:.2} ({:.2}-{:.2}){target}",
                            c.ratio, c.ratio_min, c.ratio_max
                        )
                    })
                })
                .collect();
            let (per_hop, floor) = cost(Way::Rnvme).map_or((f64::NAN, f64::NAN), |c| {
                (c.per_hop_ns / 1e3, c.floor_ns / 1e3)
            });
            let _ = writeln!(
                t,
                "{:<18} {bs:>5} {depth:>5} {:<18} {:<18} {:<18} {:<18} {:<26} {:<18} {per_hop:>9.1} {floor:>9.1}",
                kind.label(),
                cells[0],
                cells[1],
                cells[2],
                cells[3],
                cells[4],
                cells[5]
            );
        }
        self.target_summary(t);
        let _ = writeln!(
            t,
            "windows: reads the driver resubmitted, logical blocks of {} B; fallbacks to process context by reason (module-wide, during the run)",
            self.logical_block_size
        );
        let pct = |f: Option<f64>| f.map_or("-".into(), |f| format!("{:.1} %", f * 100.0));
        for r in &self.runs {
            let reasons: Vec<String> = FALLBACKS
                .iter()
                .map(|n| format!("{n} {}", r.fallbacks.get(*n).copied().unwrap_or(0)))
                .collect();
            let _ = writeln!(
                t,
                "  {} {} B depth {} {:?}: driver {} of {} reads ({}), {} of the reads after the first ({} cover as many blocks as the read before; the module pads the others where the file allows); fallbacks: {}",
                r.workload.label(),
                r.block_size,
                r.depth,
                r.way,
                r.driver_hops,
                r.hops,
                pct(Some(r.driver_fraction)),
                pct(r.driver_fraction_after_first),
                pct(r.same_length_fraction),
                reasons.join(", ")
            );
        }
    }

    /// One line per shape: at how many depths the target was met.
    fn target_summary(&self, t: &mut String) {
        let mut shapes: Vec<(Kind, u32)> = self
            .hop_costs
            .iter()
            .map(|c| (c.workload, c.block_size))
            .collect();
        shapes.dedup();
        for (kind, bs) in shapes {
            let judged: Vec<&HopCost> = self
                .hop_costs
                .iter()
                .filter(|c| (c.workload, c.block_size) == (kind, bs) && c.target_met.is_some())
                .collect();
            let Some(worst) = judged.iter().max_by(|a, b| a.ratio.total_cmp(&b.ratio)) else {
                continue;
            };
            let met = judged.iter().filter(|c| c.target_met == Some(true)).count();
            let _ = writeln!(
                t,
                "target per hop <= {:.2} x floor, {} {bs} B, Rnvme (interrupt): {} ({met} of {} depths; worst {:.2} x at depth {})",
                self.target_ratio,
                kind.label(),
                if met == judged.len() { "met" } else { "NOT met" },
                judged.len(),
                worst.ratio,
                worst.depth
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{CpuPerLookup, Latency, Measured};

    fn row(workload: Kind, depth: u32, way: Way, reps: &[f64]) -> Row {
        let mean = reps.iter().sum::<f64>() / reps.len() as f64;
        Row {
            workload,
            block_size: 4101,
            depth,
            reads: depth,
            way,
            threads: 1,
            syscalls_per_lookup: way.syscalls(depth),
            measured: Measured {
                lookups: 10,
                reps: reps.len(),
                lookups_per_s: 1.0,
                latency_ns: Latency {
                    mean,
                    p50: 1,
                    p99: 1,
                    p999: 1,
                },
                rep_mean_ns: reps.to_vec(),
                rep_lookups_per_s: Vec::new(),
                cpu_per_lookup: CpuPerLookup::default(),
            },
        }
    }

    #[test]
    fn per_hop_cost_is_against_depth_one_of_the_same_way() {
        let rows = [
            row(Kind::Records, 1, Way::Rnvme, &[100.0, 100.0]),
            row(Kind::Records, 3, Way::Rnvme, &[300.0, 340.0]),
            row(Kind::Records, 1, Way::Pread, &[200.0, 200.0]),
            row(Kind::Records, 5, Way::Pread, &[1000.0, 1000.0]),
            row(Kind::Chain, 3, Way::Rnvme, &[1.0, 1.0]),
        ];
        let c = hop_costs(&rows);
        assert_eq!(c.len(), 2);
        let rnvme = &c[0];
        assert_eq!((rnvme.depth, rnvme.way), (3, Way::Rnvme));
        assert_eq!((rnvme.floor_ns, rnvme.per_hop_ns), (100.0, 110.0));
        assert!((rnvme.ratio - 1.1).abs() < 1e-9);
        assert!((rnvme.ratio_min - 1.0).abs() < 1e-9 && (rnvme.ratio_max - 1.2).abs() < 1e-9);
        assert_eq!(rnvme.target_met, Some(true));
        assert_eq!((c[1].ratio, c[1].target_met), (1.0, None));
    }

    #[test]
    fn driver_fractions_leave_out_the_first_reads() {
        let r = WindowRun::new(
            (Kind::Records, 4101, 4, Way::Rnvme),
            (10, 40, 15),
            2,
            BTreeMap::new(),
        );
        assert_eq!(r.driver_fraction, 0.375);
        assert_eq!(r.driver_fraction_after_first, Some(0.5));
        assert_eq!(r.same_length_fraction, Some(2.0 / 3.0));
        let one = WindowRun::new(
            (Kind::Records, 4101, 1, Way::Rnvme),
            (10, 10, 0),
            0,
            BTreeMap::new(),
        );
        assert_eq!(
            (one.driver_fraction_after_first, one.same_length_fraction),
            (None, None)
        );
    }
}
