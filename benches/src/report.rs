// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The benchmark's output: one JSON document (schema `rnvme-bench/1`,
//! described in `docs/benchmark.md`), a text table with ratios against
//! `pread` from the same run, and an SVG plot. The windows workload adds
//! its own section (`hop_cost`), absent from reports without it.

use std::{fmt::Write as _, path::Path};

use anyhow::{ensure, Context, Result};
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{
    engines::Engines,
    fairness::{self, FairnessRow},
    hop_cost::{self, Windows},
    live::Live,
    measure::{Latency, Measured},
    paths::{Kind, Way},
    queue::{self, QueueRow},
};

pub const SCHEMA: &str = "rnvme-bench/1";

/// Where and how the run happened.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Environment {
    pub kernel: String,
    /// "tcg" or "kvm" (from the kernel command line the VM runner set).
    pub accelerator: String,
    pub qemu: String,
    pub vcpus: usize,
    /// Seconds since the epoch when the run started.
    pub started: u64,
}

/// One configuration's result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    pub workload: Kind,
    pub block_size: u32,
    /// Tree levels or chain blocks.
    pub depth: u32,
    /// Device reads per lookup.
    pub reads: u32,
    pub way: Way,
    pub threads: usize,
    pub syscalls_per_lookup: u32,
    #[serde(flatten)]
    pub measured: Measured,
}

/// The device floor for one block size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Floor {
    pub block_size: u32,
    pub latency_ns: Latency,
}

/// Numbers derived from the rows, per workload and block size, 1 thread.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Derived {
    pub workload: Kind,
    pub block_size: u32,
    pub way: Way,
    /// Slope of mean latency over reads per lookup (least squares).
    pub marginal_ns_per_read: f64,
    /// That slope over the floor's mean: 1.0 means each extra read costs
    /// one device read and nothing else.
    pub marginal_over_floor: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub environment: Environment,
    pub floors: Vec<Floor>,
    pub rows: Vec<Row>,
    pub derived: Vec<Derived>,
    /// The windows workload's hop costs and driver resubmissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Windows>,
    /// The engine workloads (RocksDB, SQLite).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engines: Option<Engines>,
    /// The queue-depth workload: lookups in flight from one thread.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue: Vec<QueueRow>,
    /// The fairness workload: tenants side by side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fairness: Vec<FairnessRow>,
    /// The live workload: lookups while the tree is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<Live>,
}

impl Report {
    /// Fills `derived` (and the windows' hop costs) from the rows and
    /// floors.
    pub fn derive(&mut self) {
        if let Some(w) = &mut self.windows {
            w.hop_costs = hop_cost::hop_costs(&self.rows);
        }
        self.derived.clear();
        let mut keys: Vec<(Kind, u32, Way)> = self
            .rows
            .iter()
            .filter(|r| r.threads == 1)
            .map(|r| (r.workload, r.block_size, r.way))
            .collect();
        keys.dedup();
        keys.sort_by_key(|k| format!("{k:?}"));
        keys.dedup();
        for (workload, block_size, way) in keys {
            let pts: Vec<(f64, f64)> = self
                .rows
                .iter()
                .filter(|r| {
                    r.threads == 1
                        && r.workload == workload
                        && r.block_size == block_size
                        && r.way == way
                })
                .map(|r| (f64::from(r.reads), r.measured.latency_ns.mean))
                .collect();
            if pts.len() < 2 {
                continue;
            }
            let n = pts.len() as f64;
            let (mx, my) = (
                pts.iter().map(|p| p.0).sum::<f64>() / n,
                pts.iter().map(|p| p.1).sum::<f64>() / n,
            );
            let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
            let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
            let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
            let Some(floor) = self
                .floors
                .iter()
                .find(|f| f.block_size == block_size)
                .map(|f| f.latency_ns.mean)
            else {
                continue;
            };
            self.derived.push(Derived {
                workload,
                block_size,
                way,
                marginal_ns_per_read: slope,
                marginal_over_floor: slope / floor,
            });
        }
    }

