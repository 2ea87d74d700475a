// SPDX-License-Identifier: GPL-2.0 OR MIT

//! The queue-depth workload's part of the report: a table with the ratios
//! of async rnvme against the per-hop io_uring state machine at each depth
//! (same polling), the comparison with the blocking calls from several
//! threads, and a plot of throughput and p99 latency over queue depth.

use std::{fmt::Write as _, path::Path};

use anyhow::{ensure, Result};
use plotters::prelude::*;

use super::{QueueRow, QueueWay};
use crate::{
    measure::spread,
    paths::Way,
    report::{draw_legend, draw_line, Row},
};

/// Checks the rows of a report.
pub fn validate(rows: &[QueueRow]) -> Result<()> {
    for r in rows {
        let m = &r.measured;
        ensure!(
            m.lookups > 0
                && m.reps == m.rep_mean_ns.len()
                && m.reps == m.rep_lookups_per_s.len()
                && m.lookups_per_s > 0.0
                && r.queue_depth > 0,
            "{r:?}"
        );
    }
    Ok(())
}

/// The baseline of `way`: the per-hop state machine with the same polling.
fn baseline(way: QueueWay) -> Option<QueueWay> {
    match way {
        QueueWay::RnvmeAsync => Some(QueueWay::IoUringHops),
        QueueWay::RnvmeAsyncPolled => Some(QueueWay::IoUringHopsPolled),
        _ => None,
    }
}

/// The table; `sync` are the report's other rows (blocking calls, threads).
pub fn table(rows: &[QueueRow], sync: &[Row]) -> String {
    let mut t = String::new();
    let Some(first) = rows.first() else {
        return t;
    };
    let _ = writeln!(
        t,
        "lookups in flight from one thread: chain of {} reads of {} B",
        first.reads, first.block_size
    );
    let _ = writeln!(
        t,
        "{:>3} {:<18} {:>10} {:>17} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "qd",
        "way",
        "lookups/s",
        "(reps min-max)",
        "mean us",
        "p50 us",
        "p99 us",
        "cpu us/lk",
        "x per-hop"
    );
    for r in rows {
        let m = &r.measured;
        let (lo, hi) = spread(&m.rep_lookups_per_s);
        let x = baseline(r.way)
            .and_then(|b| {
                rows.iter()
                    .find(|o| o.way == b && o.queue_depth == r.queue_depth)
            })
            .map_or(String::new(), |b| {
                format!("{:.2}", m.lookups_per_s / b.measured.lookups_per_s)
            });
        let _ = writeln!(
            t,
            "{:>3} {:<18} {:>10.0} {:>17} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>11}",
            r.queue_depth,
            format!("{:?}", r.way),
            m.lookups_per_s,
            format!("({lo:.0}-{hi:.0})"),
            m.latency_ns.mean / 1e3,
            m.latency_ns.p50 as f64 / 1e3,
            m.latency_ns.p99 as f64 / 1e3,
            m.cpu_per_lookup.total(),
            x
        );
    }
    // Async from one thread against blocking calls from the most threads
    // measured, same workload.
    for (way, sync_way) in [
        (QueueWay::RnvmeAsync, Way::Rnvme),
        (QueueWay::RnvmeAsyncPolled, Way::RnvmePolled),
    ] {
        let most = sync
            .iter()
            .filter(|s| {
                s.way == sync_way
                    && s.workload == first.workload
                    && s.block_size == first.block_size
                    && s.reads == first.reads
            })
            .max_by_key(|s| s.threads);
        let Some(s) = most else { continue };
        for r in rows.iter().filter(|r| r.way == way) {
            let _ = writeln!(
                t,
                "{way:?} at queue depth {} from 1 thread: {:.2} x {sync_way:?} blocking from {} threads ({:.0} lookups/s)",
                r.queue_depth,
                r.measured.lookups_per_s / s.measured.lookups_per_s,
                s.threads,
                s.measured.lookups_per_s
            );
        }
    }
    t
}

/// What a panel of the plot shows of a row.
type Value = fn(&QueueRow) -> f64;

/// Throughput (left) and p99 latency (right) over queue depth, per way.
pub fn plot(rows: &[QueueRow], path: &Path) -> Result<()> {
    let root = SVGBackend::new(path, (1100, 450)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(560);
    let colours = [BLUE, CYAN, RED, MAGENTA];
    let max_qd = rows.iter().map(|r| r.queue_depth).max().unwrap_or(1);
    let panels: [(_, &str, Value); 2] = [
        (&left, "lookups/s", |r| r.measured.lookups_per_s),
        (&right, "p99 latency (us)", |r| {
            r.measured.latency_ns.p99 as f64 / 1e3
        }),
    ];
    for (area, what, value) in panels {
        let top = rows.iter().map(value).fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{what} over lookups in flight (1 thread)"),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d((1u32..max_qd * 2).log_scale(), 0f64..top * 1.1)?;
        chart
            .configure_mesh()
            .x_desc("queue depth")
            .y_desc(what)
            .draw()?;
        for (i, way) in QueueWay::ALL.iter().enumerate() {
            let pts: Vec<(u32, f64)> = rows
                .iter()
                .filter(|r| r.way == *way)
                .map(|r| (r.queue_depth, value(r)))
                .collect();
            draw_line(&mut chart, pts, colours[i], format!("{way:?}"))?;
        }
        draw_legend(&mut chart)?;
    }
    root.present()?;
    Ok(())
}
