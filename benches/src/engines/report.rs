// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The engine workloads' part of the report: a row per engine, operation
//! and way (the `engines` section of bench.json), the text table with the
//! ratios against the engine's own cold path, and `engines.svg`.

use std::{fmt::Write as _, path::Path};

use anyhow::{ensure, Result};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Plan, Rep};
use crate::measure::Latency;

/// USER_HZ: the unit of `/proc/stat`.
const TICK_NS: f64 = 1e7;

/// The engine workloads' results.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Engines {
    pub rows: Vec<EngineRow>,
}

/// One engine, operation and way, one thread.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EngineRow {
    /// "rocksdb" or "sqlite".
    pub engine: String,
    /// "get" (RocksDB), "rowid" or "index" (SQLite).
    pub op: String,
    /// "rnvme", "rnvme_polled", "pread_walk" (the rnvme library in user
    /// space), "rocksdb_cold", "rocksdb_pinned", "sqlite".
    pub way: String,
    pub lookups: usize,
    pub reps: usize,
    /// One thread: 1 / mean latency.
    pub lookups_per_s: f64,
    pub latency_ns: Latency,
    /// Mean latency of each repetition (the spread).
    pub rep_mean_ns: Vec<f64>,
    /// The looking-up thread's CPU time plus the guest's irq and softirq
    /// time, per lookup.
    pub cpu_us_per_lookup: f64,
    /// Of that, irq and softirq (tick-sampled).
    pub irq_us_per_lookup: f64,
    /// Reads per lookup: counted by the library for ours (chain reads and
    /// preads), by the block layer for the engines'.
    pub reads_per_lookup: f64,
    /// Reads the block layer completed per lookup (an NVMe command the
    /// driver resubmitted counts once).
    pub device_reads_per_lookup: f64,
    /// Lookups that found something.
    pub found: usize,
}

impl EngineRow {
    pub fn of(engine: &str, op: &str, way: &str, plan: &Plan, reps: &[Rep]) -> Self {
        let mut lat: Vec<u64> = reps
            .iter()
            .flat_map(|r| r.samples.iter().map(|s| s.lat_ns))
            .collect();
        let n = lat.len().max(1) as f64;
        let sum = |f: fn(&Rep) -> u64| reps.iter().map(f).sum::<u64>() as f64;
        let cpu_ns: u64 = reps
            .iter()
            .flat_map(|r| r.samples.iter().map(|s| s.cpu_ns))
            .sum();
        let irq_us = sum(|r| r.irq_ticks) * TICK_NS / 1e3 / n;
        let latency_ns = Latency::of(&mut lat);
        EngineRow {
            engine: engine.into(),
            op: op.into(),
            way: way.into(),
            lookups: plan.lookups,
            reps: reps.len(),
            lookups_per_s: 1e9 / latency_ns.mean.max(1.0),
            latency_ns,
            rep_mean_ns: reps
                .iter()
                .map(|r| {
                    r.samples.iter().map(|s| s.lat_ns).sum::<u64>() as f64
                        / r.samples.len().max(1) as f64
                })
                .collect(),
            cpu_us_per_lookup: cpu_ns as f64 / 1e3 / n + irq_us,
            irq_us_per_lookup: irq_us,
            reads_per_lookup: sum(|r| r.reads) / n,
            device_reads_per_lookup: sum(|r| r.device_reads) / n,
            found: reps
                .iter()
                .flat_map(|r| &r.samples)
                .filter(|s| s.answer.is_some())
                .count(),
        }
    }
}

/// The engine's own cold path, the baseline of the ratios.
fn baseline(engine: &str) -> &'static str {
    if engine == "rocksdb" {
        "rocksdb_cold"
    } else {
        "sqlite"
    }
}