    /// Checks that a report read back is complete and consistent.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.schema == SCHEMA, "schema {:?}", self.schema);
        ensure!(
            (!self.rows.is_empty() && !self.floors.is_empty())
                || self.engines.is_some()
                || !self.queue.is_empty()
                || !self.fairness.is_empty()
                || self.live.is_some(),
            "no rows or no floor"
        );
        for r in &self.rows {
            ensure!(
                r.measured.lookups > 0 && r.measured.reps == r.measured.rep_mean_ns.len(),
                "{r:?}"
            );
            ensure!(
                r.measured.lookups_per_s > 0.0 && r.measured.latency_ns.p50 > 0,
                "{r:?}"
            );
            ensure!(r.syscalls_per_lookup == r.way.syscalls(r.reads), "{r:?}");
        }
        if let Some(w) = &self.windows {
            w.validate()?;
        }
        if let Some(e) = &self.engines {
            e.validate()?;
        }
        if let Some(l) = &self.live {
            l.validate()?;
        }
        queue::validate(&self.queue)?;
        for f in &self.fairness {
            ensure!(f.compute_share > 0.0 && f.light_alone_ns.p50 > 0, "{f:?}");
        }
        Ok(())
    }

    /// The text table: per configuration and way, latency, throughput, CPU,
    /// and the ratios against `pread` in this run.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let e = &self.environment;
        let _ = writeln!(
            t,
            "rnvme chain-read benchmark: kernel {}, {} vCPUs, QEMU {}, accelerator {}",
            e.kernel, e.vcpus, e.qemu, e.accelerator
        );
        for f in &self.floors {
            let _ = writeln!(
                t,
                "device floor ({} B, one polled read): mean {:.1} us, p50 {:.1} us, p99 {:.1} us",
                f.block_size,
                f.latency_ns.mean / 1e3,
                f.latency_ns.p50 as f64 / 1e3,
                f.latency_ns.p99 as f64 / 1e3
            );
        }
        let work = self
            .rows
            .iter()
            .map(|r| r.workload.label().len())
            .fold(7, usize::max);
        let _ = writeln!(
            t,
            "{:<work$} {:>5} {:>5} {:>3} {:<12} {:>9} {:>9} {:>9} {:>10} {:>8} {:>9} {:>8} {:>8}",
            "work",
            "block",
            "reads",
            "thr",
            "way",
            "mean us",
            "p50 us",
            "p99 us",
            "lookups/s",
            "x pread",
            "cpu us/lk",
            "x pread",
            "syscalls"
        );
        for r in &self.rows {
            let base = self.rows.iter().find(|b| {
                b.way == Way::Pread
                    && b.workload == r.workload
                    && b.block_size == r.block_size
                    && b.depth == r.depth
                    && b.threads == r.threads
            });
            let m = &r.measured;
            let (thr_x, cpu_x) = base.map_or((f64::NAN, f64::NAN), |b| {
                (
                    m.lookups_per_s / b.measured.lookups_per_s,
                    m.cpu_per_lookup.total() / b.measured.cpu_per_lookup.total(),
                )
            });
            let _ = writeln!(
                t,
                "{:<work$} {:>5} {:>5} {:>3} {:<12} {:>9.1} {:>9.1} {:>9.1} {:>10.0} {:>8.2} {:>9.1} {:>8.2} {:>8}",
                r.workload.label(),
                r.block_size,
                r.reads,
                r.threads,
                format!("{:?}", r.way),
                m.latency_ns.mean / 1e3,
                m.latency_ns.p50 as f64 / 1e3,
                m.latency_ns.p99 as f64 / 1e3,
                m.lookups_per_s,
                thr_x,
                m.cpu_per_lookup.total(),
                cpu_x,
                r.syscalls_per_lookup
            );
        }
        for d in &self.derived {
            let _ = writeln!(
                t,
                "marginal cost per extra read, {:?} {} B, {:?}: {:.1} us = {:.2} x the device floor",
                d.workload,
                d.block_size,
                d.way,
                d.marginal_ns_per_read / 1e3,
                d.marginal_over_floor
            );
        }
        if let Some(w) = &self.windows {
            w.table(&mut t);
        }
        if let Some(e) = &self.engines {
            t.push_str(&e.table());
        }
        t.push_str(&queue::table(&self.queue, &self.rows));
        fairness::table(&self.fairness, &mut t);
        if let Some(l) = &self.live {
            l.table(&mut t);
        }
        t
    }

    /// An SVG with mean latency over reads per lookup (1 thread, each way,
    /// and reads x the floor), and throughput over threads.
    pub fn plot(&self, path: &Path) -> Result<()> {
        let root = SVGBackend::new(path, (1100, 450)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(560);
        let workload = self
            .rows
            .first()
            .map(|r| (r.workload, r.block_size))
            .context("no rows")?;
        let rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| (r.workload, r.block_size) == workload)
            .collect();
        let colours = [BLUE, GREEN, CYAN, BLACK, RED, MAGENTA];

        let one: Vec<&&Row> = rows.iter().filter(|r| r.threads == 1).collect();
        let max_reads = one.iter().map(|r| r.reads).max().unwrap_or(1);
        let max_lat = one
            .iter()
            .map(|r| r.measured.latency_ns.mean)
            .fold(1.0, f64::max)
            / 1e3;
        let mut chart = ChartBuilder::on(&left)
            .caption(
                format!(
                    "{:?} {} B: latency per lookup (1 thread)",
                    workload.0, workload.1
                ),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0u32..max_reads + 1, 0f64..max_lat * 1.1)?;
        chart
            .configure_mesh()
            .x_desc("device reads per lookup")
            .y_desc("mean latency (us)")
            .draw()?;
        for (i, way) in Way::ALL.iter().enumerate() {
            let pts: Vec<(u32, f64)> = one
                .iter()
                .filter(|r| r.way == *way)
                .map(|r| (r.reads, r.measured.latency_ns.mean / 1e3))
                .collect();
            draw_line(&mut chart, pts, colours[i], format!("{way:?}"))?;
        }
        if let Some(f) = self.floors.iter().find(|f| f.block_size == workload.1) {
            let fl = f.latency_ns.mean / 1e3;
            chart
                .draw_series(LineSeries::new(
                    (1..=max_reads).map(|r| (r, fl * f64::from(r))),
                    BLACK.stroke_width(1),
                ))?
                .label("reads x device floor")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], BLACK));
        }
        draw_legend(&mut chart)?;

        let deep = rows.iter().filter(|r| r.threads > 1).map(|r| r.reads).max();
        if let Some(deep) = deep {
            let at: Vec<&&Row> = rows.iter().filter(|r| r.reads == deep).collect();
            let max_t = at.iter().map(|r| r.threads).max().unwrap_or(1);
            let max_tp = at
                .iter()
                .map(|r| r.measured.lookups_per_s)
                .fold(1.0, f64::max);
            let mut chart = ChartBuilder::on(&right)
                .caption(
                    format!("throughput, {deep} reads per lookup"),
                    ("sans-serif", 16),
                )
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(60)
                .build_cartesian_2d(0usize..max_t + 1, 0f64..max_tp * 1.1)?;
            chart
                .configure_mesh()
                .x_desc("threads")
                .y_desc("lookups/s")
                .draw()?;
            for (i, way) in Way::ALL.iter().enumerate() {
                let mut pts: Vec<(usize, f64)> = at
                    .iter()
                    .filter(|r| r.way == *way)
                    .map(|r| (r.threads, r.measured.lookups_per_s))
                    .collect();
                pts.sort_by_key(|p| p.0);
                draw_line(&mut chart, pts, colours[i], format!("{way:?}"))?;
            }
            draw_legend(&mut chart)?;
        }
        root.present()?;
        Ok(())
    }
}

/// Draws `pts` as a line with a dot at each point, named `label` in the
/// legend.
pub fn draw_line<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    pts: Vec<(X::ValueType, Y::ValueType)>,
    c: RGBColor,
    label: String,
) -> Result<()>
where
    X::ValueType: Clone + 'static,
    Y::ValueType: Clone + 'static,
{
    chart
        .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 15, y)], c));
    chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, c.filled())))?;
    Ok(())
}

/// The legend of `chart`, top left.
pub fn draw_legend<'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .border_style(BLACK)
        .background_style(WHITE)
        .draw()?;
    Ok(())
}
