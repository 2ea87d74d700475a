// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Fairness between tenants (`--workloads fairness`): a heavy tenant keeps
//! 64 long chains in flight on an io_uring ring; beside it, a light tenant
//! does short blocking lookups, and a process only computes. Measured
//! without budgets and with them (`abi::Budgets`, set for the tags of the
//! run): the light tenant's latency alone and beside the heavy one, and
//! the computing thread's rate beside the flood against its rate alone
//! (its share of the CPU it would have). Every answer is checked.

use std::{
    hint::black_box,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

use anyhow::{ensure, Result};
use rnvme::{
    abi::Budgets,
    format::chain::{self as chainfmt, ChainResult, ChainSpec},
    ChainRequest, ChainRing, Control, StorageFunction, Tag, Window,
};
use serde::{Deserialize, Serialize};

use crate::measure::Latency;

/// One run: with these budgets (all zero: none).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FairnessRow {
    pub budgets: FairBudgets,
    /// The light tenant's blocking lookups (2 reads), alone.
    pub light_alone_ns: Latency,
    /// The same beside the heavy tenant's flood.
    pub light_beside_heavy_ns: Latency,
    /// The heavy tenant's chains (31 reads) per second meanwhile.
    pub heavy_chains_per_s: f64,
    /// The computing thread's rate beside the flood over its rate alone.
    pub compute_share: f64,
}

/// [`Budgets`] in the report.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct FairBudgets {
    pub chains_in_flight: u32,
    pub driver_hops_per_ms: u32,
}

/// What to run.
pub struct Plan<'a> {
    pub dir: &'a std::path::Path,
    pub budgets: Budgets,
    pub lookups: usize,
    pub seconds: f64,
}

struct Chain {
    path: std::path::PathBuf,
    start: u64,
    want: Option<ChainResult>,
}

fn chain_file(dir: &std::path::Path, name: &str, hops: u32) -> Result<Chain> {
    let spec = ChainSpec {
        hops,
        block_size: 4096,
        file_blocks: 256,
        seed: u64::from(hops) * 31,
    };
    let c = chainfmt::build(&spec);
    let path = dir.join(name);
    rnvme::format::write_file(&path, &c.bytes, rnvme::format::Layout::Contiguous)?;
    Ok(Chain {
        path,
        start: c.start,
        want: None,
    })
}

fn attach<'c>(control: &'c Control, f: &StorageFunction, c: &mut Chain) -> Result<Tag<'c>> {
    let file = std::fs::File::open(&c.path)?;
    let tag = control.attach(&file, f, 0)?;
    let mut s = vec![0u8; ChainResult::SIZE];
    tag.chain_read(c.start, 4096, &mut s, None)?;
    c.want = Some(ChainResult::from_scratch(&s));
    Ok(tag)
}

/// `n` blocking lookups of the light tenant; their latencies.
fn light(tag: &Tag, c: &Chain, n: usize) -> Result<Latency> {
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = vec![0u8; ChainResult::SIZE];
        let t0 = Instant::now();
        tag.chain_read(c.start, 4096, &mut s, None)?;
        lat.push(t0.elapsed().as_nanos() as u64);
        ensure!(
            Some(ChainResult::from_scratch(&s)) == c.want,
            "a light lookup differs"
        );
    }
    Ok(Latency::of(&mut lat))
}

/// Computes for `secs`; iterations per second.
fn compute(secs: f64) -> f64 {
    let t0 = Instant::now();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut n = 0u64;
    while t0.elapsed().as_secs_f64() < secs {
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        n += 10_000;
        black_box(x);
    }
    n as f64 / t0.elapsed().as_secs_f64()
}

