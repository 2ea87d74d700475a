// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The live workload's part of the report: a row per way and write rate,
//! and rnvme's lookups/s over pread's at each write rate, with the lowest
//! and highest ratio of a repetition as its spread.

use std::fmt::Write as _;

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};

use crate::{
    measure::{median, spread, Measured},
    paths::Way,
};

/// One way at one write rate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LiveRow {
    pub way: Way,
    /// In-place node writes per second asked for (0: no writer).
    pub write_rate: u32,
    /// In-place node writes per second done during the timed runs.
    pub writes_per_s: f64,
    /// Lookups whose answer differed from the tree's (must be 0).
    pub wrong: u64,
    /// Lookups that failed with an error (must be 0).
    pub failed: u64,
    /// The module's counters over the timed runs (rnvme only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<Remapping>,
    /// Latency and throughput of the lookups that answered.
    #[serde(flatten)]
    pub measured: Measured,
}

/// How the module kept up with the file's changes during a row's runs
/// (module-wide counters; only the row's tag is attached).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Remapping {
    /// Reads re-translated in process context (fallback `remapped`).
    pub remapped: u64,
    /// The same per 1,000 lookups.
    pub remapped_per_1000: f64,
    /// Times the file system drained direct I/O of the file (its map out
    /// of date).
    pub remaps: u64,
    /// Reads that wrote dirty page cache back first.
    pub write_backs: u64,
}

/// rnvme's lookups/s over pread's at one write rate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveRatio {
    pub write_rate: u32,
    /// Median lookups/s of rnvme's repetitions over pread's.
    pub ratio: f64,
    /// The lowest and highest ratio of a repetition (repetition k of
    /// rnvme against repetition k of pread).
    pub ratio_min: f64,
    pub ratio_max: f64,
}

/// The live workload's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Live {
    pub rows: Vec<LiveRow>,
    pub ratios: Vec<LiveRatio>,
}

impl Live {
    /// The results of `rows`, with their ratios.
    pub fn new(rows: Vec<LiveRow>) -> Self {
        let ratios = ratios(&rows);
        Self { rows, ratios }
    }

    /// Checks what a report read back says.
    pub fn validate(&self) -> Result<()> {
        for r in &self.rows {
            let m = &r.measured;
            ensure!(
                m.reps == m.rep_mean_ns.len()
                    && m.reps == m.rep_lookups_per_s.len()
                    && r.writes_per_s >= 0.0
                    && (r.write_rate > 0 || r.writes_per_s == 0.0)
                    && r.module.is_some() == (r.way == Way::Rnvme),
                "{r:?}"
            );
        }
        for q in &self.ratios {
            ensure!(
                q.ratio.is_finite() && q.ratio_min <= q.ratio && q.ratio <= q.ratio_max,
                "{q:?}"
            );
        }
        Ok(())
    }

    /// The table.
    pub fn table(&self, t: &mut String) {
        if self.rows.is_empty() {
            return;
        }
        let _ = writeln!(
            t,
            "live: B+-tree lookups (depth 4, 4 KiB nodes, 1 thread) while a writer rewrites random nodes in place with O_DIRECT (same bytes); lookups/s: median of the reps (lowest-highest)"
        );
        let _ = writeln!(
            t,
            "{:<6} {:>8} {:>8} {:>10} {:>17} {:>9} {:>11} {:>7} {:>11} {:>6} {:>7}",
            "way",
            "writes/s",
            "(done)",
            "lookups/s",
            "(reps min-max)",
            "p99 us",
            "remap/1000",
            "remaps",
            "write-backs",
            "wrong",
            "failed"
        );
        for r in &self.rows {
            let m = &r.measured;
            let (lo, hi) = spread(&m.rep_lookups_per_s);
            let (per_1000, remaps, write_backs) =
                r.module
                    .map_or(("-".to_string(), "-".to_string(), "-".to_string()), |c| {
                        (
                            format!("{:.2}", c.remapped_per_1000),
                            c.remaps.to_string(),
                            c.write_backs.to_string(),
                        )
                    });
            let _ = writeln!(
                t,
                "{:<6} {:>8} {:>8.0} {:>10.0} {:>17} {:>9.1} {:>11} {:>7} {:>11} {:>6} {:>7}",
                format!("{:?}", r.way),
                r.write_rate,
                r.writes_per_s,
                median(&m.rep_lookups_per_s),
                format!("({lo:.0}-{hi:.0})"),
                m.latency_ns.p99 as f64 / 1e3,
                per_1000,
                remaps,
                write_backs,
                r.wrong,
                r.failed
            );
        }
        for q in &self.ratios {
            let _ = writeln!(
                t,
                "live at {} writes/s: Rnvme {:.2} x Pread lookups/s (reps {:.2}-{:.2})",
                q.write_rate, q.ratio, q.ratio_min, q.ratio_max
            );
        }
        let bad: u64 = self.rows.iter().map(|r| r.wrong + r.failed).sum();
        if bad > 0 {
            let _ = writeln!(t, "live: {bad} lookups WRONG or FAILED (must be 0)");
        }
    }
}

