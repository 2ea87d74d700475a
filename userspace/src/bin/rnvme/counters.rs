// SPDX-License-Identifier: GPL-2.0 OR MIT

//! `status`, `stats`, `tags`, `metrics`: what the module says about itself.

use std::path::Path;

use anyhow::Result;
use clap::Args;
use rnvme::Control;

use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Address and port to listen on.
    #[arg(long, default_value = rnvme::metrics::DEFAULT_LISTEN)]
    listen: std::net::SocketAddr,
    /// Stop after this many requests (for tests).
    #[arg(long)]
    max_scrapes: Option<u64>,
    /// Per-tag series at most: the busiest (function, file) pairs; the
    /// other tags are summed into one series labelled "(other)".
    #[arg(long, default_value_t = rnvme::metrics::DEFAULT_TAG_SERIES)]
    tag_series: usize,
}

/// `rnvme status`: the module's ABI and whether BPF works here.
pub fn status(device: &Path) -> Result<()> {
    let control = Control::open(device)?;
    let v = control.version();
    println!(
        "module: rnvme_hook ABI {}.{} at {} (this rnvme: ABI {}.{})",
        v.major,
        v.minor,
        device.display(),
        rnvme::abi::ABI_MAJOR,
        rnvme::abi::ABI_MINOR
    );
    match rnvme::bpf_probe() {
        Ok(bpf) => println!(
            "bpf: available, JIT {}",
            match bpf.jit_enabled {
                Some(true) => "on",
                Some(false) => "off",
                None => "unknown",
            }
        ),
        Err(e) => println!("bpf: unavailable: {e}"),
    }
    Ok(())
}

/// `rnvme stats`: the module-wide counters.
pub fn stats(device: &Path, a: &StatsArgs) -> Result<()> {
    output::stats(&Control::open(device)?, a.format)
}

/// `rnvme tags`: every attached tag with its counters.
#[derive(Debug, Args)]
pub struct BudgetArgs {
    /// io_uring chains of one tag in flight at once; more wait their turn.
    #[arg(long)]
    chains_in_flight: Option<u32>,
    /// Reads the driver may resubmit for one tag per millisecond; past
    /// that, the tag's reads are issued from its submitter's task.
    #[arg(long)]
    driver_hops_per_ms: Option<u32>,
}

/// `rnvme budgets`: shows the budgets, after setting what is given.
pub fn budgets(device: &Path, a: &BudgetArgs) -> Result<()> {
    let control = Control::open(device)?;
    let mut b = control.budgets()?;
    if a.chains_in_flight.is_some() || a.driver_hops_per_ms.is_some() {
        b.chains_in_flight = a.chains_in_flight.unwrap_or(b.chains_in_flight);
        b.driver_hops_per_ms = a.driver_hops_per_ms.unwrap_or(b.driver_hops_per_ms);
        control.set_budgets(b)?;
    }
    let show = |n: u32| {
        if n == 0 {
            "no bound".to_string()
        } else {
            n.to_string()
        }
    };
    println!("chains in flight per tag: {}", show(b.chains_in_flight));
    println!("driver hops per ms per tag: {}", show(b.driver_hops_per_ms));
    Ok(())
}

pub fn tags(device: &Path, a: &StatsArgs) -> Result<()> {
    let tags = Control::open(device)?.tags()?;
    match a.format {
        Format::Table => {
            println!(
                "{:>7} {:>5} {:<15} {:>7} {:>8} {:>8} {:>6} {:>6} {:>9} {:>9}  file",
                "pid",
                "prog",
                "function",
                "extents",
                "chains",
                "done",
                "aborts",
                "errors",
                "reads",
                "in_driver"
            );
            for t in &tags {
                println!(
                    "{:>7} {:>5} {:<15} {:>7} {:>8} {:>8} {:>6} {:>6} {:>9} {:>9}  {}",
                    t.pid,
                    t.prog_id,
                    t.function_name(),
                    t.extents,
                    t.chains,
                    t.done,
                    t.aborts,
                    t.errors,
                    t.hops,
                    t.driver_hops,
                    t.file_path()
                );
            }
        }
        Format::Json => {
            let rows: Vec<serde_json::Value> = tags
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "pid": t.pid, "prog_id": t.prog_id, "function": t.function_name(),
                        "file": t.file_path(), "ino": t.ino, "size": t.size, "extents": t.extents,
                        "max_hops": t.max_hops, "chains": t.chains, "done": t.done, "aborts": t.aborts,
                        "errors": t.errors, "hops": t.hops, "driver_hops": t.driver_hops,
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(rows));
        }
    }
    Ok(())
}

/// `rnvme metrics`: serve the counters to Prometheus until interrupted.
pub fn metrics(device: &Path, a: &MetricsArgs) -> Result<()> {
    let control = Control::open(device)?;
    eprintln!("rnvme: serving metrics on http://{}/metrics", a.listen);
    rnvme::metrics::serve(&control, a.listen, a.max_scrapes, a.tag_series)?;
    Ok(())
}