/// The heavy tenant: 64 chains in flight until `stop`; chains done.
fn heavy(control: &Control, tag: &Tag, c: &Chain, stop: &AtomicBool) -> Result<u64> {
    let mut ring = ChainRing::new(control, 64, false)?;
    let req = ChainRequest {
        tag: tag.id(),
        first: Window::first(c.start, 4096),
        scratch: vec![0; ChainResult::SIZE],
        out_len: 0,
    };
    let mut done = 0u64;
    while !stop.load(Ordering::Relaxed) || ring.in_flight() > 0 {
        while !stop.load(Ordering::Relaxed) && ring.in_flight() < ring.depth() {
            ring.push(done, req.clone())?;
        }
        for r in ring.reap(1)? {
            r.result?;
            ensure!(
                Some(ChainResult::from_scratch(&r.scratch)) == c.want,
                "a heavy chain differs"
            );
            done += 1;
        }
    }
    Ok(done)
}

/// Runs the tenants once with `plan.budgets` in force for their tags.
pub fn run(control: &Control, plan: &Plan) -> Result<FairnessRow> {
    let before = control.budgets()?;
    control.set_budgets(plan.budgets)?;
    let result = measure(control, plan);
    control.set_budgets(before)?;
    result
}

fn measure(control: &Control, plan: &Plan) -> Result<FairnessRow> {
    let f = StorageFunction::builtin("chain")?;
    let mut heavy_c = chain_file(plan.dir, "fair-heavy", 31)?;
    let mut light_c = chain_file(plan.dir, "fair-light", 2)?;
    let heavy_tag = attach(control, &f, &mut heavy_c)?;
    let light_tag = attach(control, &f, &mut light_c)?;
    let light_alone_ns = light(&light_tag, &light_c, plan.lookups)?;
    let alone = compute(plan.seconds);
    let stop = AtomicBool::new(false);
    let (light_beside_heavy_ns, shared, chains, secs) = thread::scope(|s| -> Result<_> {
        let t0 = Instant::now();
        let flood = s.spawn(|| heavy(control, &heavy_tag, &heavy_c, &stop));
        thread::sleep(Duration::from_millis(200));
        let lat = light(&light_tag, &light_c, plan.lookups);
        let shared = compute(plan.seconds);
        stop.store(true, Ordering::Relaxed);
        let chains = flood.join().unwrap()?;
        Ok((lat?, shared, chains, t0.elapsed().as_secs_f64()))
    })?;
    drop((heavy_tag, light_tag));
    let _ = std::fs::remove_file(&heavy_c.path);
    let _ = std::fs::remove_file(&light_c.path);
    Ok(FairnessRow {
        budgets: FairBudgets {
            chains_in_flight: plan.budgets.chains_in_flight,
            driver_hops_per_ms: plan.budgets.driver_hops_per_ms,
        },
        light_alone_ns,
        light_beside_heavy_ns,
        heavy_chains_per_s: chains as f64 / secs,
        compute_share: shared / alone,
    })
}

/// The report's lines.
pub fn table(rows: &[FairnessRow], t: &mut String) {
    use std::fmt::Write as _;
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        t,
        "fairness: a light tenant (blocking, 2 reads) and a computing thread beside a heavy tenant (64 io_uring chains of 31 reads in flight)"
    );
    let _ = writeln!(
        t,
        "{:<28} {:>12} {:>12} {:>14} {:>14} {:>12} {:>14}",
        "budgets",
        "light p50 us",
        "light p99 us",
        "beside: p50 us",
        "beside: p99 us",
        "heavy ch/s",
        "compute share"
    );
    for r in rows {
        let b = match (r.budgets.chains_in_flight, r.budgets.driver_hops_per_ms) {
            (0, 0) => "none".to_string(),
            (c, h) => format!("{c} in flight, {h} hops/ms"),
        };
        let _ = writeln!(
            t,
            "{:<28} {:>12.1} {:>12.1} {:>14.1} {:>14.1} {:>12.0} {:>13.0}%",
            b,
            r.light_alone_ns.p50 as f64 / 1e3,
            r.light_alone_ns.p99 as f64 / 1e3,
            r.light_beside_heavy_ns.p50 as f64 / 1e3,
            r.light_beside_heavy_ns.p99 as f64 / 1e3,
            r.heavy_chains_per_s,
            r.compute_share * 100.0
        );
    }
}