impl Engines {
    pub fn validate(&self) -> Result<()> {
        for r in &self.rows {
            ensure!(
                r.lookups > 0 && r.reps == r.rep_mean_ns.len() && r.lookups_per_s > 0.0,
                "{r:?}"
            );
            ensure!(r.latency_ns.p50 > 0 && r.reads_per_lookup > 0.0, "{r:?}");
        }
        for r in self.rows.iter().filter(|r| r.way == "rnvme") {
            ensure!(
                self.find(&r.engine, &r.op, baseline(&r.engine)).is_some(),
                "{} {}: no baseline row",
                r.engine,
                r.op
            );
        }
        Ok(())
    }

    fn find(&self, engine: &str, op: &str, way: &str) -> Option<&EngineRow> {
        self.rows
            .iter()
            .find(|r| r.engine == engine && r.op == op && r.way == way)
    }

    fn groups(&self) -> Vec<(String, String)> {
        let mut g: Vec<(String, String)> = Vec::new();
        for r in &self.rows {
            let k = (r.engine.clone(), r.op.clone());
            if !g.contains(&k) {
                g.push(k);
            }
        }
        g
    }

    /// The table: per engine and operation, each way's throughput,
    /// latency, CPU and reads, and its ratio to the engine's cold path.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "\nEngines, 1 thread (x: lookups/s over the engine's own cold path in this run; spread: min..max of the repetitions' mean latency)"
        );
        for (engine, op) in self.groups() {
            let base = self.find(&engine, &op, baseline(&engine));
            let _ = writeln!(
                t,
                "{engine} {op}\n  {:<15} {:>10} {:>7} {:>10} {:>10} {:>10} {:>17} {:>9} {:>9} {:>7}",
                "way", "lookups/s", "x", "mean us", "p50 us", "p99 us", "spread us", "cpu us", "reads", "found"
            );
            for r in self
                .rows
                .iter()
                .filter(|r| r.engine == engine && r.op == op)
            {
                let x = base.map_or(f64::NAN, |b| r.lookups_per_s / b.lookups_per_s);
                let lo = r.rep_mean_ns.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = r.rep_mean_ns.iter().copied().fold(0.0, f64::max);
                let _ = writeln!(
                    t,
                    "  {:<15} {:>10.0} {:>7.2} {:>10.1} {:>10.1} {:>10.1} {:>8.1}..{:<8.1} {:>9.1} {:>9.2} {:>7}",
                    r.way,
                    r.lookups_per_s,
                    x,
                    r.latency_ns.mean / 1e3,
                    r.latency_ns.p50 as f64 / 1e3,
                    r.latency_ns.p99 as f64 / 1e3,
                    lo / 1e3,
                    hi / 1e3,
                    r.cpu_us_per_lookup,
                    r.reads_per_lookup,
                    r.found
                );
            }
        }
        t
    }

    /// `engines.svg`: lookups/s of each way, grouped by engine and
    /// operation.
    pub fn plot(&self, path: &Path) -> Result<()> {
        let root =
            SVGBackend::new(path, (900, 120 + 22 * self.rows.len() as u32)).into_drawing_area();
        root.fill(&WHITE)?;
        let max = self
            .rows
            .iter()
            .map(|r| r.lookups_per_s)
            .fold(1.0, f64::max);
        let n = self.rows.len() as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Engines: lookups/s at 1 thread (higher is better)",
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(10)
            .build_cartesian_2d(0f64..max * 1.45, 0f64..n)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("lookups/s")
            .draw()?;
        let colour = |way: &str| match way {
            "rnvme" => RED,
            "rnvme_polled" => MAGENTA,
            "pread_walk" => BLUE,
            _ => GREEN,
        };
        for (i, r) in self.rows.iter().enumerate() {
            let y = n - i as f64 - 1.0;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y + 0.15), (r.lookups_per_s, y + 0.85)],
                colour(&r.way).filled(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("{} {} {}: {:.0}", r.engine, r.op, r.way, r.lookups_per_s),
                (r.lookups_per_s + max * 0.01, y + 0.75),
                ("sans-serif", 12),
            )))?;
        }
        root.present()?;
        Ok(())
    }
}