/// rnvme over pread at each write rate both ran at (with throughput).
fn ratios(rows: &[LiveRow]) -> Vec<LiveRatio> {
    let reps = |way: Way, rate: u32| {
        rows.iter()
            .find(|r| r.way == way && r.write_rate == rate)
            .map(|r| &r.measured.rep_lookups_per_s)
    };
    let mut rates: Vec<u32> = rows.iter().map(|r| r.write_rate).collect();
    rates.dedup();
    rates
        .into_iter()
        .filter_map(|rate| {
            let (ours, base) = (reps(Way::Rnvme, rate)?, reps(Way::Pread, rate)?);
            let ratio = median(ours) / median(base);
            if !ratio.is_finite() {
                return None;
            }
            let each: Vec<f64> = ours
                .iter()
                .zip(base)
                .map(|(a, b)| a / b)
                .filter(|q| q.is_finite())
                .chain([ratio])
                .collect();
            let (ratio_min, ratio_max) = spread(&each);
            Some(LiveRatio {
                write_rate: rate,
                ratio,
                ratio_min,
                ratio_max,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{CpuPerLookup, Latency};

    fn row(way: Way, write_rate: u32, reps: &[f64]) -> LiveRow {
        LiveRow {
            way,
            write_rate,
            writes_per_s: f64::from(write_rate),
            wrong: 0,
            failed: 0,
            module: (way == Way::Rnvme).then_some(Remapping {
                remapped: 3,
                remapped_per_1000: 1.5,
                remaps: 1,
                write_backs: 0,
            }),
            measured: Measured {
                lookups: 2000,
                reps: reps.len(),
                lookups_per_s: median(reps),
                latency_ns: Latency {
                    mean: 1e5,
                    p50: 90_000,
                    p99: 250_000,
                    p999: 300_000,
                },
                rep_mean_ns: vec![1e5; reps.len()],
                rep_lookups_per_s: reps.to_vec(),
                cpu_per_lookup: CpuPerLookup::default(),
            },
        }
    }

    fn rows() -> Vec<LiveRow> {
        vec![
            row(Way::Pread, 0, &[100.0, 120.0, 110.0]),
            row(Way::Rnvme, 0, &[300.0, 330.0, 360.0]),
            row(Way::Pread, 200, &[100.0, 100.0, 100.0]),
            row(Way::Rnvme, 200, &[200.0, 250.0, 150.0]),
        ]
    }

    #[test]
    fn ratios_are_medians_with_the_spread_of_the_paired_reps() {
        let live = Live::new(rows());
        assert_eq!(live.ratios.len(), 2);
        let q = live.ratios[0];
        assert_eq!(q.write_rate, 0);
        assert_eq!(q.ratio, 3.0);
        assert_eq!((q.ratio_min, q.ratio_max), (330.0 / 120.0, 360.0 / 110.0));
        let q = live.ratios[1];
        assert_eq!((q.write_rate, q.ratio), (200, 2.0));
        assert_eq!((q.ratio_min, q.ratio_max), (1.5, 2.5));
        live.validate().unwrap();
    }

    #[test]
    fn a_rate_without_both_ways_or_throughput_has_no_ratio() {
        let mut r = rows();
        r.remove(2);
        r[0].measured.rep_lookups_per_s = vec![0.0; 3];
        assert!(Live::new(r).ratios.is_empty());
    }

    #[test]
    fn the_table_has_a_row_per_way_and_rate_and_flags_wrong_answers() {
        let mut r = rows();
        let mut t = String::new();
        Live::new(r.clone()).table(&mut t);
        assert_eq!(t.lines().filter(|l| l.starts_with("Rnvme ")).count(), 2);
        assert_eq!(t.lines().filter(|l| l.starts_with("Pread ")).count(), 2);
        assert!(t.contains("live at 200 writes/s: Rnvme 2.00 x Pread"));
        assert!(!t.contains("WRONG"));
        r[3].wrong = 2;
        let mut t = String::new();
        Live::new(r).table(&mut t);
        assert!(t.contains("live: 2 lookups WRONG or FAILED"));
    }

    #[test]
    fn validation_wants_counters_for_rnvme_only() {
        let mut r = rows();
        r[0].module = r[1].module;
        assert!(Live::new(r).validate().is_err());
    }
}
